"""PPO training throughput: the native :class:`PatrolVecEnv` against PettingZoo + SuperSuit,
and the centralised critic against the local one.

Prints, in one run on one machine:

- env-steps/s (district-steps) and agent-steps/s (SB3 timesteps) of
  ``PPO("MlpPolicy").learn`` with the same hyperparameters through
  ``PatrolVecEnv(district, B)`` and through
  ``supersuit.concat_vec_envs_v1(pettingzoo_env_to_vec_env_v1(parallel_env(district)), B)``
  (that route's PPO gets no seed: ``PPO(seed=...)`` fails on SuperSuit's vec env),
  and their ratio;
- the same through ``PatrolVecEnv(district, B, critic_state=...)`` with the
  centralised-critic policy (:mod:`patrolmarl.training.central_critic`: the
  critic also reads the global state, per cell and per coarse block), and the
  ratios to the local critic's rate;
- the same for the macro-action variant, ``MacroActionVecEnv(district, B, posts)``
  (nearest dispatch, ``Discrete(1 + P)`` over the candidate posts of
  :func:`~patrolmarl.agents.candidate_posts.candidate_posts`; the same PPO, which
  ignores the masks as on the other routes), and its ratio to the native route;
- where the time of one PPO iteration (rollout + update) of the native route goes,
  from cProfile: simulation (core step and resets), observation building, reward,
  the rest of the env (infos, flattening), policy forward and rollout bookkeeping
  (``collect_rollouts`` minus the env), PPO update (``train``).

Each route first learns one warm-up iteration, then ``--iterations`` timed ones.
Torch runs with ``--threads`` threads (default 1: faster for this small MLP on a
few cores) and BLAS/OpenMP with one thread.

Usage::

    python benchmarks/train_throughput.py [--districts 16] [--n-steps 128] [--iterations 4]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from importlib.metadata import version  # noqa: E402
from typing import Any  # noqa: E402

import stable_baselines3  # noqa: E402
import supersuit  # noqa: E402
import torch  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.vec_env import VecEnv  # noqa: E402

from patrolmarl.agents.candidate_posts import candidate_posts  # noqa: E402
from patrolmarl.envs import parallel_env  # noqa: E402
from patrolmarl.envs.district import District  # noqa: E402
from patrolmarl.envs.incidents import IncidentModel  # noqa: E402
from patrolmarl.envs.macro_actions import MacroActionVecEnv  # noqa: E402
from patrolmarl.envs.observations import state_size  # noqa: E402
from patrolmarl.envs.vec_env import PatrolVecEnv  # noqa: E402
from patrolmarl.training.central_critic import CentralCriticPolicy  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--district", default="gaoxin", help="built-in name or YAML path")
    p.add_argument("--episode-minutes", type=int, default=None, help="day length (default: full)")
    p.add_argument("--districts", type=int, default=16, help="B districts per vec env")
    p.add_argument("--n-steps", type=int, default=128, help="PPO rollout steps per slot")
    p.add_argument("--minibatches", type=int, default=8, help="PPO minibatches per epoch")
    p.add_argument("--epochs", type=int, default=4, help="PPO epochs per iteration")
    p.add_argument("--iterations", type=int, default=4, help="timed PPO iterations per route")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def ppo_kwargs(args: argparse.Namespace, num_envs: int) -> dict[str, Any]:
    rollout = args.n_steps * num_envs
    return {
        "n_steps": args.n_steps,
        "batch_size": max(1, rollout // args.minibatches),
        "n_epochs": args.epochs,
        "device": "cpu",
        "verbose": 0,
    }


def supersuit_env(district: District, n: int) -> VecEnv:
    vec = supersuit.pettingzoo_env_to_vec_env_v1(parallel_env(district))
    return supersuit.concat_vec_envs_v1(vec, n, num_cpus=0, base_class="stable_baselines3")


def central_critic_ppo(
    district: District, resolution: str, args: argparse.Namespace, kwargs: dict[str, Any]
) -> PPO:
    """PPO with the centralised critic reading the global state at ``resolution``."""
    env = PatrolVecEnv(district, args.districts, seed=args.seed, critic_state=resolution)
    policy_kwargs = {"actor_columns": env.builder.size}
    return PPO(CentralCriticPolicy, env, seed=args.seed, policy_kwargs=policy_kwargs, **kwargs)


def timed_learn(model: PPO, iterations: int) -> list[float]:
    """Wall seconds of each of ``iterations`` PPO iterations, after one warm-up iteration.

    Each iteration is one ``learn`` call continuing the previous one's days and
    timestep count (``reset_num_timesteps=False``: no extra reset).
    """
    per_iteration = model.n_steps * model.env.num_envs
    model.learn(per_iteration)
    seconds = []
    for _ in range(iterations):
        start = time.perf_counter()
        model.learn(per_iteration, reset_num_timesteps=False)
        seconds.append(time.perf_counter() - start)
    return seconds


def cumulative(stats: pstats.Stats, module: str, *names: str) -> float:
    """Summed cumulative seconds of the functions ``names`` defined in a file ending ``module``."""
    return sum(
        ct
        for (path, _, name), (_, _, _, ct, _) in stats.stats.items()  # type: ignore[attr-defined]
        if name in names and path.replace(os.sep, "/").endswith(module)
    )


def profile_iteration(model: PPO) -> None:
    """cProfile one PPO iteration of ``model`` and print the time grouped by stage."""
    profiler = cProfile.Profile()
    profiler.enable()
    # Continue the running days (no reset() outside the env's steps).
    model.learn(model.n_steps * model.env.num_envs, reset_num_timesteps=False)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    sb3 = "stable_baselines3/"
    rollout = cumulative(stats, sb3 + "common/on_policy_algorithm.py", "collect_rollouts")
    env = cumulative(stats, sb3 + "common/vec_env/base_vec_env.py", "step")
    sim = cumulative(stats, "patrolmarl/envs/core.py", "step", "reset")
    obs = cumulative(stats, "patrolmarl/envs/observations.py", "observe")
    reward = cumulative(stats, "patrolmarl/envs/reward.py", "__call__")  # calls the rest
    train = cumulative(stats, sb3 + "ppo/ppo.py", "train")
    rows = [
        ("simulation (BatchedSim.step/reset)", sim),
        ("observation building (ObservationBuilder.observe)", obs),
        ("reward (ShapedReward)", reward),
        ("rest of the env (infos, flattening, day ends)", env - sim - obs - reward),
        ("policy forward + rollout bookkeeping", rollout - env),
        ("PPO update (train)", train),
        ("other (learn set-up, logging)", total - rollout - train),
    ]
    print(f"\nWhere one PPO iteration of the native route goes (cProfile, {total:.2f} s total;")
    print("the profiler inflates Python-heavy parts more than numpy/torch kernels):")
    for label, seconds in rows:
        print(f"  {label:<52s}{seconds:>8.3f} s  {100 * seconds / total:>5.1f} %")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", module="gymnasium")
    warnings.filterwarnings("ignore", module="stable_baselines3")
    overrides = {} if args.episode_minutes is None else {"episode_minutes": args.episode_minutes}
    district = District.load(args.district, **overrides)
    b, n = args.districts, district.n_units

    native_env = PatrolVecEnv(district, b, seed=args.seed)
    kwargs = ppo_kwargs(args, native_env.num_envs)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"SB3 {stable_baselines3.__version__}, supersuit {version('supersuit')}; "
        f"torch threads = {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS = {os.environ['OMP_NUM_THREADS']}"
    )
    print(
        f"district {district.name}: N = {n} agents, day = {native_env.sim.n_steps} steps; "
        f"B = {b} districts -> {b * n} slots; observation {native_env.builder.size} "
        f"(+ state {state_size(district)} per cell or {state_size(district, 'blocks')} "
        f"per block for the central critics); PPO {kwargs}; "
        f"{args.iterations} timed iterations of {args.n_steps * b * n} agent-steps each\n"
    )

    posts = candidate_posts(district, IncidentModel(district))
    macro_env = MacroActionVecEnv(district, b, posts, seed=args.seed)
    results: dict[str, float] = {}
    routes = {
        "native PatrolVecEnv": lambda: PPO("MlpPolicy", native_env, seed=args.seed, **kwargs),
        "PettingZoo + SuperSuit": lambda: PPO("MlpPolicy", supersuit_env(district, b), **kwargs),
        "central critic, cells": lambda: central_critic_ppo(district, "cells", args, kwargs),
        "central critic, blocks": lambda: central_critic_ppo(district, "blocks", args, kwargs),
        f"macro actions ({posts.shape[1]} posts)": lambda: PPO(
            "MlpPolicy", macro_env, seed=args.seed, **kwargs
        ),
    }
    native_model: PPO | None = None
    for label, build in routes.items():
        model = build()
        assert model.env.num_envs == b * n
        seconds = timed_learn(model, args.iterations)
        steps = args.iterations * args.n_steps  # vector steps
        total, best = sum(seconds), min(seconds)
        results[label] = steps * b / total
        print(
            f"{label:<26s}{steps * b / total:>10,.0f} env-steps/s"
            f"{steps * b * n / total:>12,.0f} agent-steps/s   ({total:.2f} s; "
            f"best iteration {args.n_steps * b * n / best:,.0f} agent-steps/s)"
        )
        if native_model is None:
            native_model = model
    native, ss, cells, blocks, macro = results.values()
    print(f"{'ratio native / SuperSuit':<26s}{native / ss:>10.2f} x")
    print(f"{'ratio central, cells / local':<30s}{cells / native:>6.2f} x  (native route)")
    print(f"{'ratio central, blocks / local':<30s}{blocks / native:>6.2f} x  (native route)")
    print(f"{'ratio macro / native':<30s}{macro / native:>6.2f} x")

    assert native_model is not None
    profile_iteration(native_model)


if __name__ == "__main__":
    main()
