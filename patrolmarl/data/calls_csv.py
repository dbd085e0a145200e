"""Reading a calls-for-service CSV: the named columns, parsed and cleaned, with drops counted.

Times are read as the wall clock the calls were logged in: a trailing UTC
offset (``Z``, ``+08:00``) is ignored, so hours of day stay local.
"""

from __future__ import annotations

import csv
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
    """The rows kept so far: WGS84 position, wall-clock time, the data's own type string.

    Type (and precinct) strings are kept as codes into their distinct values,
    so a million rows cost a handful of distinct strings.
    """

    time: np.ndarray  # datetime64[ns]
    type_code: np.ndarray  # int64 index into type_names
    type_names: np.ndarray  # object (str), distinct
    lon: np.ndarray
    lat: np.ndarray
    precinct_code: np.ndarray | None
    precinct_names: np.ndarray | None
    rows_read: int
    dropped: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def keep(self, mask: np.ndarray, reason: str) -> None:
        """Drop the rows where ``mask`` is False, counting them under ``reason``."""
        self.dropped[reason] += int((~mask).sum())
        self.time, self.type_code = self.time[mask], self.type_code[mask]
        self.lon, self.lat = self.lon[mask], self.lat[mask]
        if self.precinct_code is not None:
            self.precinct_code = self.precinct_code[mask]


def read_calls(path: Path, columns: CallColumns) -> Calls:
    """Read and clean the calls CSV; bad rows are dropped and counted by reason.

    Raises
    ------
    PatrolMarlError
        If the file is missing, empty, not a CSV, or lacks a named column.
    """
    path = Path(path)
    if not path.is_file():
        raise PatrolMarlError(f"--calls {path}: file not found")
    if path.stat().st_size == 0:
        raise PatrolMarlError(f"--calls {path}: the file is empty")
    table = _read_columns(path, columns)
    rows_read = table.num_rows
    if rows_read == 0:
        raise PatrolMarlError(f"--calls {path}: no usable rows (the file has a header only)")
    dropped: Counter = Counter()
    if columns.id is not None:
        codes, _ = _encode(table[columns.id])
        first = np.zeros(rows_read, dtype=bool)
        first[np.unique(codes, return_index=True)[1]] = True
        dropped[DUPLICATE_ID] = int((~first).sum())
        table = table.filter(first)
    time = _parse_times(table[columns.time], columns.time_format)
    if columns.x is not None:
        lon, lat = to_wgs84(
            _numbers(table[columns.x]), _numbers(table[columns.y]), columns.crs or ""
        )
    else:
        lat, lon = _numbers(table[columns.lat]), _numbers(table[columns.lon])
    type_code, type_names = _encode(table[columns.type])
    precinct_code, precinct_names = (None, None)
    if columns.precinct is not None:
        precinct_code, precinct_names = _encode(table[columns.precinct])
    calls = Calls(
        time, type_code, type_names, lon, lat, precinct_code, precinct_names, rows_read, dropped
    )
    calls.keep(~np.isnat(calls.time), BAD_TIME)
    with np.errstate(invalid="ignore"):
        good = (np.abs(calls.lat) <= 90) & (np.abs(calls.lon) <= 180)
    calls.keep(good, BAD_COORDINATES)
    return calls


def _read_columns(path: Path, columns: CallColumns):
    """The named columns as an Arrow table of strings (empty cells as null)."""
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    needed = list(dict.fromkeys(columns.needed()))
    header = _header(path)
    missing = [c for c in needed if c not in header]
    if missing:
        have = ", ".join(header[:12])
        raise PatrolMarlError(
            f"--calls {path}: no column {missing[0]!r} (columns: {have}); "
            f"name it with {_flag_of(columns, missing[0])}"
        )
    convert = pa_csv.ConvertOptions(
        include_columns=needed,
        column_types={c: pa.string() for c in needed},
        strings_can_be_null=True,
    )
    try:
        return pa_csv.read_csv(path, convert_options=convert)
    except pa.ArrowInvalid as exc:
        reason = str(exc).strip().splitlines()[0]
        raise PatrolMarlError(f"--calls {path}: not a readable CSV ({reason})") from None


def _header(path: Path) -> list[str]:
    """The column names of the first line."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        try:
            header = next(csv.reader(handle), [])
        except csv.Error as exc:
            raise PatrolMarlError(f"--calls {path}: not a readable CSV ({exc})") from None
    if not any(name.strip() for name in header):
        raise PatrolMarlError(f"--calls {path}: the file is empty (no header)")
    return [name.lstrip("\ufeff") for name in header]


def _encode(column) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the distinct stripped strings of a string column (null as "")."""
    import pyarrow.compute as pc

    text = pc.fill_null(pc.utf8_trim_whitespace(column.combine_chunks()), "")
    encoded = pc.dictionary_encode(text)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, np.array(encoded.dictionary.to_pylist(), dtype=object)


def _numbers(column) -> np.ndarray:
    """Float values of a string column; NaN where a value is missing or not a number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:  # some value is not a number: the slow path, per value
        import pandas as pd

        return pd.to_numeric(column.to_pandas(), errors="coerce").to_numpy(dtype=float)


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


def _parse_times(column, time_format: str | None) -> np.ndarray:
    """``datetime64[ns]`` wall-clock times; NaT where a value does not parse."""
    import pandas as pd
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(column.combine_chunks())
    if time_format is None:
        text = pc.replace_substring_regex(text, _ISO_OFFSET, r"\1")
        parsed = pd.to_datetime(
            pd.Series(pd.arrays.ArrowStringArray(text)), format="ISO8601", errors="coerce"
        )
    else:
        parsed = pd.to_datetime(
            pd.Series(pd.arrays.ArrowStringArray(text)), format=time_format, errors="coerce"
        )
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
    return parsed.to_numpy(dtype="datetime64[ns]")
