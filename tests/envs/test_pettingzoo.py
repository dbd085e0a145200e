"""The PettingZoo environment: PettingZoo's own API tests plus determinism, masks, metrics."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from pettingzoo.test import (
    api_test,
    max_cycles_test,
    parallel_api_test,
    parallel_seed_test,
    render_test,
    seed_test,
)
from pettingzoo.test.state_test import state_test

import patrolmarl.envs
from patrolmarl.envs import PatrolParallelEnv, env, parallel_env, patrol_v0
from patrolmarl.envs.config import resolve_district_path
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.metrics import episode_metrics
from patrolmarl.envs.render import STATUS_COLOURS, text_frame
from patrolmarl.envs.reward import ShapedReward
from patrolmarl.envs.status import IDLE

# Every space bound is finite: PettingZoo's warning about infinite bounds is an error here.
pytestmark = pytest.mark.filterwarnings("error:.*space value is infinity:UserWarning")

SHORT = 60


def _random_masked_actions(
    e: PatrolParallelEnv, infos: dict, rng: np.random.Generator
) -> dict[str, int]:
    actions = {}
    for agent in e.agents:
        allowed = np.flatnonzero(infos[agent]["action_mask"])
        actions[agent] = int(allowed[rng.integers(allowed.size)])
    return actions


def _same(a: object, b: object) -> bool:
    """Exact equality of nested dicts/lists/arrays/floats, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


# ---------------------------------------------------------------- PettingZoo's tests
@pytest.mark.parametrize("move_gains", [False, True])
def test_parallel_api(move_gains):
    env = parallel_env(max_cycles=SHORT, move_gains=move_gains)
    assert env.observation_space("patrol_0").shape == (258 + 8 * move_gains,)
    parallel_api_test(env, num_cycles=2 * SHORT)


def test_aec_api():
    api_test(env(max_cycles=SHORT), num_cycles=2 * SHORT)


def test_parallel_seed():
    parallel_seed_test(lambda: parallel_env(max_cycles=SHORT), num_cycles=SHORT)


def test_aec_seed():
    seed_test(lambda: env(max_cycles=SHORT), num_cycles=SHORT)


def test_state():
    state_test(env(max_cycles=30), parallel_env(max_cycles=30), num_cycles=30)


def test_max_cycles():
    max_cycles_test(patrolmarl.envs)


# ---------------------------------------------------------------- spaces and bounds
def test_spaces_and_metadata():
    e = parallel_env(max_cycles=SHORT)
    n = e.sim.n_units
    assert e.possible_agents == [f"patrol_{i}" for i in range(n)]
    assert e.metadata["name"] == "patrol_v0"
    assert e.metadata["render_modes"] == ["human", "ansi", "rgb_array"]
    assert e.metadata["is_parallelizable"] is True
    space = e.observation_space("patrol_0")
    assert space.shape == (e.builder.size,) and space.dtype == np.float32
    assert e.action_space("patrol_3").n == e.sim.n_actions
    assert e.state_space.shape == (e.builder.state_size,)
    assert np.isfinite(space.low).all() and np.isfinite(space.high).all()
    assert (space.low <= space.high).all()
    assert np.isfinite(e.state_space.low).all() and np.isfinite(e.state_space.high).all()
    assert e.observation_space("patrol_0") is not e.observation_space("patrol_1")


def test_observations_stay_in_bounds_under_heavy_load():
    # Far more disputes than the units can serve: the queue, the per-cell call
    # counts and the busy times grow well beyond 1.
    e = parallel_env(max_cycles=120, **{"call_types.dispute.daily_rate": 5000.0})
    obs, infos = e.reset(seed=0)
    rng = np.random.default_rng(0)
    biggest = 0.0
    while e.agents:
        actions = {} if rng.random() < 0.5 else _random_masked_actions(e, infos, rng)
        obs, _, _, _, infos = e.step(actions)
        for agent, o in obs.items():
            assert o.dtype == np.float32 and np.isfinite(o).all()
            assert e.observation_space(agent).contains(o), agent
        biggest = max(biggest, max(float(o.max()) for o in obs.values()))
        assert e.state_space.contains(e.state())
    assert biggest > 1.0
    assert (e.sim.pending >= 0).sum() > e.sim.n_units


