"""The SB3 VecEnv: contract, day-end truncation, seeding, and PPO / MaskablePPO / VecNormalize.

Days are 10 minutes (10 steps) long and B = 2 districts of gaoxin's 14 units
(28 slots), so that every training run sees several day ends and stays fast.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from patrolmarl.envs import PatrolParallelEnv
from patrolmarl.envs.district import District
from patrolmarl.envs.vec_env import PatrolVecEnv

DAY = 10  # steps (minutes) per day
B = 2
PPO_KW = {"n_steps": 16, "batch_size": 112, "n_epochs": 2, "device": "cpu"}
ONE_ITERATION = 16 * B * 14  # timesteps of one rollout (n_steps * num_envs)


@pytest.fixture(scope="module")
def district() -> District:
    return District.load("gaoxin", episode_minutes=DAY)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make(district: District, seed: int | None = 0, n: int = B) -> PatrolVecEnv:
    return PatrolVecEnv(district, n_districts=n, seed=seed)


def masked_random(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniform random allowed action per row of ``(n, A)`` bool masks."""
    scores = rng.random(masks.shape) * masks
    return scores.argmax(axis=1)


def run(env: PatrolVecEnv, steps: int, action_seed: int = 123):
    """Reset, then ``steps`` masked random steps; returns lists of obs, rewards, dones, infos."""
    rng = np.random.default_rng(action_seed)
    out = {"obs": [env.reset()], "rew": [], "done": [], "info": []}
    for _ in range(steps):
        obs, rew, done, info = env.step(masked_random(env.action_masks(), rng))
        out["obs"].append(obs)
        out["rew"].append(rew)
        out["done"].append(done)
        out["info"].append(info)
    return out


def params(model) -> list[np.ndarray]:
    return [p.detach().cpu().numpy().copy() for p in model.policy.parameters()]


# ---------------------------------------------------------------------- contract
def test_spaces_and_observations(district):
    env = make(district)
    n = B * district.n_units
    assert env.num_envs == n
    pz = PatrolParallelEnv(district)
    assert env.observation_space == pz.observation_space("patrol_0")
    assert env.action_space == pz.action_space("patrol_0")
    obs = env.reset()
    assert obs.shape == (n, *env.observation_space.shape)
    assert obs.dtype == np.float32
    assert all(env.observation_space.contains(o) for o in obs)
    for _ in range(3):
        obs, rew, done, info = env.step(masked_random(env.action_masks(), np.random.default_rng()))
        assert obs.shape == (n, *env.observation_space.shape) and obs.dtype == np.float32
        assert all(env.observation_space.contains(o) for o in obs)
        assert rew.shape == (n,) and rew.dtype == np.float32
        assert done.shape == (n,) and done.dtype == bool and not done.any()
        assert len(info) == n and all(i == {} for i in info)
        # one team reward per district, the same for its N slots
        per_district = rew.reshape(B, -1)
        assert (per_district == per_district[:, :1]).all()
    env.close()


def test_vec_env_plumbing(district):
    env = make(district)
    n = env.num_envs
    env.reset()
    assert env.env_is_wrapped(object) == [False] * n
    assert env.get_attr("n_districts") == [B] * n
    assert env.get_attr("n_districts", indices=[0, 3]) == [B, B]
    env.set_attr("custom", 7)
    assert env.get_attr("custom", indices=1) == [7]
    assert env.has_attr("sim") and not env.has_attr("no_such_attribute")
    assert env.env_method("action_masks", indices=[1, 2])[1].shape == (env.action_space.n,)
    assert len(env.env_method("close")) == n
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8


def test_seed_returns_list(district):
    env = make(district)
    seeds = env.seed(5)
    assert isinstance(seeds, list) and len(seeds) == env.num_envs


