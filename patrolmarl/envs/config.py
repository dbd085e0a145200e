"""The district file format: pydantic models and the loader that validates them.

A district file is YAML. Every problem is reported as one :class:`ConfigError`
line naming the file, the dotted field and the reason.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from patrolmarl.config_types import (
    Flag,
    NonNegativeFloat,
    Probability,
    StrictModel,
    Text,
    number,
    whole,
)
from patrolmarl.errors import ConfigError, echo
from patrolmarl.yaml_config import FieldError, read_yaml_mapping, validate_mapping

# ---------------------------------------------------------------- resource limits
#: Most grid cells (rows x cols): the all-pairs travel table is cells^2 per vehicle.
#: A 20 km x 20 km area of 400 m cells (2,500) fits; a 200 x 200 grid does not.
MAX_GRID_CELLS = 4_096
#: Most patrol units in all (the sum of ``units.*.count``).
MAX_UNITS = 256
#: Most entries of the travel tables, per vehicle type and per unit: (vehicle types + units)
#: x cells^2 (2^27: 1 GiB of float64).
MAX_TRAVEL_TABLE_ENTRIES = 2**27
#: Most vehicle types (a travel table each), land uses, precincts, call types,
#: stations, and hotspots per call type.
MAX_VEHICLE_TYPES = 16
MAX_LAND_USES = 64
MAX_PRECINCTS = 64
MAX_CALL_TYPES = 32
MAX_STATIONS = 256
MAX_HOTSPOTS = 64
#: Most expected calls per day, all call types together (the sum of ``daily_rate``).
MAX_CALLS_PER_DAY = 10_000
#: Longest episode (minutes): one week.
MAX_EPISODE_MINUTES = 10_080.0
#: Most simulator steps per episode (``episode_minutes / step_minutes``).
MAX_STEPS_PER_EPISODE = 20_160
#: Most responders of one precinct's own pool.
MAX_RESPONDERS = 100
#: Shortest and longest mean on-scene service time (minutes); the longest also caps ``sd``.
MIN_SERVICE_MINUTES = 0.1
MAX_SERVICE_MINUTES = 1_440.0
#: Largest hotspot multiplier, and the range of a hotspot's radius (cells).
MAX_HOTSPOT_MULTIPLIER = 1_000.0
MIN_HOTSPOT_RADIUS_CELLS = 0.1
#: Largest observation radius (visible and local, cells): the local window is (2r+1)^2 cells.
MAX_RADIUS_CELLS = 16
#: Most pending calls in an observation.
MAX_OBSERVED_CALLS = 64
#: Range of a cell's side (metres) and of road and vehicle speeds (km/h).
MIN_CELL_SIZE_M, MAX_CELL_SIZE_M = 10.0, 10_000.0
MIN_SPEED_KMH, MAX_SPEED_KMH = 1.0, 300.0
#: Longest duration a config gives in minutes (dispatch thresholds, deterrence times);
#: 1e6 minutes stands for "never".
MAX_MINUTES = 1e6

Minutes = number(ge=0, le=MAX_MINUTES)
Speed = number(ge=MIN_SPEED_KMH, le=MAX_SPEED_KMH)
CellIndex = whole(ge=0, le=MAX_GRID_CELLS)
CellRC = tuple[CellIndex, CellIndex]
Name = Annotated[Text, Field(min_length=1, max_length=200)]


class LandUse(StrictModel):
    """One land-use class, keyed by the character used in the maps."""

    name: Name = Field(description="readable name of the class")
    road_speed_kmh: Speed = Field(description="road speed in its cells (km/h)")
    street_traffic: NonNegativeFloat = Field(
        1.0, description="relative street traffic (weighs visibility)"
    )


class Vehicle(StrictModel):
    """A patrol vehicle type; its speed is capped by each cell's road speed."""

    max_speed_kmh: Speed = Field(description="top speed (km/h), capped by the road speed")


class Precinct(StrictModel):
    """A precinct (police station jurisdiction) and its own responder pool."""

    name: Name = Field(description="readable name")
    responders: whole(ge=1, le=MAX_RESPONDERS) = Field(
        2, description="the precinct's own responders (server pool)"
    )
    responder_travel_minutes: Minutes = Field(
        10.0, description="responders' travel to a call (minutes)"
    )


