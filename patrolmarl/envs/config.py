"""The district file format: pydantic models and the loader that validates them.

A district file is YAML. Every problem is reported as one :class:`ConfigError`
line naming the file, the dotted field and the reason.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from patrolmarl.errors import ConfigError
from patrolmarl.yaml_config import FieldError, read_yaml_mapping, validate_mapping

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Probability = Annotated[float, Field(ge=0, le=1)]
CellRC = tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]
# A per-cell intensity entry: a finite non-negative number (a boolean is refused).
CellWeight = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LandUse(_Strict):
    """One land-use class, keyed by the character used in the maps."""

    name: str
    road_speed_kmh: PositiveFloat
    street_traffic: NonNegativeFloat = 1.0


class Vehicle(_Strict):
    """A patrol vehicle type; its speed is capped by each cell's road speed."""

    max_speed_kmh: PositiveFloat


class Precinct(_Strict):
    """A precinct (police station jurisdiction) and its own responder pool."""

    name: str
    responders: Annotated[int, Field(ge=1)] = 2
    responder_travel_minutes: NonNegativeFloat = 10.0


class Station(_Strict):
    """A street police service station bound to precincts ("1+1")."""

    name: str
    cell: CellRC
    precincts: list[str] = Field(min_length=1)


class UnitGroup(_Strict):
    """``count`` patrol units of one vehicle type, homed at a precinct or station."""

    count: Annotated[int, Field(ge=1)]
    vehicle: str
    precinct: str | None = None
    station: str | None = None

    @model_validator(mode="after")
    def _one_home(self) -> UnitGroup:
        if (self.precinct is None) == (self.station is None):
            raise ValueError("give exactly one of 'precinct' or 'station'")
        return self


class ServiceTime(_Strict):
    """On-scene service time in minutes."""

    dist: Literal["exponential", "lognormal", "fixed"]
    mean: PositiveFloat
    sd: NonNegativeFloat = 0.0

    @model_validator(mode="after")
    def _sd_for_lognormal(self) -> ServiceTime:
        if self.dist == "lognormal" and self.sd <= 0:
            raise ValueError("a lognormal service time needs sd > 0")
        return self


class Hotspot(_Strict):
    """A Gaussian bump multiplying a call type's spatial intensity."""

    cell: CellRC
    radius_cells: PositiveFloat
    multiplier: NonNegativeFloat


class CallType(_Strict):
    """One call type: how often, when, where, how long, and who handles it.

    Where: either ``land_use_weights`` (a weight per land-use code) or
    ``cell_intensity`` (a ``rows x cols`` grid of non-negative weights, north row
    first, e.g. expected calls a day per cell as ``patrolmarl district import``
    writes it); hotspots multiply either. The loader normalises the weights.
    """

    daily_rate: NonNegativeFloat
    hourly_profile: list[NonNegativeFloat] = Field(min_length=24, max_length=24)
    # Where: exactly one of land-use weights or an explicit rows x cols intensity
    # (relative weights, e.g. fitted from calls by `patrolmarl district import`).
    # Unset fields stay out of the dump, so existing districts keep their hash.
    land_use_weights: dict[str, NonNegativeFloat] | None = Field(
        default=None, exclude_if=lambda v: v is None
    )
    cell_intensity: list[list[CellWeight]] | None = Field(
        default=None, exclude_if=lambda v: v is None
    )
    hotspots: list[Hotspot] = []
    priority: Annotated[int, Field(ge=1, le=5)] = 3
    service: ServiceTime
    closure_prob: Probability = 1.0
    handler: Literal["patrol", "precinct"] = "patrol"
    deterrable: bool = False

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


class Deterrence(_Strict):
    """How recent patrol presence thins theft (see the default district's notes).

    A cell's presence ``P`` is its patrol-minutes, decayed with ``half_life_minutes``,
    plus ``neighbour_weight`` times that of its 4 neighbours. Theft there occurs at
    the undeterred rate times ``1 - max_reduction * (1 - exp(-P / saturation_minutes))``.
    """

    max_reduction: Probability = 0.4
    saturation_minutes: PositiveFloat = 15.0
    half_life_minutes: PositiveFloat = 45.0
    neighbour_weight: NonNegativeFloat = 0.5