def test_observations_in_bounds_over_a_full_day():
    e = parallel_env()
    obs, infos = e.reset(seed=11)
    rng = np.random.default_rng(11)
    steps = 0
    while e.agents:
        obs, _, _, _, infos = e.step(_random_masked_actions(e, infos, rng))
        steps += 1
        if steps % 10 == 0:
            space = e.observation_space("patrol_0")
            assert all(space.contains(o) for o in obs.values())
    assert steps == 1440


# ---------------------------------------------------------------- episode semantics
def test_masks_match_the_simulator_every_step():
    e = parallel_env(max_cycles=200, **{"call_types.noise.daily_rate": 300.0})
    obs, infos = e.reset(seed=3)
    rng = np.random.default_rng(3)
    saw_accept = False
    while True:
        masks = e.sim.action_masks()[0]
        for i, agent in enumerate(e.possible_agents):
            m = infos[agent]["action_mask"]
            assert m.dtype == np.int8 and m.shape == (e.sim.n_actions,)
            np.testing.assert_array_equal(m, masks[i].astype(np.int8))
        saw_accept |= bool(masks[:, 5:].any())
        if not e.agents:
            break
        obs, _, _, _, infos = e.step(_random_masked_actions(e, infos, rng))
    assert saw_accept


def test_truncation_metrics_and_agents():
    e = parallel_env(max_cycles=SHORT)
    obs, infos = e.reset(seed=5)
    assert set(obs) == set(infos) == set(e.possible_agents)
    assert all("episode_metrics" not in i for i in infos.values())
    for t in range(SHORT):
        assert e.agents == e.possible_agents
        obs, rewards, terms, truncs, infos = e.step({a: 0 for a in e.agents})
        assert not any(terms.values())
        last = t == SHORT - 1
        assert all(v is last for v in truncs.values())
        assert all(("episode_metrics" in i) is last for i in infos.values())
        assert set(rewards) == set(obs) == set(e.possible_agents)
    assert e.agents == []
    expected = episode_metrics(e.sim.record(0), e.sim.incidents)
    for info in infos.values():
        assert _same(info["episode_metrics"], expected)
    assert infos["patrol_0"]["episode_metrics"]["calls_created"] >= 0
    with pytest.raises(RuntimeError):
        e.step({})
    e.reset()
    assert e.agents == e.possible_agents


def test_rewards_are_the_shaped_team_reward():
    e = parallel_env(max_cycles=SHORT, reward_weights={"theft": 5.0})
    _, infos = e.reset(seed=2)
    check = ShapedReward(e.sim, theft=5.0)
    rng = np.random.default_rng(2)
    while e.agents:
        _, rewards, _, _, infos = e.step(_random_masked_actions(e, infos, rng))
        values = np.array([rewards[a] for a in e.possible_agents])
        assert all(type(r) is float for r in rewards.values())
        np.testing.assert_array_equal(values, check()[0])
        assert np.all(values == values[0]) and np.isfinite(values).all()


def test_invalid_and_forbidden_actions():
    a, b = parallel_env(max_cycles=SHORT), parallel_env(max_cycles=SHORT)
    _, infos = a.reset(seed=1)
    b.reset(seed=1)
    with pytest.raises(ValueError):
        a.step({"patrol_0": a.sim.n_actions})
    with pytest.raises(KeyError):
        a.step({"nobody_0": 0})
    # Accepting an empty call slot is forbidden: taken as "stay", like b's action 0.
    assert infos["patrol_0"]["action_mask"][-1] == 0
    obs_a, *_ = a.step({"patrol_0": a.sim.n_actions - 1})
    obs_b, *_ = b.step({"patrol_0": 0})
    assert _same(obs_a, obs_b)


