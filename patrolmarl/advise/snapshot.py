"""Snapshots of a real situation, and the simulator state they stand for.

A snapshot (``schemas/snapshot.schema.json``) gives the district, the time of
day, every unit's cell and status (busy and moving units: minutes until free)
and the pending street calls (cell, type, age). :func:`situation` loads it into
a one-district :class:`BatchedSim` (:meth:`BatchedSim.load_state`), so that the
observations and masks are built by the simulator's own code;
:func:`snapshot_from_sim` writes a simulator state as a snapshot.

The presence field (recent patrol-minutes per cell, shown in the observation's
local map) is optional in a snapshot: real systems rarely track it. Without it,
each idle, moving or on-scene unit is taken to have stood at its cell for a
long time: its cell holds the field's steady state, ``step / (1 - decay)``
minutes per unit (65 at 1-minute steps and a 45-minute half-life; the
observation caps presence at 4 saturations), every other cell zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from patrolmarl.envs import clock
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.dispatch_rule import AGENTS, DispatchRule
from patrolmarl.envs.district import District
from patrolmarl.envs.names import agent_names
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.envs.status import EN_ROUTE, UNIT_STATUS_NAMES

Cell = tuple[int, int]


@dataclass(frozen=True)
class UnitState:
    """One unit in a snapshot; ``minutes_until_free`` is 0 for an idle unit."""

    name: str
    cell: Cell
    status: str
    minutes_until_free: float = 0.0


@dataclass(frozen=True)
class PendingCall:
    """One pending street call in a snapshot."""

    id: str | int
    cell: Cell
    type: str
    age_minutes: float


@dataclass(frozen=True)
class Snapshot:
    """A validated snapshot (see :func:`patrolmarl.advise.validation.read_snapshot`).

    ``presence`` maps cells to recent patrol-minutes; None if the snapshot has none.
    """

    district: str
    minute_of_day: float
    units: tuple[UnitState, ...]
    calls: tuple[PendingCall, ...]
    presence: dict[Cell, float] | None = None


@dataclass(frozen=True)
class Situation:
    """A snapshot loaded into the simulator.

    ``observations`` ``(N, D)`` and ``masks`` ``(N, A)`` are in unit order;
    ``calls[i]`` is day-call ``i`` of ``sim`` (the targets of the accept actions).
    """

    sim: BatchedSim
    observations: np.ndarray
    masks: np.ndarray
    calls: tuple[PendingCall, ...]


def format_clock(minute_of_day: float) -> str:
    """``"HH:MM"`` of a minute of the day (rounded down to the minute)."""
    minute = int(minute_of_day) % int(clock.MINUTES_PER_DAY)
    return f"{minute // 60:02d}:{minute % 60:02d}"


class SituationLoader:
    """Loads snapshots of one district into one reused one-district simulator.

    Building the simulator and its observation tables costs far more than
    loading a snapshot, so an advisor keeps one loader. ``move_gains`` adds that
    field to the observation (for policies trained with it); ``dispatch`` is the
    policy's rule (under ``NEAREST`` the masks forbid accepts, as in its training).
    Not thread-safe: a :class:`Situation` it gives reads its simulator, valid until
    the next :meth:`load`.
    """

    def __init__(
        self, district: District, move_gains: bool = False, dispatch: DispatchRule = AGENTS
    ) -> None:
        self.district = district
        self.sim = BatchedSim(district, batch_size=1)
        self.sim.set_dispatch(dispatch)
        self._observations = ObservationBuilder(self.sim, move_gains=move_gains)

    def load(self, snapshot: Snapshot) -> Situation:
        """Load ``snapshot`` (checked against the district) into the simulator.

        The clock is set to the step whose time of day is nearest the snapshot's;
        pending calls become day-calls oldest first (ties in the snapshot's order).
        """
        district, sim = self.district, self.sim
        start = clock.clock_minute(district.config.simulation, 0.0)
        step = round(((snapshot.minute_of_day - start) % clock.MINUTES_PER_DAY) / sim.step_minutes)
        now = step * sim.step_minutes
        by_name = {u.name: u for u in snapshot.units}
        units = [by_name[name] for name in agent_names(district.n_units)]
        calls = tuple(sorted(snapshot.calls, key=lambda c: -c.age_minutes))
        unit_cell = np.array([_cell_index(district, u.cell) for u in units], dtype=np.int64)
        unit_status = np.array([UNIT_STATUS_NAMES.index(u.status) for u in units], dtype=np.int8)
        sim.load_state(
            0,
            step,
            unit_cell=unit_cell,
            unit_status=unit_status,
            unit_free_at=np.array([now + u.minutes_until_free for u in units]),
            call_time=np.array([now - c.age_minutes for c in calls]),
            call_type=np.array(
                [sim.incidents.type_names.index(c.type) for c in calls], dtype=np.int64
            ),
            call_cell=np.array([_cell_index(district, c.cell) for c in calls], dtype=np.int64),
            presence=_presence(snapshot, district, sim, unit_cell, unit_status),
        )
        observations = self._observations.observe()[0]
        return Situation(sim, observations, sim.action_masks()[0], calls)


def situation(snapshot: Snapshot, district: District, move_gains: bool = False) -> Situation:
    """Load ``snapshot`` (checked against ``district``) into a new one-district simulator
    (see :meth:`SituationLoader.load`)."""
    return SituationLoader(district, move_gains).load(snapshot)


def _cell_index(district: District, cell: Cell) -> int:
    return cell[0] * district.cols + cell[1]


def _presence(
    snapshot: Snapshot,
    district: District,
    sim: BatchedSim,
    unit_cell: np.ndarray,
    unit_status: np.ndarray,
) -> np.ndarray:
    """The snapshot's presence field, or the steady state of the visible units where they are."""
    field = np.zeros(district.n_cells)
    if snapshot.presence is not None:
        for cell, minutes in snapshot.presence.items():
            field[_cell_index(district, cell)] = minutes
        return field
    half_life = district.config.deterrence.half_life_minutes
    steady = sim.step_minutes / (1.0 - 0.5 ** (sim.step_minutes / half_life))
    visible = unit_cell[unit_status != EN_ROUTE]
    return np.bincount(visible, minlength=district.n_cells) * steady


def snapshot_from_sim(sim: BatchedSim, b: int, with_presence: bool = True) -> dict[str, Any]:
    """District ``b`` of ``sim`` as a snapshot (a JSON-ready dict).

    Units are named ``patrol_<n>``; call ids are the day-call indices. The
    presence field is included unless ``with_presence`` is False. The time of
    day is ``"HH:MM"`` when it falls on a whole minute, else minutes since midnight.
    """
    district = sim.district
    rc = district.cell_rc
    now = float(sim.now[b])
    minute = clock.minute_of_day(district.config.simulation, now)
    units = []
    for n, name in enumerate(agent_names(district.n_units)):
        status = UNIT_STATUS_NAMES[int(sim.unit_status[b, n])]
        unit: dict[str, Any] = {
            "name": name,
            "cell": rc[sim.unit_cell[b, n]].tolist(),
            "status": status,
        }
        if status != "idle":
            unit["minutes_until_free"] = float(sim.unit_free_at[b, n]) - now
        units.append(unit)
    log = sim.calls
    calls = [
        {
            "id": int(call),
            "cell": rc[log.cell[b, call]].tolist(),
            "type": sim.incidents.type_names[int(log.type[b, call])],
            "age_minutes": now - float(log.time[b, call]),
        }
        for call in np.sort(sim.pending[b][sim.pending[b] >= 0])
    ]
    snapshot: dict[str, Any] = {
        "district": district.name,
        "time_of_day": format_clock(minute) if minute == int(minute) else minute,
        "units": units,
        "calls": calls,
    }
    if with_presence:
        snapshot["presence"] = [
            {"cell": rc[cell].tolist(), "minutes": float(sim.presence[b, cell])}
            for cell in np.flatnonzero(sim.presence[b] > 0)
        ]
    return snapshot
