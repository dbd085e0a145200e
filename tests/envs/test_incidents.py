"""The incident model: common random numbers, Poisson counts, deterrence thinning."""

from __future__ import annotations

import numpy as np
import pytest

from patrolmarl.envs.config import Deterrence, load_district_config, validate_district_dict
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.coverage import deterrence_factor
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.status import DETERRED, FIRST_ACCEPT, FUTURE

BUSY = {
    "call_types.noise.daily_rate": 300,
    "call_types.theft.daily_rate": 300,
    "call_types.compound.daily_rate": 200,
    "episode_minutes": 360,
}
DAY_FIELDS = ("time", "type", "cell", "service", "closure_u", "theft_u")


def _one_cell_district(rate_per_day: float, **simulation: float) -> District:
    """A 1x1 district with one patrol call type at a flat rate."""
    raw = {
        "name": "one_cell",
        "cell_size_m": 400,
        "land_use_map": ["S"],
        "precinct_map": ["1"],
        "land_uses": {"S": {"name": "street", "road_speed_kmh": 20}},
        "precincts": {"1": {"name": "p1"}},
        "vehicles": {"car": {"max_speed_kmh": 30}},
        "units": [{"count": 1, "vehicle": "car", "precinct": "1"}],
        "call_types": {
            "call": {
                "daily_rate": rate_per_day,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"S": 1.0},
                "service": {"dist": "exponential", "mean": 10},
            }
        },
        "simulation": simulation,
    }
    return District.from_config(validate_district_dict(raw, "<test>"))


def _gaoxin_with_units(units: list[dict], **overrides: object) -> District:
    """The default district (with overrides) but another fleet, and stations at the
    theft hot spot (14, 5) and in the far north-east (2, 17)."""
    raw = load_district_config("gaoxin", overrides).model_dump()
    raw["units"] = units
    raw["stations"] = [
        {"name": "hot", "cell": [14, 5], "precincts": ["3"]},
        {"name": "cold", "cell": [2, 17], "precincts": ["2"]},
    ]
    return District.from_config(validate_district_dict(raw, "<test>"))


def _same_day(a, b) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in DAY_FIELDS)


def test_day_depends_only_on_its_seed() -> None:
    district = District.load("gaoxin", **BUSY)
    one, other = IncidentModel(district), IncidentModel(district)
    for seed in (0, 1, 12345, [3, 4]):
        a, b = one.generate_day(seed), other.generate_day(seed)
        assert _same_day(a, b)
        # Drawing other days in between does not disturb a day.
        one.generate_day(999)
        assert _same_day(one.generate_day(seed), a)
    assert not _same_day(one.generate_day(1), one.generate_day(2))
    day = one.generate_day(7)
    assert len(day) > 100
    assert (np.diff(day.time) >= 0).all() and day.time[0] >= 0 and day.time[-1] < 360
    assert ((day.closure_u >= 0) & (day.closure_u < 1)).all()
    assert ((day.theft_u >= 0) & (day.theft_u < 1)).all()
    # The units play no part in the calls: another fleet, the same day.
    fleet = _gaoxin_with_units([{"count": 3, "vehicle": "armed_car", "precinct": "2"}], **BUSY)
    assert _same_day(IncidentModel(fleet).generate_day(7), day)


def _drive(sim: BatchedSim, policy: str, rng: np.random.Generator) -> None:
    while not sim.done.all():
        masks = sim.action_masks()
        if policy == "stay":
            actions = np.zeros(masks.shape[:2], dtype=np.int64)
        else:
            actions = np.zeros(masks.shape[:2], dtype=np.int64)
            for idx in np.ndindex(*masks.shape[:2]):
                allowed = np.flatnonzero(masks[idx])
                acc = allowed[allowed >= FIRST_ACCEPT]
                actions[idx] = acc[0] if acc.size else rng.choice(allowed)
        sim.step(actions)


def test_calls_do_not_depend_on_the_policy() -> None:
    district = District.load("gaoxin", **BUSY)
    seeds = [5, 6, 7]
    runs = []
    for policy in ("stay", "chase"):
        sim = BatchedSim(district, batch_size=3)
        sim.reset(seeds)
        _drive(sim, policy, np.random.default_rng(0))
        runs.append(sim)
    a, b = runs[0].calls, runs[1].calls
    assert np.array_equal(a.n_calls, b.n_calls)
    for name in DAY_FIELDS:  # the candidates, with their uniforms
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    theft = IncidentModel(district).deterrable[a.type]
    real = np.arange(a.time.shape[1])[None, :] < a.n_calls[:, None]
    # Every non-theft call happened in both runs; only thefts may differ.
    assert ((a.status != FUTURE) & (a.status != DETERRED))[real & ~theft].all()
    assert ((b.status != FUTURE) & (b.status != DETERRED))[real & ~theft].all()
    # The policies did differ in where the units were (and so in what they deterred).
    assert not np.array_equal(runs[0].occupied_steps, runs[1].occupied_steps)
    assert not np.array_equal(a.status[real & theft], b.status[real & theft])


