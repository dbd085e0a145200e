"""Train PPO / MaskablePPO patrol policies: one run per seed, checkpoints, resume, final report.

A run folder holds ``config.yaml`` (the resolved config), ``district.json``
(the district's name and config hash), ``tb/`` (tensorboard), ``checkpoints/``
(see :mod:`patrolmarl.training.checkpoint`), ``best.zip`` (+
``best_vecnormalize.pkl``, the best model by the evaluation score),
``final.zip``, ``warm_start.zip`` (+ statistics; runs with a teacher: the clone
before any PPO update), ``report/`` (the final evaluation against the baselines) and
``final.json`` (its figures); see :mod:`patrolmarl.training.run_folder` for the
checks, the lock and the atomic writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import VecNormalize

from patrolmarl.agents.baselines import BASELINES
from patrolmarl.agents.learned import (
    ObservationNormalizer,
    actor_observation_size,
)
from patrolmarl.agents.macro_policy import load_zip_policy
from patrolmarl.envs.dispatch_rule import LEARNED_RULES
from patrolmarl.envs.district import District
from patrolmarl.envs.vec_env import PatrolVecEnv
from patrolmarl.errors import ConfigError, PatrolMarlError
from patrolmarl.evaluation.evaluate import evaluate, paired_differences
from patrolmarl.evaluation.report import write_report
from patrolmarl.training.callbacks import (
    CriticWarmupCallback,
    DomainMetricsCallback,
    EveryNTimestepsFromStart,
    PatrolEvalCallback,
    ResumeCheckpointCallback,
    save_model_atomically,
)
from patrolmarl.training.checkpoint import (
    DamagedCheckpoint,
    checkpoint_folders,
    read_checkpoint,
    save_checkpoint,
)
from patrolmarl.training.config import TrainConfig, check_rollout, load_train_config
from patrolmarl.training.imitation import clone, demonstrations
from patrolmarl.training.macro_run import macro_vec_env
from patrolmarl.training.parallel_seeds import seed_dir, train_each_seed
from patrolmarl.training.policies import patrol_policy
from patrolmarl.training.run_folder import (
    check_location,
    claimed,
    clear_unfinished_run,
    holds_results,
    remove_leftover_temps,
    write_text_atomically,
)
from patrolmarl.training.seed_summary import plot_learning_curves, seeds_summary
from patrolmarl.training.tensorboard_logs import forget_logs_after
from patrolmarl.training.value_norm import ValueNormCallback
from patrolmarl.yaml_config import validate_mapping

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
    source: str = "training config",
) -> dict[str, Any]:
    """Train (or resume) one run in ``run_dir``; returns the final evaluation summary.

    When resuming, ``config`` is the run's own (``config.yaml``), possibly with a
    larger ``total_timesteps``; training continues from the newest intact
    checkpoint. ``source`` names the config in error messages. ``extra_callbacks`` run
    after the evaluation callback (e.g. a sweep's reporter).

    Everything that can be checked is checked before anything is written (see
    :mod:`patrolmarl.training.run_folder`); the folder is locked for the run.

    Raises
    ------
    PatrolMarlError
        If the folder cannot hold the run, is in use, a fresh run would overwrite
        an existing one, there is no intact checkpoint to resume from, or the
        config does not fit the district.
    """
    prepare = _resumed_run if resume else _fresh_run
    with prepare(config, run_dir, say, source) as (run, best_score):
        summary = _train_and_report(run, best_score, progress_bar, extra_callbacks)
    run.venv.close()
    return summary


@contextmanager
def _fresh_run(
    config: TrainConfig, run_dir: Path, say: Callable[[str], None], source: str
) -> Iterator[tuple[_Run, float]]:
    """A new run in ``run_dir`` (absent, empty or a run that never reached a checkpoint),
    locked for the block, and its best score so far (none)."""
    check_location(run_dir, "--run-dir", fresh=True)
    if holds_results(run_dir):
        raise PatrolMarlError(f"--run-dir: {run_dir} already holds a run (use --resume)")
    district, venv = _environment(config, source)
    with claimed(run_dir):
        model, vecnormalize = _fresh_model(config, venv, run_dir)
        clear_unfinished_run(run_dir)
        yield _Run(config, district, venv, model, vecnormalize, run_dir, say), float("inf")


@contextmanager
def _resumed_run(
    config: TrainConfig, run_dir: Path, say: Callable[[str], None], source: str
) -> Iterator[tuple[_Run, float]]:
    """The run in ``run_dir`` at its newest intact checkpoint, locked for the block, and
    its best evaluation score so far.

    ``config`` is the run's own (see :func:`resume_config`), possibly with a
    larger ``total_timesteps``.
    """
    check_location(run_dir, "--resume", fresh=False)
    if not checkpoint_folders(run_dir):
        raise PatrolMarlError(f"--resume: {run_dir} has no checkpoint to resume from")
    district, venv = _environment(config, source)
    with claimed(run_dir):
        for name in remove_leftover_temps(run_dir):
            say(f"removed {name}, left by an interrupted write")
        model, vecnormalize, checkpoint = _restore(run_dir, config, venv, say)
        _check_district(run_dir, district)
        forget_logs_after(run_dir / "tb", model.num_timesteps)  # they are trained again
        say(f"resuming {run_dir} at step {model.num_timesteps:,}")
        run = _Run(config, district, venv, model, vecnormalize, run_dir, say, resumed=True)
        yield run, checkpoint.state.get("best_score", float("inf"))


def _environment(config: TrainConfig, source: str) -> tuple[District, PatrolVecEnv]:
    """The run's district and vector environment, the rollout checked against them;
    sets torch's threads."""
    district = District.load(config.district)
    if config.actions == "posts":
        venv = macro_vec_env(district, config, source)
    else:
        venv = PatrolVecEnv(
            district,
            config.n_districts,
            seed=config.seed,
            reward_weights=config.reward.model_dump(),
            move_gains=config.observation.move_gains,
            dispatch=LEARNED_RULES[config.dispatch],
            critic_state=config.network.critic_state,
        )
    check_rollout(config, venv.n_agents, source)
    torch.set_num_threads(config.torch_threads)
    return district, venv


@dataclass(frozen=True)
class _Run:
    """One run being trained in ``folder``: its config, district, environment and model."""

    config: TrainConfig
    district: District
    venv: PatrolVecEnv
    model: Any  # PPO or MaskablePPO
    vecnormalize: VecNormalize | None
    folder: Path
    say: Callable[[str], None]
    resumed: bool = False

    def save_checkpoint(self, best_score: float) -> None:
        """Write a resume checkpoint of the run as it is now."""
        state = {
            "num_timesteps": self.model.num_timesteps,
            "config": self.config.model_dump(),
            "best_score": best_score,
        }
        save_checkpoint(
            self.folder, self.model, self.vecnormalize, state, {"env": self.venv.rng_state()}
        )


def resume_config(
    run_dir: Path, overrides: dict[str, Any], say: Callable[[str], None] = print
) -> tuple[TrainConfig, Path]:
    """The config of the run to resume in ``run_dir`` (``overrides`` applied) and its source.

    That is ``config.yaml``; if the file is missing or unreadable as a whole (not
    a wrong value in it), the config saved with the newest checkpoint, and
    ``say`` tells so (``config.yaml`` is rewritten when the run starts).

    Raises
    ------
    PatrolMarlError
        If ``run_dir`` holds neither a usable config.yaml nor a checkpoint's config.
    """
    source = run_dir / "config.yaml"
    try:
        return load_train_config(source, overrides), source
    except ConfigError as exc:
        if exc.field or (source.exists() and not source.is_file()):
            raise
        problem = exc
    for folder in checkpoint_folders(run_dir):
        try:
            saved = read_checkpoint(folder).state.get("config")
        except DamagedCheckpoint:
            continue
        if isinstance(saved, dict):
            say(f"{source}: {problem.reason}; using the config saved in {folder.name}")
            state = folder / "state.json"
            raw = saved | {k: v for k, v in overrides.items() if v is not None}
            return validate_mapping(TrainConfig, raw, f"{state}: config"), state
    if not source.exists():
        raise PatrolMarlError(f"--resume: {run_dir} is not a run folder (no config.yaml)")
    raise problem


def _fresh_model(config: TrainConfig, venv: PatrolVecEnv, run_dir: Path):
    """A new model (and VecNormalize wrapper, or None) as ``config`` describes."""
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
    policy_kwargs: dict[str, Any] = {
        "net_arch": list(config.network.net_arch),
        "activation_fn": {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[config.network.activation],
    }
    central = config.network.critic_state is not None
    if central:
        policy_kwargs["actor_columns"] = venv.builder.size
    model = _algorithm(config.algorithm)(
        patrol_policy(config.algorithm, central, config.network.value_norm),
        vecnormalize or venv,
        seed=config.seed,
        device="cpu",
        tensorboard_log=str(run_dir / "tb"),
        policy_kwargs=policy_kwargs,
        **config.ppo.model_dump(),
    )
    return model, vecnormalize


def _restore(run_dir: Path, config: TrainConfig, venv: PatrolVecEnv, say):
    """Model, VecNormalize and checkpoint of the newest intact checkpoint of ``run_dir``.

    A damaged checkpoint is reported and skipped for the next older one.

    Raises
    ------
    PatrolMarlError
        Naming the damaged file, if no checkpoint is intact.
    """
    first_problem = None
    for folder in checkpoint_folders(run_dir):
        try:
            restored = _load_checkpoint(folder, config, venv, run_dir)
        except DamagedCheckpoint as exc:
            say(f"checkpoint {folder.name}: {exc}; trying an older one")
            first_problem = first_problem or exc
            continue
        if first_problem is not None:
            say(f"resuming from {folder.name}, the newest intact checkpoint")
        return restored
    raise PatrolMarlError(f"--resume: no intact checkpoint in {run_dir}: {first_problem}")


def _load_checkpoint(folder: Path, config: TrainConfig, venv: PatrolVecEnv, run_dir: Path):
    checkpoint = read_checkpoint(folder)
    vecnormalize = None
    if config.normalize.observations or config.normalize.rewards:
        vecnormalize = _load_vecnormalize(checkpoint.vecnormalize_path, venv)
    if not checkpoint.model_path.is_file():
        raise DamagedCheckpoint(checkpoint.model_path, "is missing")
    try:
        # tensorboard_log: this folder's tb/, not the path saved in the model (which is
        # stale if the run folder was moved or copied, or given relative to another cwd).
        model = _algorithm(config.algorithm).load(
            checkpoint.model_path,
            env=vecnormalize or venv,
            device="cpu",
            tensorboard_log=str(run_dir / "tb"),
        )
    except Exception as exc:  # a damaged zip can fail in zipfile, torch or SB3 itself
        problem = f"is damaged or not a {config.algorithm} model ({exc.__class__.__name__})"
        raise DamagedCheckpoint(checkpoint.model_path, problem) from None
    if model.num_timesteps != checkpoint.num_timesteps:
        raise DamagedCheckpoint(
            folder / "state.json",
            f"is damaged (step {checkpoint.num_timesteps:,}, model.zip {model.num_timesteps:,})",
        )
    extra = checkpoint.restore_rng()  # after load, which reseeds
    try:
        venv.set_rng_state(extra["env"])
    except Exception as exc:  # a wrong generator state fails inside numpy
        raise DamagedCheckpoint(
            folder / "rng.pt", f"is damaged (env generator: {exc.__class__.__name__})"
        ) from None
    return model, vecnormalize, checkpoint


def _train_and_report(
    run: _Run, best_score: float, progress_bar: bool, extra_callbacks: Sequence[BaseCallback]
) -> dict[str, Any]:
    """``config.yaml`` and ``district.json``, imitation (fresh runs with a teacher), PPO up
    to ``total_timesteps``, checkpoints, ``final.zip``, the final evaluation and
    ``final.json``; returns the final summary."""
    config, model, run_dir, say = run.config, run.model, run.folder, run.say
    _write_config(run_dir, config)
    if not (run_dir / DISTRICT_FILE).is_file():
        write_district_json(run_dir, run.district)
    started = time.perf_counter()
    pretrain = None
    if not run.resumed and config.pretrain.teacher is not None:
        pretrain = _imitate(model, run.vecnormalize, run.district, config, say)
        # The clone before any PPO update: what PPO's own contribution is measured against.
        save_model_atomically(model, run.vecnormalize, run_dir / WARM_START_FILE)
    evaluator = PatrolEvalCallback(
        run.district,
        config.eval,
        run_dir,
        run.vecnormalize,
        best_score=best_score,
        say=say,
    )
    callbacks = [
        DomainMetricsCallback(run.venv),
        EveryNTimestepsFromStart(config.eval.freq, evaluator),
        EveryNTimestepsFromStart(
            config.checkpoint_freq,
            ResumeCheckpointCallback(lambda: run.save_checkpoint(evaluator.best_score)),
        ),
    ]
    if config.pretrain.teacher is not None and config.pretrain.critic_warmup_steps > 0:
        callbacks.append(CriticWarmupCallback(config.pretrain.critic_warmup_steps))
    if config.network.value_norm:
        callbacks.append(ValueNormCallback(config.ppo.vf_coef))
    callbacks.extend(extra_callbacks)
    remaining = config.total_timesteps - model.num_timesteps
    rollout = config.ppo.n_steps * run.venv.num_envs
    if remaining > 0 and remaining % rollout:
        trained = model.num_timesteps + -(-remaining // rollout) * rollout
        say(
            f"total_timesteps {config.total_timesteps:,} rounds up to {trained:,}: "
            f"whole rollouts of {rollout:,} agent-steps"
        )
    if remaining > 0:
        say(
            rounding_note(config.total_timesteps, model.num_timesteps, model.n_steps * model.n_envs)
        )
        model.learn(
            remaining,
            callback=CallbackList(callbacks),
            tb_log_name=TB_NAME,
            reset_num_timesteps=not run.resumed,
            progress_bar=progress_bar,
        )
    minutes = (time.perf_counter() - started) / 60.0
    run.save_checkpoint(evaluator.best_score)
    save_model_atomically(model, run.vecnormalize, run_dir / "final.zip")
    if not (run_dir / "best.zip").exists():
        if remaining <= 0:  # no learn(): the callback has neither model nor logger yet
            model.set_logger(Logger(folder=None, output_formats=[]))
            evaluator.init_callback(model)
        evaluator.run_evaluation()
    say(f"trained {model.num_timesteps:,} agent-steps in {minutes:.1f} min; final evaluation ...")
    summary = final_evaluation(run.district, run_dir, config)
    summary["train_minutes_this_session"] = minutes
    if pretrain is not None:
        summary["pretrain"] = pretrain
    write_text_atomically(run_dir / "final.json", json.dumps(summary, indent=2))
    return summary


def rounding_note(total: int, start: int, rollout: int) -> str:
    """What PPO will train: whole rollouts of ``rollout`` agent-steps from ``start`` up to
    at least ``total`` (e.g. ``60,000 agent-steps rounded up to 71,680 = 5 rollouts of
    14,336``)."""
    rollouts = -(-(total - start) // rollout)
    end = start + rollouts * rollout
    plural = "s" if rollouts != 1 else ""
    whole = f"{rollouts} rollout{plural} of {rollout:,}"
    if start:
        whole = f"{start:,} + {whole}"
    if end == total:
        return f"training {total:,} agent-steps = {whole}"
    return f"{total:,} agent-steps rounded up to {end:,} = {whole}"


def _write_config(run_dir: Path, config: TrainConfig) -> None:
    text = yaml.safe_dump(config.model_dump(), sort_keys=False)
    path = run_dir / "config.yaml"
    if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
        write_text_atomically(path, text)


DISTRICT_FILE = "district.json"
#: The model of a warm-started run right after imitation, before PPO (with its statistics).
WARM_START_FILE = "warm_start.zip"


def write_district_json(run_dir: Path, district: District) -> None:
    """``RUN/district.json``: the district the run trains on and its config hash."""
    record = {"district": district.name, "district_config_sha256": district.config_sha256}
    write_text_atomically(run_dir / DISTRICT_FILE, json.dumps(record, indent=2) + "\n")


def _check_district(run_dir: Path, district: District) -> None:
    """Refuse to resume on a district other than the run's (its config changed)."""
    path = run_dir / DISTRICT_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        saved = record["district_config_sha256"]
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError):
        path.unlink()  # rewritten from the run's config: a damaged record says nothing
        return
    if saved != district.config_sha256:
        raise PatrolMarlError(
            f"--resume: {path}: the run was trained on another version of district "
            f"{record.get('district')!r} (config sha256 {str(saved)[:12]}..., now "
            f"{district.config_sha256[:12]}...)"
        )


def _imitate(model, vecnormalize, district: District, config: TrainConfig, say) -> dict[str, Any]:
    """Clone ``config.pretrain.teacher`` into the fresh ``model`` (see the imitation module)."""
    settings = config.pretrain
    started = time.perf_counter()
    data = demonstrations(
        district,
        settings.teacher,
        settings.days,
        config.seed,
        config.observation.move_gains,
        LEARNED_RULES[config.dispatch],
        critic_state=config.network.critic_state,
    )
    normalize: Callable[[np.ndarray], np.ndarray] = np.asarray
    if vecnormalize is not None and vecnormalize.norm_obs:
        if settings.statistics == "every_slot":
            vecnormalize.obs_rms = data.every_slot
        else:
            vecnormalize.obs_rms.update(data.observations)
        normalizer = ObservationNormalizer.from_vecnormalize(vecnormalize)
        normalize = normalizer.first(actor_observation_size(model))
    agreement, accept_agreement = clone(
        model,
        data,
        normalize,
        epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        batch_size=settings.batch_size,
        seed=config.seed,
    )
    minutes = (time.perf_counter() - started) / 60.0
    accepts = "" if accept_agreement is None else f" ({accept_agreement:.1%} of its accepts)"
    say(
        f"imitated {settings.teacher} on {settings.days} days ({data.actions.size:,} decisions) "
        f"in {minutes:.1f} min: the policy takes its action in {agreement:.1%} of them{accepts}"
    )
    return {
        "teacher": settings.teacher,
        "decisions": int(data.actions.size),
        "agreement": agreement,
        "accept_agreement": accept_agreement,
        "minutes": minutes,
    }


def _load_vecnormalize(path: Path, venv: PatrolVecEnv) -> VecNormalize:
    if not path.is_file():
        raise DamagedCheckpoint(path, "is missing")
    try:
        vecnormalize = VecNormalize.load(str(path), venv)
    except Exception as exc:  # unpickling garbage can raise nearly anything
        raise DamagedCheckpoint(path, f"is damaged ({exc.__class__.__name__})") from None
    if not isinstance(vecnormalize, VecNormalize):
        raise DamagedCheckpoint(path, "is damaged (not VecNormalize statistics)")
    vecnormalize.training = True
    return vecnormalize


#: The figures of each policy that the final summary shows (lower is better for all).
SUMMARY_FIGURES = ("response_mean", "response_p90", "thefts_per_day", "combined_cost_per_day")


def final_evaluation(district: District, run_dir: Path, config: TrainConfig) -> dict[str, Any]:
    """Score ``best.zip`` against the baselines on ``eval.final_days`` days; write ``report/``."""
    best = load_zip_policy(run_dir / "best.zip", district)
    best.name = "ppo"
    policies = [best] + [BASELINES[name](seed=config.seed) for name in config.eval.final_baselines]
    ev = evaluate(
        district,
        policies,
        days=config.eval.final_days,
        seed=config.eval.final_seed,
        theft_minutes=config.eval.theft_minutes,
    )
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
        "policies": {  # ppo first, then fixed_zone and the final baselines
            r.name: {k: r.summary[k] for k in SUMMARY_FIGURES}
            for r in sorted(ev.results, key=lambda r: r.name != "ppo")
        },
        "final_days": config.eval.final_days,
        "final_seed": config.eval.final_seed,
        "theft_minutes": ev.theft_minutes,
    }


def describe_final(summary: dict[str, Any], run_dir: Path) -> str:
    """A few lines for people: the held-out figures of ppo and the baselines, ppo's
    differences with their 95 % intervals, and where the report is."""
    days = summary["final_days"]
    lines = [
        f"held-out evaluation on {days} day{'s' if days != 1 else ''} "
        f"(seed {summary['final_seed']}); lower is better; combined cost = response "
        f"minutes + {summary['theft_minutes']:g} min per theft:",
        f"  {'policy':12s} {'response min':>12s} {'p90 min':>9s} {'thefts/day':>11s} "
        f"{'cost min/day':>12s}",
    ]
    for name, row in summary["policies"].items():
        figures = (
            _number(row[k], width)
            for k, width in zip(SUMMARY_FIGURES, (12, 9, 11, 12), strict=True)
        )
        lines.append(f"  {name:12s} " + " ".join(figures))
    against = {"fixed_zone": summary["vs_fixed_zone"], **summary["vs_baselines"]}
    for name, diff in against.items():
        parts = [
            f"{label} {_difference(diff[key])}"
            for key, label in (
                ("response_mean", "response"),
                ("thefts_per_day", "thefts/day"),
                ("combined_cost_per_day", "cost/day"),
                ("expected_cost_per_day", "expected cost/day"),
            )
            if key in diff
        ]
        lines.append(f"  ppo - {name}: " + ", ".join(parts))
    lines.append(f"report: {run_dir / 'report' / 'report.html'}")
    return "\n".join(lines)


def _number(value: float | None, width: int) -> str:
    if value is None or not np.isfinite(value):
        return f"{'n/a':>{width}s}"
    return f"{value:{width}.2f}"


def _difference(row: dict[str, Any]) -> str:
    low, high = row["ci_low"], row["ci_high"]
    if not all(
        isinstance(v, int | float) and np.isfinite(v) for v in (row["difference"], low, high)
    ):
        return "n/a"
    return f"{row['difference']:+.2f} (95% CI {low:+.2f} to {high:+.2f})"


def train_seeds(
    config: TrainConfig,
    seeds: list[int],
    run_dir: Path,
    resume: bool = False,
    progress_bar: bool = False,
    say: Callable[[str], None] = print,
    parallel: bool | None = None,
    extra_callbacks: Sequence[BaseCallback] = (),
    source: str = "training config",
) -> dict[str, Any]:
    """One run per seed under ``run_dir/seed_<s>`` (in parallel through Ray when installed,
    see :mod:`~patrolmarl.training.parallel_seeds`), then a summary across seeds with
    bootstrap intervals and ``learning_curves.png`` (:mod:`~patrolmarl.training.seed_summary`).

    ``run_dir`` also gets ``config.yaml`` and ``seeds.json`` so that the whole
    set can be resumed with ``--resume run_dir``.
    """
    configs = [
        validate_mapping(TrainConfig, config.model_dump() | {"seed": seed}, f"{source} (--seeds)")
        for seed in seeds
    ]
    check_location(run_dir, "--resume" if resume else "--run-dir", fresh=not resume)
    if not resume and holds_results(run_dir):  # before config.yaml and seeds.json change
        raise PatrolMarlError(f"--run-dir: {run_dir} already holds a run (use --resume)")
    with claimed(run_dir):
        if resume:
            remove_leftover_temps(run_dir)
        else:
            clear_unfinished_run(run_dir)
        _write_config(run_dir, config)
        write_text_atomically(run_dir / "seeds.json", json.dumps(seeds))
        finals = train_each_seed(
            configs, run_dir, resume, progress_bar, say, parallel, extra_callbacks, source
        )
        summary = seeds_summary(finals, [seed_dir(run_dir, s) for s in seeds])
        write_text_atomically(run_dir / "seeds_summary.json", json.dumps(summary, indent=2))
        plot_learning_curves(summary, run_dir / "learning_curves.png")
    return summary
