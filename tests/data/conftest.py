"""Shared inputs: the built-in district's own calls over 200 days as a CAD export, imported once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from patrolmarl.cli import main
from patrolmarl.envs.district import District

DAYS = 200
SEED = 7
TYPES_YAML = "".join(
    f"{name}: [{name.upper()}]\n" for name in District.load("gaoxin").config.call_types
)


@dataclass(frozen=True)
class Export:
    """A planner's files: calls, type map, boundary; ``folder`` to write into."""

    folder: Path
    calls: Path
    types: Path
    boundary: Path

    def argv(self, out: Path, *extra: str) -> list[str]:
        """``district import`` arguments for these files."""
        return [
            "district", "import", "--calls", str(self.calls), "--types", str(self.types),
            "--boundary", str(self.boundary), "--out", str(out), "--id-column", "id", *extra,
        ]  # fmt: skip


@pytest.fixture(scope="session")
def gaoxin_export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    """200 days of the built-in district's calls, its precincts and a type map, as files."""
    from patrolmarl.data.synthetic_calls import district_calls, precincts_geojson

    folder = tmp_path_factory.mktemp("export")
    district = District.load("gaoxin")
    calls = folder / "calls.csv"
    district_calls(district, DAYS, SEED).to_csv(calls, index=False)
    boundary = folder / "precincts.geojson"
    boundary.write_text(json.dumps(precincts_geojson(district)), encoding="utf-8")
    types = folder / "types.yaml"
    types.write_text(TYPES_YAML, encoding="utf-8")
    return Export(folder, calls, types, boundary)


@pytest.fixture(scope="session")
def imported(gaoxin_export: Export, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The district file imported from :func:`gaoxin_export` (its report folder beside it)."""
    out = tmp_path_factory.mktemp("imported") / "gaoxin_again.yaml"
    assert main(gaoxin_export.argv(out)) == 0
    return out
