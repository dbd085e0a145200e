"""Recommendations: an exported policy's action for every unit of a snapshot, in words or JSON.

Units that would accept the same call are resolved as the simulator does: the
one with the shortest travel time takes it (ties: the lower unit number), the
others stay (or continue moving). For a policy trained under the command centre's
nearest-unit dispatch (its card's ``dispatch.rule`` is ``nearest``) the policy
advises the free units' moves and the accepts are the command centre's: each
pending call, oldest first, to the nearest free unit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from patrolmarl.advise.snapshot import Cell, Situation, SituationLoader, format_clock
from patrolmarl.advise.validation import check_snapshot
from patrolmarl.envs.boundary_accepts import boundary_accepts
from patrolmarl.envs.conflicts import accept_winners
from patrolmarl.envs.names import MOVE_NAMES, agent_names
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import FIRST_ACCEPT, UNIT_STATUS_NAMES
from patrolmarl.exported.loader import ExportedPolicy, load_exported


@dataclass(frozen=True)
class Recommendation:
    """One unit's recommended action.

    ``kind`` is ``accept`` (``call_id``, ``call_type``, ``target_cell`` = the
    call's cell, ``eta_minutes`` by the unit's travel time, ``distance_km`` along
    the grid's rows and columns), ``move`` (``target_cell`` = the next cell),
    ``stay`` or ``continue`` (a busy or moving unit). ``note`` explains a
    recommendation changed by another unit taking the same call.
    """

    unit: str
    status: str
    cell: Cell
    action: int
    kind: str
    call_id: str | int | None = None
    call_type: str | None = None
    target_cell: Cell | None = None
    eta_minutes: float | None = None
    distance_km: float | None = None
    note: str | None = None

    def words(self) -> str:
        """One line, e.g. ``patrol_3: accept call 17 (dispute, 1.2 km, ETA 4 min)``."""
        if self.kind == "accept":
            return (
                f"{self.unit}: accept call {self.call_id} ({self.call_type}, "
                f"{self.distance_km:.1f} km, ETA {self.eta_minutes:.0f} min)"
            )
        if self.kind == "move":
            direction = MOVE_NAMES[self.action - 1]
            return f"{self.unit}: move {direction} to cell {_cell_text(self.target_cell)}"
        note = f" ({self.note})" if self.note else ""
        if self.kind == "stay":
            return f"{self.unit}: stay at cell {_cell_text(self.cell)}{note}"
        if self.status == "moving":
            return f"{self.unit}: moving, continue{note}"
        return f"{self.unit}: busy ({self.status}), continue"

    def to_json(self) -> dict[str, Any]:
        """The fields that apply, cells as ``[row, col]``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Advice:
    """The recommendations for one snapshot."""

    district: str
    clock: str
    policy: str
    pending_calls: int
    recommendations: tuple[Recommendation, ...]

    def words(self) -> str:
        """A heading line, then one line per unit."""
        head = (
            f"{self.district} at {self.clock}, {self.pending_calls} pending call(s), "
            f"policy {self.policy}:"
        )
        return "\n".join([head, *(f"  {r.words()}" for r in self.recommendations)])

    def to_json(self) -> list[dict[str, Any]]:
        """One object per unit."""
        return [r.to_json() for r in self.recommendations]


class Advisor:
    """An exported policy loaded once, advising on any number of snapshots.

    Safe to share between threads (one snapshot is loaded at a time); a call
    touches no file.
    """

    def __init__(self, exported: ExportedPolicy) -> None:
        self.exported = exported
        self._dispatch = exported.policy.dispatch_rule()
        self._situations = SituationLoader(
            exported.district, exported.policy.move_gains, self._dispatch
        )
        self._lock = threading.Lock()

    @property
    def card(self) -> dict[str, Any]:
        """The policy card (``policy.json``)."""
        return self.exported.card

    def advice(self, snapshot: Any, source: str | None = None) -> Advice:
        """The recommendations for the snapshot's JSON value ``snapshot``.

        Raises
        ------
        SnapshotError
            Listing every problem of the snapshot (prefixed with ``source``, if given).
        """
        exported = self.exported
        snap = check_snapshot(snapshot, exported.district, source)
        with self._lock:
            sit = self._situations.load(snap)
            actions = exported.policy.act(sit.observations[None], sit.masks[None])
            # Under the command centre's rule its dispatch is advised: the nearest free units.
            actions = boundary_accepts(SimView(sit.sim), self._dispatch, actions)[0]
            recommendations = tuple(recommend(sit, actions))
        return Advice(
            district=exported.district.name,
            clock=format_clock(snap.minute_of_day),
            policy=exported.name,
            pending_calls=len(sit.calls),
            recommendations=recommendations,
        )


def load_advisor(path: Path) -> Advisor:
    """The export folder ``path`` (or its ``policy.onnx``) loaded, ready to advise.

    Raises
    ------
    PatrolMarlError
        If the folder, its card or its ONNX file is missing or unusable.
    """
    return Advisor(load_exported(path))


def advise(policy: Advisor, snapshot: Any, source: str | None = None) -> list[dict[str, Any]]:
    """The loaded ``policy``'s recommendations for ``snapshot`` (a snapshot's JSON value,
    e.g. a dict), one JSON-ready object per unit.

    Raises
    ------
    SnapshotError
        Listing every problem of the snapshot, one per line (prefixed with ``source``).
    """
    return policy.advice(snapshot, source).to_json()


def recommend(sit: Situation, actions: np.ndarray) -> list[Recommendation]:
    """Each unit's recommendation for ``(N,)`` actions in the situation ``sit``."""
    sim = sit.sim
    district = sim.district
    names = agent_names(district.n_units)
    actions, notes = _resolve_accepts(sit, np.asarray(actions, dtype=np.int64), names)
    out = []
    for n, name in enumerate(names):
        a = int(actions[n])
        cell = _cell(district.cell_rc[sim.unit_cell[0, n]])
        base = {
            "unit": name,
            "status": UNIT_STATUS_NAMES[int(sim.unit_status[0, n])],
            "cell": cell,
            "action": a,
        }
        if a >= FIRST_ACCEPT:
            k = a - FIRST_ACCEPT
            call = sit.calls[int(sim.nearest_call[0, n, k])]
            steps = abs(call.cell[0] - cell[0]) + abs(call.cell[1] - cell[1])
            out.append(
                Recommendation(
                    **base,
                    kind="accept",
                    call_id=call.id,
                    call_type=call.type,
                    target_cell=call.cell,
                    eta_minutes=round(float(sim.nearest_travel[0, n, k]), 2),
                    distance_km=round(steps * district.config.cell_size_m / 1000.0, 2),
                )
            )
        elif a > 0:
            target = district.neighbour[sim.unit_cell[0, n], a - 1]
            out.append(
                Recommendation(**base, kind="move", target_cell=_cell(district.cell_rc[target]))
            )
        else:
            kind = "stay" if base["status"] == "idle" else "continue"
            out.append(Recommendation(**base, kind=kind, note=notes.get(n)))
    return out


def _resolve_accepts(
    sit: Situation, actions: np.ndarray, names: list[str]
) -> tuple[np.ndarray, dict[int, str]]:
    """Actions with each call accepted by one unit only (as the simulator resolves them,
    :func:`~patrolmarl.envs.conflicts.accept_winners`), and notes for the others."""
    sim = sit.sim
    units = np.flatnonzero(actions >= FIRST_ACCEPT)
    k = actions[units] - FIRST_ACCEPT
    calls = sim.nearest_call[0, units, k]
    won = accept_winners(np.zeros_like(units), units, calls, sim.nearest_travel[0, units, k])
    winner_of = dict(zip(calls[won].tolist(), units[won].tolist(), strict=True))
    actions = actions.copy()
    notes = {}
    for n, call in zip(units.tolist(), calls.tolist(), strict=True):
        winner = winner_of[call]
        if n != winner:
            actions[n] = 0
            notes[n] = f"call {sit.calls[call].id} goes to {names[winner]}, who is nearer"
    return actions, notes


def _cell(rc: np.ndarray) -> Cell:
    return (int(rc[0]), int(rc[1]))


def _cell_text(cell: Cell | None) -> str:
    return f"({cell[0]}, {cell[1]})"
