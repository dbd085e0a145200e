"""The evaluator: determinism, common random numbers, paired statistics and the p-median limit."""

from __future__ import annotations

import functools
import json
import re

import numpy as np
import pytest

from patrolmarl.agents.baselines import (
    FixedZonePolicy,
    NearestPolicy,
    PMedianPolicy,
    RandomPolicy,
)
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.evaluation.evaluate import (
    BASELINE,
    COMPARED,
    evaluate,
    paired_differences,
)
from patrolmarl.evaluation.limits import theft_limit, travel_limit
from patrolmarl.evaluation.runner import day_seeds
from patrolmarl.evaluation.statistics import NO_VARIATION, TOO_FEW_DAYS, paired_bootstrap
from tests.helpers import short_busy_gaoxin


def _dump(ev) -> str:
    return json.dumps(ev.to_json(), sort_keys=True)


def _policies(seed: int = 0) -> list:
    return [NearestPolicy(seed=seed), RandomPolicy(seed=seed)]


@functools.cache
def _all_baselines():
    """Every baseline on the same 3 days (shared by several tests)."""
    policies = [FixedZonePolicy(seed=1), NearestPolicy(seed=1), PMedianPolicy(), RandomPolicy(1)]
    return evaluate(short_busy_gaoxin(), policies, days=3, seed=1, resamples=200)


def test_evaluate_is_deterministic_and_depends_on_the_seed():
    d = short_busy_gaoxin()
    a = evaluate(d, _policies(), days=2, seed=5, resamples=300)
    b = evaluate(d, _policies(), days=2, seed=5, resamples=300)
    assert _dump(a) == _dump(b)
    c = evaluate(d, _policies(), days=2, seed=6, resamples=300)
    assert _dump(c) != _dump(a)
    assert c.seeds != a.seeds
    assert c.result("nearest").summary != a.result("nearest").summary
    # The baseline is added in front when it is not given.
    assert [r.name for r in a.results] == [BASELINE, "nearest", "random"]
    doc = json.loads(_dump(a))
    assert doc["days"] == 2
    assert doc["day_seeds"] == [[5, 0], [5, 1]]
    assert set(doc["policies"]) == {BASELINE, "nearest", "random"}
    for entry in doc["policies"].values():
        assert len(entry["per_day"]) == 2
        assert set(entry["vs_baseline"]) == set(COMPARED)


def test_policies_in_worker_processes_give_the_same_figures_and_progress():
    d = short_busy_gaoxin()
    serial = evaluate(d, _policies(), days=2, seed=5, resamples=300)
    finished = []
    forked = evaluate(
        d,
        _policies(),
        days=2,
        seed=5,
        resamples=300,
        workers=2,
        on_step=lambda name, steps: finished.append((name, steps)),
    )
    assert _dump(forked) == _dump(serial)
    steps = serial.result("nearest").records[0].steps
    assert finished == [(BASELINE, steps), ("nearest", steps), ("random", steps)]


def test_every_policy_meets_the_same_calls_every_day():
    ev = _all_baselines()
    incidents = IncidentModel(ev.district)
    first = ev.results[0]
    assert len(ev.results) == 4
    for day in range(3):
        ref = first.records[day]
        exogenous = ~incidents.deterrable[ref.type]
        assert exogenous.sum() > 10
        for r in ev.results[1:]:
            rec = r.records[day]
            keep = ~incidents.deterrable[rec.type]
            for field in ("time", "type", "cell"):
                np.testing.assert_array_equal(
                    getattr(rec, field)[keep], getattr(ref, field)[exogenous], err_msg=field
                )
            # Theft candidates are common too; only whether they happen depends on patrol.
            for field in ("time", "type", "cell"):
                np.testing.assert_array_equal(getattr(rec, field), getattr(ref, field))
    # Different days have different calls.
    assert not np.array_equal(first.records[0].time, first.records[1].time)


def test_fixed_zone_against_itself_is_exactly_zero():
    ev = _all_baselines()
    base = ev.result(BASELINE)
    assert set(base.vs_baseline) == set(COMPARED)
    for metric, diff in base.vs_baseline.items():
        assert diff["difference"] == 0.0, metric
        assert diff["ci_low"] is None and diff["ci_high"] is None, metric  # no zero-width CI
        assert diff["excludes_zero"] is None
        assert diff["interval_note"] == NO_VARIATION
        assert diff["relative"] == 0.0 or np.isnan(diff["relative"]), metric


def test_differences_match_the_pooled_summaries():
    ev = _all_baselines()
    base = ev.result(BASELINE).summary
    for r in ev.results:
        for metric in COMPARED:
            diff = r.vs_baseline[metric]
            expected = r.summary[metric] - base[metric]
            assert diff["difference"] == pytest.approx(expected, rel=1e-9, abs=1e-12), metric
            if diff["interval_note"] is None:
                assert diff["ci_low"] <= diff["difference"] + 1e-12 <= diff["ci_high"] + 2e-12
    # The policies differ from the baseline somewhere.
    nearest = ev.result("nearest").vs_baseline
    assert nearest["fallback_per_day"]["difference"] < 0  # nearest rarely needs the fallback


