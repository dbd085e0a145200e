"""Every YAML under configs/ loads with its own loader; the packaged districts match configs/."""

from __future__ import annotations

from pathlib import Path

import pytest

from patrolmarl.envs.config import DistrictConfig, builtin_districts, load_district_config
from patrolmarl.training.config import TrainConfig, load_train_config
from patrolmarl.training.sweep import SweepFile, load_sweep

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
PACKAGED = REPO / "patrolmarl" / "districts"


def _yaml(folder: str) -> list[Path]:
    paths = sorted((CONFIGS / folder).glob("*.yaml"))
    assert paths, f"no YAML in configs/{folder}"
    return paths


@pytest.mark.parametrize("path", _yaml("districts"), ids=lambda p: p.name)
def test_district_files_validate(path: Path) -> None:
    assert load_district_config(path).name


@pytest.mark.parametrize("path", _yaml("train"), ids=lambda p: p.name)
def test_train_configs_validate(path: Path) -> None:
    assert load_train_config(path).total_timesteps > 0


@pytest.mark.parametrize("path", _yaml("sweeps"), ids=lambda p: p.name)
def test_sweep_configs_validate(path: Path) -> None:
    assert load_sweep(path).file.metric


def test_the_packaged_districts_are_the_user_facing_copies() -> None:
    """patrolmarl/districts ships real files; configs/districts holds the same bytes."""
    assert not PACKAGED.is_symlink()
    packaged = {p.name: p for p in PACKAGED.glob("*.yaml")}
    assert sorted(packaged) == sorted(p.name for p in _yaml("districts"))
    assert sorted(builtin_districts()) == sorted(p.stem for p in packaged.values())
    for name, path in packaged.items():
        copy = CONFIGS / "districts" / name
        assert path.read_bytes() == copy.read_bytes(), f"configs/districts/{name} differs"


def _undocumented(model: type) -> list[str]:
    schema = model.model_json_schema()
    sections = {model.__name__: schema, **schema.get("$defs", {})}
    return [
        f"{section}.{name}"
        for section, spec in sections.items()
        for name, prop in spec.get("properties", {}).items()
        if not prop.get("description")
    ]


@pytest.mark.parametrize(
    "model", [DistrictConfig, TrainConfig, SweepFile], ids=lambda m: m.__name__
)
def test_the_json_schema_documents_every_field(model: type) -> None:
    assert _undocumented(model) == []
