"""An export folder (``policy.onnx`` + ``policy.json``) loaded: its card, district and policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patrolmarl.envs.district import District
from patrolmarl.errors import PatrolMarlError
from patrolmarl.exported.card import card_district, check_layout, read_card
from patrolmarl.exported.contract import CARD_FILE, ONNX_FILE
from patrolmarl.exported.onnx_policy import OnnxPolicy


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
    check_layout(card, district, card_path, policy.move_gains)
    return ExportedPolicy(folder.name, card, district, policy)