def test_any_two_policies_can_be_compared_on_the_same_days():
    ev = _all_baselines()
    vs_nearest = paired_differences(ev, "pmedian", "nearest")
    assert set(vs_nearest) == set(COMPARED)
    pmedian, nearest = ev.result("pmedian").summary, ev.result("nearest").summary
    for metric, diff in vs_nearest.items():
        expected = pmedian[metric] - nearest[metric]
        assert diff["difference"] == pytest.approx(expected, rel=1e-9, abs=1e-12), metric
        if diff["interval_note"] is None:
            assert diff["ci_low"] <= diff["difference"] + 1e-12 <= diff["ci_high"] + 2e-12
    itself = paired_differences(ev, "nearest", "nearest")
    assert all(d["difference"] == 0.0 and d["ci_low"] is None for d in itself.values())


def test_day_seeds_are_a_prefix_and_earlier_days_do_not_change():
    assert day_seeds(9, 5)[:3] == day_seeds(9, 3)
    assert day_seeds(9, 0) == []
    seeds = day_seeds(9, 50)
    assert len({tuple(s) for s in seeds}) == 50
    assert day_seeds(10, 3) != day_seeds(9, 3)
    d = short_busy_gaoxin()
    short = evaluate(d, [PMedianPolicy()], days=2, seed=9, resamples=100)
    longer = evaluate(d, [PMedianPolicy()], days=3, seed=9, resamples=100)
    assert longer.seeds[:2] == short.seeds
    for name in (BASELINE, "pmedian"):
        a, b = short.result(name), longer.result(name)
        for day in range(2):
            for field in ("time", "type", "cell"):
                np.testing.assert_array_equal(
                    getattr(a.records[day], field), getattr(b.records[day], field)
                )
    # pmedian has no randomness of its own: its first two days are unchanged.
    assert json.dumps(short.result("pmedian").per_day) == json.dumps(
        longer.result("pmedian").per_day[:2]
    )


def _synthetic(days: int, rng: np.random.Generator, effect: float):
    calls = rng.integers(5, 30, size=days).astype(float)
    base = rng.normal(10.0, 3.0, size=days) * calls
    policy = base - effect * calls + rng.normal(0.0, 2.0, size=days) * np.sqrt(calls)
    return policy, calls, base, calls


def test_paired_bootstrap_contains_the_estimate_and_shrinks_with_days():
    gen = np.random.default_rng(0)
    widths = []
    for days in (10, 40, 160):
        p_num, p_den, b_num, b_den = _synthetic(days, gen, effect=1.0)
        d = paired_bootstrap(p_num, p_den, b_num, b_den, np.random.default_rng(1), 2000)
        point = p_num.sum() / p_den.sum() - b_num.sum() / b_den.sum()
        assert d.difference == pytest.approx(point)
        assert d.relative == pytest.approx(point / (b_num.sum() / b_den.sum()))
        assert d.ci_low <= d.difference <= d.ci_high
        widths.append(d.ci_high - d.ci_low)
    assert widths[1] < widths[0] and widths[2] < widths[1]
    assert widths[2] < 0.6 * widths[0]
    assert d.excludes_zero  # a true effect of -1 is found with 160 days


def test_paired_bootstrap_is_paired_and_seeded():
    gen = np.random.default_rng(3)
    p_num, p_den, b_num, b_den = _synthetic(20, gen, effect=0.0)
    # Identical inputs: exactly zero, and no zero-width interval.
    d = paired_bootstrap(b_num, b_den, b_num, b_den, np.random.default_rng(0), 500)
    assert (d.difference, d.ci_low, d.ci_high, d.excludes_zero) == (0.0, None, None, None)
    assert d.note == NO_VARIATION
    # A constant per-day shift: pairing leaves no variation either (it is not "significant").
    shifted = b_num + 2.0 * b_den
    d = paired_bootstrap(shifted, b_den, b_num, b_den, np.random.default_rng(0), 500)
    assert d.difference == pytest.approx(2.0)
    assert (d.ci_low, d.ci_high, d.note) == (None, None, NO_VARIATION)
    # A small true variation keeps its (narrow) interval.
    wobble = shifted + 1e-3 * np.arange(20) * b_den
    d = paired_bootstrap(wobble, b_den, b_num, b_den, np.random.default_rng(0), 500)
    assert d.note is None and d.ci_low < d.ci_high
    # Same generator seed, same interval.
    a = paired_bootstrap(p_num, p_den, b_num, b_den, np.random.default_rng(7), 500)
    b = paired_bootstrap(p_num, p_den, b_num, b_den, np.random.default_rng(7), 500)
    assert a == b