# ---------------------------------------------------------------------- truncation
def test_day_end_truncates_every_slot(district):
    env = make(district)
    n_units = district.n_units
    out = run(env, DAY - 1)
    first_days = list(env.sim.episode_seed)
    last = env.step(masked_random(env.action_masks(), np.random.default_rng(0)))
    for key, value in zip(("obs", "rew", "done", "info"), last, strict=True):
        out[key].append(value)
    for done in out["done"][:-1]:
        assert not done.any()
    done, infos = out["done"][-1], out["info"][-1]
    assert done.all()
    new_obs = out["obs"][-1]
    for i, info in enumerate(infos):
        assert info["TimeLimit.truncated"] is True
        terminal = info["terminal_observation"]
        assert terminal.shape == env.observation_space.shape and terminal.dtype == np.float32
        assert env.observation_space.contains(terminal)
        assert not np.array_equal(terminal, new_obs[i])
        # only the district's first slot carries the episode summary and metrics
        assert ("episode" in info) == (i % n_units == 0)
        assert ("episode_metrics" in info) == (i % n_units == 0)
    # the returned obs are the new day's: the start of the days just drawn
    assert (env.sim.step_count == 0).all()
    assert env.sim.episode_seed != first_days
    fresh = make(district)
    fresh.sim.reset(seeds=env.sim.episode_seed)
    np.testing.assert_array_equal(new_obs, fresh.builder.observe().reshape(new_obs.shape))
    for b in range(B):
        ep = infos[b * n_units]["episode"]
        assert ep["l"] == DAY and ep["t"] >= 0.0
        district_slots = slice(b * n_units, (b + 1) * n_units)
        day_rewards = np.array([r[district_slots] for r in out["rew"]], dtype=np.float64)
        assert ep["r"] == pytest.approx(day_rewards.sum() / n_units, rel=1e-5)
        assert infos[b * n_units]["episode_metrics"]["calls_created"] >= 0


def test_days_continue_after_auto_reset(district):
    out = run(make(district), 3 * DAY)
    dones = np.array([d.all() for d in out["done"]])
    assert np.flatnonzero(dones).tolist() == [DAY - 1, 2 * DAY - 1, 3 * DAY - 1]


# ---------------------------------------------------------------------- seeding
def _assert_same(a, b):
    for key in ("obs", "rew", "done"):
        for x, y in zip(a[key], b[key], strict=True):
            np.testing.assert_array_equal(x, y)
    for ia, ib in zip(a["info"], b["info"], strict=True):
        for x, y in zip(ia, ib, strict=True):
            assert x.keys() == y.keys()
            if "terminal_observation" in x:
                np.testing.assert_array_equal(x["terminal_observation"], y["terminal_observation"])
            if "episode" in x:
                assert x["episode"]["r"] == y["episode"]["r"]
                np.testing.assert_equal(x["episode_metrics"], y["episode_metrics"])  # NaN == NaN


def _differ(a, b) -> bool:
    return any(not np.array_equal(x, y) for x, y in zip(a["rew"], b["rew"], strict=True))


def test_same_seed_same_rollout_over_days(district):
    steps = 2 * DAY + 5
    _assert_same(run(make(district, seed=3), steps), run(make(district, seed=3), steps))


def test_different_seeds_differ(district):
    steps = 2 * DAY + 5
    assert _differ(run(make(district, seed=3), steps), run(make(district, seed=4), steps))


def test_seed_then_reset_is_reproducible(district):
    steps = 2 * DAY + 5
    env = make(district, seed=None)
    env.seed(11)
    first = run(env, steps)
    env.seed(11)
    again = run(env, steps)
    _assert_same(first, again)
    _assert_same(first, run(make(district, seed=11), steps))  # as seeding the constructor
    env.seed(12)
    assert _differ(first, run(env, steps))


# ---------------------------------------------------------------------- SB3 training
def test_ppo_learns_and_is_reproducible(district):
    models = []
    for _ in range(2):
        model = PPO("MlpPolicy", make(district, seed=None), seed=0, **PPO_KW)
        model.learn(2 * ONE_ITERATION)
        models.append(model)
    assert models[0].num_timesteps == 2 * ONE_ITERATION
    for p, q in zip(params(models[0]), params(models[1]), strict=True):
        np.testing.assert_array_equal(p, q)
    other = PPO("MlpPolicy", make(district, seed=None), seed=1, **PPO_KW).learn(ONE_ITERATION)
    assert any(
        not np.array_equal(p, q) for p, q in zip(params(models[0]), params(other), strict=True)
    )


