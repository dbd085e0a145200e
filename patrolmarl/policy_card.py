"""The policy card ``policy.json``: what an exported ``policy.onnx`` takes, gives and came from.

``patrolmarl export`` writes it beside the ONNX file; ``patrolmarl advise`` and
other tools read it. It embeds the district's config (checked against its
SHA-256 when read), the observation layout, the meaning of every action, the
ONNX inputs and outputs, the training config and the evaluation at export time.
Reading it needs no part of the training stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from patrolmarl.envs.config import validate_district_dict
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.names import MOVE_NAMES, agent_names
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.errors import PatrolMarlError
from patrolmarl.input_files import read_json

FORMAT = "patrolmarl-policy"
FORMAT_VERSION = 1
CARD_FILE = "policy.json"
ONNX_FILE = "policy.onnx"
OBSERVATION_INPUT = "observation"
MASK_INPUT = "action_mask"
LOGITS_OUTPUT = "logits"
ACTION_OUTPUT = "action"
# The logit of a forbidden action (as sb3-contrib's MaskableCategorical).
MASKED_LOGIT = -1e8


def action_meanings(k_calls: int) -> list[str]:
    """What each action index means, for ``k_calls`` observed calls."""
    moves = [f"move {name} to the neighbouring cell (idle units)" for name in MOVE_NAMES]
    accepts = [
        f"accept pending street call number {k} in nearness (0 = nearest by the unit's "
        "travel time; ties by call order; idle or moving units)"
        for k in range(k_calls)
    ]
    return ["stay, or continue the current task", *moves, *accepts]


def io_spec(obs_size: int, n_actions: int) -> dict[str, list[dict[str, Any]]]:
    """The ONNX inputs and outputs: names, shapes, types and meanings."""
    return {
        "inputs": [
            {
                "name": OBSERVATION_INPUT,
                "shape": ["batch", obs_size],
                "dtype": "float32",
                "meaning": "raw observations, one row per unit (normalisation is in the graph)",
            },
            {
                "name": MASK_INPUT,
                "shape": ["batch", n_actions],
                "dtype": "float32",
                "meaning": "1 where the action is allowed, 0 where forbidden",
            },
        ],
        "outputs": [
            {
                "name": LOGITS_OUTPUT,
                "shape": ["batch", n_actions],
                "dtype": "float32",
                "meaning": "log-probabilities of the masked policy (log-softmax over allowed "
                f"actions); forbidden actions about {MASKED_LOGIT:g}",
            },
            {
                "name": ACTION_OUTPUT,
                "shape": ["batch"],
                "dtype": "int64",
                "meaning": "the chosen (most probable allowed) action",
            },
        ],
    }


def make_card(
    district: District,
    source: dict[str, Any],
    training: dict[str, Any],
    normalization: dict[str, float] | None,
    evaluation: dict[str, Any] | None,
    opset: int,
    move_gains: bool = False,
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
    """
    sim = BatchedSim(district, batch_size=1)
    builder = ObservationBuilder(sim, move_gains=move_gains)
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
            "size": builder.size,
            "dtype": "float32",
            "layout": [
                {"name": f.name, "start": f.start, "stop": f.stop, "meaning": f.meaning}
                for f in builder.layout
            ],
            "normalization": None
            if normalization is None
            else {
                "in_graph": "clip((obs - mean) / sqrt(var + epsilon), -clip, clip)",
                **normalization,
            },
        },
        "actions": {"count": sim.n_actions, "meanings": action_meanings(sim.k_calls)},
        "onnx": {"file": ONNX_FILE, "opset": opset, **io_spec(builder.size, sim.n_actions)},
        "training": training,
        "evaluation": evaluation,
    }


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


def card_district(card: dict[str, Any], path: Path) -> District:
    """The district embedded in a card, checked against the card's SHA-256."""
    entry = card.get("district")
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise PatrolMarlError(f"{path}: policy card has no district config")
    district = District.from_config(validate_district_dict(entry["config"], f"{path}: district"))
    if district.config_sha256 != entry.get("district_config_sha256"):
        raise PatrolMarlError(f"{path}: the district config does not match its SHA-256")
    return district
