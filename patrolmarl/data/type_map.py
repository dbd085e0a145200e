"""The type map: the data's call-type strings mapped to the district's call types.

A file maps each district call type to the strings (or ``*``/``?`` patterns)
that stand for it in the data, matched case-insensitively; the first entry
that matches wins. The handler, priority, service time, closure probability
and deterrability default to the built-in district's for its own type names
(noise, help, dispute, theft, compound) and to :data:`GENERIC` otherwise, so a
minimal file maps names only::

    noise: ["NOISE*", "LOUD MUSIC"]
    theft:
      match: ["THEFT*", "BURGLARY"]
      priority: 2
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, RootModel

from patrolmarl.envs.config import Probability, ServiceTime, load_district_config
from patrolmarl.errors import ConfigError
from patrolmarl.yaml_config import read_yaml_mapping, validate_mapping

Patterns = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class TypeSpec(BaseModel):
    """One district call type: the data's strings for it and optional overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: Patterns
    handler: Literal["patrol", "precinct"] | None = None
    priority: Annotated[int, Field(ge=1, le=5)] | None = None
    service: ServiceTime | None = None
    closure_prob: Probability | None = None
    deterrable: bool | None = None


class _TypeMapFile(RootModel[dict[str, TypeSpec]]):
    pass


# The defaults of a call type whose name is not one of the built-in district's.
GENERIC: dict[str, Any] = {
    "handler": "patrol",
    "priority": 3,
    "service": {"dist": "lognormal", "mean": 30.0, "sd": 15.0},
    "closure_prob": 0.9,
    "deterrable": False,
}


@dataclass(frozen=True)
class TypeMap:
    """District call types in file order, each with its patterns and full settings."""

    source: str
    names: tuple[str, ...]
    patterns: tuple[tuple[str, ...], ...]
    settings: tuple[dict[str, Any], ...]

    def classify(self, data_types: np.ndarray) -> np.ndarray:
        """Index into :attr:`names` of each data type string, -1 where none matches."""
        return np.array([self._match(str(s)) for s in data_types], dtype=np.int64)

    def _match(self, text: str) -> int:
        key = text.casefold()
        for i, patterns in enumerate(self.patterns):
            if any(fnmatchcase(key, p) for p in patterns):
                return i
        return -1


def read_type_map(path: Path) -> TypeMap:
    """Read and validate a type map file.

    Raises
    ------
    ConfigError
        One line naming the file, the field and what is wrong.
    """
    source = str(path)
    raw = read_yaml_mapping(Path(path))
    if not raw:
        raise ConfigError(source, "", "maps no call type")
    shorthand = {k: {"match": v} if isinstance(v, list) else v for k, v in raw.items()}
    entries = validate_mapping(_TypeMapFile, shorthand, source).root
    builtin = load_district_config("gaoxin").call_types
    names, patterns, settings = [], [], []
    for name, spec in entries.items():
        base = builtin[name].model_dump(include=set(GENERIC)) if name in builtin else dict(GENERIC)
        overrides = spec.model_dump(exclude={"match"}, exclude_none=True)
        names.append(str(name))
        patterns.append(tuple(p.strip().casefold() for p in spec.match))
        settings.append(base | overrides)
    if not any(s["handler"] == "patrol" for s in settings):
        raise ConfigError(source, "", "no call type has handler 'patrol' (street patrol needs one)")
    return TypeMap(source, tuple(names), tuple(patterns), tuple(settings))
