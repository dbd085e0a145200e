"""The on-disk cache of hourly theft-aware posts: hit, certified-serves-both, stale, tampered."""

from __future__ import annotations

import json

import numpy as np
import pytest

from patrolmarl.agents import pmedian, theft_posts
from patrolmarl.agents.solution_cache import cache_folder, read_entry, write_entry
from patrolmarl.agents.theft_posts import hourly_theft_posts
from patrolmarl.envs.incidents import IncidentModel


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch):
    """Each test starts with an empty cache folder and no in-process solutions."""
    monkeypatch.setenv("PATROLMARL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pmedian, "_MEMO", {})
    monkeypatch.setattr(theft_posts, "_HOURLY_CACHE", {})


def _posts(district, certify: bool = True, theft: float = 60.0):
    theft_posts._HOURLY_CACHE.clear()
    return hourly_theft_posts(district, IncidentModel(district), theft, certify=certify)


def _solving_forbidden(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("solved although the cache held the answer")

    monkeypatch.setattr(theft_posts, "solve_posts", refuse)


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.sites, b.sites)
    for x, y in zip(a.solutions, b.solutions, strict=True):
        np.testing.assert_array_equal(x.sites, y.sites)
        assert (x.response_minutes, x.thefts, x.lower_bound) == (
            y.response_minutes,
            y.thefts,
            y.lower_bound,
        )


def _meta_of(path) -> dict:
    """The metadata an entry was written with (as write_entry takes it)."""
    with np.load(path) as stored:
        meta = json.loads(str(stored["meta_json"]))
    meta.pop("format_version")
    return meta


def test_a_hit_reads_without_solving_and_a_certified_plan_serves_both(tiny_district, monkeypatch):
    district = tiny_district()
    certified = _posts(district, certify=True)
    assert np.isfinite(certified.per_day()["lower_bound"])
    _solving_forbidden(monkeypatch)
    _same(_posts(district, certify=True), certified)
    _same(_posts(district, certify=False), certified)  # the certified entry answers
    with pytest.raises(AssertionError, match="solved although"):
        _posts(district, certify=True, theft=120.0)  # another weight is another entry


def test_an_uncertified_plan_does_not_answer_a_certified_request(tiny_district):
    district = tiny_district()
    quick = _posts(district, certify=False)
    assert quick.per_day()["lower_bound"] == -np.inf
    certified = _posts(district, certify=True)
    assert np.isfinite(certified.per_day()["lower_bound"])
    np.testing.assert_array_equal(certified.sites, quick.sites)


@pytest.mark.parametrize(
    "damage",
    ["sites out of range", "response changed", "bound above objective", "truncated"],
)
def test_a_damaged_entry_is_re_solved_and_rewritten(tiny_district, damage):
    district = tiny_district()
    original = _posts(district)
    (path,) = (cache_folder() / "theft_posts").glob("*.npz")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        meta = _meta_of(path)
        arrays = read_entry("theft_posts", path.stem, meta)
        assert arrays is not None
        if damage == "sites out of range":
            arrays["sites"][3, 0] = district.n_cells
        elif damage == "response changed":
            arrays["response_minutes"][5] *= 1.01
        else:
            arrays["lower_bound"][12] = arrays["response_minutes"][12] * 2 + 1e3
        write_entry("theft_posts", path.stem, meta, arrays)
    _same(_posts(district), original)
    rewritten = read_entry("theft_posts", path.stem, _meta_of(path))
    np.testing.assert_array_equal(rewritten["sites"], [x.sites for x in original.solutions])
    np.testing.assert_array_equal(
        rewritten["response_minutes"], [x.response_minutes for x in original.solutions]
    )
    np.testing.assert_array_equal(
        rewritten["lower_bound"], [x.lower_bound for x in original.solutions]
    )
