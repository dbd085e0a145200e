"""Reading a snapshot: its JSON Schema, and checks against the policy's district.

The schema (``schemas/snapshot.schema.json``, packaged as
``patrolmarl/advise/snapshot.schema.json``) is checked with ``jsonschema`` when it
is installed; the district checks (known and complete units, cells inside the
grid, street-call types, non-negative ages, the same district) always run and
cover everything :func:`~patrolmarl.advise.snapshot.situation` relies on. Every
problem is reported, one line each (``FILE: WHERE: WHAT``), in one
:class:`SnapshotError`.
"""

from __future__ import annotations

import functools
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

from patrolmarl.advise.snapshot import Cell, PendingCall, Snapshot, UnitState
from patrolmarl.envs.district import District
from patrolmarl.envs.names import agent_names
from patrolmarl.envs.status import UNIT_STATUS_NAMES
from patrolmarl.errors import PatrolMarlError, echo, one_line
from patrolmarl.input_files import read_json

SCHEMA_FILE = "snapshot.schema.json"
#: Largest snapshot file (bytes), and most entries of its lists (as in the schema's maxItems).
MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024
MAX_SNAPSHOT_ENTRIES = {"units": 256, "calls": 1_000, "presence": 4_096}
#: Longest age or time until free in a snapshot (minutes): one week.
MAX_SNAPSHOT_MINUTES = 10_080.0
#: Most problems listed; the rest are counted.
MAX_LISTED_PROBLEMS = 100
_MISSING = object()
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_REQUIRED = re.compile(r"^'(.+)' is a required property$")


