"""The policy card ``policy.json``: what an exported ``policy.onnx`` takes, gives and came from.

``patrolmarl export`` writes it beside the ONNX file; ``patrolmarl advise`` and
other tools read it. It embeds the district's config (checked against its
SHA-256 when read), the observation layout and the specification of every
field (:mod:`patrolmarl.exported.observation_spec`, with its tables file), the
meaning of every action, the ONNX inputs and outputs, the training config and
the evaluation at export time.
Reading it needs no part of the training stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from patrolmarl.envs.config import validate_district_dict
from patrolmarl.envs.dispatch_rule import AGENTS, LEARNED_RULES, NEAREST, DispatchRule
from patrolmarl.envs.district import District
from patrolmarl.envs.names import MOVE_NAMES, agent_names
from patrolmarl.envs.observations import observation_layout
from patrolmarl.envs.status import action_count
from patrolmarl.errors import PatrolMarlError
from patrolmarl.exported.contract import FORMAT, FORMAT_VERSION, ONNX_FILE, io_spec
from patrolmarl.exported.observation_spec import observation_spec
from patrolmarl.input_files import read_json


def action_meanings(k_calls: int) -> list[str]:
    """What each action index means, for ``k_calls`` observed calls."""
    moves = [f"move {name} to the neighbouring cell (idle units)" for name in MOVE_NAMES]
    accepts = [
        f"accept pending street call number {k} in nearness (0 = nearest by the unit's "
        "travel time; ties by call order; idle or moving units)"
        for k in range(k_calls)
    ]
    return ["stay, or continue the current task", *moves, *accepts]


#: What a card's ``dispatch.rule`` asks of a tool that runs the policy.
DISPATCH_MEANINGS = {
    AGENTS.kind: "the policy takes calls itself: its accept actions dispatch units",
    NEAREST.kind: "the command centre sends each street call, the instant it is made, to the "
    "nearest available unit; the policy only moves free units (its accept actions are masked)",
}


def make_card(
    district: District,
    source: dict[str, Any],
    training: dict[str, Any],
    normalization: dict[str, float] | None,
    evaluation: dict[str, Any] | None,
    opset: int,
    move_gains: bool = False,
    dispatch: DispatchRule = AGENTS,
) -> dict[str, Any]:
    """The card of a policy for ``district``.

    Parameters
    ----------
    source
        Where the policy came from (run folder, model file, algorithm, timesteps).
    training
        The run's training config (``config.yaml``) and seed.
    normalization
        ``epsilon`` and ``clip`` of the observation normalisation in the graph
        (None if the policy takes observations as they are).
    evaluation
        The run's evaluation table at export time (None if it has none).
    opset
        The ONNX opset of the graph.
    move_gains
        Whether the observation ends with the ``move_gains`` field.
    dispatch
        The rule the policy was trained under (``AGENTS`` or ``NEAREST``).
    """
    layout = observation_layout(district, move_gains)
    n_actions = action_count(district)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "source": source,
        "district": {
            "name": district.name,
            "district_config_sha256": district.config_sha256,
            "rows": district.rows,
            "cols": district.cols,
            "cell_size_m": district.config.cell_size_m,
            "units": [
                {"name": name, "vehicle": district.vehicle_names[v]}
                for name, v in zip(
                    agent_names(district.n_units), district.unit_vehicle, strict=True
                )
            ],
            "config": district.config.model_dump(mode="json"),
        },
        "observation": {
            "size": layout.size,
            "dtype": "float32",
            "layout": [
                {"name": f.name, "start": f.start, "stop": f.stop, "meaning": f.meaning}
                for f in layout
            ],
            "normalization": None
            if normalization is None
            else {
                "in_graph": "clip((obs - mean) / sqrt(var + epsilon), -clip, clip)",
                **normalization,
            },
            **observation_spec(district, move_gains),
        },
        "actions": {
            "count": n_actions,
            "meanings": action_meanings(district.config.simulation.observed_calls),
        },
        "dispatch": {"rule": dispatch.kind, "meaning": DISPATCH_MEANINGS[dispatch.kind]},
        "onnx": {"file": ONNX_FILE, "opset": opset, **io_spec(layout.size, n_actions)},
        "training": training,
        "evaluation": evaluation,
    }


def write_card(path: Path, card: dict[str, Any]) -> None:
    """Write ``card`` to ``path`` as indented JSON (no NaN or infinity)."""
    path.write_text(json.dumps(card, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def read_card(path: Path) -> dict[str, Any]:
    """Read and check a policy card (format and version); one-line errors."""
    card = read_json(path, what="policy card")
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise PatrolMarlError(f"{path}: not a patrolmarl policy card (format is not {FORMAT!r})")
    if card.get("format_version") != FORMAT_VERSION:
        raise PatrolMarlError(
            f"{path}: policy card format version {card.get('format_version')!r}; "
            f"this patrolmarl reads version {FORMAT_VERSION}"
        )
    return card


def card_dispatch(card: dict[str, Any], path: Path) -> DispatchRule:
    """The dispatch rule the card's policy runs under (``AGENTS`` if the card names none).

    Raises
    ------
    PatrolMarlError
        If the card names a rule a learned policy cannot run under.
    """
    entry = card.get("dispatch", {"rule": AGENTS.kind})
    name = entry.get("rule") if isinstance(entry, dict) else None
    if not isinstance(name, str) or name not in LEARNED_RULES:
        raise PatrolMarlError(
            f"{path}: policy card's dispatch rule {name!r} is not one of {sorted(LEARNED_RULES)}"
        )
    return LEARNED_RULES[name]


def card_district(card: dict[str, Any], path: Path) -> District:
    """The district embedded in a card, checked against the card's SHA-256."""
    entry = card.get("district")
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise PatrolMarlError(f"{path}: policy card has no district config")
    district = District.from_config(validate_district_dict(entry["config"], f"{path}: district"))
    if district.config_sha256 != entry.get("district_config_sha256"):
        raise PatrolMarlError(f"{path}: the district config does not match its SHA-256")
    return district


