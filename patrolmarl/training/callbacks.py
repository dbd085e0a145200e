"""SB3 callbacks: domain scalars to tensorboard, evaluation on fixed days, resume checkpoints.

The evaluation and the checkpoints are triggered by :class:`EveryNTimestepsFromStart`
(SB3's ``EveryNTimesteps``, counted from the step training starts at).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, EveryNTimesteps

from patrolmarl.agents.learned import (
    ObservationNormalizer,
    SB3ModelPolicy,
    actor_observation_size,
)
from patrolmarl.agents.macro_policy import MacroPostPolicy
from patrolmarl.envs.dispatch_rule import AGENTS
from patrolmarl.envs.district import District
from patrolmarl.envs.macro_actions import MacroActionVecEnv
from patrolmarl.envs.metrics import concatenate_records, episode_metrics
from patrolmarl.envs.observations import observes_move_gains
from patrolmarl.envs.vec_env import PatrolVecEnv
from patrolmarl.evaluation.evaluate import BASELINE, evaluate
from patrolmarl.training.config import EvalSettings
from patrolmarl.training.imitation import actor_parameters
from patrolmarl.training.macro_run import macro_policy_of

DOMAIN_SCALARS = ("response_mean", "response_p90", "thefts", "closure_rate", "fallback_share")
#: The selection evaluations' figures logged as ``eval/<key>`` and ``eval/<key>_vs_fixed_zone``.
EVAL_SCALARS = (
    "response_mean",
    "response_p90",
    "thefts_per_day",
    "closure_rate",
    "combined_cost_per_day",
    "expected_cost_per_day",
)


class DomainMetricsCallback(BaseCallback):
    """Logs domain metrics at the end of every rollout.

    ``patrol/*``: the realised metrics of the days finished in the rollout (when
    any finished). ``patrol_running/*``: the days in progress, from their calls
    so far (pooled over the districts; thefts per day scaled by the simulated
    share of a day), so that runs shorter than a day show them too.
    """

    def __init__(self, venv: PatrolVecEnv) -> None:
        super().__init__()
        self._venv = venv
        self._finished: list[dict] = []

    def _on_step(self) -> bool:
        self._finished.extend(
            info["episode_metrics"] for info in self.locals["infos"] if "episode_metrics" in info
        )
        return True

    def _on_rollout_end(self) -> None:
        self._log_running()
        if not self._finished:
            return
        self._record("patrol", {k: [m[k] for m in self._finished] for k in DOMAIN_SCALARS})
        self.logger.record("patrol/days_finished", len(self._finished))
        self._finished.clear()

    def _log_running(self) -> None:
        sim = self._venv.sim
        records = [sim.record(b) for b in range(sim.batch_size)]
        minutes = sum(r.steps for r in records) * sim.step_minutes
        if minutes == 0:
            return
        metrics = episode_metrics(concatenate_records(records), sim.incidents)
        days = minutes / self._venv.district.config.simulation.episode_minutes
        metrics["thefts"] = metrics["thefts"] / days
        self._record("patrol_running", {k: [metrics[k]] for k in DOMAIN_SCALARS})
        self.logger.record("patrol_running/days_simulated", days)

    def _record(self, prefix: str, values: dict[str, list[float]]) -> None:
        for key, seq in values.items():
            array = np.array(seq, dtype=float)
            if np.isfinite(array).any():
                name = "thefts_per_day" if key == "thefts" else key
                self.logger.record(f"{prefix}/{name}", float(np.nanmean(array)))


def policy_of(
    model, vecnormalize, district: District, name: str = "ppo"
) -> SB3ModelPolicy | MacroPostPolicy:
    """The model being trained as an evaluable :class:`Policy` (current normalisation),
    observing ``district`` as it was trained to (with or without move gains) and under
    its training env's dispatch rule; on macro actions, over its env's posts."""
    normalizer = (
        None if vecnormalize is None else ObservationNormalizer.from_vecnormalize(vecnormalize)
    )
    env = model.get_env()
    if env is not None and isinstance(env.unwrapped, MacroActionVecEnv):
        return macro_policy_of(model, normalizer, name, env.unwrapped)
    obs_size = actor_observation_size(model)
    move_gains = observes_move_gains(name, obs_size, int(model.action_space.n), district)
    dispatch = AGENTS if env is None else env.unwrapped.sim.dispatch
    return SB3ModelPolicy(model, normalizer, name, move_gains, dispatch)


def ratio_to_baseline(ours: float, base: float) -> float:
    """``ours / base``; 1.0 when both are 0, ``inf`` when only the baseline's is 0."""
    if base == 0:
        return 1.0 if ours == 0 else float("inf")
    return ours / base


def relative_score(summary: dict, baseline: dict, weights: dict[str, float]) -> float:
    """Weighted sum of a policy's metrics relative to the baseline's (1.0 = as good)."""
    total = sum(weights.values())
    score = sum(w * ratio_to_baseline(summary[m], baseline[m]) for m, w in weights.items() if w)
    return score / total


def save_model_atomically(model, vecnormalize, path: Path) -> None:
    """Save ``path`` (and ``<stem>_vecnormalize.pkl``) via temporary files and renames."""
    tmp = path.with_name(f".{path.stem}.tmp.zip")
    model.save(tmp)
    os.replace(tmp, path)
    if vecnormalize is not None:
        stats = path.with_name(f"{path.stem}_vecnormalize.pkl")
        tmp_stats = stats.with_name(f".{stats.name}.tmp")
        with open(tmp_stats, "wb") as f:
            pickle.dump(vecnormalize, f)
        os.replace(tmp_stats, stats)


class CriticWarmupCallback(BaseCallback):
    """Hold the actor fixed until ``until`` timesteps so that a cloned policy is not
    moved by the advantages of an untrained critic; PPO trains only the value network."""

    def __init__(self, until: int) -> None:
        super().__init__()
        self.until = until

    def _on_training_start(self) -> None:
        self._set_actor_trainable(self.num_timesteps >= self.until)

    def _on_rollout_end(self) -> None:
        if self.num_timesteps >= self.until:
            self._set_actor_trainable(True)

    def _on_step(self) -> bool:
        return True

    def _set_actor_trainable(self, trainable: bool) -> None:
        for parameter in actor_parameters(self.model.policy):
            parameter.requires_grad_(trainable)


class PatrolEvalCallback(BaseCallback):
    """Each time it is triggered, score the policy on fixed days against fixed_zone.

    The best model by :func:`relative_score` of realised outcomes (never the
    shaped reward) is saved as ``best.zip`` in the run folder.
    """

    def __init__(
        self,
        district: District,
        settings: EvalSettings,
        run_dir: Path,
        vecnormalize,
        best_score: float = float("inf"),
        say: Callable[[str], None] = print,
    ) -> None:
        super().__init__()
        self.district = district
        self.settings = settings
        self.run_dir = run_dir
        self.vecnormalize = vecnormalize
        self.best_score = best_score
        self._say = say

    def _on_step(self) -> bool:
        self.run_evaluation()
        return True

    def run_evaluation(self) -> float:
        """Evaluate now, log, keep the best model; returns the score."""
        ev = evaluate(
            self.district,
            [policy_of(self.model, self.vecnormalize, self.district)],
            days=self.settings.days,
            seed=self.settings.seed,
            resamples=200,
            with_limit=False,
            theft_minutes=self.settings.theft_minutes,
        )
        ours, base = ev.result("ppo").summary, ev.result(BASELINE).summary
        score = relative_score(ours, base, self.settings.score_weights)
        for key in EVAL_SCALARS:
            self.logger.record(f"eval/{key}", ours[key])
            self.logger.record(f"eval/{key}_vs_fixed_zone", ratio_to_baseline(ours[key], base[key]))
        self.logger.record("eval/score", score)
        # The first evaluated model is kept even with a non-finite score (e.g. no theft at
        # all by fixed_zone on short evaluation days): the final report needs a best.zip.
        best = score < self.best_score or not (self.run_dir / "best.zip").exists()
        if best:
            if score < self.best_score:
                self.best_score = score
            save_model_atomically(self.model, self.vecnormalize, self.run_dir / "best.zip")
        self._say(
            f"eval @ {self.num_timesteps:,}: response {ours['response_mean']:.2f} min "
            f"(fixed_zone {base['response_mean']:.2f}), thefts/day {ours['thefts_per_day']:.2f} "
            f"({base['thefts_per_day']:.2f}), combined cost/day "
            f"{ours['combined_cost_per_day']:.0f} min ({base['combined_cost_per_day']:.0f}), "
            f"score {score:.3f}{'  best' if best else ''}"
        )
        return score


class ResumeCheckpointCallback(BaseCallback):
    """Each time it is triggered, call ``save()``, which writes the run's resume
    checkpoint (model, normalisation, generator states, config and best score;
    see :mod:`patrolmarl.training.checkpoint`) atomically.

    Unlike SB3's ``CheckpointCallback`` (a model zip every N calls), the whole
    state needed to continue the run is written, and only the newest are kept.
    """

    def __init__(self, save: Callable[[], None]) -> None:
        super().__init__()
        self._save = save

    def _on_step(self) -> bool:
        self._save()
        return True


class EveryNTimestepsFromStart(EveryNTimesteps):
    """SB3's ``EveryNTimesteps``, counted from the step training starts at: a resumed
    run first triggers ``n_steps`` after its checkpoint, not at its first step."""

    def _on_training_start(self) -> None:
        self.last_time_trigger = self.num_timesteps
        super()._on_training_start()
