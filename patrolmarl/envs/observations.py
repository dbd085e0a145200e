"""Per-agent observations and the global state, built for all B districts at once.

An agent's observation is a flat float32 vector whose fields are listed by
:func:`observation_layout` (name, slice, meaning), so that exported policies and
advisory tools can build it without this package. The layout, the sizes and the
bounds follow from the district alone (:func:`observation_layout`,
:func:`observation_bounds`, :func:`state_bounds`): no simulator is needed to
learn them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from patrolmarl.envs.clock import MINUTES_PER_DAY, minute_of_day
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.coverage import CoverageForecast, HourlyRates, hourly_share
from patrolmarl.envs.district import District
from patrolmarl.envs.move_gains import MoveGains
from patrolmarl.envs.status import (
    EN_ROUTE,
    IDLE,
    MOVING,
    N_MOVES,
    ON_SCENE,
    action_count,
    is_available,
)
from patrolmarl.errors import PatrolMarlError

# Calls: scale for travel times and for the on-map presence channel.
TRAVEL_SCALE_MINUTES = 30.0
BUSY_SCALE_MINUTES = 60.0
# The presence channel: patrol-minutes / saturation_minutes, clipped at this many saturations.
PRESENCE_CAP = 4.0
CALL_FEATURES = 7
LOCAL_CHANNELS = ("in_grid", "available_units", "pending_calls", "street_intensity", "presence")
COARSE_CHANNELS = ("available_units", "pending_calls", "street_intensity")
STATE_CHANNELS = ("available_units", "busy_units", "pending_calls", "presence")
#: Where the global state's channels are given: per cell, or per block of the coarse
#: map (unit and call counts summed over the block's cells, presence averaged).
STATE_RESOLUTIONS = ("cells", "blocks")


@dataclass(frozen=True)
class Field:
    """One named slice of the observation vector."""

    name: str
    start: int
    stop: int
    meaning: str


# The bound of a float32 entry that has none of its own: the largest float32.
_FLOAT32_MAX = float(np.finfo(np.float32).max)

# Bounds of each map channel; None = the number of units N.
_CHANNEL_BOUNDS: dict[str, tuple[float, float | None]] = {
    "in_grid": (0.0, 1.0),
    "available_units": (0.0, None),
    "busy_units": (0.0, None),
    "pending_calls": (0.0, _FLOAT32_MAX),  # the queue is unbounded
    "street_intensity": (0.0, 1.0),
    "presence": (0.0, PRESENCE_CAP),
}
# Per call slot: valid, d_row, d_col, travel, age, priority, is_theft.
_CALL_LOW = (0.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0)
_CALL_HIGH = (1.0, 1.0, 1.0, _FLOAT32_MAX, _FLOAT32_MAX, 1.0, 1.0)
_FIELD_BOUNDS: dict[str, tuple[float, float]] = {
    "status": (0.0, 1.0),
    "position": (0.0, 1.0),
    "busy_remaining": (0.0, _FLOAT32_MAX),  # service times are unbounded
    "vehicle": (0.0, 1.0),
    "home_precincts": (0.0, 1.0),
    "agent_id": (0.0, 1.0),
    "time_of_day": (-1.0, 1.0),
    "move_gains": (-_FLOAT32_MAX, _FLOAT32_MAX),
}


@dataclass(frozen=True)
class ObservationLayout:
    """The fields of one agent's observation vector, in order (iterating gives the fields).

    ``n_units`` (the district's N) bounds the unit-count channels.
    """

    fields: tuple[Field, ...]
    n_units: int

    @property
    def size(self) -> int:
        """Length ``D`` of the observation vector."""
        return self.fields[-1].stop

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)


def coarse_blocks(district: District) -> tuple[int, int]:
    """``(rows, cols)`` of the coarse map's blocks of ``coarse_block_cells`` cells a side."""
    block = district.config.simulation.coarse_block_cells
    return -(-district.rows // block), -(-district.cols // block)


def observation_layout(district: District, move_gains: bool = False) -> ObservationLayout:
    """The observation fields of one agent in ``district`` (with the ``move_gains`` field or not).

    Follows from the district's config alone (its units, vehicles, precincts and
    ``simulation`` settings).
    """
    sim = district.config.simulation
    k = sim.observed_calls
    side = 2 * sim.local_radius_cells + 1
    block_rows, block_cols = coarse_blocks(district)
    spec = [
        ("status", 4, "one-hot unit status: idle, moving, en_route, on_scene"),
        ("position", 2, "row / (rows - 1), col / (cols - 1)"),
        ("busy_remaining", 1, f"minutes until the current task ends / {BUSY_SCALE_MINUTES:g}"),
        ("vehicle", len(district.vehicle_names), "one-hot vehicle type"),
        ("home_precincts", district.n_precincts, "precincts the unit is bound to"),
        ("agent_id", district.n_units, "one-hot agent index"),
        ("time_of_day", 2, "sin and cos of the clock time (24 h period)"),
        (
            "local_map",
            side * side * len(LOCAL_CHANNELS),
            f"window of cells around the unit, row-major, channels last: {LOCAL_CHANNELS}",
        ),
        (
            "coarse_map",
            block_rows * block_cols * len(COARSE_CHANNELS),
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
    if move_gains:
        spec.append(
            (
                "move_gains",
                2 * N_MOVES,
                "per move N, S, E, W: minutes the next street call's expected response "
                "falls, then the extra share of theft a presence-minute deters there",
            )
        )
    fields, start = [], 0
    for name, size, meaning in spec:
        fields.append(Field(name, start, start + size, meaning))
        start += size
    return ObservationLayout(tuple(fields), district.n_units)


def _channel_bounds(channels: tuple[str, ...], n_units: int) -> tuple[np.ndarray, np.ndarray]:
    low = np.array([_CHANNEL_BOUNDS[ch][0] for ch in channels])
    high = np.array(
        [n_units if _CHANNEL_BOUNDS[ch][1] is None else _CHANNEL_BOUNDS[ch][1] for ch in channels]
    )
    return low, high


def observation_bounds(layout: ObservationLayout) -> tuple[np.ndarray, np.ndarray]:
    """``(D,)`` float32 lower and upper bounds of every observation entry.

    Tight where the value is bounded by construction (one-hots, shares, the
    clock, unit counts <= N, clipped presence, relative offsets in [-1, 1]);
    the largest float32 for the unbounded ones (remaining busy minutes, counts
    of pending calls, travel and age of a call, move gains): every bound is
    finite, and every finite float32 value of such an entry lies within.
    """
    low = np.zeros(layout.size, dtype=np.float32)
    high = np.zeros(layout.size, dtype=np.float32)
    for f in layout:
        part = slice(f.start, f.stop)
        if f.name in _FIELD_BOUNDS:
            low[part], high[part] = _FIELD_BOUNDS[f.name]
        elif f.name in ("local_map", "coarse_map"):
            channels = LOCAL_CHANNELS if f.name == "local_map" else COARSE_CHANNELS
            lo, hi = _channel_bounds(channels, layout.n_units)
            low[part] = np.resize(lo, f.stop - f.start)
            high[part] = np.resize(hi, f.stop - f.start)
        elif f.name == "calls" and len(_CALL_LOW) == CALL_FEATURES:
            low[part] = np.resize(_CALL_LOW, f.stop - f.start)
            high[part] = np.resize(_CALL_HIGH, f.stop - f.start)
        else:
            raise KeyError(f"no observation bounds for field {f.name!r}")
    return low, high


def _check_resolution(resolution: str) -> None:
    if resolution not in STATE_RESOLUTIONS:
        raise ValueError(f"state resolution must be one of {STATE_RESOLUTIONS}, got {resolution!r}")


def _state_places(district: District, resolution: str) -> int:
    """How many cells or blocks the global state at ``resolution`` describes."""
    _check_resolution(resolution)
    if resolution == "cells":
        return district.n_cells
    rows, cols = coarse_blocks(district)
    return rows * cols


def state_size(district: District, resolution: str = "cells") -> int:
    """Length ``S`` of the global state: per-cell (or per-block) channels, then sin/cos of
    the clock."""
    return _state_places(district, resolution) * len(STATE_CHANNELS) + 2


def state_bounds(district: District, resolution: str = "cells") -> tuple[np.ndarray, np.ndarray]:
    """``(S,)`` float32 bounds of the global state: per-cell (or per-block) channels, then
    sin/cos of the clock."""
    lo, hi = _channel_bounds(STATE_CHANNELS, district.n_units)
    places = _state_places(district, resolution)
    low = np.concatenate([np.tile(lo, places), [-1.0, -1.0]]).astype(np.float32)
    high = np.concatenate([np.tile(hi, places), [1.0, 1.0]]).astype(np.float32)
    return low, high


def observes_move_gains(
    source: str | Path, obs_size: int, n_actions: int, district: District
) -> bool:
    """Whether a model of these sizes reads the ``move_gains`` field; refuses other sizes.

    Raises
    ------
    PatrolMarlError
        If neither layout of ``district`` has ``obs_size`` entries and
        ``n_actions`` actions (a model for another district or version).
    """
    want_actions = action_count(district)
    for move_gains in (False, True):
        if (obs_size, n_actions) == (observation_layout(district, move_gains).size, want_actions):
            return move_gains
    plain = observation_layout(district).size
    with_gains = observation_layout(district, move_gains=True).size
    raise PatrolMarlError(
        f"{source}: model expects observations of size {obs_size} and {n_actions} actions; "
        f"district {district.name!r} has {plain} (or {with_gains} with move gains) "
        f"and {want_actions}"
    )


class ObservationBuilder:
    """Builds ``(B, N, D)`` observations and ``(B, S)`` global states of a :class:`BatchedSim`.

    With ``move_gains`` the observation ends with the response and theft gains of
    the unit's four moves (:mod:`patrolmarl.envs.move_gains`). They cost more than
    the rest of a bare simulator step, so they are off unless asked for; given the
    reward's ``forecast``, they share its nearest units of each state
    (``benchmarks/env_throughput.py`` prints both costs).
    """

    def __init__(
        self, sim: BatchedSim, move_gains: bool = False, forecast: CoverageForecast | None = None
    ) -> None:
        self.sim = sim
        self._move_gains = MoveGains(sim, forecast) if move_gains else None
        d = sim.district
        cfg = d.config
        self._n_units = d.n_units
        self._cells = d.n_cells
        block = cfg.simulation.coarse_block_cells
        self._block_rows, self._block_cols = coarse_blocks(d)
        self._n_blocks = self._block_rows * self._block_cols
        self._block_of_cell = (d.cell_rc[:, 0] // block) * self._block_cols + d.cell_rc[
            :, 1
        ] // block
        street = HourlyRates(sim.incidents).street  # (24, C)
        peak = street.max() if street.max() > 0 else 1.0
        self._intensity = street / peak
        block_rate = np.zeros((24, self._n_blocks))
        for h in range(24):
            block_rate[h] = np.bincount(self._block_of_cell, street[h], minlength=self._n_blocks)
        self._block_intensity = hourly_share(block_rate)
        self._saturation = cfg.deterrence.saturation_minutes
        # (C, G) cell-to-block one-hots and the per-channel scale of the pooled sums
        # (counts stay sums, presence becomes the block's mean): see :meth:`state`.
        self._block_pooling = np.eye(self._n_blocks, dtype=np.float32)[self._block_of_cell]
        cells_per_block = np.maximum(self._block_pooling.sum(axis=0), 1.0)[:, None]
        presence = np.array([ch == "presence" for ch in STATE_CHANNELS])
        self._block_channel_scale = np.where(presence, 1.0 / cells_per_block, 1.0).astype(
            np.float32
        )  # (G, channels)
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
        self.layout = observation_layout(d, move_gains)
        self.size = self.layout.size
        self.state_size = state_size(d)
        self._start = {f.name: f.start for f in self.layout}
        self._simulation = cfg.simulation
        # The status one-hot and the position, by row status_row[status] + cell.
        statuses = [IDLE, MOVING, EN_ROUTE, ON_SCENE]
        rows_cols = np.array([max(d.rows - 1, 1), max(d.cols - 1, 1)])
        self._status_position = np.concatenate(
            [np.repeat(np.eye(4), self._cells, axis=0), np.tile(d.cell_rc / rows_cols, (4, 1))],
            axis=1,
        ).astype(np.float32)  # (4 * C, 6)
        self._status_row = np.zeros(max(statuses) + 1, dtype=np.int64)
        self._status_row[statuses] = np.arange(4) * self._cells
        self._prepare_buffers()

    def _prepare_buffers(self) -> None:
        """Allocate the buffers reused at every :meth:`observe`.

        The local windows are read from padded per-cell maps: each district's
        grid is padded by the local radius on every side with cells that read
        zero in every channel (``in_grid`` included), so that a unit's window is
        ``side`` runs of ``side`` consecutive padded cells (channels last), one
        per window row, each starting ``pad_cols`` cells after the previous.
        Channels that change sparsely (units, calls) or hourly (intensity) are
        updated in place; presence is rewritten at every call.
        """
        d = self.sim.district
        b, n, at = self.sim.batch_size, self._n_units, self._start
        r = d.config.simulation.local_radius_cells
        side = 2 * r + 1
        pad_rows, pad_cols = d.rows + 2 * r, d.cols + 2 * r
        self._pad_cells = pad_rows * pad_cols
        ch = len(LOCAL_CHANNELS)
        self._maps = np.zeros((b * self._pad_cells, ch), dtype=np.float32)
        # (B, rows, cols, channels) view of the unpadded cells.
        self._grid = self._maps.reshape(b, pad_rows, pad_cols, ch)[
            :, r : r + d.rows, r : r + d.cols, :
        ]
        self._grid[..., LOCAL_CHANNELS.index("in_grid")] = 1.0
        rc = d.cell_rc
        self._cell_slot = (rc[:, 0] + r) * pad_cols + rc[:, 1] + r  # padded index of each cell
        self._corner_slot = rc[:, 0] * pad_cols + rc[:, 1]  # padded index of its window's corner
        self._district_slot = np.arange(b)[:, None] * self._pad_cells  # (B, 1)
        # Every run of ``side`` cells, by its first cell, as one opaque item: a
        # read-only view of overlapping records, so that gathering the runs of
        # all windows is one fancy index on a 1-d array (numpy's fastest gather).
        run_bytes = side * self._maps.strides[0]
        self._runs = np.ndarray(
            shape=(self._maps.shape[0] - side + 1,),
            dtype=np.dtype((np.void, run_bytes)),
            buffer=self._maps,
            strides=self._maps.strides[:1],
        )
        self._runs.flags.writeable = False
        self._run_offsets = np.arange(side) * pad_cols  # first cell of each window row
        self._map_hour = np.full(b, -1, dtype=np.int64)
        self._unit_slots = np.zeros(0, dtype=np.int64)
        self._call_slots = np.zeros(0, dtype=np.int64)
        # Districts per assembly chunk: about 1 MiB of observations, so that a
        # chunk's maps, windows and observations stay in cache while it is built.
        self._chunk = max(1, (1 << 20) // (n * self.size * 4))
        self._presence = np.empty((min(b, self._chunk), d.n_cells))
        # The clip of the presence channel, as an array: np.minimum is faster so.
        self._presence_cap = np.full_like(self._presence, PRESENCE_CAP)
        self._own = np.empty((b, n, at["local_map"]), dtype=np.float32)
        self._own[..., at["vehicle"] : at["time_of_day"]] = self._own_static
        self._calls = np.zeros((b * n * self.sim.k_calls, CALL_FEATURES), dtype=np.float32)
        self._call_rows = np.zeros(0, dtype=np.int64)

    def tables(self) -> dict[str, np.ndarray]:
        """The static per-district arrays the observation reads, as the builder holds them.

        Written beside an exported card (``observation_tables.npz``) so that the
        observation can be built without this package; see
        :mod:`patrolmarl.exported.observation_spec` for their meaning.
        """
        d = self.sim.district
        cells = np.arange(self._cells)
        return {
            "cell_position": self._status_position[cells, 4:],
            "unit_static": self._own_static,
            "street_intensity": self._intensity.astype(np.float32),
            "block_of_cell": self._block_of_cell,
            "block_intensity": self._block_intensity.astype(np.float32),
            "call_priority": self._call_priority,
            "call_is_theft": self._call_theft,
            "travel_minutes": d.travel_minutes,
            "unit_vehicle": d.unit_vehicle,
            "neighbour": d.neighbour,
        }

    def observe(self, out: np.ndarray | None = None) -> np.ndarray:
        """``(B, N, D)`` float32 observations of every agent.

        A new array at each call, unless ``out`` (a C-contiguous ``(B, N, D)``
        float32 array) is given to be overwritten and returned: reusing one
        buffer saves allocating (and the OS zeroing) a fresh array every step.
        """
        sim = self.sim
        b, n = sim.batch_size, self._n_units
        shape = (b, n, self.size)
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous float32 array of shape {shape}")
        status = sim.unit_status
        cell = sim.unit_cell
        hour = sim.hour_of_day
        available = is_available(status)
        pend_b, pend_slot = np.nonzero(sim.pending >= 0)
        pend_cell = sim.calls.cell[pend_b, sim.pending[pend_b, pend_slot]]
        own = self._own_features(status, cell)
        self._update_sparse_maps(available, cell, pend_b, pend_cell, hour)
        coarse = self._coarse_features(available, cell, pend_b, pend_cell, hour)
        calls = self._call_features().reshape(b, n, -1)
        # (B, N, side) first padded cell of each row of each unit's window.
        runs = (self._corner_slot[cell] + self._district_slot)[..., None] + self._run_offsets
        at = self._start
        local, coarse_at, calls_at = at["local_map"], at["coarse_map"], at["calls"]
        calls_end = calls_at + calls.shape[2]
        gains = self._move_gains() if self._move_gains is not None else None
        for lo in range(0, b, self._chunk):
            hi = min(lo + self._chunk, b)
            self._update_presence_map(lo, hi)
            part = out[lo:hi]
            part[..., :local] = own[lo:hi]
            part[..., local:coarse_at] = (
                self._runs[runs[lo:hi]].view(np.float32).reshape(hi - lo, n, -1)
            )
            part[..., coarse_at:calls_at] = coarse[lo:hi, None, :]
            part[..., calls_at:calls_end] = calls[lo:hi]
            if gains is not None:
                part[..., calls_end:] = gains[lo:hi]
        return out

    def _own_features(self, status: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """``(B, N, H)`` the unit's own fields (status to time_of_day), in a reused buffer."""
        sim = self.sim
        own, at = self._own, self._start
        now = sim.now
        row = self._status_row.take(status) + cell
        own[..., at["status"] : at["busy_remaining"]] = self._status_position.take(row, axis=0)
        busy = np.where(status == IDLE, 0.0, np.maximum(sim.unit_free_at - now[:, None], 0.0))
        own[..., at["busy_remaining"]] = busy / BUSY_SCALE_MINUTES
        clock = self._clock_angle()
        own[..., at["time_of_day"]] = np.sin(clock)[:, None]
        own[..., at["time_of_day"] + 1] = np.cos(clock)[:, None]
        return own

    def _update_sparse_maps(
        self,
        available: np.ndarray,
        cell: np.ndarray,
        pend_b: np.ndarray,
        pend_cell: np.ndarray,
        hour: np.ndarray,
    ) -> None:
        """Bring the unit, call and intensity channels of the padded maps up to date."""
        maps, one = self._maps, np.float32(1.0)
        units = maps[:, LOCAL_CHANNELS.index("available_units")]
        units[self._unit_slots] = 0.0
        self._unit_slots = (self._district_slot + self._cell_slot[cell])[available]
        np.add.at(units, self._unit_slots, one)
        calls = maps[:, LOCAL_CHANNELS.index("pending_calls")]
        calls[self._call_slots] = 0.0
        self._call_slots = pend_b * self._pad_cells + self._cell_slot[pend_cell]
        np.add.at(calls, self._call_slots, one)

        changed = np.flatnonzero(hour != self._map_hour)
        if changed.size:
            intensity = self._intensity[hour[changed]].reshape(changed.size, *self._grid.shape[1:3])
            self._grid[changed, :, :, LOCAL_CHANNELS.index("street_intensity")] = intensity
            self._map_hour[changed] = hour[changed]

    def _update_presence_map(self, lo: int, hi: int) -> None:
        """Rewrite the presence channel of districts ``lo:hi``."""
        presence = np.divide(
            self.sim.presence[lo:hi], self._saturation, out=self._presence[: hi - lo]
        )
        np.minimum(presence, self._presence_cap[: hi - lo], out=presence)
        grid = self._grid[lo:hi, :, :, LOCAL_CHANNELS.index("presence")]
        grid[...] = presence.reshape(grid.shape)

    def _coarse_features(
        self,
        available: np.ndarray,
        cell: np.ndarray,
        pend_b: np.ndarray,
        pend_cell: np.ndarray,
        hour: np.ndarray,
    ) -> np.ndarray:
        """``(B, G * 3)`` the coarse map of each district."""
        b, g = self.sim.batch_size, self._n_blocks
        coarse = np.zeros((b * g, len(COARSE_CHANNELS)), dtype=np.float32)
        one = np.float32(1.0)
        unit_block = (self._block_of_cell[cell] + np.arange(b)[:, None] * g)[available]
        np.add.at(coarse[:, COARSE_CHANNELS.index("available_units")], unit_block, one)
        call_block = self._block_of_cell[pend_cell] + pend_b * g
        np.add.at(coarse[:, COARSE_CHANNELS.index("pending_calls")], call_block, one)
        coarse[:, COARSE_CHANNELS.index("street_intensity")] = self._block_intensity[hour].reshape(
            -1
        )
        return coarse.reshape(b, -1)

    def _call_features(self) -> np.ndarray:
        """``(B * N * K, CALL_FEATURES)`` features of the nearest calls, in a reused buffer."""
        sim = self.sim
        d = sim.district
        calls = self._calls
        calls[self._call_rows] = 0.0
        self._call_rows = rows = np.flatnonzero(sim.nearest_call >= 0)
        if rows.size == 0:
            return calls
        bi, ni, _ = np.unravel_index(rows, sim.nearest_call.shape)
        call = sim.nearest_call.reshape(-1)[rows]
        call_rc = d.cell_rc[sim.calls.cell[bi, call]]
        unit_rc = d.cell_rc[sim.unit_cell[bi, ni]]
        ctype = sim.calls.type[bi, call]
        age = sim.now[bi] - sim.calls.time[bi, call]
        calls[rows] = np.stack(
            [
                np.ones(rows.size),
                (call_rc[:, 0] - unit_rc[:, 0]) / d.rows,
                (call_rc[:, 1] - unit_rc[:, 1]) / d.cols,
                sim.nearest_travel.reshape(-1)[rows] / TRAVEL_SCALE_MINUTES,
                age / self._fallback,
                self._call_priority[ctype],
                self._call_theft[ctype],
            ],
            axis=1,
        )
        return calls

    def _clock_angle(self) -> np.ndarray:
        """``(B,)`` time of day as an angle (24 h = 2 pi), for the sin/cos features."""
        return 2 * np.pi * minute_of_day(self._simulation, self.sim.now) / MINUTES_PER_DAY

    def observe_with_state(self, resolution: str = "cells") -> np.ndarray:
        """``(B, N, D + S)`` float32: each agent's observation, then its district's global
        state at ``resolution`` (see :meth:`state`).

        The input of a centralised critic (see :mod:`patrolmarl.training.central_critic`);
        a new array at each call.
        """
        obs = self.observe()
        state = self.state(resolution)
        b, n, _ = obs.shape
        return np.concatenate([obs, np.broadcast_to(state[:, None, :], (b, n, state.shape[1]))], 2)

    def state(self, resolution: str = "cells") -> np.ndarray:
        """``(B, S)`` float32 global state: per-cell maps (channels last) and the clock.

        At ``resolution`` ``"blocks"`` the maps are pooled to the coarse map's blocks
        (row-major): unit and call counts summed over each block, presence averaged.
        """
        _check_resolution(resolution)
        sim = self.sim
        b, c = sim.batch_size, self._cells
        rows = np.arange(b)[:, None]
        status = sim.unit_status
        available = is_available(status)
        busy = (status == EN_ROUTE) | (status == ON_SCENE)
        pend_cells = sim.calls.cell[rows, np.maximum(sim.pending, 0)]
        maps = np.stack(
            [
                _count_per_cell(rows, sim.unit_cell, available, b, c),
                _count_per_cell(rows, sim.unit_cell, busy, b, c),
                _count_per_cell(rows, pend_cells, sim.pending >= 0, b, c),
                np.minimum(sim.presence / self._saturation, PRESENCE_CAP),
            ],
            axis=2,
        )
        if resolution == "blocks":
            maps = (self._block_pooling.T @ maps) * self._block_channel_scale
        maps = maps.reshape(b, -1)
        clock = self._clock_angle()
        return np.concatenate(
            [maps, np.sin(clock)[:, None], np.cos(clock)[:, None]], axis=1
        ).astype(np.float32)


def _count_per_cell(
    rows: np.ndarray, cells: np.ndarray, where: np.ndarray, batch: int, n_cells: int
) -> np.ndarray:
    """``(B, C)`` number of entries of ``cells`` (selected by ``where``) in each cell."""
    flat = (rows * n_cells + cells)[where]
    return np.bincount(flat, minlength=batch * n_cells).reshape(batch, n_cells).astype(np.float32)
