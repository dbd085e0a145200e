"""The ONNX I/O contract of an exported policy: file names, format, inputs and outputs.

An export folder holds :data:`ONNX_FILE`, its card :data:`CARD_FILE` and the
card's observation tables :data:`TABLES_FILE`. The
graph takes raw observations (:data:`OBSERVATION_INPUT`) and float action masks
(:data:`MASK_INPUT`) and gives masked log-probabilities (:data:`LOGITS_OUTPUT`,
forbidden actions at about :data:`MASKED_LOGIT`) and the chosen action
(:data:`ACTION_OUTPUT`); :func:`io_spec` describes them for the card.
"""

from __future__ import annotations

from typing import Any

FORMAT = "patrolmarl-policy"
FORMAT_VERSION = 1
CARD_FILE = "policy.json"
ONNX_FILE = "policy.onnx"
TABLES_FILE = "observation_tables.npz"
OBSERVATION_INPUT = "observation"
MASK_INPUT = "action_mask"
LOGITS_OUTPUT = "logits"
ACTION_OUTPUT = "action"
# The logit of a forbidden action (as sb3-contrib's MaskableCategorical).
MASKED_LOGIT = -1e8


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
