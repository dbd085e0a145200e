"""Per-agent observations and the global state, built for all B districts at once.

An agent's observation is a flat float32 vector whose fields are listed by
:attr:`ObservationBuilder.layout` (name, slice, meaning), so that exported
policies and advisory tools can build it without this package.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.status import EN_ROUTE, IDLE, MOVING, ON_SCENE

# Calls: scale for travel times and for the on-map presence channel.
TRAVEL_SCALE_MINUTES = 30.0
BUSY_SCALE_MINUTES = 60.0
CALL_FEATURES = 7
LOCAL_CHANNELS = ("in_grid", "available_units", "pending_calls", "street_intensity", "presence")
COARSE_CHANNELS = ("available_units", "pending_calls", "street_intensity")
STATE_CHANNELS = ("available_units", "busy_units", "pending_calls", "presence")


@dataclass(frozen=True)
class Field:
    """One named slice of the observation vector."""

    name: str
    start: int
    stop: int
    meaning: str


class ObservationBuilder:
    """Builds ``(B, N, D)`` observations and ``(B, S)`` global states of a :class:`BatchedSim`."""

    def __init__(self, sim: BatchedSim) -> None:
        self.sim = sim
        d = sim.district
        cfg = d.config
        self._n_units = d.n_units
        self._cells = d.n_cells
        r = cfg.simulation.local_radius_cells
        offsets = np.arange(-r, r + 1)
        dr, dc = np.meshgrid(offsets, offsets, indexing="ij")
        rows = d.cell_rc[:, 0:1] + dr.ravel()
        cols = d.cell_rc[:, 1:2] + dc.ravel()
        inside = (rows >= 0) & (rows < d.rows) & (cols >= 0) & (cols < d.cols)
        # Off-grid window cells point at a padding cell (index C) that reads zero.
        self._window = np.where(inside, rows * d.cols + cols, self._cells)  # (C, W)
        block = cfg.simulation.coarse_block_cells
        self._block_rows = -(-d.rows // block)
        self._block_cols = -(-d.cols // block)
        self._n_blocks = self._block_rows * self._block_cols
        self._block_of_cell = (d.cell_rc[:, 0] // block) * self._block_cols + d.cell_rc[
            :, 1
        ] // block
        street = sim.incidents.street_rate_per_minute()  # (24, C)
        peak = street.max() if street.max() > 0 else 1.0
        self._intensity = street / peak
        block_rate = np.zeros((24, self._n_blocks))
        for h in range(24):
            block_rate[h] = np.bincount(self._block_of_cell, street[h], minlength=self._n_blocks)
        totals = block_rate.sum(axis=1, keepdims=True)
        self._block_intensity = np.divide(
            block_rate, totals, out=np.zeros_like(block_rate), where=totals > 0
        )
        self._saturation = cfg.deterrence.saturation_minutes
        n_vehicles = len(d.vehicle_names)
        self._own_static = np.concatenate(
            [
                np.eye(n_vehicles)[d.unit_vehicle],
                d.unit_home_precincts.astype(float),
                np.eye(self._n_units),
            ],
            axis=1,
        ).astype(np.float32)  # (N, V + P + N)
        self._call_priority = sim.incidents.priority / 5.0
        self._call_theft = sim.incidents.deterrable.astype(float)
        self._fallback = max(sim.fallback_minutes, 1.0)
        self.layout = self._make_layout(n_vehicles, d.n_precincts, self._window.shape[1])
        self.size = self.layout[-1].stop
        self.state_size = self._cells * len(STATE_CHANNELS) + 2

    def _make_layout(self, n_vehicles: int, n_precincts: int, window: int) -> list[Field]:
        k = self.sim.k_calls
        spec = [
            ("status", 4, "one-hot unit status: idle, moving, en_route, on_scene"),
            ("position", 2, "row / (rows - 1), col / (cols - 1)"),
            ("busy_remaining", 1, f"minutes until the current task ends / {BUSY_SCALE_MINUTES:g}"),
            ("vehicle", n_vehicles, "one-hot vehicle type"),
            ("home_precincts", n_precincts, "precincts the unit is bound to"),
            ("agent_id", self._n_units, "one-hot agent index"),
            ("time_of_day", 2, "sin and cos of the clock time (24 h period)"),
            (
                "local_map",
                window * len(LOCAL_CHANNELS),
                f"window of cells around the unit, row-major, channels last: {LOCAL_CHANNELS}",
            ),
            (
                "coarse_map",
                self._n_blocks * len(COARSE_CHANNELS),
                f"district in blocks, row-major, channels last: {COARSE_CHANNELS}",
            ),
            (
                "calls",
                k * CALL_FEATURES,
                "K nearest pending calls, nearest first: valid, d_row / rows, d_col / cols, "
                f"travel / {TRAVEL_SCALE_MINUTES:g} min, age / fallback_minutes, priority / 5, "
                "is_theft",
            ),
        ]
        layout, start = [], 0
        for name, size, meaning in spec:
            layout.append(Field(name, start, start + size, meaning))
            start += size
        return layout

    def _slice(self, name: str) -> slice:
        f = next(f for f in self.layout if f.name == name)
        return slice(f.start, f.stop)

    def observe(self) -> np.ndarray:
        """``(B, N, D)`` float32 observations of every agent."""
        sim = self.sim
        b, n, c = sim.batch_size, self._n_units, self._cells
        out = np.zeros((b, n, self.size), dtype=np.float32)
        status = sim.unit_status
        cell = sim.unit_cell
        d = sim.district
        out[..., self._slice("status")] = np.eye(4, dtype=np.float32)[status]
        pos = self._slice("position")
        out[..., pos.start] = d.cell_rc[cell, 0] / max(d.rows - 1, 1)
        out[..., pos.start + 1] = d.cell_rc[cell, 1] / max(d.cols - 1, 1)
        now = sim.now[:, None]
        busy = np.where(status == IDLE, 0.0, np.maximum(sim.unit_free_at - now, 0.0))
        out[..., self._slice("busy_remaining").start] = busy / BUSY_SCALE_MINUTES
        static = slice(self._slice("vehicle").start, self._slice("agent_id").stop)
        out[..., static] = self._own_static
        clock = 2 * np.pi * ((d.config.simulation.start_hour * 60.0 + sim.now) % 1440.0) / 1440.0
        tod = self._slice("time_of_day")
        out[..., tod.start] = np.sin(clock)[:, None]
        out[..., tod.start + 1] = np.cos(clock)[:, None]

        available = (status == IDLE) | (status == MOVING)
        rows = np.arange(b)[:, None]
        avail_map = _count_per_cell(rows, cell, available, b, c)
        pend_cells = sim.calls.cell[rows, np.maximum(sim.pending, 0)]
        pend_map = _count_per_cell(rows, pend_cells, sim.pending >= 0, b, c)
        hour = sim.hour_of_day
        maps = np.zeros((b, c + 1, len(LOCAL_CHANNELS)), dtype=np.float32)
        maps[:, :c, 0] = 1.0
        maps[:, :c, 1] = avail_map
        maps[:, :c, 2] = pend_map
        maps[:, :c, 3] = self._intensity[hour]
        maps[:, :c, 4] = np.minimum(sim.presence / self._saturation, 4.0)
        local = maps[rows[:, :, None], self._window[cell]]  # (B, N, W, ch)
        out[..., self._slice("local_map")] = local.reshape(b, n, -1)

        g = self._n_blocks
        flat_block = rows * g + self._block_of_cell[None, :]
        coarse = np.zeros((b, g, len(COARSE_CHANNELS)), dtype=np.float32)
        coarse[..., 0] = np.bincount(
            flat_block.ravel(), avail_map.ravel(), minlength=b * g
        ).reshape(b, g)
        coarse[..., 1] = np.bincount(flat_block.ravel(), pend_map.ravel(), minlength=b * g).reshape(
            b, g
        )
        coarse[..., 2] = self._block_intensity[hour]
        out[..., self._slice("coarse_map")] = coarse.reshape(b, 1, -1)

        self._fill_calls(out[..., self._slice("calls")].reshape(b, n, sim.k_calls, CALL_FEATURES))
        return out

    def _fill_calls(self, calls: np.ndarray) -> None:
        sim = self.sim
        d = sim.district
        bi, ni, ki = np.nonzero(sim.nearest_call >= 0)
        if bi.size == 0:
            return
        call = sim.nearest_call[bi, ni, ki]
        call_rc = d.cell_rc[sim.calls.cell[bi, call]]
        unit_rc = d.cell_rc[sim.unit_cell[bi, ni]]
        ctype = sim.calls.type[bi, call]
        age = sim.now[bi] - sim.calls.time[bi, call]
        calls[bi, ni, ki, 0] = 1.0
        calls[bi, ni, ki, 1] = (call_rc[:, 0] - unit_rc[:, 0]) / d.rows
        calls[bi, ni, ki, 2] = (call_rc[:, 1] - unit_rc[:, 1]) / d.cols
        calls[bi, ni, ki, 3] = sim.nearest_travel[bi, ni, ki] / TRAVEL_SCALE_MINUTES
        calls[bi, ni, ki, 4] = age / self._fallback
        calls[bi, ni, ki, 5] = self._call_priority[ctype]
        calls[bi, ni, ki, 6] = self._call_theft[ctype]

    def state(self) -> np.ndarray:
        """``(B, S)`` float32 global state: per-cell maps (channels last) and the clock."""
        sim = self.sim
        b, c = sim.batch_size, self._cells
        rows = np.arange(b)[:, None]
        status = sim.unit_status
        available = (status == IDLE) | (status == MOVING)
        busy = (status == EN_ROUTE) | (status == ON_SCENE)
        pend_cells = sim.calls.cell[rows, np.maximum(sim.pending, 0)]
        maps = np.stack(
            [
                _count_per_cell(rows, sim.unit_cell, available, b, c),
                _count_per_cell(rows, sim.unit_cell, busy, b, c),
                _count_per_cell(rows, pend_cells, sim.pending >= 0, b, c),
                np.minimum(sim.presence / self._saturation, 4.0),
            ],
            axis=2,
        ).reshape(b, -1)
        start = sim.district.config.simulation.start_hour * 60.0
        clock = 2 * np.pi * ((start + sim.now) % 1440.0) / 1440.0
        return np.concatenate(
            [maps, np.sin(clock)[:, None], np.cos(clock)[:, None]], axis=1
        ).astype(np.float32)


def _count_per_cell(
    rows: np.ndarray, cells: np.ndarray, where: np.ndarray, batch: int, n_cells: int
) -> np.ndarray:
    """``(B, C)`` number of entries of ``cells`` (selected by ``where``) in each cell."""
    flat = (rows * n_cells + cells)[where]
    return np.bincount(flat, minlength=batch * n_cells).reshape(batch, n_cells).astype(np.float32)
