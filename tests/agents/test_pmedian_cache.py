"""The on-disk cache of hourly p-medians: hit, miss, stale, corrupt, tampered, unwritable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from patrolmarl.agents import pmedian
from patrolmarl.agents.pmedian import PMedianSettings, hourly_pmedian
from patrolmarl.agents.solution_cache import cache_folder, read_entry, write_entry
from patrolmarl.envs.incidents import IncidentModel

FAST = PMedianSettings(kicks=0, bound_iterations=20, mip_time_limit=0.0)


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch):
    """Each test starts with an empty cache folder and no in-process solutions."""
    monkeypatch.setenv("PATROLMARL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pmedian, "_MEMO", {})


def _plan(district, settings: PMedianSettings = FAST):
    pmedian._MEMO.clear()
    return hourly_pmedian(district, IncidentModel(district), settings)


def _entry() -> Path:
    (path,) = (cache_folder() / "pmedian").glob("*.npz")
    return path


def _solving_forbidden(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("solved although the cache held the answer")

    monkeypatch.setattr(pmedian, "solve_pmedian", refuse)


def test_a_miss_solves_and_stores_then_a_hit_reads_without_solving(tiny_district, monkeypatch):
    district = tiny_district()
    first = _plan(district)
    assert not first.from_cache
    path = _entry()
    assert not list(path.parent.glob("*.tmp"))  # written atomically, nothing left behind
    _solving_forbidden(monkeypatch)
    second = _plan(district)
    assert second.from_cache
    np.testing.assert_array_equal(second.sites, first.sites)
    assert second.hourly_table() == first.hourly_table()


def test_other_settings_or_intensity_are_other_entries(tiny_district):
    district = tiny_district()
    _plan(district)
    _plan(district, PMedianSettings(kicks=0, bound_iterations=21, mip_time_limit=0.0))
    assert not _plan(tiny_district(daily_rate=50.0)).from_cache
    assert len(list((cache_folder() / "pmedian").glob("*.npz"))) == 3


def _rewrite(path: Path, **changes) -> None:
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    meta = json.loads(str(arrays.pop("meta_json")))
    meta.update(changes.pop("meta", {}))
    arrays.update(changes)
    meta.pop("format_version")
    write_entry("pmedian", path.stem, meta, arrays)


@pytest.mark.parametrize(
    "damage",
    [
        "stale config hash",
        "stale settings",
        "older solver",
        "old format",
        "truncated",
        "garbage",
        "sites moved",
        "wrong shape",
        "bound above objective",
        "nan objective",
    ],
)
def test_a_damaged_or_stale_entry_is_re_solved_and_rewritten(tiny_district, damage):
    district = tiny_district()
    good = _plan(district)
    path = _entry()
    stored = dict(np.load(path, allow_pickle=False))
    if damage == "stale config hash":
        _rewrite(path, meta={"config_sha256": "0" * 64})
    elif damage == "stale settings":
        _rewrite(path, meta={"settings": {"kicks": 5}})
    elif damage == "older solver":
        _rewrite(path, meta={"solver_version": pmedian.SOLVER_VERSION - 1})
    elif damage == "old format":
        meta = json.loads(str(stored["meta_json"]))
        meta["format_version"] = 0
        np.savez(path, **{**stored, "meta_json": np.array(json.dumps(meta))})
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "garbage":
        path.write_bytes(b"not a cache entry")
    elif damage == "sites moved":
        _rewrite(path, sites=(stored["sites"] + 1) % district.n_cells)
    elif damage == "wrong shape":
        _rewrite(path, sites=stored["sites"][:12])
    elif damage == "bound above objective":
        _rewrite(path, lower_bound=stored["objective"] * 1.1)
    elif damage == "nan objective":
        _rewrite(path, objective=np.full(24, np.nan))
    again = _plan(district)
    assert not again.from_cache, damage
    np.testing.assert_array_equal(again.sites, good.sites)
    assert _plan(district).from_cache  # the rewritten entry is good


def test_an_unwritable_cache_folder_degrades_to_no_cache(
    tiny_district, tmp_path, monkeypatch, capsys
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PATROLMARL_CACHE_DIR", str(blocker / "cache"))
    district = tiny_district()
    first = _plan(district)
    second = _plan(district)
    assert not first.from_cache and not second.from_cache
    np.testing.assert_array_equal(first.sites, second.sites)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1  # one warning, not one per write
    assert lines[0].startswith("patrolmarl: warning: cache folder")
    assert "not writable" in lines[0]


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PATROLMARL_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "explicit"
    monkeypatch.delenv("PATROLMARL_CACHE_DIR")
    assert cache_folder() == tmp_path / "xdg" / "patrolmarl"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_folder() == tmp_path / "home" / ".cache" / "patrolmarl"


def test_read_entry_misses_on_an_absent_key():
    assert read_entry("pmedian", "absent", {"kind": "x"}) is None


def test_hours_without_street_calls_plan_zero_travel_and_zero_gap(tiny_district):
    """A district with no street calls at all is refused by its validator; quiet hours are not."""
    district = tiny_district(hourly_profile=[0] * 12 + [1] * 12)
    plan = _plan(district, PMedianSettings())
    table = plan.hourly_table()
    for hour in table[:12]:
        assert hour["bound_source"] == pmedian.NO_DEMAND
        assert hour["objective"] == hour["lower_bound"] == hour["gap"] == 0.0
    assert all(hour["bound_source"] != pmedian.NO_DEMAND for hour in table[12:])
    assert plan.max_gap() <= PMedianSettings().gap_tolerance
