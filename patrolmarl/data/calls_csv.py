"""Reading a calls-for-service CSV: the named columns, parsed and cleaned, with drops counted.

Times are read as the wall clock the calls were logged in: a trailing UTC
offset (``Z``, ``+08:00``) is ignored, so hours of day stay local.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from patrolmarl.data.projection import to_wgs84
from patrolmarl.errors import PatrolMarlError

# Drop reasons, in the order they are applied (a row counts under its first reason).
DUPLICATE_ID = "duplicate id"
BAD_TIME = "unparseable time"
BAD_COORDINATES = "missing or invalid coordinates"
OUTSIDE = "outside the area"
UNMAPPED = "unmapped type"
DROP_REASONS = (DUPLICATE_ID, BAD_TIME, BAD_COORDINATES, OUTSIDE, UNMAPPED)

_ISO_OFFSET = r"(\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True)
class CallColumns:
    """Which CSV columns hold what; ``x``/``y`` with ``crs`` replace ``lat``/``lon``."""

    time: str = "time"
    type: str = "type"
    lat: str = "lat"
    lon: str = "lon"
    x: str | None = None
    y: str | None = None
    crs: str | None = None
    id: str | None = None
    precinct: str | None = None
    time_format: str | None = None

    def needed(self) -> list[str]:
        """The columns to read, in order."""
        where = [self.x, self.y] if self.x is not None else [self.lat, self.lon]
        extra = [c for c in (self.id, self.precinct) if c is not None]
        return [self.time, self.type, *where, *extra]


@dataclass
class Calls:
    """The rows kept so far: WGS84 position, wall-clock time, the data's own type string."""

    time: np.ndarray  # datetime64[ns]
    raw_type: np.ndarray  # object (str)
    lon: np.ndarray
    lat: np.ndarray
    precinct: np.ndarray | None
    rows_read: int
    dropped: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def keep(self, mask: np.ndarray, reason: str) -> None:
        """Drop the rows where ``mask`` is False, counting them under ``reason``."""
        self.dropped[reason] += int((~mask).sum())
        self.time, self.raw_type = self.time[mask], self.raw_type[mask]
        self.lon, self.lat = self.lon[mask], self.lat[mask]
        if self.precinct is not None:
            self.precinct = self.precinct[mask]


def read_calls(path: Path, columns: CallColumns) -> Calls:
    """Read and clean the calls CSV; bad rows are dropped and counted by reason.

    Raises
    ------
    PatrolMarlError
        If the file is missing, empty, not a CSV, or lacks a named column.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise PatrolMarlError(f"--calls {path}: file not found")
    if path.stat().st_size == 0:
        raise PatrolMarlError(f"--calls {path}: the file is empty")
    frame = _read_columns(pd, path, columns)
    rows_read = len(frame)
    if rows_read == 0:
        raise PatrolMarlError(f"--calls {path}: no usable rows (the file has a header only)")
    dropped: Counter = Counter()
    if columns.id is not None:
        duplicate = frame[columns.id].duplicated(keep="first").to_numpy()
        dropped[DUPLICATE_ID] = int(duplicate.sum())
        frame = frame[~duplicate]
    time = _parse_times(pd, frame[columns.time], columns.time_format)
    if columns.x is not None:
        x = pd.to_numeric(frame[columns.x], errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(frame[columns.y], errors="coerce").to_numpy(dtype=float)
        lon, lat = to_wgs84(x, y, columns.crs or "")
    else:
        lat = pd.to_numeric(frame[columns.lat], errors="coerce").to_numpy(dtype=float)
        lon = pd.to_numeric(frame[columns.lon], errors="coerce").to_numpy(dtype=float)
    calls = Calls(
        time=time,
        raw_type=frame[columns.type].fillna("").str.strip().to_numpy(dtype=object),
        lon=lon,
        lat=lat,
        precinct=None
        if columns.precinct is None
        else frame[columns.precinct].fillna("").str.strip().to_numpy(dtype=object),
        rows_read=rows_read,
        dropped=dropped,
    )
    calls.keep(~np.isnat(calls.time), BAD_TIME)
    with np.errstate(invalid="ignore"):
        good = (np.abs(calls.lat) <= 90) & (np.abs(calls.lon) <= 180)
    calls.keep(good, BAD_COORDINATES)
    return calls


def _read_columns(pd, path: Path, columns: CallColumns):
    """The named columns as strings (empty cells as missing)."""
    from pandas.errors import EmptyDataError, ParserError

    needed = columns.needed()
    try:
        header = pd.read_csv(path, nrows=0, encoding_errors="replace")
        missing = [c for c in dict.fromkeys(needed) if c not in header.columns]
        if missing:
            flag = _flag_of(columns, missing[0])
            have = ", ".join(map(str, header.columns[:12]))
            raise PatrolMarlError(
                f"--calls {path}: no column {missing[0]!r} (columns: {have}); name it with {flag}"
            )
        return pd.read_csv(
            path,
            usecols=list(dict.fromkeys(needed)),
            dtype=str,
            encoding_errors="replace",
            engine="c",
            low_memory=False,
        )
    except EmptyDataError:
        raise PatrolMarlError(f"--calls {path}: the file is empty (no header)") from None
    except ParserError as exc:
        reason = str(exc).strip().splitlines()[-1]
        raise PatrolMarlError(f"--calls {path}: not a readable CSV ({reason})") from None


def _flag_of(columns: CallColumns, name: str) -> str:
    for flag, value in (
        ("--time-column", columns.time),
        ("--type-column", columns.type),
        ("--lat-column", columns.lat),
        ("--lon-column", columns.lon),
        ("--x-column", columns.x),
        ("--y-column", columns.y),
        ("--id-column", columns.id),
        ("--precinct-column", columns.precinct),
    ):
        if value == name:
            return flag
    return "the column options"


def _parse_times(pd, text, time_format: str | None) -> np.ndarray:
    """``datetime64[ns]`` wall-clock times; NaT where a value does not parse."""
    text = text.fillna("").str.strip()
    if time_format is None:
        text = text.str.replace(_ISO_OFFSET, r"\1", regex=True)
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    else:
        parsed = pd.to_datetime(text, format=time_format, errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
    return parsed.to_numpy(dtype="datetime64[ns]")