def check_layout(
    card: dict[str, Any], district: District, card_path: Path, move_gains: bool
) -> None:
    """The card's observation fields and action count must be those of this version.

    Raises
    ------
    PatrolMarlError
        If the card has no layout, or its fields or action count differ.
    """
    here = [[f.name, f.start, f.stop] for f in observation_layout(district, move_gains)]
    try:
        fields = [[f["name"], f["start"], f["stop"]] for f in card["observation"]["layout"]]
        n_actions = card["actions"]["count"]
    except (KeyError, TypeError):
        raise PatrolMarlError(f"{card_path}: policy card has no observation layout") from None
    if fields != here or n_actions != action_count(district):
        raise PatrolMarlError(
            f"{card_path}: the policy's observations or actions differ from this patrolmarl's "
            "(exported by another version?)"
        )


def record_fields(path: Path, name: Any, sha: Any) -> tuple[str, str]:
    """``(district name, config SHA-256)`` of a district record; refuses missing ones."""
    if not isinstance(name, str) or not isinstance(sha, str):
        raise PatrolMarlError(f"{path}: no district name and district_config_sha256 in the record")
    return name, sha


def card_record(card_path: Path) -> tuple[str, str]:
    """``(district name, config SHA-256)`` a card's policy was trained for."""
    entry = read_card(card_path).get("district")
    record = entry if isinstance(entry, dict) else {}
    return record_fields(card_path, record.get("name"), record.get("district_config_sha256"))


def check_trained_for(
    model_path: Path, district: District, record: Path, name: str, sha: str
) -> None:
    """Refuse a model file trained for district ``name`` (config ``sha``, per ``record``)
    other than ``district``."""
    if sha != district.config_sha256:
        other = "another config of district" if name == district.name else "district"
        raise PatrolMarlError(
            f"{model_path}: trained for {other} {name!r} (config sha256 {sha[:12]}, per "
            f"{record}), not for this district {district.name!r} "
            f"(config sha256 {district.config_sha256[:12]})"
        )