class Station(StrictModel):
    """A street police service station bound to precincts ("1+1")."""

    name: Name = Field(description="readable name")
    cell: CellRC = Field(description="[row, col] of the station")
    precincts: list[Text] = Field(
        min_length=1,
        max_length=MAX_GRID_CELLS,
        description="precinct codes the station is bound to",
    )


class UnitGroup(StrictModel):
    """``count`` patrol units of one vehicle type, homed at a precinct or station."""

    count: whole(ge=1, le=MAX_UNITS) = Field(description="units in the group")
    vehicle: Text = Field(description="vehicle type (a key of vehicles)")
    precinct: Text | None = Field(None, description="home precinct code (or give station)")
    station: Text | None = Field(None, description="home station name (or give precinct)")

    @model_validator(mode="after")
    def _one_home(self) -> UnitGroup:
        if (self.precinct is None) == (self.station is None):
            raise ValueError("give exactly one of 'precinct' or 'station'")
        return self


class ServiceTime(StrictModel):
    """On-scene service time in minutes."""

    dist: Literal["exponential", "lognormal", "fixed"] = Field(
        description="distribution of the on-scene time"
    )
    mean: number(ge=MIN_SERVICE_MINUTES, le=MAX_SERVICE_MINUTES) = Field(
        description="mean minutes on scene"
    )
    sd: number(ge=0, le=MAX_SERVICE_MINUTES) = Field(
        0.0, description="standard deviation in minutes (lognormal only)"
    )

    @model_validator(mode="after")
    def _sd_for_lognormal(self) -> ServiceTime:
        if self.dist == "lognormal" and self.sd <= 0:
            raise ValueError("a lognormal service time needs sd > 0")
        return self


class Hotspot(StrictModel):
    """A Gaussian bump multiplying a call type's spatial intensity."""

    cell: CellRC = Field(description="[row, col] of the centre")
    radius_cells: number(ge=MIN_HOTSPOT_RADIUS_CELLS, le=MAX_GRID_CELLS) = Field(
        description="Gaussian radius in cells"
    )
    multiplier: number(ge=0, le=MAX_HOTSPOT_MULTIPLIER) = Field(
        description="intensity multiplier at the centre"
    )


class CallType(StrictModel):
    """One call type: how often, when, where, how long, and who handles it.

    Where: either ``land_use_weights`` (a weight per land-use code) or
    ``cell_intensity`` (a ``rows x cols`` grid of non-negative weights, north row
    first, e.g. expected calls a day per cell as ``patrolmarl district import``
    writes it); hotspots multiply either. The loader normalises the weights.
    """

    daily_rate: number(ge=0, le=MAX_CALLS_PER_DAY) = Field(description="expected calls a day")
    hourly_profile: list[NonNegativeFloat] = Field(
        min_length=24, max_length=24, description="24 relative weights, hour 0 first"
    )
    # Where: exactly one of land-use weights or an explicit rows x cols intensity
    # (relative weights, e.g. fitted from calls by `patrolmarl district import`).
    # Unset fields stay out of the dump, so existing districts keep their hash.
    land_use_weights: dict[Text, NonNegativeFloat] | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="relative weight per land-use code (or give cell_intensity)",
    )
    cell_intensity: list[list[NonNegativeFloat]] | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="rows x cols relative weights, north row first (or land_use_weights)",
    )
    hotspots: list[Hotspot] = Field(
        [], max_length=MAX_HOTSPOTS, description="bumps multiplying the spatial weights"
    )
    priority: whole(ge=1, le=5) = Field(3, description="1 (highest) to 5")
    service: ServiceTime = Field(description="on-scene service time")
    closure_prob: Probability = Field(1.0, description="probability the call is closed on scene")
    handler: Literal["patrol", "precinct"] = Field(
        "patrol", description="patrol (street calls) or precinct (the precinct's responders)"
    )
    deterrable: Flag = Field(False, description="thinned by patrol presence (theft)")

    @field_validator("hourly_profile")
    @classmethod
    def _profile_not_all_zero(cls, v: list[float]) -> list[float]:
        if sum(v) <= 0:
            raise ValueError("hourly_profile must have a positive entry")
        return v

    @model_validator(mode="after")
    def _one_spatial_source(self) -> CallType:
        if (self.land_use_weights is None) == (self.cell_intensity is None):
            raise ValueError("give exactly one of 'land_use_weights' or 'cell_intensity'")
        if self.cell_intensity is not None and not any(map(any, self.cell_intensity)):
            raise ValueError("cell_intensity must have a positive entry")
        return self