# ---------------------------------------------------------------- seeding
def _run(e: PatrolParallelEnv, seed: int | None, steps: int, action_seed: int) -> list:
    out = [e.reset(seed=seed)]
    rng = np.random.default_rng(action_seed)
    infos = out[0][1]
    for _ in range(steps):
        if not e.agents:
            break
        result = e.step(_random_masked_actions(e, infos, rng))
        infos = result[4]
        out.append(result)
    return out


def test_multi_step_determinism():
    steps = 300
    a = _run(parallel_env(max_cycles=steps), 42, steps, 7)
    b = _run(parallel_env(max_cycles=steps), 42, steps, 7)
    assert len(a) == len(b) == steps + 1
    for t, (x, y) in enumerate(zip(a, b, strict=True)):
        assert _same(x, y), f"step {t} differs"
    assert "episode_metrics" in a[-1][4]["patrol_0"]
    assert a[-1][4]["patrol_0"]["episode_metrics"]["calls_created"] > 0

    c = _run(parallel_env(max_cycles=steps), 43, steps, 7)
    assert any(not _same(x, y) for x, y in zip(a, c, strict=True))
    assert not _same(a[-1][4], c[-1][4])


def test_reset_without_seed_is_reproducible():
    def days(e: PatrolParallelEnv, first_seed: int | None) -> list:
        e.reset(seed=first_seed)
        out = [(e.sim.episode_seed[0], e.sim.calls.time[0].copy())]
        for _ in range(2):
            e.reset()
            out.append((e.sim.episode_seed[0], e.sim.calls.time[0].copy()))
        return out

    x = days(parallel_env(max_cycles=600), 9)
    y = days(parallel_env(max_cycles=600, seed=123), 9)
    assert x[0][0] == 9
    assert all(_same(p, q) for p, q in zip(x, y, strict=True))
    assert len({seed for seed, _ in x}) == 3
    assert not _same(x[1][1], x[2][1])
    # Unseeded first reset: the constructor's seed decides.
    p = parallel_env(max_cycles=600, seed=4)
    q = parallel_env(max_cycles=600, seed=4)
    p.reset()
    q.reset()
    assert p.sim.episode_seed == q.sim.episode_seed
    assert _same(p.sim.calls.time, q.sim.calls.time)


def test_reset_seed_is_the_days_seed():
    e = parallel_env(max_cycles=SHORT)
    e.reset(seed=77)
    sim = BatchedSim(e.district, batch_size=1)
    sim.reset(seeds=[77])
    n = int(sim.calls.n_calls[0])
    assert n == int(e.sim.calls.n_calls[0])
    np.testing.assert_array_equal(sim.calls.time[0, :n], e.sim.calls.time[0, :n])


# ---------------------------------------------------------------- construction
def test_factories_pass_overrides_and_max_cycles():
    e = parallel_env(fallback_minutes=3, max_cycles=SHORT)
    assert e.sim.fallback_minutes == 3.0 and e.sim.n_steps == SHORT
    e = parallel_env(**{"deterrence.max_reduction": 0.1})
    assert e.district.config.deterrence.max_reduction == 0.1
    assert e.sim.n_steps == 1440
    e = parallel_env(step_minutes=2, max_cycles=30)
    assert e.sim.n_steps == 30
    assert e.district.config.simulation.episode_minutes == 60
    e = parallel_env(resolve_district_path("gaoxin"), max_cycles=5)
    assert e.sim.n_steps == 5
    with pytest.raises(ValueError):
        parallel_env(max_cycles=5, episode_minutes=10)
    with pytest.raises(ValueError):
        parallel_env(max_cycles=0)
    with pytest.raises(ValueError):
        parallel_env(render_mode="rgb")
    aec = env(max_cycles=5)
    aec.reset(seed=0)
    assert aec.unwrapped.sim.n_steps == 5


