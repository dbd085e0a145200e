"""An exported policy (``policy.onnx`` + ``policy.json``), loaded for advice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patrolmarl.agents.learned import OnnxPolicy
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.errors import PatrolMarlError
from patrolmarl.policy_card import CARD_FILE, ONNX_FILE, card_district, read_card


@dataclass(frozen=True)
class ExportedPolicy:
    """The policy card, its district and the ONNX policy (run with onnxruntime)."""

    name: str
    card: dict[str, Any]
    district: District
    policy: OnnxPolicy


def load_exported(path: Path) -> ExportedPolicy:
    """Load an export folder (or the ``policy.onnx`` in one) and its card.

    Raises
    ------
    PatrolMarlError
        If the folder, the card or the ONNX file is missing or unusable, or the
        card's observation layout is not this version's.
    """
    if path.is_dir():
        folder, onnx_path = path, path / ONNX_FILE
    elif path.is_file():
        folder, onnx_path = path.parent, path
    else:
        raise PatrolMarlError(f"--policy: {path}: no such export folder or file")
    card_path = folder / CARD_FILE
    if onnx_path.suffix.lower() != ".onnx" or not card_path.is_file():
        raise PatrolMarlError(
            f"--policy: {path}: advise takes an export folder ({ONNX_FILE} + {CARD_FILE}) "
            "or its policy.onnx; make one with patrolmarl export RUN --out DIR"
        )
    card = read_card(card_path)
    district = card_district(card, card_path)
    policy = OnnxPolicy(onnx_path, district)
    _check_layout(card, district, card_path, policy.move_gains)
    return ExportedPolicy(folder.name, card, district, policy)


def _check_layout(
    card: dict[str, Any], district: District, card_path: Path, move_gains: bool
) -> None:
    """The card's observation fields and action count must be those built here."""
    sim = BatchedSim(district, batch_size=1)
    here = [[f.name, f.start, f.stop] for f in ObservationBuilder(sim, move_gains).layout]
    try:
        fields = [[f["name"], f["start"], f["stop"]] for f in card["observation"]["layout"]]
        n_actions = card["actions"]["count"]
    except (KeyError, TypeError):
        raise PatrolMarlError(f"{card_path}: policy card has no observation layout") from None
    if fields != here or n_actions != sim.n_actions:
        raise PatrolMarlError(
            f"{card_path}: the policy's observations or actions differ from this patrolmarl's "
            "(exported by another version?)"
        )
