"""Export a run's trained policy as ``policy.onnx`` + ``policy.json`` (+ the card's observation
tables) for tools outside patrolmarl.

The ONNX graph holds the whole decision: the VecNormalize observation
statistics (as constants), the actor network (features extractor, actor MLP,
action head) and the action mask. It maps raw observations ``(batch, D)`` and
masks ``(batch, A)`` to masked log-probabilities and the chosen action, by the
contract of :mod:`patrolmarl.exported.contract`; the card
:mod:`patrolmarl.exported.card` describes it. The folder is written under a
temporary name and renamed into place, so it is never seen half-written.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch

from patrolmarl.agents.learned import ObservationNormalizer, SB3ModelPolicy
from patrolmarl.envs.district import District
from patrolmarl.errors import PatrolMarlError
from patrolmarl.exported.card import make_card, write_card
from patrolmarl.exported.contract import (
    ACTION_OUTPUT,
    CARD_FILE,
    LOGITS_OUTPUT,
    MASK_INPUT,
    MASKED_LOGIT,
    OBSERVATION_INPUT,
    ONNX_FILE,
    TABLES_FILE,
)
from patrolmarl.exported.observation_spec import write_tables
from patrolmarl.output_folder import check_replaceable, staged_folder
from patrolmarl.training.actor_logits import ActorLogits
from patrolmarl.training.config import load_train_config

MODELS = ("best", "final")
OPSET = 17
METRICS = Path("report") / "metrics.json"


class MaskedPolicyGraph(ActorLogits):
    """An SB3 actor with its observation normalisation and action masking, as one module.

    ``forward(observation, action_mask)`` returns the masked log-probabilities
    (log-softmax over allowed actions, forbidden ones at about ``MASKED_LOGIT``)
    and the most probable allowed action, as sb3-contrib's ``MaskableCategorical``
    computes them. The normalisation runs in double precision, as VecNormalize's.
    """

    def __init__(self, policy: Any, normalizer: ObservationNormalizer | None) -> None:
        super().__init__(policy)
        self.normalize = normalizer is not None
        if normalizer is not None:
            self.clip = normalizer.clip
            self.register_buffer("mean", torch.as_tensor(normalizer.mean, dtype=torch.float64))
            std = torch.as_tensor(normalizer.var + normalizer.epsilon, dtype=torch.float64).sqrt()
            self.register_buffer("std", std)
        self.register_buffer("masked_logit", torch.tensor(MASKED_LOGIT, dtype=torch.float32))

    def forward(
        self, observation: torch.Tensor, action_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked log-probabilities ``(batch, A)`` and actions ``(batch,)``."""
        x = observation
        if self.normalize:
            scaled = (observation.double() - self.mean) / self.std
            x = torch.clamp(scaled, -self.clip, self.clip).float()
        logits = self.logits(x)
        masked = torch.where(action_mask > 0.5, logits, self.masked_logit)
        log_probs = masked - torch.logsumexp(masked, dim=-1, keepdim=True)
        return log_probs, torch.argmax(log_probs, dim=-1)


def export_run(run_dir: Path, out: Path, model: str = "best") -> Path:
    """Export ``run_dir``'s ``best`` or ``final`` model into the folder ``out``; returns ``out``.

    Raises
    ------
    PatrolMarlError
        If ``run_dir`` is not a run folder, the model or its statistics are
        missing or unreadable, or ``out`` exists and is not an earlier export.
    """
    if model not in MODELS:
        raise PatrolMarlError(f"--model: expected one of {', '.join(MODELS)}, got {model!r}")
    if not (run_dir / "config.yaml").is_file():
        raise PatrolMarlError(f"{run_dir}: not a run folder (no config.yaml)")
    _check_replaceable(out)
    config = load_train_config(run_dir / "config.yaml")
    district = District.load(config.district)
    path = run_dir / f"{model}.zip"
    loaded = SB3ModelPolicy.from_file(path, district)
    if config.normalize.observations and loaded.normalizer is None:
        raise PatrolMarlError(
            f"{path}: no {path.stem}_vecnormalize.pkl beside it, but the run normalised "
            "observations"
        )
    normalizer = loaded.normalizer
    card = make_card(
        district,
        source={
            "run_dir": str(run_dir),
            "model": path.name,
            "algorithm": config.algorithm,
            "num_timesteps": int(loaded.model.num_timesteps),
        },
        training={"seed": config.seed, "config": config.model_dump(mode="json")},
        normalization=None
        if normalizer is None
        else {"epsilon": normalizer.epsilon, "clip": normalizer.clip},
        evaluation=_evaluation_table(run_dir),
        opset=OPSET,
        move_gains=loaded.move_gains,
        dispatch=loaded.dispatch_rule(),
    )
    graph = MaskedPolicyGraph(loaded.model.policy, normalizer).eval()
    _write_folder(out, graph, card, district)
    return out


def _evaluation_table(run_dir: Path) -> dict[str, Any] | None:
    """The summary row of each policy in the run's ``report/metrics.json`` (None if absent)."""
    path = run_dir / METRICS
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        policies = {name: entry["summary"] for name, entry in metrics["policies"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise PatrolMarlError(f"{path}: not a readable evaluation report") from None
    return {
        "file": str(METRICS),
        "note": "'ppo' is the run's best.zip, scored by the run's final evaluation",
        "district_config_sha256": metrics.get("district_config_sha256"),
        "days": metrics.get("days"),
        "seed": metrics.get("seed"),
        "baseline": metrics.get("baseline"),
        "policies": policies,
    }


def _is_export_folder(names: set[str]) -> bool:
    return CARD_FILE in names and names <= {CARD_FILE, ONNX_FILE, TABLES_FILE}


def _check_replaceable(out: Path) -> None:
    """Refuse an ``out`` that exists and is neither empty nor an earlier export."""
    try:
        check_replaceable(out, "export", _is_export_folder)
    except FileExistsError as exc:
        raise PatrolMarlError(f"--out: {exc}") from None


def _write_folder(
    out: Path, graph: MaskedPolicyGraph, card: dict[str, Any], district: District
) -> None:
    """Write ``policy.onnx``, ``policy.json`` and the observation tables in a temporary
    folder renamed to ``out``."""
    with staged_folder(out, "export", _is_export_folder) as tmp:
        obs_size = card["observation"]["size"]
        n_actions = card["actions"]["count"]
        batch = {0: "batch"}
        with warnings.catch_warnings():
            # dynamo=False: the default exporter fails on SB3's distributions; the
            # legacy one warns that it is deprecated.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                graph,
                (torch.zeros(2, obs_size), torch.ones(2, n_actions)),
                str(tmp / ONNX_FILE),
                input_names=[OBSERVATION_INPUT, MASK_INPUT],
                output_names=[LOGITS_OUTPUT, ACTION_OUTPUT],
                dynamic_axes={
                    OBSERVATION_INPUT: batch,
                    MASK_INPUT: batch,
                    LOGITS_OUTPUT: batch,
                    ACTION_OUTPUT: batch,
                },
                opset_version=OPSET,
                dynamo=False,
            )
        onnx.checker.check_model(str(tmp / ONNX_FILE))
        write_card(tmp / CARD_FILE, card)
        write_tables(tmp / TABLES_FILE, district)