# ---------------------------------------------------------------- rendering
def test_render_rgb_array_shows_units():
    e = parallel_env(max_cycles=SHORT, render_mode="rgb_array")
    e.reset(seed=0)
    img = e.render()
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8
    assert img.ndim == 3 and img.shape[2] == 3
    drawer = e._drawer
    d = e.district
    assert img.shape[:2] == (drawer.bar_px + d.rows * drawer.cell_px, d.cols * drawer.cell_px)
    idle = np.array(STATUS_COLOURS[IDLE], dtype=np.uint8)
    assert (e.sim.unit_status == IDLE).all()
    for cell in np.unique(e.sim.unit_cell[0]):
        y, x = drawer._cell_origin(int(cell))
        box = img[y : y + drawer.cell_px, x : x + drawer.cell_px]
        assert (box == idle).all(axis=2).any(), f"no unit drawn in cell {cell}"
    # Far from every unit there is no unit colour.
    empty = np.setdiff1d(np.arange(d.n_cells), e.sim.unit_cell[0])[0]
    y, x = drawer._cell_origin(int(empty))
    assert not (img[y : y + drawer.cell_px, x : x + drawer.cell_px] == idle).all(axis=2).any()
    # Units move: the frame changes; AEC passes render through.
    for _ in range(10):
        e.step({a: 2 for a in e.agents})
    assert not np.array_equal(img, e.render())
    aec = env(max_cycles=5, render_mode="rgb_array")
    aec.reset(seed=0)
    assert aec.render().shape == img.shape
    e.close()
    aec.close()


def test_render_without_mode_warns():
    e = parallel_env(max_cycles=5)
    e.reset(seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert e.render() is None
    assert caught


def test_text_frames(capsys):
    e = parallel_env(max_cycles=SHORT, render_mode="ansi")
    e.reset(seed=0)
    for _ in range(20):
        e.step({a: 2 for a in e.agents})
    text = e.render()
    head, *rows = text.splitlines()
    assert head.startswith("minute 20 of 60: ") and "14 idle" not in head
    d = e.district
    assert len(rows) == d.rows and all(len(row) == d.cols for row in rows)
    cells = "".join(rows)
    for cell in np.unique(e.sim.unit_cell[0]):
        assert cells[cell] not in ".*", cell
    assert cells.count(".") + cells.count("*") == d.n_cells - np.unique(e.sim.unit_cell[0]).size
    human = parallel_env(max_cycles=SHORT, render_mode="human")
    human.reset(seed=0)
    assert human.render() is None
    assert capsys.readouterr().out == text_frame(human.sim) + "\n"


# ---------------------------------------------------------------- the patrol_v0 module
def test_patrol_v0_passes_pettingzoo_tests():
    assert patrol_v0.parallel_env().metadata["name"] == "patrol_v0"
    api_test(patrol_v0.env(max_cycles=SHORT), num_cycles=2 * SHORT)
    parallel_api_test(patrol_v0.parallel_env(max_cycles=SHORT), num_cycles=2 * SHORT)
    seed_test(lambda: patrol_v0.env(max_cycles=SHORT), num_cycles=SHORT)
    render_test(lambda render_mode=None: patrol_v0.env(max_cycles=SHORT, render_mode=render_mode))
    assert patrol_v0.raw_env(max_cycles=SHORT).unwrapped.sim.n_steps == SHORT
    assert patrolmarl.envs.parallel_env is patrol_v0.parallel_env


def test_the_core_loads_without_pettingzoo():
    code = (
        "import sys, patrolmarl.envs.core, patrolmarl.envs.district\n"
        "assert 'pettingzoo' not in sys.modules, 'pettingzoo loaded'\n"
        "import patrolmarl.envs\n"
        "patrolmarl.envs.parallel_env\n"
        "assert 'pettingzoo' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
