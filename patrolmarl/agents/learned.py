"""A learned policy as :class:`Policy`: an SB3 model file (``.zip``).

It maps each agent's observation (and its action mask) to an action. A file is
checked when loaded against the district it was trained for (by the SHA-256 of
the district's config: ``district.json`` of its run folder, or a policy card
``policy.json`` beside it) and against the district's observation size and
action count, so a model for another district is refused even when the shapes
match. A ``.zip`` from a run that normalised observations needs its
VecNormalize statistics beside it. A model with a centralised critic
(:mod:`patrolmarl.training.central_critic`) is fed the same observations: its
actor reads them alone. Exported ``.onnx`` policies are
:class:`patrolmarl.exported.onnx_policy.OnnxPolicy`.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np

from patrolmarl.envs.dispatch_rule import AGENTS, LEARNED_RULES, DispatchRule
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import observes_move_gains
from patrolmarl.envs.sim_view import SimView
from patrolmarl.errors import PatrolMarlError
from patrolmarl.exported.card import (
    card_dispatch,
    card_record,
    check_trained_for,
    read_card,
    record_fields,
)
from patrolmarl.exported.contract import CARD_FILE
from patrolmarl.yaml_config import read_yaml_mapping

#: The run folder's record of its district: {"district": NAME, "district_config_sha256": HASH}.
DISTRICT_RECORD = "district.json"
#: The run folder's resolved training config.
RUN_CONFIG = "config.yaml"
#: How many folders above a model file may hold its run's records
#: (RUN/seed_S/checkpoints/step_N/model.zip is three below RUN).
RUN_DEPTH = 3
#: Torch threads of SB3 inference unless told otherwise (as training's ``torch_threads``):
#: more threads than cores slow a loaded machine down by an order of magnitude.
INFERENCE_TORCH_THREADS = 1


class ObservationNormalizer:
    """The observation part of SB3's ``VecNormalize``: ``clip((obs - mean) / sqrt(var + eps))``."""

    def __init__(self, mean: np.ndarray, var: np.ndarray, epsilon: float, clip: float) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.var = np.asarray(var, dtype=np.float64)
        self.epsilon = float(epsilon)
        self.clip = float(clip)

    @classmethod
    def from_vecnormalize(cls, vecnormalize) -> ObservationNormalizer | None:
        """The normaliser of a ``VecNormalize`` (None if it does not normalise observations)."""
        if not vecnormalize.norm_obs:
            return None
        rms = vecnormalize.obs_rms
        return cls(rms.mean, rms.var, vecnormalize.epsilon, vecnormalize.clip_obs)

    def first(self, columns: int) -> ObservationNormalizer:
        """The normaliser of the first ``columns`` observation entries alone."""
        return ObservationNormalizer(
            self.mean[:columns], self.var[:columns], self.epsilon, self.clip
        )

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        scaled = (observations - self.mean) / np.sqrt(self.var + self.epsilon)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)


def actor_observation_size(model) -> int:
    """Observation entries an SB3 model's actor reads: a centralised-critic policy's
    ``actor_columns`` (its critic also reads the global state after them), else all."""
    return getattr(model.policy, "actor_columns", int(np.prod(model.observation_space.shape)))


def _run_file(model_path: Path, name: str) -> Path | None:
    """The nearest ``name`` in the model's folder or up to :data:`RUN_DEPTH` folders above."""
    for folder in [model_path.parent, *model_path.parent.parents][: RUN_DEPTH + 1]:
        if (folder / name).is_file():
            return folder / name
    return None