class SnapshotError(PatrolMarlError):
    """Every problem of a snapshot; ``str()`` has one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def snapshot_schema() -> dict[str, Any]:
    """The snapshot JSON Schema (draft 2020-12)."""
    text = (resources.files("patrolmarl.advise") / SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def _schema_validator() -> Any:
    """The schema's validator, built once (None without ``jsonschema``).

    It checks the schema with its ``$defs`` written in place of their ``$ref``
    (the same checks and messages, a third faster than resolving each reference).
    """
    try:
        import jsonschema
    except ImportError:
        return None
    schema = snapshot_schema()
    return jsonschema.Draft202012Validator(_inlined(schema, schema["$defs"]))


def _inlined(value: Any, defs: dict[str, Any]) -> Any:
    """``value`` with each ``{"$ref": "#/$defs/NAME", ...}`` replaced by ``NAME``'s schema
    (and the other keywords beside it), and no ``$defs``."""
    if isinstance(value, list):
        return [_inlined(item, defs) for item in value]
    if not isinstance(value, dict):
        return value
    out = {k: _inlined(v, defs) for k, v in value.items() if k not in ("$ref", "$defs")}
    ref = value.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        out = {**_inlined(defs[ref.removeprefix("#/$defs/")], defs), **out}
    return out


def read_snapshot(path: Path, district: District) -> Snapshot:
    """Read the snapshot file ``path`` and check it against ``district``.

    Raises
    ------
    PatrolMarlError
        If the file is missing or not JSON; :class:`SnapshotError` listing every
        problem if it does not fit the schema or the district.
    """
    return check_snapshot(read_snapshot_json(path), district, source=str(path))


def read_snapshot_json(path: Path) -> Any:
    """The JSON value of the snapshot file ``path`` (at most :data:`MAX_SNAPSHOT_BYTES`).

    Raises
    ------
    PatrolMarlError
        If the file is missing, too large or not JSON.
    """
    return read_json(path, MAX_SNAPSHOT_BYTES, what="snapshot file")


def check_snapshot(raw: Any, district: District, source: str | None = None) -> Snapshot:
    """The snapshot in the JSON value ``raw``, checked against the schema and ``district``.

    Raises
    ------
    SnapshotError
        Listing every problem, one line each: ``WHERE: WHAT``, or
        ``SOURCE: WHERE: WHAT`` when a ``source`` (e.g. the file) is given.
    """
    checker = _SnapshotChecker(district)
    snapshot = checker.snapshot(raw)
    problems = checker.problems
    if not checker.oversized:  # the schema would list each entry of a too-long list
        flagged = {where for where, _ in problems}
        problems = problems + [p for p in schema_problems(raw) if p[0] not in flagged]
    if problems:
        prefix = "" if source is None else f"{source}: "
        lines = [one_line(f"{prefix}{where}: {what}") for where, what in problems]
        if len(lines) > MAX_LISTED_PROBLEMS:
            more = len(lines) - MAX_LISTED_PROBLEMS
            lines = lines[:MAX_LISTED_PROBLEMS] + [f"{prefix}and {more} more problems"]
        raise SnapshotError(lines)
    assert snapshot is not None
    return snapshot


def schema_problems(raw: Any) -> list[tuple[str, str]]:
    """``(where, what)`` of each way ``raw`` breaks the schema (none without ``jsonschema``)."""
    validator = _schema_validator()
    if validator is None:
        return []
    problems = []
    for error in validator.iter_errors(raw):
        path = list(error.absolute_path)
        missing = _REQUIRED.match(error.message) if error.validator == "required" else None
        if missing:
            path.append(missing.group(1))
        problems.append((_where(path), "missing" if missing else error.message))
    return problems


def _where(path: list[str | int]) -> str:
    """``units[2].cell`` of a JSON path; ``snapshot`` for the whole document."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or "snapshot"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _SnapshotChecker:
    """Parses a snapshot's JSON value, collecting ``(where, what)`` problems."""

    def __init__(self, district: District) -> None:
        self.district = district
        self.problems: list[tuple[str, str]] = []
        self.oversized = False
        self._units = agent_names(district.n_units)
        types = district.config.call_types
        self._street_types = [name for name, t in types.items() if t.handler == "patrol"]

    def _problem(self, where: str, what: str) -> None:
        self.problems.append((where, what))

    def snapshot(self, raw: Any) -> Snapshot | None:
        """The snapshot, or None if there are problems."""
        if not isinstance(raw, dict):
            self._problem("snapshot", "expected a JSON object")
            return None
        name = self._field(raw, "district", "district")
        if name is not None:
            if not isinstance(name, str):
                self._problem("district", f"expected a string, got {echo(name)}")
            elif name != self.district.name:
                self._problem(
                    "district",
                    f"the snapshot is of district {echo(name)}, "
                    f"the policy of {self.district.name!r}",
                )
        minute = self._clock(raw)
        units = self._items(raw, "units", self._unit)
        if units is not None:
            self._check_all_units(raw["units"])
        calls = self._items(raw, "calls", self._call)
        if calls is not None:
            self._check_unique(raw["calls"], "calls", "id", "id {} is used twice")
        presence = self._items(raw, "presence", self._presence_entry, required=False)
        if presence is not None:
            self._check_unique(raw["presence"], "presence", "cell", "cell {} is listed twice")
        if self.problems:
            return None
        return Snapshot(
            district=name,
            minute_of_day=minute,
            units=tuple(units),
            calls=tuple(calls),
            presence=None if presence is None else dict(presence),
        )

    # ------------------------------------------------------------------ fields
    def _field(self, obj: dict[str, Any], key: str, where: str, why: str = "") -> Any:
        """``obj[key]``, or None with a problem if it is missing or null."""
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            self._problem(where, f"missing{why}")
            return None
        if value is None:
            self._problem(where, "is null")
        return value

    def _items(self, raw: dict[str, Any], key: str, parse, required: bool = True) -> list | None:
        """Each entry of the list ``raw[key]`` parsed by ``parse(value, where)``."""
        if key not in raw and not required:
            return None
        value = self._field(raw, key, key)
        if value is None:
            return None
        if not isinstance(value, list):
            self._problem(key, f"expected a list, got {echo(value)}")
            return None
        limit = MAX_SNAPSHOT_ENTRIES[key]
        if len(value) > limit:
            self._problem(key, f"{len(value)} entries, more than the limit of {limit}")
            self.oversized = True
            return None
        return [parse(item, f"{key}[{i}]") for i, item in enumerate(value)]

    def _clock(self, raw: dict[str, Any]) -> float | None:
        value = self._field(raw, "time_of_day", "time_of_day")
        if value is None:
            return None
        match = _CLOCK.match(value) if isinstance(value, str) else None
        if match:
            return 60.0 * int(match.group(1)) + int(match.group(2))
        if _is_number(value) and 0 <= value < 1440:
            return float(value)
        self._problem(
            "time_of_day",
            f'expected "HH:MM" or minutes since midnight (0 to under 1440), got {echo(value)}',
        )
        return None

    def _number(self, value: Any, where: str) -> float | None:
        """A finite, non-negative number of minutes, at most :data:`MAX_SNAPSHOT_MINUTES`."""
        if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
            self._problem(where, f"expected a number, got {echo(value)}")
            return None
        if value < 0:
            self._problem(where, f"{echo(value)} is negative")
            return None
        if value > MAX_SNAPSHOT_MINUTES:
            self._problem(where, f"{echo(value)} is more than {MAX_SNAPSHOT_MINUTES:g} minutes")
            return None
        return float(value)

    def _cell(self, value: Any, where: str) -> Cell | None:
        """A ``[row, col]`` inside the grid."""
        ok = isinstance(value, list) and len(value) == 2
        if not ok or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            self._problem(where, f"expected [row, col] (two whole numbers), got {echo(value)}")
            return None
        rows, cols = self.district.rows, self.district.cols
        if not (0 <= value[0] < rows and 0 <= value[1] < cols):
            self._problem(
                where,
                f"{value} is outside the {rows}x{cols} grid "
                f"(rows 0 to {rows - 1}, cols 0 to {cols - 1})",
            )
            return None
        return (value[0], value[1])

    # ------------------------------------------------------------------ entries
    def _unit(self, raw: Any, where: str) -> UnitState | None:
        if not isinstance(raw, dict):
            self._problem(where, "expected an object")
            return None
        name = self._field(raw, "name", f"{where}.name")
        if name is not None and name not in self._units:
            self._problem(
                f"{where}.name",
                f"unknown unit {echo(name)} "
                f"(the district has {self._units[0]} to {self._units[-1]})",
            )
        cell = self._field(raw, "cell", f"{where}.cell")
        cell = None if cell is None else self._cell(cell, f"{where}.cell")
        status = self._field(raw, "status", f"{where}.status")
        if status is not None and status not in UNIT_STATUS_NAMES:
            self._problem(
                f"{where}.status",
                f"unknown status {echo(status)} ({', '.join(UNIT_STATUS_NAMES)})",
            )
        minutes = 0.0
        if "minutes_until_free" in raw or status in UNIT_STATUS_NAMES[1:]:
            value = self._field(
                raw,
                "minutes_until_free",
                f"{where}.minutes_until_free",
                f" (needed for status {status!r})",
            )
            minutes = None if value is None else self._number(value, f"{where}.minutes_until_free")
        if status == "idle":
            minutes = 0.0  # an idle unit's figure, if any, is ignored
        if None in (name, cell, status, minutes):
            return None
        return UnitState(name=name, cell=cell, status=status, minutes_until_free=minutes)

    def _call(self, raw: Any, where: str) -> PendingCall | None:
        if not isinstance(raw, dict):
            self._problem(where, "expected an object")
            return None
        call_id = self._field(raw, "id", f"{where}.id")
        if call_id is not None and (
            isinstance(call_id, bool) or not isinstance(call_id, str | int)
        ):
            self._problem(
                f"{where}.id", f"expected a string or a whole number, got {echo(call_id)}"
            )
        cell = self._field(raw, "cell", f"{where}.cell")
        cell = None if cell is None else self._cell(cell, f"{where}.cell")
        kind = self._field(raw, "type", f"{where}.type")
        if kind is not None and not isinstance(kind, str):
            self._problem(f"{where}.type", f"expected a string, got {echo(kind)}")
        elif kind is not None and kind not in self._street_types:
            known = ", ".join(self._street_types)
            if kind in self.district.config.call_types:
                what = f"{kind!r} calls go to the precinct's responders, not to street patrol"
            else:
                what = f"unknown call type {echo(kind)}"
            self._problem(f"{where}.type", f"{what} (street-call types: {known})")
        age = self._field(raw, "age_minutes", f"{where}.age_minutes")
        age = None if age is None else self._number(age, f"{where}.age_minutes")
        if None in (call_id, cell, kind, age):
            return None
        return PendingCall(id=call_id, cell=cell, type=kind, age_minutes=age)

    def _presence_entry(self, raw: Any, where: str) -> tuple[Cell, float] | None:
        if not isinstance(raw, dict):
            self._problem(where, "expected an object")
            return None
        cell = self._field(raw, "cell", f"{where}.cell")
        cell = None if cell is None else self._cell(cell, f"{where}.cell")
        minutes = self._field(raw, "minutes", f"{where}.minutes")
        minutes = None if minutes is None else self._number(minutes, f"{where}.minutes")
        if cell is None or minutes is None:
            return None
        return cell, minutes

    # ------------------------------------------------------------------ the whole list
    def _check_all_units(self, raw_units: list[Any]) -> None:
        """Each of the district's units once."""
        known = set(self._units)
        seen: set[str] = set()
        for i, unit in enumerate(raw_units):
            name = unit.get("name") if isinstance(unit, dict) else None
            if not isinstance(name, str) or name not in known:
                continue
            if name in seen:
                self._problem(f"units[{i}].name", f"{name} is listed twice")
            seen.add(name)
        for name in self._units:
            if name not in seen:
                self._problem("units", f"{name} is missing")

    def _check_unique(self, raw: list[Any], key: str, field: str, what: str) -> None:
        """No two entries of ``raw`` with the same (valid) ``field``; linear in the entries."""
        seen: set[Any] = set()
        for i, entry in enumerate(raw):
            value = entry.get(field) if isinstance(entry, dict) else None
            if value is None:
                continue
            identity = _identity(value)
            if identity in seen:
                self._problem(f"{key}[{i}].{field}", what.format(echo(value)))
            seen.add(identity)


def _identity(value: Any) -> Any:
    """A hashable stand-in for a JSON value: equal for equal values of the same JSON type."""
    if isinstance(value, str | int | float | bool):
        return (type(value).__name__, value)
    return json.dumps(value, sort_keys=True)
