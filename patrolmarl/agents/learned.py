"""Learned policies as :class:`Policy`: an SB3 model file or an ONNX file.

Both map each agent's observation (and its action mask) to an action; the
files are checked against the district's observation size and action count
when loaded, so a model trained for another district is refused.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

from patrolmarl.agents.policy import SimView
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.errors import PatrolMarlError


def expected_shapes(district: District, move_gains: bool = False) -> tuple[int, int]:
    """(observation size, number of actions) of one agent in ``district``."""
    sim = BatchedSim(district, batch_size=1)
    return ObservationBuilder(sim, move_gains=move_gains).size, sim.n_actions


def observes_move_gains(
    source: str | Path, obs_size: int, n_actions: int, district: District
) -> bool:
    """Whether a model of these sizes reads the ``move_gains`` field; refuses other sizes."""
    for move_gains in (False, True):
        if (obs_size, n_actions) == expected_shapes(district, move_gains):
            return move_gains
    plain, _ = expected_shapes(district)
    with_gains, want_actions = expected_shapes(district, move_gains=True)
    raise PatrolMarlError(
        f"{source}: model expects observations of size {obs_size} and {n_actions} actions; "
        f"district {district.name!r} has {plain} (or {with_gains} with move gains) "
        f"and {want_actions}"
    )


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

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        scaled = (observations - self.mean) / np.sqrt(self.var + self.epsilon)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)


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

    Observations are normalised as in training when VecNormalize statistics are given.
    """

    uses_observations = True

    def __init__(
        self,
        model,
        normalizer: ObservationNormalizer | None,
        name: str,
        move_gains: bool = False,
    ) -> None:
        self.model = model
        self.normalizer = normalizer
        self.name = name
        self.move_gains = move_gains
        self._maskable = type(model).__name__ == "MaskablePPO"

    @classmethod
    def from_file(cls, path: str | Path, district: District) -> SB3ModelPolicy:
        """Load ``model.zip`` (and its VecNormalize sidecar), checked against ``district``."""
        path = Path(path)
        if not path.is_file():
            raise PatrolMarlError(f"{path}: file not found")
        if not zipfile.is_zipfile(path):
            raise PatrolMarlError(f"{path}: not an SB3 model file (not a zip archive)")
        model = _load_sb3(path)
        space = model.observation_space
        n_actions = int(getattr(model.action_space, "n", -1))
        move_gains = observes_move_gains(path, int(np.prod(space.shape)), n_actions, district)
        sidecar = vecnormalize_sidecar(path)
        normalizer = None
        if sidecar is not None:
            try:
                with open(sidecar, "rb") as f:
                    normalizer = ObservationNormalizer.from_vecnormalize(pickle.load(f))
            except Exception:  # noqa: BLE001 - any unpickling failure is a bad file
                raise PatrolMarlError(f"{sidecar}: not a VecNormalize statistics file") from None
        return cls(model, normalizer, path.stem, move_gains)

    def bind(self, view: SimView) -> None:
        """Nothing beyond the observations is needed."""

    def reset(self, mask: np.ndarray) -> None:
        """Feed-forward policies keep no memory."""

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Deterministic actions of the model for every agent slot."""
        b, n, d = observations.shape
        flat_obs = observations.reshape(b * n, d)
        if self.normalizer is not None:
            flat_obs = self.normalizer(flat_obs)
        kwargs = {"action_masks": action_masks.reshape(b * n, -1)} if self._maskable else {}
        actions, _ = self.model.predict(flat_obs, deterministic=True, **kwargs)
        return np.asarray(actions).reshape(b, n)


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


class OnnxPolicy:
    """An ONNX file mapping observations ``(batch, D)`` (and masks ``(batch, A)``) to logits.

    The logits are its first output; ``patrolmarl export`` writes such files
    (raw observations and float masks in, masked log-probabilities and actions out).
    """

    uses_observations = True

    def __init__(self, path: str | Path, district: District) -> None:
        path = Path(path)
        if not path.is_file():
            raise PatrolMarlError(f"{path}: file not found")
        try:
            import onnxruntime
        except ImportError:
            raise PatrolMarlError(
                "ONNX policies need onnxruntime: pip install onnxruntime"
            ) from None
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"]
            )
        except Exception:  # noqa: BLE001 - onnxruntime raises its own error types
            raise PatrolMarlError(f"{path}: not a valid ONNX model") from None
        inputs = self._session.get_inputs()
        output = self._session.get_outputs()[0]
        obs_size, n_actions = inputs[0].shape[-1], output.shape[-1]
        if not isinstance(obs_size, int) or not isinstance(n_actions, int):
            raise PatrolMarlError(f"{path}: ONNX model needs fixed observation and logit sizes")
        self.move_gains = observes_move_gains(path, obs_size, n_actions, district)
        self._inputs = [i.name for i in inputs]
        # An export folder's policy.onnx (with its policy.json) is named after the folder.
        exported = path.name == "policy.onnx" and (path.parent / "policy.json").is_file()
        self.name = path.parent.name if exported else path.stem

    def bind(self, view: SimView) -> None:
        """Nothing beyond the observations is needed."""

    def reset(self, mask: np.ndarray) -> None:
        """Feed-forward policies keep no memory."""

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Masked argmax of the model's logits."""
        b, n, d = observations.shape
        feed = {self._inputs[0]: observations.reshape(b * n, d).astype(np.float32)}
        masks = action_masks.reshape(b * n, -1)
        if len(self._inputs) > 1:
            feed[self._inputs[1]] = masks.astype(np.float32)
        logits = self._session.run(None, feed)[0]
        return np.argmax(np.where(masks, logits, -np.inf), axis=1).reshape(b, n)
