"""The card's specification of the observation: enough to build it without patrolmarl.

:func:`observation_spec` is the card's ``observation.state`` (what an advisory
tool must supply), ``observation.fields`` (per field: inputs, formula, constants,
order of operations) and ``observation.tables`` (the static per-district arrays,
written by :func:`write_tables` beside the card as :data:`TABLES_FILE`).
Following the spec with numpy gives :class:`ObservationBuilder`'s observations
bit for bit (``tests/exported/test_card_observations.py`` checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from patrolmarl.envs.clock import MINUTES_PER_DAY
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.move_gains import MoveGains
from patrolmarl.envs.names import MOVE_NAMES
from patrolmarl.envs.observations import (
    BUSY_SCALE_MINUTES,
    CALL_FEATURES,
    COARSE_CHANNELS,
    LOCAL_CHANNELS,
    PRESENCE_CAP,
    TRAVEL_SCALE_MINUTES,
    ObservationBuilder,
    coarse_blocks,
)
from patrolmarl.envs.status import IDLE, MOVING, UNIT_STATUS_NAMES
from patrolmarl.exported.contract import TABLES_FILE

# What each table holds; the shapes and dtypes are read from the arrays.
_TABLE_MEANINGS = {
    "cell_position": "float32 position field of each cell: row / max(rows - 1, 1), "
    "col / max(cols - 1, 1)",
    "unit_static": "float32 per unit: its vehicle, home_precincts and agent_id fields, "
    "concatenated",
    "street_intensity": "street_intensity channel of the local map per hour and cell: the "
    "cell's street-call rate / the district's highest hourly cell rate",
    "block_of_cell": "coarse block of each cell: (row // block) * block_cols + col // block",
    "block_intensity": "street_intensity channel of the coarse map per hour and block: the "
    "block's share of the hour's street calls",
    "call_priority": "priority / 5 of each call type (index = the call's type)",
    "call_is_theft": "1 for the deterrable (theft) call types, else 0",
    "call_type_names": "name of each call type index",
    "travel_minutes": "float64 travel minutes per vehicle type, origin cell, destination cell",
    "unit_vehicle": "vehicle type index of each unit",
    "neighbour": "cell reached by each move (north, south, east, west), -1 off the grid",
    "street_share": "float64 share of the hour's street calls per cell (move_gains)",
    "theft_share": "float64 share of the hour's thefts per cell (move_gains)",
    "nearby_cells": "cells whose presence a cell's nearby presence sums, in increasing "
    "index order, -1 padding (move_gains)",
    "nearby_weights": "their weights: 1 for the cell itself, neighbour_weight for a "
    "neighbour, 0 for padding (move_gains)",
}

_STATE = {
    "meaning": "what a tool must supply to build every unit's observation of one district "
    "(what `patrolmarl advise` reads from a snapshot); unit arrays in card unit order",
    "minute_of_day": "float, minutes since midnight in [0, 1440); hour = floor(minute_of_day / 60)",
    "unit_cell": "int (N,), cell index row * cols + col",
    "unit_status": f"int (N,), index in {list(UNIT_STATUS_NAMES)}; idle and moving units are "
    "'available'",
    "unit_minutes_until_free": "float64 (N,), minutes until the current task ends (ignored "
    "for idle units)",
    "calls": "the pending street calls in arrival order (oldest first; the order breaks ties): "
    "call_cell int (Q,), call_age_minutes float64 (Q,), call_type int (Q,) "
    "(index in table call_type_names)",
    "presence": "float64 (C,), recent patrol-minutes per cell (the simulator's decayed presence)",
}

_ARITHMETIC = (
    "Every formula is evaluated in float64, left to right as written, and its result cast "
    "to float32 once at the end (counts are float32 sums of 1.0); tables are used as "
    "stored (float32 tables are not recomputed). Indices are 0-based."
)


def _move_gains_spec(district: District) -> dict[str, Any]:
    moves = ", ".join(MOVE_NAMES)
    deterrence = district.config.deterrence
    return {
        "inputs": ["unit_cell", "unit_status", "presence", "minute_of_day"],
        "tables": [
            "travel_minutes",
            "unit_vehicle",
            "neighbour",
            "street_share",
            "theft_share",
            "nearby_cells",
            "nearby_weights",
        ],
        "order": f"response gains of the moves {moves}, then theft gains of the same moves",
        "response": [
            "T[u] = float32(travel_minutes[unit_vehicle[u]]) (C, C); available = status idle "
            "or moving",
            "t[u, :] = T[u][unit_cell[u]] for available u, +inf for the others (float32)",
            "eta = min over u of t; owner = smallest u with t[u] == eta; "
            "second = min over u != owner of t (inf if none)",
            "for an available unit u and a move m with n = neighbour[unit_cell[u], m] >= 0: "
            "without = where(owner == u, second, eta); "
            "moved = minimum(T[u][n], without) (float32)",
            "s = street_share[hour] (float64); now = sum_c s[c] * eta[c]; "
            "gain = now - sum_c s[c] * moved[c]; both sums in float64 with the float32 "
            "terms cast up (numpy.einsum('bc,bc->b') reproduces the float64 bit for bit; "
            "after the cast to float32 another summation order, e.g. a BLAS dot product, "
            "differs at most in rare last-bit cases)",
            "0 for units not available and for moves off the grid",
        ],
        "theft": [
            "near[c] = sum over j of nearby_weights[c, j] * presence[nearby_cells[c, j]], "
            "accumulated from 0.0 in j order (padding skipped)",
            "slope = (-max_reduction / saturation_minutes) * exp(-near / saturation_minutes)",
            "deterred = -theft_share[hour] * slope",
            "value[c] = sum over j of nearby_weights[c, j] * deterred[nearby_cells[c, j]], "
            "accumulated from 0.0 in j order (the nearby map is symmetric)",
            "gain = value[n] - value[unit_cell[u]] for available u and n = "
            "neighbour[unit_cell[u], m] >= 0, else 0",
        ],
        "max_reduction": deterrence.max_reduction,
        "saturation_minutes": deterrence.saturation_minutes,
        "dtype": "float64, cast to float32 once",
    }


def observation_spec(district: District, move_gains: bool) -> dict[str, Any]:
    """The ``state``, ``fields`` and ``tables`` entries of the card's ``observation``."""
    cfg = district.config
    sim = cfg.simulation
    r = sim.local_radius_cells
    block_rows, block_cols = coarse_blocks(district)
    counts = "float32 count of {} in the cell"
    fields: dict[str, Any] = {
        "status": {
            "inputs": ["unit_status"],
            "formula": "one-hot of unit_status over one_hot_of",
            "one_hot_of": list(UNIT_STATUS_NAMES),
            "available": [UNIT_STATUS_NAMES[IDLE], UNIT_STATUS_NAMES[MOVING]],
        },
        "position": {"inputs": ["unit_cell"], "formula": "cell_position[unit_cell]"},
        "busy_remaining": {
            "inputs": ["unit_status", "unit_minutes_until_free"],
            "formula": "0 if idle else max(unit_minutes_until_free, 0) / divisor",
            "divisor": BUSY_SCALE_MINUTES,
        },
        "vehicle": {"inputs": ["agent index"], "formula": "unit_static[u, 0:V]"},
        "home_precincts": {"inputs": ["agent index"], "formula": "unit_static[u, V:V+P]"},
        "agent_id": {"inputs": ["agent index"], "formula": "unit_static[u, V+P:V+P+N]"},
        "time_of_day": {
            "inputs": ["minute_of_day"],
            "formula": "angle = 2 * pi * minute_of_day / period_minutes; [sin(angle), cos(angle)]",
            "period_minutes": MINUTES_PER_DAY,
        },
        "local_map": {
            "inputs": ["unit_cell", "unit_status", "calls", "presence", "minute_of_day"],
            "radius_cells": r,
            "side": 2 * r + 1,
            "order": "window rows row - radius .. row + radius, in each the columns "
            "col - radius .. col + radius, channels last",
            "off_grid": "every channel 0 (in_grid included)",
            "channels": {
                "in_grid": "1",
                "available_units": counts.format("idle or moving units"),
                "pending_calls": counts.format("pending calls"),
                "street_intensity": "street_intensity[hour, cell]",
                "presence": "min(presence[cell] / presence_divisor, presence_cap)",
            },
            "presence_divisor": cfg.deterrence.saturation_minutes,
            "presence_cap": PRESENCE_CAP,
            "channel_order": list(LOCAL_CHANNELS),
        },
        "coarse_map": {
            "inputs": ["unit_cell", "unit_status", "calls", "minute_of_day"],
            "block_cells": sim.coarse_block_cells,
            "block_rows": block_rows,
            "block_cols": block_cols,
            "order": "blocks row-major (index block_of_cell), channels last; the same for "
            "every unit",
            "channels": {
                "available_units": "float32 sum over the block of its cells' idle or moving units",
                "pending_calls": "float32 sum over the block of its cells' pending calls",
                "street_intensity": "block_intensity[hour, block]",
            },
            "channel_order": list(COARSE_CHANNELS),
        },
        "calls": {
            "inputs": ["unit_cell", "calls"],
            "slots": sim.observed_calls,
            "selection": "for every unit whatever its status: travel = "
            "travel_minutes[unit_vehicle[u], unit_cell[u], call_cell] (float64) to each "
            "pending call; sort by travel, ties by arrival order; the first `slots`; "
            "the order also numbers the accept actions",
            "features": [
                "valid: 1",
                "d_row: (call_row - unit_row) / rows",
                "d_col: (call_col - unit_col) / cols",
                "travel / travel_divisor",
                "call_age_minutes / age_divisor",
                "call_priority[call_type]",
                "call_is_theft[call_type]",
            ],
            "features_per_slot": CALL_FEATURES,
            "travel_divisor": TRAVEL_SCALE_MINUTES,
            "age_divisor": max(sim.fallback_minutes, 1.0),
            "empty_slot": "every feature 0",
        },
    }
    if move_gains:
        fields["move_gains"] = _move_gains_spec(district)
    return {
        "state": _STATE,
        "arithmetic": _ARITHMETIC,
        "fields": fields,
        "tables": {"file": TABLES_FILE, "arrays": _table_entries(observation_tables(district))},
    }


def observation_tables(district: District) -> dict[str, np.ndarray]:
    """The static arrays of :data:`TABLES_FILE`, exactly as the simulator's code holds them."""
    sim = BatchedSim(district, batch_size=1)
    tables = ObservationBuilder(sim).tables() | MoveGains(sim).tables()
    tables["call_type_names"] = np.array(sim.incidents.type_names)
    return tables


def _table_entries(tables: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    return {
        name: {"shape": list(a.shape), "dtype": str(a.dtype), "meaning": _TABLE_MEANINGS[name]}
        for name, a in tables.items()
    }


def write_tables(path: Path, district: District) -> None:
    """Write the observation tables of ``district`` to ``path`` (compressed ``.npz``)."""
    np.savez_compressed(path, **observation_tables(district))
