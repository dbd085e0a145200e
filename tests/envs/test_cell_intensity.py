"""The per-cell spatial intensity of a call type: validation, use, and an unchanged default."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import numpy as np
import pytest
import yaml

from patrolmarl.envs.config import resolve_district_path, validate_district_dict
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.errors import ConfigError
from tests.helpers import GAOXIN_CONFIG_SHA256


def _gaoxin_raw() -> dict[str, Any]:
    return yaml.safe_load(resolve_district_path("gaoxin").read_text())


def _with_intensity(raw: dict[str, Any], name: str, grid: Any) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    out["call_types"][name].pop("land_use_weights")
    out["call_types"][name]["cell_intensity"] = grid
    return out


def test_builtin_district_hash_is_unchanged() -> None:
    dump = District.load("gaoxin").config.model_dump_json()
    assert "cell_intensity" not in dump
    assert hashlib.sha256(dump.encode()).hexdigest() == GAOXIN_CONFIG_SHA256


def test_intensity_equal_to_land_use_weights_gives_the_same_rates() -> None:
    raw = _gaoxin_raw()
    base = District.load("gaoxin")
    weights = raw["call_types"]["noise"]["land_use_weights"]
    grid = [[weights.get(ch, 0.0) for ch in row] for row in base.config.land_use_map]
    explicit = District.from_config(
        validate_district_dict(_with_intensity(raw, "noise", grid), "<test>")
    )
    assert "cell_intensity" in explicit.config.model_dump_json()
    np.testing.assert_allclose(
        IncidentModel(explicit).rate_per_minute, IncidentModel(base).rate_per_minute, rtol=1e-12
    )


def test_intensity_puts_calls_only_where_it_is_positive() -> None:
    raw = _gaoxin_raw()
    grid = [[0.0] * 20 for _ in range(20)]
    grid[3][7] = 2.0
    grid[10][1] = 1.0
    model = IncidentModel(
        District.from_config(validate_district_dict(_with_intensity(raw, "help", grid), "<t>"))
    )
    t = model.type_names.index("help")
    daily = model.rate_per_minute[:, t, :].sum(axis=0) * 60.0
    assert np.flatnonzero(daily).tolist() == [3 * 20 + 7, 10 * 20 + 1]
    assert daily[3 * 20 + 7] == pytest.approx(2 * daily[10 * 20 + 1])
    assert daily.sum() == pytest.approx(raw["call_types"]["help"]["daily_rate"])


@pytest.mark.parametrize(
    ("grid", "field", "reason"),
    [
        ([[1.0] * 20] * 19, "call_types.help.cell_intensity", "has shape 19x20"),
        ([[1.0] * 19] + [[1.0] * 20] * 19, "call_types.help.cell_intensity", "has shape 20x20"),
        ([[0.0] * 20] * 20, "call_types.help", "must have a positive entry"),
        ([[float("nan")] * 20] * 20, "call_types.help.cell_intensity.0.0", "finite number"),
        ([[True] * 20] * 20, "call_types.help.cell_intensity.0.0", "valid number"),
        ([[-1.0] * 20] * 20, "call_types.help.cell_intensity.0.0", "greater than or equal"),
    ],
)
def test_bad_intensity_is_one_line(grid: Any, field: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_district_dict(_with_intensity(_gaoxin_raw(), "help", grid), "<t>")
    assert err.value.field == field
    assert reason in err.value.reason
    assert "\n" not in str(err.value)


def test_both_or_neither_spatial_source_is_refused() -> None:
    raw = _gaoxin_raw()
    both = copy.deepcopy(raw)
    both["call_types"]["help"]["cell_intensity"] = [[1.0] * 20] * 20
    neither = copy.deepcopy(raw)
    neither["call_types"]["help"].pop("land_use_weights")
    for bad in (both, neither):
        with pytest.raises(ConfigError, match="exactly one of 'land_use_weights' or 'cell"):
            validate_district_dict(bad, "<t>")