class Simulation(_Strict):
    """Clock, horizon and dispatch rules."""

    step_minutes: PositiveFloat = 1.0
    episode_minutes: PositiveFloat = 1440.0
    start_hour: Annotated[float, Field(ge=0, lt=24)] = 0.0
    fallback_minutes: NonNegativeFloat = 5.0
    follow_up_minutes: NonNegativeFloat = 30.0
    visible_radius_cells: Annotated[int, Field(ge=0)] = 1
    observed_calls: Annotated[int, Field(ge=1)] = 4
    local_radius_cells: Annotated[int, Field(ge=1)] = 2
    coarse_block_cells: Annotated[int, Field(ge=1)] = 4


class GeoOrigin(_Strict):
    """WGS84 position of the grid's north-west corner (row 0, col 0 top-left)."""

    lat: Annotated[float, Field(ge=-85, le=85)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class DistrictConfig(_Strict):
    """A whole district file."""

    name: str
    description: str = ""
    cell_size_m: PositiveFloat
    origin: GeoOrigin | None = None
    land_use_map: list[str] = Field(min_length=1)
    precinct_map: list[str] = Field(min_length=1)
    land_uses: dict[str, LandUse]
    precincts: dict[str, Precinct]
    stations: list[Station] = []
    vehicles: dict[str, Vehicle]
    units: list[UnitGroup] = Field(min_length=1)
    call_types: dict[str, CallType] = Field(min_length=1)
    deterrence: Deterrence = Deterrence()
    simulation: Simulation = Simulation()

    @field_validator("land_use_map", "precinct_map", mode="before")
    @classmethod
    def _split_block(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [row.strip() for row in v.strip().splitlines()]
        return v

    @model_validator(mode="after")
    def _cross_check(self) -> DistrictConfig:
        rows, cols = len(self.land_use_map), len(self.land_use_map[0])
        _check_rect("land_use_map", self.land_use_map, rows, cols)
        _check_rect("precinct_map", self.precinct_map, rows, cols)
        for name, grid, known in (
            ("land_use_map", self.land_use_map, self.land_uses),
            ("precinct_map", self.precinct_map, self.precincts),
        ):
            for r, row in enumerate(grid):
                for c, ch in enumerate(row):
                    if ch not in known:
                        raise FieldError(f"{name}", f"row {r} col {c}: unknown code {ch!r}")
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
            if not (st.cell[0] < rows and st.cell[1] < cols):
                raise FieldError(
                    f"stations.{i}.cell", f"{list(st.cell)} is outside the {rows}x{cols} grid"
                )
            for p in st.precincts:
                if p not in self.precincts:
                    raise FieldError(f"stations.{i}.precincts", f"unknown precinct {p!r}")
        for i, group in enumerate(self.units):
            if group.vehicle not in self.vehicles:
                raise FieldError(f"units.{i}.vehicle", f"unknown vehicle {group.vehicle!r}")
            if group.precinct is not None and group.precinct not in self.precincts:
                raise FieldError(f"units.{i}.precinct", f"unknown precinct {group.precinct!r}")
            if group.station is not None and group.station not in station_names:
                raise FieldError(f"units.{i}.station", f"unknown station {group.station!r}")
        for name, ct in self.call_types.items():
            if ct.cell_intensity is not None:
                _check_intensity_shape(f"call_types.{name}.cell_intensity", ct, rows, cols)
            for code in ct.land_use_weights or {}:
                if code not in self.land_uses:
                    raise FieldError(
                        f"call_types.{name}.land_use_weights", f"unknown land use {code!r}"
                    )
            for j, hs in enumerate(ct.hotspots):
                if not (hs.cell[0] < rows and hs.cell[1] < cols):
                    raise FieldError(
                        f"call_types.{name}.hotspots.{j}.cell",
                        f"{list(hs.cell)} is outside the {rows}x{cols} grid",
                    )
        if not any(ct.handler == "patrol" for ct in self.call_types.values()):
            raise FieldError("call_types", "at least one call type must have handler 'patrol'")
        return self


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
    if text in builtin_districts():
        return Path(str(resources.files("patrolmarl") / "districts" / f"{text}.yaml"))
    path = Path(text)
    if not path.suffix and not path.exists():
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
