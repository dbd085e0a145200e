"""The shipped card suffices: observations built from ``policy.json`` and its tables alone.

:class:`CardObservation` follows the card's ``observation`` section with numpy
only (no patrolmarl observation or move-gain code). patrolmarl runs the
simulator and writes its states as advisory snapshots; on 1,000 (district,
step) states every unit's observation must equal the simulator's bit for bit,
and the ONNX model fed these observations must choose the loaded policy's actions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest

from patrolmarl.advise.snapshot import snapshot_from_sim
from patrolmarl.agents.registry import load_policy
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.envs.sim_view import SimView

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "gaoxin"
BATCH, STATES, EVERY = 5, 1000, 7


class CardObservation:
    """One district's observations, built from a policy card and its tables file."""

    def __init__(self, folder: Path) -> None:
        self.card = json.loads((folder / "policy.json").read_text())
        spec = self.card["observation"]
        self.fields = spec["fields"]
        with np.load(folder / spec["tables"]["file"]) as npz:
            self.t = {name: npz[name] for name in npz.files}
        self.rows, self.cols = self.card["district"]["rows"], self.card["district"]["cols"]
        self.n_units = len(self.card["district"]["units"])
        self.statuses = self.fields["status"]["one_hot_of"]
        self.available = [self.statuses.index(name) for name in self.fields["status"]["available"]]
        self.travel32 = self.t["travel_minutes"].astype(np.float32)
        self.cell_rc = np.stack(np.divmod(np.arange(self.rows * self.cols), self.cols), axis=1)

    def observe(self, state: dict[str, Any]) -> np.ndarray:
        """``(N, D)`` float32 observations of every unit."""
        hour = int(np.floor(state["minute_of_day"] / 60))
        available = np.isin(state["unit_status"], self.available)
        parts = [
            np.eye(len(self.statuses))[state["unit_status"]],
            self.t["cell_position"][state["unit_cell"]],
            self._busy(state)[:, None],
            self.t["unit_static"],
            np.tile(self._clock(state["minute_of_day"]), (self.n_units, 1)),
            self._local(state, available, hour),
            np.tile(self._coarse(state, available, hour), (self.n_units, 1)),
            self._calls(state),
        ]
        if "move_gains" in self.fields:
            gains = np.concatenate(
                [self._response(state, available, hour), self._theft(state, available, hour)],
                axis=1,
            )
            parts.append(gains.astype(np.float32))
        return np.concatenate([p.astype(np.float32) for p in parts], axis=1)

    def _busy(self, state: dict[str, Any]) -> np.ndarray:
        free = np.maximum(state["unit_minutes_until_free"], 0.0)
        idle = self.statuses.index("idle")
        return (
            np.where(state["unit_status"] == idle, 0.0, free)
            / self.fields["busy_remaining"]["divisor"]
        )

    def _clock(self, minute: float) -> np.ndarray:
        angle = 2 * np.pi * minute / self.fields["time_of_day"]["period_minutes"]
        return np.array([np.sin(angle), np.cos(angle)])

    def _counts(self, cells: np.ndarray, size: int) -> np.ndarray:
        counts = np.zeros(size, dtype=np.float32)
        np.add.at(counts, cells, np.float32(1.0))
        return counts

    def _local(self, state: dict[str, Any], available: np.ndarray, hour: int) -> np.ndarray:
        spec = self.fields["local_map"]
        r, c = spec["radius_cells"], self.rows * self.cols
        presence = np.minimum(state["presence"] / spec["presence_divisor"], spec["presence_cap"])
        channels = {
            "in_grid": np.ones(c, dtype=np.float32),
            "available_units": self._counts(state["unit_cell"][available], c),
            "pending_calls": self._counts(state["call_cell"], c),
            "street_intensity": self.t["street_intensity"][hour],
            "presence": presence.astype(np.float32),
        }
        grid = np.stack([channels[name] for name in spec["channel_order"]], axis=1)
        padded = np.pad(grid.reshape(self.rows, self.cols, -1), ((r, r), (r, r), (0, 0)))
        rc = self.cell_rc[state["unit_cell"]]
        side = spec["side"]
        return np.stack([padded[row : row + side, col : col + side].reshape(-1) for row, col in rc])

    def _coarse(self, state: dict[str, Any], available: np.ndarray, hour: int) -> np.ndarray:
        spec = self.fields["coarse_map"]
        g = spec["block_rows"] * spec["block_cols"]
        block = self.t["block_of_cell"]
        channels = {
            "available_units": self._counts(block[state["unit_cell"][available]], g),
            "pending_calls": self._counts(block[state["call_cell"]], g),
            "street_intensity": self.t["block_intensity"][hour],
        }
        return np.stack([channels[name] for name in spec["channel_order"]], axis=1).reshape(-1)

    def _calls(self, state: dict[str, Any]) -> np.ndarray:
        spec = self.fields["calls"]
        k = spec["slots"]
        out = np.zeros((self.n_units, k, spec["features_per_slot"]))
        vehicle = self.t["unit_vehicle"]
        for u, cell in enumerate(state["unit_cell"]):
            travel = self.t["travel_minutes"][vehicle[u], cell, state["call_cell"]]
            order = np.lexsort((np.arange(travel.size), travel))[:k]
            call_cell, ctype = state["call_cell"][order], state["call_type"][order]
            d_rc = self.cell_rc[call_cell] - self.cell_rc[cell]
            out[u, : order.size] = np.stack(
                [
                    np.ones(order.size),
                    d_rc[:, 0] / self.rows,
                    d_rc[:, 1] / self.cols,
                    travel[order] / spec["travel_divisor"],
                    state["call_age_minutes"][order] / spec["age_divisor"],
                    self.t["call_priority"][ctype],
                    self.t["call_is_theft"][ctype],
                ],
                axis=1,
            )
        return out.reshape(self.n_units, -1)

    def _response(self, state: dict[str, Any], available: np.ndarray, hour: int) -> np.ndarray:
        cell = state["unit_cell"]
        rows = self.travel32[self.t["unit_vehicle"], cell]  # (N, C)
        t = np.where(available[:, None], rows, np.float32(np.inf))
        eta = t.min(axis=0)
        owner = np.argmax(t == eta, axis=0)
        others = t.copy()
        others[owner, np.arange(t.shape[1])] = np.inf
        second = others.min(axis=0)
        share = self.t["street_share"][hour]
        now = float(np.dot(share, eta.astype(np.float64)))
        out = np.zeros((self.n_units, self.t["neighbour"].shape[1]))
        for u in np.flatnonzero(available):
            without = np.where(owner == u, second, eta)
            neighbour = self.t["neighbour"][cell[u]]
            moved = self.travel32[self.t["unit_vehicle"][u]][np.maximum(neighbour, 0)]
            eta_moved = np.minimum(moved, without[None])
            gain = now - eta_moved.astype(np.float64) @ share
            out[u] = np.where(neighbour >= 0, gain, 0.0)
        return out

    def _near_sum(self, values: np.ndarray) -> np.ndarray:
        cells, weights = self.t["nearby_cells"], self.t["nearby_weights"]
        total = np.zeros(values.shape)
        for j in range(cells.shape[1]):
            total = np.where(cells[:, j] >= 0, total + weights[:, j] * values[cells[:, j]], total)
        return total

    def _theft(self, state: dict[str, Any], available: np.ndarray, hour: int) -> np.ndarray:
        spec = self.fields["move_gains"]
        mr, sat = spec["max_reduction"], spec["saturation_minutes"]
        near = self._near_sum(state["presence"])
        slope = -mr / sat * np.exp(-near / sat)
        value = self._near_sum(-self.t["theft_share"][hour] * slope)
        neighbour = self.t["neighbour"][state["unit_cell"]]
        gain = value[np.maximum(neighbour, 0)] - value[state["unit_cell"]][:, None]
        return np.where((neighbour >= 0) & available[:, None], gain, 0.0)


