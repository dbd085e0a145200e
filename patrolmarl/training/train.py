"""Train PPO / MaskablePPO patrol policies: one run per seed, checkpoints, resume, final report.

A run folder holds ``config.yaml`` (the resolved config), ``tb/`` (tensorboard),
``checkpoints/`` (see :mod:`patrolmarl.training.checkpoint`), ``best.zip`` (+
``best_vecnormalize.pkl``, the best model by the evaluation score),
``final.zip``, and ``report/`` (the final evaluation against the baselines).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecNormalize

from patrolmarl.agents.baselines import BASELINES
from patrolmarl.agents.learned import SB3ModelPolicy
from patrolmarl.envs.district import District
from patrolmarl.envs.vec_env import PatrolVecEnv
from patrolmarl.errors import PatrolMarlError
from patrolmarl.evaluation.evaluate import evaluate, paired_differences
from patrolmarl.evaluation.report import write_report
from patrolmarl.training.callbacks import (
    CheckpointCallback,
    CriticWarmupCallback,
    DomainMetricsCallback,
    PatrolEvalCallback,
    save_model_atomically,
)
from patrolmarl.training.checkpoint import load_latest_checkpoint, save_checkpoint
from patrolmarl.training.config import TrainConfig
from patrolmarl.training.imitation import clone, demonstrations
from patrolmarl.training.parallel_seeds import seed_dir, train_each_seed
from patrolmarl.training.seed_summary import plot_learning_curves, seeds_summary

TB_NAME = "ppo"


def _algorithm(name: str):
    if name == "maskable_ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    from stable_baselines3 import PPO

    return PPO


def train_run(
    config: TrainConfig,
    run_dir: Path,
    resume: bool = False,
    progress_bar: bool = False,
    say: Callable[[str], None] = print,
    extra_callbacks: Sequence[BaseCallback] = (),
) -> dict[str, Any]:
    """Train (or resume) one run in ``run_dir``; returns the final evaluation summary.

    When resuming, ``config`` is the run's own (``config.yaml``), possibly with a
    larger ``total_timesteps``; training continues from the latest checkpoint.
    ``extra_callbacks`` run after the evaluation callback (e.g. a sweep's reporter).

    Raises
    ------
    PatrolMarlError
        If a fresh run would overwrite an existing one, or there is nothing to resume.
    """
    started = time.perf_counter()
    pretrain: dict[str, Any] | None = None
    checkpoint = load_latest_checkpoint(run_dir) if resume else None
    if checkpoint is None and _holds_a_run(run_dir):
        raise PatrolMarlError(f"--run-dir: {run_dir} already holds a run (use --resume)")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
    torch.set_num_threads(config.torch_threads)
    district = District.load(config.district)
    venv = PatrolVecEnv(
        district,
        config.n_districts,
        seed=config.seed,
        reward_weights=config.reward.model_dump(),
        move_gains=config.observation.move_gains,
    )
    algorithm = _algorithm(config.algorithm)
    if checkpoint is not None:
        vecnormalize = _load_vecnormalize(checkpoint.vecnormalize_path, venv)
        env = vecnormalize or venv
        # tensorboard_log: this folder's tb/, not the path saved in the model (which is
        # stale if the run folder was moved or copied, or given relative to another cwd).
        model = algorithm.load(
            checkpoint.model_path, env=env, device="cpu", tensorboard_log=str(run_dir / "tb")
        )
        venv.set_rng_state(checkpoint.restore_rng()["env"])  # after load, which reseeds
        best_score = checkpoint.state.get("best_score", float("inf"))
        say(f"resuming {run_dir} at step {model.num_timesteps:,}")
    else:
        norm = config.normalize
        vecnormalize = (
            VecNormalize(
                venv,
                norm_obs=norm.observations,
                norm_reward=norm.rewards,
                clip_obs=norm.clip_obs,
                gamma=config.ppo.gamma,
            )
            if norm.observations or norm.rewards
            else None
        )
        env = vecnormalize or venv
        model = algorithm(
            "MlpPolicy",
            env,
            seed=config.seed,
            device="cpu",
            tensorboard_log=str(run_dir / "tb"),
            policy_kwargs={
                "net_arch": list(config.network.net_arch),
                "activation_fn": {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[
                    config.network.activation
                ],
            },
            **config.ppo.model_dump(),
        )
        best_score = float("inf")
        if config.pretrain.teacher is not None:
            pretrain = _imitate(model, vecnormalize, district, config, say)

    evaluator = PatrolEvalCallback(
        district,
        config.eval,
        run_dir,
        vecnormalize,
        best_score=best_score,
        say=say,
    )

    def save() -> None:
        state = {
            "num_timesteps": model.num_timesteps,
            "config": config.model_dump(),
            "best_score": evaluator.best_score,
        }
        save_checkpoint(run_dir, model, vecnormalize, state, {"env": venv.rng_state()})

    callbacks = [
        DomainMetricsCallback(),
        evaluator,
        CheckpointCallback(config.checkpoint_freq, save),
    ]
    if config.pretrain.teacher is not None and config.pretrain.critic_warmup_steps > 0:
        callbacks.append(CriticWarmupCallback(config.pretrain.critic_warmup_steps))
    callbacks.extend(extra_callbacks)
    remaining = config.total_timesteps - model.num_timesteps
    rollout = config.ppo.n_steps * venv.num_envs
    if remaining > 0 and remaining % rollout:
        trained = model.num_timesteps + -(-remaining // rollout) * rollout
        say(
            f"total_timesteps {config.total_timesteps:,} rounds up to {trained:,}: "
            f"whole rollouts of {rollout:,} agent-steps"
        )
    if remaining > 0:
        model.learn(
            remaining,
            callback=CallbackList(callbacks),
            tb_log_name=TB_NAME,
            reset_num_timesteps=checkpoint is None,
            progress_bar=progress_bar,
        )
    minutes = (time.perf_counter() - started) / 60.0
    save()
    save_model_atomically(model, vecnormalize, run_dir / "final.zip")
    if not (run_dir / "best.zip").exists():
        evaluator.run_evaluation()
    say(f"trained {model.num_timesteps:,} timesteps in {minutes:.1f} min; final evaluation ...")
    summary = final_evaluation(district, run_dir, config)
    summary["train_minutes_this_session"] = minutes
    if pretrain is not None:
        summary["pretrain"] = pretrain
    (run_dir / "final.json").write_text(json.dumps(summary, indent=2))
    venv.close()
    return summary


def _imitate(model, vecnormalize, district: District, config: TrainConfig, say) -> dict[str, Any]:
    """Clone ``config.pretrain.teacher`` into the fresh ``model`` (see the imitation module)."""
    settings = config.pretrain
    started = time.perf_counter()
    data = demonstrations(
        district, settings.teacher, settings.days, config.seed, config.observation.move_gains
    )
    if vecnormalize is not None and vecnormalize.norm_obs:
        vecnormalize.obs_rms.update(data.observations)
    agreement, accept_agreement = clone(
        model,
        data,
        vecnormalize.normalize_obs if vecnormalize is not None else np.asarray,
        epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        batch_size=settings.batch_size,
        seed=config.seed,
    )
    minutes = (time.perf_counter() - started) / 60.0
    say(
        f"imitated {settings.teacher} on {settings.days} days ({data.actions.size:,} decisions) "
        f"in {minutes:.1f} min: the policy takes its action in {agreement:.1%} of them "
        f"({accept_agreement:.1%} of its accepts)"
    )
    return {
        "teacher": settings.teacher,
        "decisions": int(data.actions.size),
        "agreement": agreement,
        "accept_agreement": accept_agreement,
        "minutes": minutes,
    }


def _holds_a_run(run_dir: Path) -> bool:
    """Whether a fresh run would overwrite a run (or a set of seeds) in ``run_dir``."""
    return any((run_dir / name).exists() for name in ("checkpoints", "final.json", "seeds.json"))


def _load_vecnormalize(path: Path, venv: PatrolVecEnv) -> VecNormalize | None:
    if not path.is_file():
        return None
    vecnormalize = VecNormalize.load(str(path), venv)
    vecnormalize.training = True
    return vecnormalize


def final_evaluation(district: District, run_dir: Path, config: TrainConfig) -> dict[str, Any]:
    """Score ``best.zip`` against the baselines on ``eval.final_days`` days; write ``report/``."""
    best = SB3ModelPolicy.from_file(run_dir / "best.zip", district)
    best.name = "ppo"
    policies = [best] + [BASELINES[name](seed=config.seed) for name in config.eval.final_baselines]
    ev = evaluate(district, policies, days=config.eval.final_days, seed=config.eval.final_seed)
    write_report(ev, run_dir / "report")
    ours = ev.result("ppo")
    return {
        "seed": config.seed,
        "summary": {k: v for k, v in ours.summary.items() if isinstance(v, int | float)},
        "vs_fixed_zone": ours.vs_baseline,
        "vs_baselines": {
            name: paired_differences(ev, "ppo", name) for name in config.eval.final_baselines
        },
        "limit": {"travel_lower_bound": ev.limit["travel_lower_bound"]},
    }


def train_seeds(
    config: TrainConfig,
    seeds: list[int],
    run_dir: Path,
    resume: bool = False,
    progress_bar: bool = False,
    say: Callable[[str], None] = print,
    parallel: bool | None = None,
    extra_callbacks: Sequence[BaseCallback] = (),
) -> dict[str, Any]:
    """One run per seed under ``run_dir/seed_<s>`` (in parallel through Ray when installed,
    see :mod:`~patrolmarl.training.parallel_seeds`), then a summary across seeds with
    bootstrap intervals and ``learning_curves.png`` (:mod:`~patrolmarl.training.seed_summary`).

    ``run_dir`` also gets ``config.yaml`` and ``seeds.json`` so that the whole
    set can be resumed with ``--resume run_dir``.
    """
    if not resume and _holds_a_run(run_dir):  # before config.yaml and seeds.json change
        raise PatrolMarlError(f"--run-dir: {run_dir} already holds a run (use --resume)")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
    (run_dir / "seeds.json").write_text(json.dumps(seeds))
    finals = train_each_seed(
        config, seeds, run_dir, resume, progress_bar, say, parallel, extra_callbacks
    )
    summary = seeds_summary(finals, [seed_dir(run_dir, s) for s in seeds])
    (run_dir / "seeds_summary.json").write_text(json.dumps(summary, indent=2))
    plot_learning_curves(summary, run_dir / "learning_curves.png")
    return summary