def test_counts_match_daily_rates() -> None:
    """Mean count per type within 4 standard errors of the configured daily rate."""
    district = District.load("gaoxin")
    model = IncidentModel(district)
    days = 600
    counts = np.zeros((days, model.n_types))
    by_hour = np.zeros((model.n_types, 24))
    for seed in range(days):
        day = model.generate_day(seed)
        counts[seed] = np.bincount(day.type, minlength=model.n_types)
        np.add.at(by_hour, (day.type, (day.time // 60).astype(int)), 1)
    cfg = district.config.call_types
    rates = np.array([cfg[name].daily_rate for name in model.type_names])
    se = np.sqrt(rates / days)  # Poisson: variance = mean
    assert (np.abs(counts.mean(axis=0) - rates) < 4 * se).all(), (counts.mean(axis=0), rates)
    # Poisson dispersion: the variance equals the mean (sd of s^2 ~ sqrt((l + 2 l^2) / D)).
    var_se = np.sqrt((rates + 2 * rates**2) / days)
    assert (np.abs(counts.var(axis=0, ddof=1) - rates) < 4 * var_se).all()
    # Hour by hour, each type follows its hourly profile.
    for t, name in enumerate(model.type_names):
        profile = np.array(cfg[name].hourly_profile, dtype=float)
        expect = rates[t] * days * profile / profile.sum()
        assert (np.abs(by_hour[t] - expect) < 4 * np.sqrt(expect) + 1).all(), name


def test_counts_follow_start_hour_and_horizon() -> None:
    """A 5-hour episode from 17:30 sees the intensity of 17:30-22:30, cell by cell."""
    district = District.load("gaoxin", start_hour=17.5, episode_minutes=300)
    model = IncidentModel(district)
    rate = model.rate_per_minute  # (24, T, C)
    minutes = np.arange(17 * 60 + 30, 22 * 60 + 30)
    expect_tc = rate[minutes // 60].sum(axis=0)  # (T, C) expected calls per episode
    days = 400
    seen = np.zeros_like(expect_tc)
    for seed in range(days):
        day = model.generate_day(seed)
        assert day.time.size == 0 or day.time.max() < 300
        np.add.at(seen, (day.type, day.cell), 1)
    total = expect_tc.sum() * days
    assert abs(seen.sum() - total) < 4 * np.sqrt(total)
    # Per type and cell: Pearson chi-square against the expected counts.
    exp = expect_tc.ravel() * days
    big = exp >= 5
    chi2 = ((seen.ravel()[big] - exp[big]) ** 2 / exp[big]).sum()
    dof = int(big.sum())
    assert abs(chi2 - dof) < 5 * np.sqrt(2 * dof), (chi2, dof)
    # The theft hot spot gets its share.
    theft = model.type_names.index("theft")
    hot = 14 * district.cols + 5
    share = expect_tc[theft, hot] / expect_tc[theft].sum()
    n_theft = seen[theft].sum()
    sd = np.sqrt(n_theft * share * (1 - share))
    assert abs(seen[theft, hot] - n_theft * share) < 4 * sd
    assert share > 5 / district.n_cells  # a real hot spot


def test_exact_poisson_several_calls_in_one_cell_minute() -> None:
    """At 2 calls a minute in one cell, per-minute counts are Poisson(2), not 0/1."""
    model = IncidentModel(_one_cell_district(2.0 * 1440))
    per_minute = np.concatenate(
        [np.bincount(model.generate_day(s).time.astype(int), minlength=1440) for s in range(5)]
    )
    n = per_minute.size
    assert abs(per_minute.mean() - 2.0) < 4 * np.sqrt(2.0 / n)
    assert abs(per_minute.var() - 2.0) < 4 * np.sqrt((2.0 + 2 * 4.0) / n)
    p_two_plus = 1 - np.exp(-2.0) * 3.0
    share = (per_minute >= 2).mean()
    assert abs(share - p_two_plus) < 4 * np.sqrt(p_two_plus * (1 - p_two_plus) / n)
    assert per_minute.max() >= 6
    # In the default district at a high rate, calls share a cell and a minute too.
    busy = IncidentModel(District.load("gaoxin", **{"call_types.theft.daily_rate": 3000}))
    day = busy.generate_day(1)
    theft = day.type == busy.type_names.index("theft")
    keys = day.cell[theft] * 10_000 + day.time[theft].astype(int)
    assert np.unique(keys).size < keys.size


def test_deterrence_factor_limits() -> None:
    params = Deterrence(max_reduction=0.4, saturation_minutes=15.0)
    assert deterrence_factor(np.array([0.0]), params)[0] == 1.0
    assert deterrence_factor(np.array([1e6]), params)[0] == pytest.approx(0.6, abs=1e-12)
    at_saturation = deterrence_factor(np.array([15.0]), params)[0]
    assert at_saturation == pytest.approx(1 - 0.4 * (1 - np.exp(-1.0)))
    p = np.linspace(0, 200, 101)
    f = deterrence_factor(p, params)
    assert (np.diff(f) < 0).all() and (f > 0.6).all() and (f <= 1.0).all()
    assert deterrence_factor(np.array([50.0]), Deterrence(max_reduction=0.0))[0] == 1.0
    assert deterrence_factor(np.array([1e6]), Deterrence(max_reduction=1.0))[0] == 0.0


def test_presence_deters_theft_on_the_same_days() -> None:
    """Units parked at the hot spot keep fewer thefts than units parked far away.

    Only thefts happen; the command centre never dispatches (huge fallback delay)
    and the units never move, so presence is known exactly.
    """
    calls = {
        "call_types.noise.daily_rate": 0,
        "call_types.help.daily_rate": 0,
        "call_types.dispute.daily_rate": 0,
        "call_types.compound.daily_rate": 0,
        "call_types.theft.daily_rate": 1600,
        # Slow saturation and quick decay, so that the presence level matters.
        "deterrence.saturation_minutes": 60,
        "deterrence.half_life_minutes": 20,
        "fallback_minutes": 1e6,
        "episode_minutes": 360,
    }
    near = _gaoxin_with_units([{"count": 4, "vehicle": "e_bike", "station": "hot"}], **calls)
    far = _gaoxin_with_units([{"count": 4, "vehicle": "e_bike", "station": "cold"}], **calls)
    assert near.cell_rc[near.unit_start_cell[0]].tolist() == [14, 5]
    far_rc = far.cell_rc[far.unit_start_cell[0]]
    assert abs(far_rc - np.array([14, 5])).max() > 5
    seeds = [1, 2, 3, 4]
    sims = {}
    for name, district in (("near", near), ("far", far)):
        sim = BatchedSim(district, batch_size=len(seeds))
        sim.reset(seeds)
        _drive(sim, "stay", np.random.default_rng(0))
        sims[name] = sim
    a, b = sims["near"].calls, sims["far"].calls
    for name in DAY_FIELDS:
        assert np.array_equal(getattr(a, name), getattr(b, name))
    real = np.arange(a.time.shape[1])[None, :] < a.n_calls[:, None]
    kept_near = real & (a.status != DETERRED)
    kept_far = real & (b.status != DETERRED)
    # Far away, no presence reaches the cells around the hot spot: nothing deterred there.
    rows = near.cell_rc[a.cell][..., 0]
    assert not (real & ~kept_far & (rows >= 10)).any()
    assert not (real & ~kept_near & (rows < 10)).any()
    # Same uniforms, more presence: in the south, every theft kept with the units at the
    # hot spot is also kept with the units far away, and strictly fewer are kept.
    south = real & (rows >= 10)
    assert not (kept_near & ~kept_far & south).any()
    assert (kept_near & south).sum() < (kept_far & south).sum() - 20
    # Parking on the hot spot deters more thefts overall than parking elsewhere.
    assert kept_near.sum() < kept_far.sum()
    # The rule, checked exactly: presence at t0 of a step is known in closed form,
    # 4 units x step x (1 + decay + ... + decay^(k-1)) at the parking cell, and
    # neighbour_weight times that at its four neighbours.
    sim = sims["near"]
    params = near.config.deterrence
    step, decay = sim.step_minutes, 0.5 ** (sim.step_minutes / params.half_life_minutes)
    park = 14 * near.cols + 5
    weight = {park: 1.0, **{int(c): params.neighbour_weight for c in near.neighbour[park]}}
    checked = 0
    for bi, ci in zip(*np.nonzero(real & np.isin(a.cell, list(weight))), strict=True):
        k = int(a.time[bi, ci] // step)  # steps taken before the call's step
        presence = weight[int(a.cell[bi, ci])] * 4 * step * sum(decay**j for j in range(k))
        factor = deterrence_factor(np.array([presence]), params)[0]
        u = a.theft_u[bi, ci]
        if abs(u - factor) > 1e-9:
            assert (a.status[bi, ci] != DETERRED) == (u < factor)
            checked += 1
    assert checked > 50