class Deterrence(StrictModel):
    """How recent patrol presence thins theft (see the default district's notes).

    A cell's presence ``P`` is its patrol-minutes, decayed with ``half_life_minutes``,
    plus ``neighbour_weight`` times that of its 4 neighbours. Theft there occurs at
    the undeterred rate times ``1 - max_reduction * (1 - exp(-P / saturation_minutes))``.
    """

    max_reduction: Probability = Field(
        0.4, description="largest share of theft presence can prevent"
    )
    saturation_minutes: number(ge=0.1, le=MAX_MINUTES) = Field(
        15.0, description="presence scale of the deterrence law (patrol-minutes)"
    )
    half_life_minutes: number(ge=0.1, le=MAX_MINUTES) = Field(
        45.0, description="half-life of the presence field"
    )
    neighbour_weight: number(ge=0, le=100) = Field(
        0.5, description="weight of the 4 neighbours' presence"
    )


class Simulation(StrictModel):
    """Clock, horizon and dispatch rules."""

    step_minutes: number(gt=0, le=MAX_EPISODE_MINUTES) = Field(
        1.0, description="minutes per simulator step"
    )
    episode_minutes: number(gt=0, le=MAX_EPISODE_MINUTES) = Field(
        1440.0, description="minutes per episode (a day: 1440)"
    )
    start_hour: number(ge=0, lt=24) = Field(0.0, description="clock hour the episode starts")
    fallback_minutes: Minutes = Field(
        5.0, description="unaccepted minutes before the command centre dispatches"
    )
    follow_up_minutes: Minutes = Field(
        30.0, description="delay before an unclosed call's follow-up"
    )
    visible_radius_cells: whole(ge=0, le=MAX_RADIUS_CELLS) = Field(
        1, description="cells around a unit counted as seen"
    )
    observed_calls: whole(ge=1, le=MAX_OBSERVED_CALLS) = Field(
        4, description="pending calls each unit observes (K)"
    )
    local_radius_cells: whole(ge=1, le=MAX_RADIUS_CELLS) = Field(
        2, description="radius of each unit's local map"
    )
    coarse_block_cells: whole(ge=1, le=MAX_GRID_CELLS) = Field(
        4, description="side of the coarse map's blocks in cells"
    )

    @model_validator(mode="after")
    def _bounded_steps(self) -> Simulation:
        steps = self.episode_minutes / self.step_minutes
        if steps > MAX_STEPS_PER_EPISODE:
            raise FieldError(
                "simulation.step_minutes",
                f"{self.episode_minutes:g} / {self.step_minutes:g} minutes is {steps:.3g} steps "
                f"per episode, more than the limit of {MAX_STEPS_PER_EPISODE}",
            )
        return self


class GeoOrigin(StrictModel):
    """WGS84 position of the grid's north-west corner (row 0, col 0 top-left)."""

    lat: number(ge=-85, le=85) = Field(description="latitude of the north-west corner")
    lon: number(ge=-180, le=180) = Field(description="longitude of the north-west corner")