def recorded_district(model_path: Path) -> tuple[Path, str, str]:
    """``(record file, district name, config SHA-256)`` a model file was trained for.

    The record is the policy card ``policy.json`` beside the model, else the
    nearest run folder's ``district.json``.

    Raises
    ------
    PatrolMarlError
        If there is no record, or it is unreadable.
    """
    card_path = model_path.with_name(CARD_FILE)
    if card_path.is_file():
        return (card_path, *card_record(card_path))
    found = _run_file(model_path, DISTRICT_RECORD)
    if found is None:
        raise PatrolMarlError(
            f"{model_path}: no {DISTRICT_RECORD} in its folder or its run folder and no "
            f"{CARD_FILE} beside it, so the district it was trained for is unknown; "
            f"write {model_path.parent / DISTRICT_RECORD} as "
            '{"district": NAME, "district_config_sha256": HASH} or export it with '
            "patrolmarl export RUN --out DIR"
        )
    try:
        record = json.loads(found.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PatrolMarlError(f"{found}: not a readable district record ({exc})") from None
    fields = record if isinstance(record, dict) else {}
    name, sha = record_fields(found, fields.get("district"), fields.get("district_config_sha256"))
    return found, name, sha


def check_district(model_path: Path, district: District) -> None:
    """Refuse a model file trained for another district than ``district`` (config SHA-256)."""
    check_trained_for(model_path, district, *recorded_district(model_path))


def run_normalised_observations(model_path: Path) -> bool:
    """Whether the run of a model file normalised observations (its ``config.yaml``).

    False when no run folder holds the model (nothing says it did).
    """
    config = _run_file(model_path, RUN_CONFIG)
    if config is None:
        return False
    normalize = read_yaml_mapping(config).get("normalize", {})
    return not isinstance(normalize, dict) or normalize.get("observations", True) is not False


def recorded_dispatch(model_path: Path) -> DispatchRule:
    """The dispatch rule a model file was trained under: the policy card's beside it, else
    its run's ``config.yaml`` ``dispatch``, else ``AGENTS`` (what runs before the option
    trained under).

    Raises
    ------
    PatrolMarlError
        If the record names a rule a learned policy cannot run under.
    """
    card_path = model_path.with_name(CARD_FILE)
    if card_path.is_file():
        return card_dispatch(read_card(card_path), card_path)
    config = _run_file(model_path, RUN_CONFIG)
    name = "agents" if config is None else read_yaml_mapping(config).get("dispatch", "agents")
    if name not in LEARNED_RULES:
        raise PatrolMarlError(f"{config}: dispatch {name!r} is not one of {sorted(LEARNED_RULES)}")
    return LEARNED_RULES[name]


def vecnormalize_sidecar(model_path: Path) -> Path | None:
    """The VecNormalize file beside a model: ``<stem>_vecnormalize.pkl`` or ``vecnormalize.pkl``."""
    for candidate in (
        model_path.with_name(f"{model_path.stem}_vecnormalize.pkl"),
        model_path.with_name("vecnormalize.pkl"),
    ):
        if candidate.is_file():
            return candidate
    return None


class SB3ModelPolicy:
    """A stable-baselines3 PPO or sb3-contrib MaskablePPO model as a :class:`Policy`.

    Observations are normalised as in training when VecNormalize statistics are
    given. A centralised-critic model gets the unit observations alone (and
    ``normalizer`` is cut to them): ``predict`` is handed rows padded with zeros in
    the critic's columns, which its actor does not read.
    ``dispatch`` is the rule it was trained under (see :meth:`dispatch_rule`).
    """

    uses_observations = True

    def __init__(
        self,
        model,
        normalizer: ObservationNormalizer | None,
        name: str,
        move_gains: bool = False,
        dispatch: DispatchRule = AGENTS,
    ) -> None:
        self.model = model
        columns = actor_observation_size(model)
        self.normalizer = None if normalizer is None else normalizer.first(columns)
        self._critic_columns = int(np.prod(model.observation_space.shape)) - columns
        self.name = name
        self.move_gains = move_gains
        self.dispatch = dispatch
        self._maskable = type(model).__name__ == "MaskablePPO"

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        district: District,
        torch_threads: int = INFERENCE_TORCH_THREADS,
        name: str | None = None,
    ) -> SB3ModelPolicy:
        """Load ``model.zip`` (and its VecNormalize sidecar), checked against ``district``.

        Sets torch's thread count of this process to ``torch_threads``.
        ``name`` defaults to the file's stem.

        Raises
        ------
        PatrolMarlError
            If the file is not a model, was trained for another district, or
            its run normalised observations and the statistics are missing.
        """
        path = Path(path)
        model = load_model(path, torch_threads)
        if recorded_macro(path) is not None:
            raise PatrolMarlError(
                f"{path}: trained on macro actions (its run's actions: posts), which cannot "
                "be exported or run as a plain SB3 policy; evaluate it with patrolmarl evaluate"
            )
        n_actions = int(getattr(model.action_space, "n", -1))
        move_gains = observes_move_gains(path, actor_observation_size(model), n_actions, district)
        normalizer = checked_normalizer(path, district)
        return cls(model, normalizer, name or path.stem, move_gains, recorded_dispatch(path))

    def bind(self, view: SimView) -> None:
        """Nothing beyond the observations is needed."""

    def dispatch_rule(self) -> DispatchRule:
        """The rule it was trained under: ``AGENTS`` (its accepts dispatch) or ``NEAREST``."""
        return self.dispatch

    def reset(self, mask: np.ndarray) -> None:
        """Feed-forward policies keep no memory."""

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Deterministic actions of the model for every agent slot."""
        b, n, d = observations.shape
        flat_obs = observations.reshape(b * n, d)
        if self.normalizer is not None:
            flat_obs = self.normalizer(flat_obs)
        if self._critic_columns:
            padding = np.zeros((b * n, self._critic_columns), dtype=np.float32)
            flat_obs = np.concatenate([flat_obs, padding], axis=1)
        kwargs = {"action_masks": action_masks.reshape(b * n, -1)} if self._maskable else {}
        actions, _ = self.model.predict(flat_obs, deterministic=True, **kwargs)
        return np.asarray(actions).reshape(b, n)


def load_model(path: Path, torch_threads: int = INFERENCE_TORCH_THREADS):
    """The PPO or MaskablePPO model in ``path``; sets torch's thread count to ``torch_threads``.

    Raises
    ------
    PatrolMarlError
        If the file is missing or not a model.
    """
    import torch

    if not path.is_file():
        raise PatrolMarlError(f"{path}: file not found")
    if not zipfile.is_zipfile(path):
        raise PatrolMarlError(f"{path}: not an SB3 model file (not a zip archive)")
    torch.set_num_threads(torch_threads)
    return _load_sb3(path)


def checked_normalizer(path: Path, district: District) -> ObservationNormalizer | None:
    """The observation normaliser of a model file trained for ``district`` (None if its run
    did not normalise).

    Raises
    ------
    PatrolMarlError
        If it was trained for another district, or its run normalised observations and
        the statistics file is missing or unreadable.
    """
    check_district(path, district)
    sidecar = vecnormalize_sidecar(path)
    if sidecar is None and run_normalised_observations(path):
        raise PatrolMarlError(
            f"{path}: no {path.stem}_vecnormalize.pkl beside it, but the run normalised "
            "observations (its config.yaml says so); put the run's statistics file beside it"
        )
    if sidecar is None:
        return None
    try:
        with open(sidecar, "rb") as f:
            return ObservationNormalizer.from_vecnormalize(pickle.load(f))
    except Exception:  # noqa: BLE001 - any unpickling failure is a bad file
        raise PatrolMarlError(f"{sidecar}: not a VecNormalize statistics file") from None


def recorded_macro(model_path: Path) -> dict | None:
    """The run's ``macro`` settings when it trained on macro actions (``actions: posts``),
    else None (also when no run folder holds the model)."""
    config = _run_file(model_path, RUN_CONFIG)
    raw = {} if config is None else read_yaml_mapping(config)
    if raw.get("actions", "primitive") != "posts":
        return None
    macro = raw.get("macro", {})
    return macro if isinstance(macro, dict) else {}


def _load_sb3(path: Path):
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO

    errors = []
    for cls in (MaskablePPO, PPO):
        try:
            return cls.load(path, device="cpu")
        except Exception as exc:  # noqa: BLE001 - any failure means "not this kind"
            errors.append(f"{cls.__name__}: {exc.__class__.__name__}")
    raise PatrolMarlError(f"{path}: not a loadable PPO/MaskablePPO model ({'; '.join(errors)})")
