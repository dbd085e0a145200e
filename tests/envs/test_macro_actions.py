"""Macro actions: units choose among candidate posts, drive there by the shortest path and
decide again when free after a call or after the dwell."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from patrolmarl.envs.district import District
from patrolmarl.envs.macro_actions import MacroActionVecEnv
from patrolmarl.envs.observations import TRAVEL_SCALE_MINUTES
from patrolmarl.envs.post_orders import KEEP, POST_FEATURES, PostOrders
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import EN_ROUTE, IDLE, ON_SCENE
from tests.helpers import short_busy_gaoxin

DWELL = 12.0


@functools.cache
def quiet_gaoxin() -> District:
    """gaoxin for two hours with (almost) no calls: the days of seed 0 have none."""
    silent = {f"call_types.{t}.daily_rate": 0 for t in ("help", "dispute", "theft")}
    return District.load(
        "gaoxin", episode_minutes=120, **silent, **{"call_types.noise.daily_rate": 0.001}
    )


def _posts(district: District, count: int = 6) -> np.ndarray:
    """``(24, count)`` posts spread over the grid, the same every hour."""
    cells = np.linspace(0, district.n_cells - 1, count).astype(np.int64)
    return np.tile(cells, (24, 1))


def _random_allowed(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.choice(np.flatnonzero(row)) for row in masks])


def test_a_unit_decides_at_the_start_and_otherwise_may_only_keep_its_order():
    env = MacroActionVecEnv(short_busy_gaoxin(), 2, _posts(short_busy_gaoxin()), seed=1)
    env.reset()
    masks = env.action_masks()
    assert masks.shape == (env.num_envs, 1 + 6)
    assert masks[:, 1:].all() and not masks[:, KEEP].any()
    rng = np.random.default_rng(0)
    seen_keep_only = seen_posts = 0
    for _ in range(90):
        masks = env.action_masks()
        deciding = masks[:, 1:].all(axis=1)
        # Either every post and not keep (a decision), or keep alone.
        assert np.array_equal(masks[:, KEEP], ~deciding)
        assert not masks[~deciding, 1:].any()
        assert np.all(env.sim.unit_status.ravel()[deciding] == IDLE)
        seen_keep_only += int((~deciding).sum())
        seen_posts += int(deciding.sum())
        env.step(_random_allowed(masks, rng))
    assert seen_keep_only > 0 and seen_posts > 0


def test_a_unit_reaches_its_post_by_the_shortest_path_then_dwells_and_decides_again():
    district = quiet_gaoxin()
    posts = _posts(district)
    env = MacroActionVecEnv(district, 1, posts, dwell_minutes=DWELL, seed=0)
    env.reset()
    assert env.sim.calls.n_calls[0] == 0
    start = int(env.sim.unit_cell[0, 0])
    post = int(posts[0, -1])
    actions = np.full(env.num_envs, 1 + posts.shape[1] - 1)  # everyone to the last post
    cells, steps = [start], 0
    while True:
        env.step(actions)
        actions = np.zeros(env.num_envs, dtype=np.int64)
        steps += 1
        if env.sim.unit_status[0, 0] == IDLE:
            cells.append(int(env.sim.unit_cell[0, 0]))
            if cells[-1] == post:
                break
        assert not env.action_masks()[0, 1:].any()  # travelling: keep only
    move = district.move_minutes[district.unit_vehicle[0]]
    legs = [
        move[a, list(district.neighbour[a]).index(b)]
        for a, b in zip(cells[:-1], cells[1:], strict=True)
    ]
    assert sum(legs) == pytest.approx(district.unit_travel_minutes[0, start, post])
    # Each leg ends at the next step boundary (steps of step_minutes = 1).
    assert district.config.simulation.step_minutes == 1
    assert steps == sum(int(np.ceil(leg - 1e-9)) for leg in legs)
    for _ in range(int(DWELL)):
        assert not env.action_masks()[0, 1:].any()
        env.step(np.zeros(env.num_envs, dtype=np.int64))
    assert env.action_masks()[0, 1:].all()
    assert env.sim.unit_cell[0, 0] == post


def test_a_unit_decides_again_the_moment_it_is_free_after_a_call():
    env = MacroActionVecEnv(short_busy_gaoxin(), 2, _posts(short_busy_gaoxin()), seed=3)
    env.reset()
    n_posts = env.orders.n_posts
    first_orders = 1 + np.arange(env.num_envs) % n_posts
    env.step(first_orders)
    was_busy = np.zeros(env.num_envs, dtype=bool)
    freed = 0
    for _ in range(150):
        status = env.sim.unit_status.ravel()
        deciding = env.action_masks()[:, 1:].all(axis=1)
        busy = (status == EN_ROUTE) | (status == ON_SCENE)
        assert not deciding[busy].any()
        just_free = was_busy & (status == IDLE)
        assert deciding[just_free].all()
        freed += int(just_free.sum())
        was_busy = busy
        # Deciding units go back to a post; the others keep.
        env.step(np.where(deciding, 1, KEEP))
    assert freed > 5


def test_observations_lie_in_the_box_and_describe_the_posts():
    district = short_busy_gaoxin()
    posts = _posts(district)
    env = MacroActionVecEnv(district, 2, posts, seed=4)
    obs = env.reset()
    layout = {f.name: f for f in env.layout}
    assert env.layout.size == obs.shape[1] == env.observation_space.shape[0]
    block = obs[:, layout["posts"].start : layout["posts"].stop].reshape(env.num_envs, 6, -1)
    assert block.shape[2] == len(POST_FEATURES)
    cell = int(env.sim.unit_cell[0, 0])
    rc = district.cell_rc
    scale = np.array([district.rows - 1, district.cols - 1])
    np.testing.assert_allclose(block[0, :, :2], (rc[posts[0]] - rc[cell]) / scale, atol=1e-6)
    travel = district.unit_travel_minutes[0, cell, posts[0]] / TRAVEL_SCALE_MINUTES
    np.testing.assert_allclose(block[0, :, 2], travel, rtol=1e-6)
    assert not block[:, :, 3:].any()  # no orders yet
    rng = np.random.default_rng(1)
    env.step(np.r_[2, _random_allowed(env.action_masks()[1:], rng)])  # unit 0 to post 1
    ordered = env.orders.target.ravel()
    obs = env.step(np.zeros(env.num_envs, dtype=np.int64))[0]
    block = obs[:, layout["posts"].start : layout["posts"].stop].reshape(env.num_envs, 6, -1)
    assert block[0, 1, 3] == 1.0 and block[0, :, 3].sum() == 1.0
    others = np.isin(posts[0, 1], ordered[1 : env.n_agents])
    assert block[0, 1, 4] == float(others)
    deciding = obs[:, layout["deciding"].start]
    np.testing.assert_array_equal(deciding == 1.0, env.action_masks()[:, 1:].all(axis=1))
    for _ in range(env.sim.n_steps):
        obs, _, dones, infos = env.step(_random_allowed(env.action_masks(), rng))
        assert all(env.observation_space.contains(o) for o in obs)
        if dones.any():
            break
    assert dones.all()
    assert all(env.observation_space.contains(info["terminal_observation"]) for info in infos)
    assert env.action_masks()[:, 1:].all()  # the new day starts with every unit deciding


def test_posts_of_the_wrong_shape_or_outside_the_grid_are_refused():
    view = SimView(MacroActionVecEnv(quiet_gaoxin(), 1, _posts(quiet_gaoxin())).sim)
    with pytest.raises(ValueError, match=r"\(24, P\)"):
        PostOrders(view, np.zeros((23, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="integer cells"):
        PostOrders(view, np.full((24, 4), quiet_gaoxin().n_cells))


@pytest.mark.slow
def test_maskable_ppo_trains_on_the_macro_actions():
    from sb3_contrib import MaskablePPO

    env = MacroActionVecEnv(short_busy_gaoxin(), 1, _posts(short_busy_gaoxin()), seed=5)
    model = MaskablePPO(
        "MlpPolicy",
        env,
        n_steps=16,
        batch_size=112,
        n_epochs=1,
        seed=0,
        device="cpu",
        policy_kwargs={"net_arch": [32]},
    )
    model.learn(2 * 16 * env.num_envs)
    assert model.num_timesteps == 2 * 16 * env.num_envs
    obs = env.reset()
    for _ in range(20):
        masks = env.action_masks()
        actions, _ = model.predict(obs, action_masks=masks, deterministic=True)
        assert masks[np.arange(env.num_envs), actions].all()
        obs = env.step(actions)[0]


def _post_by_unit(masks: np.ndarray) -> np.ndarray:
    """Deciding unit i goes to post ``i % P``; the others keep."""
    n_posts = masks.shape[-1] - 1
    return np.where(masks[:, KEEP], KEEP, 1 + np.arange(masks.shape[0]) % n_posts)


def test_the_pettingzoo_variant_keeps_the_parallel_api():
    from pettingzoo.test import parallel_api_test

    from patrolmarl.envs.macro_parallel_env import MacroParallelEnv

    district = short_busy_gaoxin()
    env = MacroParallelEnv(district, posts=_posts(district), seed=0)
    assert env.action_space("patrol_0").n == 1 + 6
    parallel_api_test(env, num_cycles=60)


def test_the_pettingzoo_variant_plays_as_the_vec_env():
    from patrolmarl.envs.macro_parallel_env import MacroParallelEnv

    district = short_busy_gaoxin()
    vec = MacroActionVecEnv(district, 1, _posts(district), seed=2)
    vec_obs = vec.reset()
    parallel = MacroParallelEnv(district, posts=_posts(district))
    obs, infos = parallel.reset(seed=vec.sim.episode_seed[0])
    agents = parallel.possible_agents
    for _ in range(80):
        np.testing.assert_array_equal(np.stack([obs[a] for a in agents]), vec_obs)
        masks = np.stack([infos[a]["action_mask"] for a in agents]).astype(bool)
        np.testing.assert_array_equal(masks, vec.action_masks())
        actions = _post_by_unit(masks)
        vec_obs, vec_rewards = vec.step(actions)[:2]
        obs, rewards, _, _, infos = parallel.step(dict(zip(agents, actions.tolist(), strict=True)))
        np.testing.assert_allclose([rewards[a] for a in agents], vec_rewards, rtol=1e-6)
    assert (vec.orders.target >= 0).any()