def test_travel_limit_bounds_the_pmedian_policys_realised_travel():
    ev = _all_baselines()
    d = ev.district
    limit = travel_limit(d, IncidentModel(d))
    assert ev.limit == {**limit, **theft_limit(d, IncidentModel(d))}  # both bounds
    bound = limit["travel_lower_bound"]
    assert 0 < bound <= limit["pmedian_travel_at_sites"]
    assert 0 <= limit["max_gap"] < 0.10
    assert len(limit["hourly_lower_bound"]) == 24
    assert min(limit["hourly_lower_bound"]) <= bound <= max(limit["hourly_lower_bound"])
    pmedian = ev.result("pmedian")
    assert pmedian.summary["served_by_patrol"] > 50
    assert pmedian.summary["travel_mean"] >= bound
    for day in pmedian.per_day:
        assert day["travel_mean"] >= bound
    for r in ev.results:  # the limit holds for every policy
        assert r.summary["travel_mean"] >= bound, r.name


def test_one_day_gives_no_interval_and_says_so(tmp_path):
    from patrolmarl.evaluation.report import write_report

    ev = evaluate(short_busy_gaoxin(), [NearestPolicy(seed=1)], days=1, seed=1, with_limit=False)
    for r in ev.results:
        for metric, diff in r.vs_baseline.items():
            assert (diff["ci_low"], diff["ci_high"], diff["excludes_zero"]) == (None, None, None)
            assert diff["interval_note"] == TOO_FEW_DAYS, metric
    assert ev.result("nearest").vs_baseline["response_mean"]["difference"] != 0.0
    write_report(ev, tmp_path / "report")
    doc = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert doc["policies"]["nearest"]["vs_baseline"]["response_mean"]["interval_note"] == (
        "too few days for an interval"
    )
    assert "too few days for an interval" in (tmp_path / "report" / "report.html").read_text()


def test_any_policy_can_be_the_baseline_and_pairs_are_added():
    ev = _all_baselines()
    policies = [FixedZonePolicy(seed=1), NearestPolicy(seed=1), PMedianPolicy(), RandomPolicy(1)]
    other = evaluate(
        short_busy_gaoxin(), policies, days=3, seed=1, resamples=200, with_limit=False,
        baseline="nearest", pairs=[("pmedian", "random")],
    )  # fmt: skip
    data = other.to_json()
    assert data["baseline"] == "nearest"
    nearest = ev.result("nearest").summary
    for r in other.results:
        for metric in COMPARED:
            expected = r.summary[metric] - nearest[metric]
            assert r.vs_baseline[metric]["difference"] == pytest.approx(expected, abs=1e-12)
    assert list(data["pairs"]) == ["pmedian-random"]
    pair = data["pairs"]["pmedian-random"]
    assert (pair["policy"], pair["against"]) == ("pmedian", "random")
    again = paired_differences(other, "pmedian", "random", 200)
    assert json.dumps(pair["differences"]) == json.dumps(again)  # NaN relatives compare equal


@pytest.mark.parametrize(
    ("baseline", "pairs", "message"),
    [
        ("greedy", [], "--baseline: 'greedy' is not an evaluated policy"),
        ("nearest", [("nearest", "greedy")], "--pairs: 'greedy' in nearest:greedy is not"),
        ("nearest", [("nearest", "nearest")], "--pairs: nearest:nearest compares a policy with"),
    ],
)
def test_unknown_baseline_or_pair_is_refused_before_running(baseline, pairs, message):
    from patrolmarl.errors import PatrolMarlError

    with pytest.raises(PatrolMarlError, match=re.escape(message)):
        evaluate(short_busy_gaoxin(), _policies(), 1, 0, baseline=baseline, pairs=pairs)


def test_breakdowns_add_up_to_the_pooled_figures():
    ev = _all_baselines()
    for r in ev.results:
        b = r.breakdown
        reached = r.summary["served_by_patrol"]
        assert sum(p["reached"] for p in b["precincts"].values()) == reached
        assert sum(h["reached"] for h in b["hours"]) == reached
        assert sum(t["reached"] for t in b["call_types"].values()) == reached
        thefts = sum(p["thefts_per_day"] for p in b["precincts"].values())
        assert thefts == pytest.approx(r.summary["thefts_per_day"])
        workload = sum(p["workload_minutes_per_day"] for p in b["precincts"].values())
        assert workload == pytest.approx(sum(r.summary["workload_minutes_per_day"]))
        # The hours' means, weighted by their calls, give the pooled mean response.
        pooled = sum(h["reached"] * h["response_mean"] for h in b["hours"] if h["reached"])
        assert pooled / reached == pytest.approx(r.summary["response_mean"])
        cells = [x for x in b["response_by_cell"] if x is not None]
        assert min(cells) >= 0 and len(cells) <= ev.district.n_cells
        by_type = sum(t["calls_per_day"] for t in b["call_types"].values())
        assert by_type == pytest.approx(r.summary["calls_per_day"])