class MaskCheckingVecEnv(PatrolVecEnv):
    """Counts the actions that the env's own masks forbid, checked before every step."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.forbidden_taken = 0
        self.forbidden_offered = 0
        self.actions_taken = 0

    def step_async(self, actions: np.ndarray) -> None:
        masks = self.action_masks()
        allowed = masks[np.arange(self.num_envs), np.asarray(actions)]
        self.forbidden_taken += int((~allowed).sum())
        self.forbidden_offered += int((~masks).sum())
        self.actions_taken += allowed.size
        super().step_async(actions)


def test_maskable_ppo_only_takes_allowed_actions(district):
    env = MaskCheckingVecEnv(district, n_districts=B, seed=0)
    model = MaskablePPO("MlpPolicy", env, seed=0, **PPO_KW)
    model.learn(2 * ONE_ITERATION)
    assert env.actions_taken == 2 * ONE_ITERATION
    assert env.forbidden_offered > 0  # the masks do forbid something
    assert env.forbidden_taken == 0


def test_maskable_ppo_through_vec_normalize(district):
    env = MaskCheckingVecEnv(district, n_districts=B, seed=0)
    model = MaskablePPO("MlpPolicy", VecNormalize(env), seed=0, **PPO_KW)
    model.learn(ONE_ITERATION)
    assert env.forbidden_taken == 0 and env.actions_taken == ONE_ITERATION


class RecordingVecEnv(PatrolVecEnv):
    """Keeps copies of the raw terminal observations of the last step."""

    def step_wait(self):
        obs, rew, done, infos = super().step_wait()
        self.raw_terminal = {
            i: info["terminal_observation"].copy()
            for i, info in enumerate(infos)
            if "terminal_observation" in info
        }
        return obs, rew, done, infos


def test_vec_normalize_normalises_terminal_observations(district):
    raw_env = RecordingVecEnv(district, n_districts=B, seed=0)
    venv = VecNormalize(raw_env)
    venv.reset()
    rng = np.random.default_rng(0)
    for _ in range(DAY):
        _, _, done, infos = venv.step(masked_random(raw_env.action_masks(), rng))
    assert done.all() and len(raw_env.raw_terminal) == venv.num_envs
    for i, info in enumerate(infos):
        raw = raw_env.raw_terminal[i]
        np.testing.assert_allclose(info["terminal_observation"], venv.normalize_obs(raw))
        assert not np.allclose(info["terminal_observation"], raw)


def test_ppo_learns_under_vec_normalize(district):
    venv = VecNormalize(make(district))
    model = PPO("MlpPolicy", venv, seed=0, **PPO_KW)
    model.learn(2 * ONE_ITERATION)
    assert np.isfinite(venv.obs_rms.mean).all() and venv.obs_rms.count > 2 * ONE_ITERATION
    assert all(np.isfinite(p).all() for p in params(model))


def test_episode_statistics_once_per_district(district):
    env = make(district)
    days = 2
    model = PPO("MlpPolicy", env, seed=0, **{**PPO_KW, "n_steps": DAY, "batch_size": 140})
    model.learn(days * DAY * env.num_envs)
    buffer = list(model.ep_info_buffer)
    assert len(buffer) == days * B  # not days * B * N
    assert all(ep["l"] == DAY for ep in buffer)


# ---------------------------------------------------------------------- SuperSuit pitfalls
def test_pitfall_seeded_ppo_works(district):
    """SuperSuit's vec env breaks ``PPO(seed=...)``; ours takes the seed to its days."""
    env = make(district, seed=None)
    PPO("MlpPolicy", env, seed=42, **PPO_KW).learn(ONE_ITERATION)
    # The days drawn (initial and automatic resets) do not depend on the actions.
    reference = make(district, seed=None)
    reference.seed(42)
    run(reference, PPO_KW["n_steps"])
    assert env.sim.episode_seed == reference.sim.episode_seed
    unseeded = make(district, seed=None)
    PPO("MlpPolicy", unseeded, **PPO_KW).learn(ONE_ITERATION)
    assert unseeded.sim.episode_seed != reference.sim.episode_seed


def test_pitfall_masks_reachable(district):
    """SuperSuit hides the masks from MaskablePPO; ours reaches them, also through wrappers."""
    env = make(district)
    env.reset()
    expected = env.sim.action_masks().reshape(env.num_envs, -1)
    for venv in (env, VecNormalize(env)):
        assert is_masking_supported(venv)
        masks = get_action_masks(venv)
        assert masks.shape == (venv.num_envs, env.action_space.n) and masks.dtype == bool
        np.testing.assert_array_equal(masks, expected)
    per_slot = env.get_attr("action_masks")
    assert len(per_slot) == env.num_envs
    np.testing.assert_array_equal(per_slot[5](), expected[5])


def test_pitfall_truncation_flagged(district):
    """SuperSuit never sets ``TimeLimit.truncated``; ours does, as SB3's bootstrap reads it."""
    infos = run(make(district), DAY)["info"][-1]
    for info in infos:
        assert info.get("terminal_observation") is not None
        assert info.get("TimeLimit.truncated", False)