def card_state(snapshot: dict[str, Any], card: CardObservation) -> dict[str, Any]:
    """The card's ``state`` of an advisory snapshot."""
    hours, minutes = snapshot["time_of_day"].split(":")
    types, cols = list(card.t["call_type_names"]), card.cols
    calls = snapshot["calls"]
    presence = np.zeros(card.rows * cols)
    for entry in snapshot["presence"]:
        presence[entry["cell"][0] * cols + entry["cell"][1]] = entry["minutes"]
    return {
        "minute_of_day": 60.0 * int(hours) + int(minutes),
        "unit_cell": np.array([u["cell"][0] * cols + u["cell"][1] for u in snapshot["units"]]),
        "unit_status": np.array([card.statuses.index(u["status"]) for u in snapshot["units"]]),
        "unit_minutes_until_free": np.array(
            [u.get("minutes_until_free", 0.0) for u in snapshot["units"]]
        ),
        "call_cell": np.array([c["cell"][0] * cols + c["cell"][1] for c in calls], dtype=int),
        "call_age_minutes": np.array([c["age_minutes"] for c in calls], dtype=float),
        "call_type": np.array([types.index(c["type"]) for c in calls], dtype=int),
        "presence": presence,
    }


def _picked(sim: BatchedSim, step: int) -> np.ndarray:
    """The districts whose state is compared at ``step``: every EVERY-th step, and any
    district with a pending call (calls are rare: about one state in twenty holds one)."""
    return np.flatnonzero((step % EVERY == 0) | (sim.pending.max(axis=1) >= 0))


@pytest.mark.slow
def test_observations_from_the_card_alone_are_the_simulators():
    gaoxin = District.load("gaoxin")
    card = CardObservation(SHIPPED)
    policy = load_policy(str(SHIPPED), gaoxin)
    session = onnxruntime.InferenceSession(str(SHIPPED / card.card["onnx"]["file"]))
    driver = load_policy("coverage", gaoxin)
    sim = BatchedSim(gaoxin, batch_size=BATCH, seed=11)
    driver.bind(SimView(sim))
    policy.bind(SimView(sim))
    sim.reset(seeds=[[11, b] for b in range(BATCH)])
    builder = ObservationBuilder(sim, move_gains=True)
    states = matched = decisions = calls_seen = 0
    for step in range(sim.n_steps):
        observations, masks = builder.observe(), sim.action_masks()
        picked = _picked(sim, step)[: STATES - states]
        expected = policy.act(observations, masks) if picked.size else None
        for b in picked:
            state = card_state(snapshot_from_sim(sim, b), card)
            mine = card.observe(state)
            assert mine.dtype == observations.dtype
            matched += int(np.array_equal(mine, observations[b]))
            states += 1
            calls_seen += int(state["call_cell"].size > 0)
            mask = masks[b].astype(np.float32)
            chosen = session.run(["action"], {"observation": mine, "action_mask": mask})[0]
            np.testing.assert_array_equal(chosen, expected[b])
            decisions += int((chosen > 0).sum())
        if states == STATES:
            break
        sim.step(driver.act(observations, masks))
    assert (states, matched) == (STATES, STATES)
    assert calls_seen > 100 and decisions > 0  # states with calls, and the policy chose moves