class DistrictConfig(StrictModel):
    """A whole district file."""

    name: Name = Field(description="district name")
    description: Annotated[Text, Field(max_length=10_000)] = Field(
        "", description="free text notes"
    )
    cell_size_m: number(ge=MIN_CELL_SIZE_M, le=MAX_CELL_SIZE_M) = Field(
        description="side of a grid cell (metres)"
    )
    origin: GeoOrigin | None = Field(None, description="WGS84 north-west corner (for maps)")
    land_use_map: list[Text] = Field(
        min_length=1, max_length=MAX_GRID_CELLS, description="rows of land-use codes, north first"
    )
    precinct_map: list[Text] = Field(
        min_length=1, max_length=MAX_GRID_CELLS, description="rows of precinct codes, north first"
    )
    land_uses: dict[Text, LandUse] = Field(
        max_length=MAX_LAND_USES, description="land-use code -> class"
    )
    precincts: dict[Text, Precinct] = Field(
        max_length=MAX_PRECINCTS, description="precinct code -> precinct"
    )
    stations: list[Station] = Field(
        [], max_length=MAX_STATIONS, description="street police service stations"
    )
    vehicles: dict[Text, Vehicle] = Field(
        min_length=1, max_length=MAX_VEHICLE_TYPES, description="vehicle type -> vehicle"
    )
    units: list[UnitGroup] = Field(
        min_length=1, max_length=MAX_UNITS, description="the patrol units"
    )
    call_types: dict[Text, CallType] = Field(
        min_length=1, max_length=MAX_CALL_TYPES, description="call type name -> call type"
    )
    deterrence: Deterrence = Field(Deterrence(), description="how presence thins theft")
    simulation: Simulation = Field(Simulation(), description="clock, horizon and dispatch rules")

    @field_validator("land_use_map", "precinct_map", mode="before")
    @classmethod
    def _split_block(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [row.strip() for row in v.strip().splitlines()]
        return v

    @model_validator(mode="after")
    def _cross_check(self) -> DistrictConfig:
        rows, cols = len(self.land_use_map), len(self.land_use_map[0])
        if rows * cols > MAX_GRID_CELLS:
            raise FieldError(
                "land_use_map",
                f"{rows}x{cols} is {rows * cols} cells, more than the limit of {MAX_GRID_CELLS}",
            )
        if cols == 0:
            raise FieldError("land_use_map", "row 0 is empty")
        _check_rect("land_use_map", self.land_use_map, rows, cols)
        _check_rect("precinct_map", self.precinct_map, rows, cols)
        for name, grid, known in (
            ("land_use_map", self.land_use_map, self.land_uses),
            ("precinct_map", self.precinct_map, self.precincts),
        ):
            for r, row in enumerate(grid):
                for c, ch in enumerate(row):
                    if ch not in known:
                        raise FieldError(name, f"row {r} col {c}: unknown code {echo(ch)}")
        for code in self.precincts:
            if len(code) != 1:
                raise FieldError(f"precincts.{code}", "precinct codes are single characters")
            if not any(code in row for row in self.precinct_map):
                raise FieldError(f"precincts.{code}", "precinct has no cells in precinct_map")
        for code in self.land_uses:
            if len(code) != 1:
                raise FieldError(f"land_uses.{code}", "land-use codes are single characters")
        station_names = [s.name for s in self.stations]
        for i, st in enumerate(self.stations):
            if st.name in station_names[:i]:
                raise FieldError(f"stations.{i}.name", f"station {echo(st.name)} is named twice")
            if not (st.cell[0] < rows and st.cell[1] < cols):
                raise FieldError(
                    f"stations.{i}.cell", f"{list(st.cell)} is outside the {rows}x{cols} grid"
                )
            for p in st.precincts:
                if p not in self.precincts:
                    raise FieldError(f"stations.{i}.precincts", f"unknown precinct {echo(p)}")
        for i, group in enumerate(self.units):
            if group.vehicle not in self.vehicles:
                raise FieldError(f"units.{i}.vehicle", f"unknown vehicle {echo(group.vehicle)}")
            if group.precinct is not None and group.precinct not in self.precincts:
                raise FieldError(f"units.{i}.precinct", f"unknown precinct {echo(group.precinct)}")
            if group.station is not None and group.station not in station_names:
                raise FieldError(f"units.{i}.station", f"unknown station {echo(group.station)}")
        for name, ct in self.call_types.items():
            if ct.cell_intensity is not None:
                _check_intensity_shape(f"call_types.{name}.cell_intensity", ct, rows, cols)
            for code in ct.land_use_weights or {}:
                if code not in self.land_uses:
                    raise FieldError(
                        f"call_types.{name}.land_use_weights", f"unknown land use {echo(code)}"
                    )
            for j, hs in enumerate(ct.hotspots):
                if not (hs.cell[0] < rows and hs.cell[1] < cols):
                    raise FieldError(
                        f"call_types.{name}.hotspots.{j}.cell",
                        f"{list(hs.cell)} is outside the {rows}x{cols} grid",
                    )
        if not any(ct.handler == "patrol" for ct in self.call_types.values()):
            raise FieldError("call_types", "at least one call type must have handler 'patrol'")
        if not any(ct.daily_rate > 0 for ct in self.call_types.values() if ct.handler == "patrol"):
            raise FieldError(
                "call_types", "every street (handler 'patrol') call type has daily_rate 0"
            )
        calls = sum(ct.daily_rate for ct in self.call_types.values())
        if calls > MAX_CALLS_PER_DAY:
            raise FieldError(
                "call_types",
                f"the daily rates add up to {calls:g} calls a day, "
                f"more than the limit of {MAX_CALLS_PER_DAY}",
            )
        _check_units(self, rows, cols)
        return self


def _check_units(config: DistrictConfig, rows: int, cols: int) -> None:
    """The units, and the travel tables of units and vehicle types, fit the limits."""
    units = sum(group.count for group in config.units)
    if units > MAX_UNITS:
        raise FieldError("units", f"{units} units in all, more than the limit of {MAX_UNITS}")
    tables = units + len(config.vehicles)
    entries = tables * (rows * cols) ** 2
    if entries > MAX_TRAVEL_TABLE_ENTRIES:
        raise FieldError(
            "units",
            f"{units} units and {len(config.vehicles)} vehicle types on {rows * cols} cells "
            f"need travel tables of {entries:.3g} entries ((units + vehicle types) x cells^2), "
            f"more than the limit of {MAX_TRAVEL_TABLE_ENTRIES:.3g}",
        )


def _check_rect(name: str, grid: list[str], rows: int, cols: int) -> None:
    if len(grid) != rows:
        raise FieldError(name, f"has {len(grid)} rows, land_use_map has {rows}")
    for r, row in enumerate(grid):
        if len(row) != cols:
            raise FieldError(name, f"row {r} has {len(row)} cells, expected {cols}")


def _check_intensity_shape(field: str, ct: CallType, rows: int, cols: int) -> None:
    grid = ct.cell_intensity or []
    if len(grid) != rows or any(len(row) != cols for row in grid):
        shape = f"{len(grid)}x{max((len(row) for row in grid), default=0)}"
        raise FieldError(field, f"has shape {shape} (ragged or not), the grid is {rows}x{cols}")


def builtin_districts() -> list[str]:
    """Names of the districts shipped with the package."""
    folder = resources.files("patrolmarl") / "districts"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_district_path(district: str | Path) -> Path:
    """Turn a built-in district name or a path into a path to a YAML file."""
    text = str(district)
    if not text.strip():
        known = ", ".join(builtin_districts())
        raise ConfigError(
            repr(text), "", f"empty district name (give a YAML file or a built-in: {known})"
        )
    if text in builtin_districts():
        return Path(str(resources.files("patrolmarl") / "districts" / f"{text}.yaml"))
    path = Path(text)
    if not path.suffix and not os.path.lexists(text):
        known = ", ".join(builtin_districts())
        raise ConfigError(
            text, "", f"no such district file or built-in district (built-in: {known})"
        )
    return path


def load_district_config(
    district: str | Path, overrides: dict[str, Any] | None = None
) -> DistrictConfig:
    """Read, merge overrides into, and validate a district file.

    Parameters
    ----------
    district
        A built-in name (``"gaoxin"``) or a path to a YAML file.
    overrides
        Keys of the ``simulation`` section (``fallback_minutes=3``) or dotted
        paths (``"deterrence.max_reduction": 0.5``) replacing the file's values.

    Raises
    ------
    ConfigError
        One line naming the file, the field and the reason.
    """
    path = resolve_district_path(district)
    raw = read_yaml_mapping(path)
    if overrides:
        raw = _apply_overrides(raw, overrides)
    return validate_district_dict(raw, str(path))


def validate_district_dict(raw: dict[str, Any], source: str) -> DistrictConfig:
    """Validate an already-parsed district mapping, raising one-line errors."""
    return validate_mapping(DistrictConfig, raw, source)


def _apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(raw)
    for key, value in overrides.items():
        path = key.split(".") if "." in key else ["simulation", key]
        node = merged
        for part in path[:-1]:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, dict) else {}
            node = node[part]
        node[path[-1]] = value
    return merged
