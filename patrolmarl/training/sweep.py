"""Hyperparameter sweeps on Ray Tune: the sweep file, the search, one run folder per trial.

A sweep file (``configs/sweeps/*.yaml``) names a base training config (a path
relative to the sweep file), a search space over its fields by dotted path,
the seeds each trial trains, the number of trials, the metric, the search
algorithm (Optuna's TPE through Ray Tune, random or grid) and ASHA early
stopping. The metric is one of the evaluator's figures on the selection days
(``eval.seed``) measured during training, never the shaped reward: each
evaluation is reported to Tune (and to ASHA); a trial's value is the mean over
its seeds of their last evaluation.

The sweep folder holds ``sweep.json`` (the validated sweep and base config, so
that ``--resume`` needs nothing else), ``tune/`` (Ray Tune's experiment),
``trials/<trial_id>/`` (a normal set of seeds as ``patrolmarl train --seeds``
writes it: resumable, exportable, evaluable), and at the end ``trials.csv``,
``trials.json``, ``best_config.yaml`` (a training config) and ``metric.png``.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field
from stable_baselines3.common.callbacks import BaseCallback

from patrolmarl.config_types import StrictModel, WholeNumber
from patrolmarl.errors import ConfigError, PatrolMarlError
from patrolmarl.training.config import TrainConfig
from patrolmarl.training.ray_cluster import check_address, connect, import_ray, local_cpus
from patrolmarl.training.run_folder import LOG_NAME
from patrolmarl.yaml_config import read_yaml_mapping, validate_mapping

#: Evaluation figures a sweep can minimise (see PatrolEvalCallback's ``eval/*`` scalars).
METRICS = ("score", "response_mean", "response_p90", "thefts_per_day")
KINDS = ("choice", "uniform", "log_uniform", "integer")
SWEEP_FILE = "sweep.json"
TUNE_NAME = "tune"
TRIALS_DIR = "trials"
OUTPUT_FILES = ("trials.csv", "trials.json", "best_config.yaml", "metric.png")


class AshaSettings(StrictModel):
    """ASHA early stopping, counted in evaluations reported (one per ``eval.freq``)."""

    grace_period: Annotated[WholeNumber, Field(ge=1)] = Field(
        1, description="evaluations every trial runs before it may be stopped"
    )
    reduction_factor: Annotated[WholeNumber, Field(ge=2)] = Field(
        2, description="1 / share of the trials kept at each rung"
    )


class ResourceSettings(StrictModel):
    """CPUs of local Ray (default: this machine's) and of each trial (default: torch_threads)."""

    num_cpus: Annotated[WholeNumber, Field(ge=1)] | None = Field(
        None, description="CPUs of local Ray (default: this machine's)"
    )
    cpus_per_trial: Annotated[WholeNumber, Field(ge=1)] | None = Field(
        None, description="CPUs of each trial (default: the base config's torch_threads)"
    )


class SweepFile(StrictModel):
    """A whole sweep file; ``space`` maps dotted field paths to one distribution each,
    ``fixed`` sets dotted fields of the base config for every trial."""

    base: str = Field(description="the base training config, relative to this file")
    fixed: dict[str, Any] = Field({}, description="dotted fields set for every trial")
    metric: Literal[METRICS] = Field(  # type: ignore[valid-type]
        METRICS[0], description="evaluation figure minimised (eval/<metric>)"
    )
    trials: Annotated[WholeNumber, Field(ge=1)] | None = Field(
        None, description="trials to run (grid search: the grid's size)"
    )
    seeds: Annotated[list[Annotated[WholeNumber, Field(ge=0)]], Field(min_length=1)] = Field(
        [0], description="training seeds of every trial"
    )
    search: Literal["tpe", "random", "grid"] = Field("tpe", description="search algorithm")
    search_seed: Annotated[WholeNumber, Field(ge=0)] = Field(
        0, description="seed of the search algorithm"
    )
    asha: AshaSettings | None = Field(
        AshaSettings(), description="ASHA early stopping (null: none)"
    )
    resources: ResourceSettings = Field(ResourceSettings(), description="CPUs of Ray")
    space: Annotated[dict[str, Any], Field(min_length=1)] = Field(
        description="dotted field -> one distribution (kind and values)"
    )


@dataclass(frozen=True)
class Dimension:
    """One searched field: ``kind`` in :data:`KINDS`; ``values`` the options or (low, high)."""

    path: str
    kind: str
    values: tuple

    def ray_domain(self, tune):
        """The Ray Tune search domain (``integer`` includes ``high``)."""
        if self.kind == "choice":
            return tune.choice(list(self.values))
        low, high = self.values
        if self.kind == "uniform":
            return tune.uniform(low, high)
        if self.kind == "log_uniform":
            return tune.loguniform(low, high)
        return tune.randint(low, high + 1)


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its file, the base training config (as a dict) and the space."""

    file: SweepFile
    base: dict[str, Any]
    dimensions: tuple[Dimension, ...]

    @property
    def trials(self) -> int:
        """Trials to run: ``trials``, or the size of the grid."""
        if self.file.search == "grid":
            return math.prod(len(d.values) for d in self.dimensions)
        return self.file.trials

    def config_with(self, params: dict[str, Any]) -> TrainConfig:
        """The base config with ``params`` (dotted paths) set."""
        return TrainConfig.model_validate(with_params(self.base, params))

    def to_json(self) -> dict[str, Any]:
        """What ``sweep.json`` holds (read back by :func:`read_sweep_folder`)."""
        return {"sweep": self.file.model_dump(), "base": self.base}


# --------------------------------------------------------------------- the sweep file
def load_sweep(path: Path) -> Sweep:
    """Read and validate a sweep file and its base config.

    Raises
    ------
    ConfigError
        One line naming the file, the field and the reason.
    """
    source = str(path)
    file = validate_mapping(SweepFile, read_yaml_mapping(Path(path)), source)
    base_path = Path(file.base)
    if not base_path.is_absolute():
        base_path = Path(path).parent / base_path
    if not base_path.is_file():
        raise ConfigError(source, "base", f"training config {base_path} not found")
    base = validate_mapping(TrainConfig, read_yaml_mapping(base_path), str(base_path))
    for field_path in file.fixed:
        _field_annotation(source, f"fixed.{field_path}", field_path)
    try:
        base = validate_mapping(TrainConfig, with_params(base.model_dump(), file.fixed), "")
    except ConfigError as exc:
        raise ConfigError(source, f"fixed.{exc.field}", exc.reason) from None
    raw = base.model_dump()
    if Path(raw["district"]).suffix in (".yaml", ".yml"):
        # Trials run in Ray workers with another working folder: an absolute district path.
        district = Path(raw["district"])
        raw["district"] = str(district if district.is_absolute() else district.resolve())
    problem = _no_evaluation(base)
    if problem:
        raise ConfigError(source, "fixed" if file.fixed else "base", problem)
    both = sorted(set(file.fixed) & set(file.space))
    if both:
        raise ConfigError(source, f"space.{both[0]}", "also set in fixed: (one or the other)")
    dimensions = tuple(_dimension(source, raw, p, spec) for p, spec in file.space.items())
    sweep = Sweep(file, raw, dimensions)
    _check_search(source, sweep)
    _check_resources(source, sweep)
    return sweep


def _dimension(source: str, base: dict[str, Any], path: str, spec: Any) -> Dimension:
    field = f"space.{path}"
    annotation = _field_annotation(source, field, path)
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
        raise ConfigError(
            source,
            field,
            f"expected one of {', '.join(KINDS)} with its values, "
            "e.g. {log_uniform: [0.0001, 0.01]}",
        )
    kind, values = next(iter(spec.items()))
    if kind == "choice":
        if not isinstance(values, list) or not values:
            raise ConfigError(source, field, "choice needs a non-empty list of values")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise ConfigError(source, field, "choice lists a value twice")
        options = tuple(values)
    else:
        options = _range(source, field, kind, values, annotation)
    for value in options:  # the range's ends (or each option) must make a valid config
        try:
            config = validate_mapping(TrainConfig, with_params(base, {path: value}), source)
        except ConfigError as exc:
            raise ConfigError(source, field, f"{value!r}: {exc.reason}") from None
        problem = _no_evaluation(config)
        if problem:
            raise ConfigError(source, field, f"{value!r}: {problem}")
    return Dimension(path, kind, options)


def _range(source: str, field: str, kind: str, values: Any, annotation: Any) -> tuple:
    whole = kind == "integer"
    number = int if whole else (int, float)
    if (
        not isinstance(values, list)
        or len(values) != 2
        or not all(isinstance(v, number) and not isinstance(v, bool) for v in values)
        or not all(math.isfinite(v) for v in values)
    ):
        what = "whole numbers" if whole else "finite numbers"
        raise ConfigError(source, field, f"{kind} needs [low, high] with two {what}")
    low, high = values
    if low == high:
        raise ConfigError(source, field, f"empty range [{low}, {high}] (low equals high)")
    if low > high:
        raise ConfigError(source, field, f"inverted range [{low}, {high}] (low above high)")
    if kind == "log_uniform" and low <= 0:
        raise ConfigError(source, field, f"log_uniform needs low above 0, got {low}")
    if not whole and annotation is int:
        raise ConfigError(source, field, f"{kind} draws fractions, the field is whole: use integer")
    return (low, high)


def _field_annotation(source: str, field: str, path: str) -> Any:
    """The type of the TrainConfig field at dotted ``path``; ConfigError if there is none."""
    if path == "seed":
        raise ConfigError(source, field, "seeds are set by the sweep's seeds:, not searched")
    model: type[BaseModel] = TrainConfig
    parts = path.split(".")
    for i, part in enumerate(parts):
        info = model.model_fields.get(part)
        if info is None:
            raise ConfigError(source, field, "unknown training config field")
        annotation = info.annotation
        is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if i < len(parts) - 1:
            if not is_section:
                raise ConfigError(source, field, "unknown training config field")
            model = annotation
        elif is_section:
            raise ConfigError(source, field, f"{path} is a section, not a field")
    return annotation


def _no_evaluation(config: TrainConfig) -> str | None:
    """Why ``config`` would make no evaluation during training (a trial reports them)."""
    if config.eval.freq > config.total_timesteps:
        return (
            f"eval.freq {config.eval.freq:,} is above total_timesteps "
            f"{config.total_timesteps:,}: no evaluation during training to report"
        )
    return None


def _check_search(source: str, sweep: Sweep) -> None:
    file = sweep.file
    if file.search == "grid":
        if any(d.kind != "choice" for d in sweep.dimensions):
            raise ConfigError(source, "search", "grid needs every space entry to be a choice")
        if file.trials is not None and file.trials != sweep.trials:
            raise ConfigError(
                source, "trials", f"the grid has {sweep.trials} trials, not {file.trials}"
            )
    elif file.trials is None:
        raise ConfigError(source, "trials", f"required for search {file.search}")
    if len(set(file.seeds)) != len(file.seeds):
        raise ConfigError(source, "seeds", "a seed is listed twice")


def _check_resources(source: str, sweep: Sweep) -> None:
    per_trial = sweep.file.resources.cpus_per_trial
    threads = sweep.base["torch_threads"]
    if per_trial is not None and per_trial < threads:
        raise ConfigError(
            source,
            "resources.cpus_per_trial",
            f"{per_trial} is below the base config's torch_threads {threads}: trials would "
            "oversubscribe their CPUs",
        )
    num_cpus = sweep.file.resources.num_cpus
    if num_cpus is not None and (per_trial or threads) > num_cpus:
        raise ConfigError(
            source,
            "resources.num_cpus",
            f"{num_cpus} cannot hold one trial of {per_trial or threads} CPUs",
        )


def with_params(base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with each dotted path of ``params`` set."""
    raw = copy.deepcopy(base)
    for path, value in params.items():
        *sections, leaf = path.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    return raw


def read_sweep_folder(sweep_dir: Path) -> Sweep:
    """The sweep saved in ``sweep_dir/sweep.json`` (for ``--resume``)."""
    saved = Path(sweep_dir) / SWEEP_FILE
    if not saved.is_file():
        raise PatrolMarlError(f"--resume: {sweep_dir} is not a sweep folder (no {SWEEP_FILE})")
    raw = json.loads(saved.read_text())
    file = SweepFile.model_validate(raw["sweep"])
    return Sweep(
        file,
        raw["base"],
        tuple(_dimension(str(saved), raw["base"], p, s) for p, s in file.space.items()),
    )


# --------------------------------------------------------------------- the trials
class EvaluationReporter(BaseCallback):
    """Reports each evaluation's ``eval/<metric>`` to ``report`` (e.g. ``ray.tune.report``).

    PatrolEvalCallback records its ``eval/*`` figures during a rollout and SB3
    writes (and clears) them after the rollout, so they are read at its end.
    """

    def __init__(self, metric: str, report: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self.key = f"eval/{metric}"
        self.report = report

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.key in self.logger.name_to_value:
            value = float(self.logger.name_to_value[self.key])
            self.report({"value": value, "timesteps": self.num_timesteps, "final": False})


def trial_value(run_dir: Path, seeds: list[int], metric: str) -> tuple[float, int]:
    """Mean over ``seeds`` of each seed's last evaluation of ``metric`` during training,
    and the number of evaluations of all seeds (read from their run folders)."""
    from patrolmarl.training.parallel_seeds import seed_dir
    from patrolmarl.training.seed_summary import evaluation_curve

    curves = [evaluation_curve(seed_dir(run_dir, seed), metric) for seed in seeds]
    last = [curve[-1][1] if curve else float("nan") for curve in curves]
    return float(sum(last) / len(last)), sum(len(curve) for curve in curves)


def run_trial(params: dict[str, Any], sweep_dir: str, sweep: dict[str, Any]) -> None:
    """Ray Tune trainable: train the trial's seeds in ``trials/<trial_id>``, reporting
    each evaluation; a restarted trial resumes its run folders."""
    from ray import tune

    from patrolmarl.training.train import train_seeds

    saved = SweepFile.model_validate(sweep["sweep"])
    config = TrainConfig.model_validate(with_params(sweep["base"], params))
    run_dir = Path(sweep_dir) / TRIALS_DIR / tune.get_context().get_trial_id()
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOG_NAME, "a", encoding="utf-8") as log:

        def say(line: str) -> None:
            print(line, file=log, flush=True)

        reporter = EvaluationReporter(saved.metric, tune.report)
        resume = (run_dir / "seeds.json").is_file()
        summary = train_seeds(
            config,
            saved.seeds,
            run_dir,
            resume=resume,
            say=say,
            parallel=False,
            extra_callbacks=[reporter],
        )
    held_out = {
        f"held_out_{k}": v["mean"]
        for k, v in summary["metrics"].items()
        if k in ("response_mean", "thefts_per_day", "response_p90")
    }
    value, evaluations = trial_value(run_dir, saved.seeds, saved.metric)
    final = {"value": value, "evaluations": evaluations, "final": True}
    tune.report({**final, "timesteps": config.total_timesteps, **held_out})


# --------------------------------------------------------------------- the driver
def check_sweep_folder(sweep_dir: Path) -> None:
    """A fresh sweep needs an absent or empty folder."""
    if sweep_dir.exists() and (not sweep_dir.is_dir() or any(sweep_dir.iterdir())):
        what = (
            "holds a sweep (use --resume)"
            if (sweep_dir / SWEEP_FILE).exists()
            else ("is not an empty folder")
        )
        raise PatrolMarlError(f"--out: {sweep_dir} {what}")


def run_sweep(
    sweep: Sweep,
    sweep_dir: Path,
    address: str | None = None,
    resume: bool = False,
    say: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run (or resume) ``sweep`` in ``sweep_dir``; write the outputs; return the table rows."""
    sweep_dir = Path(sweep_dir).absolute()
    if not resume:
        check_sweep_folder(sweep_dir)
    if address is not None:
        check_address(address)  # within seconds, before Ray is even imported
    import_ray("patrolmarl sweep")
    file = sweep.file
    cpus = file.resources.num_cpus or local_cpus()
    per_trial = file.resources.cpus_per_trial or sweep.base["torch_threads"]
    if file.resources.num_cpus is None and per_trial > cpus:
        raise PatrolMarlError(
            f"a trial needs {per_trial} CPUs (torch_threads) and this machine has {cpus}"
        )
    started = connect("patrolmarl sweep", address, cpus)  # an unreachable address fails here
    try:
        if not resume:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            (sweep_dir / SWEEP_FILE).write_text(json.dumps(sweep.to_json(), indent=2))
        tuner = _tuner(sweep, sweep_dir, address is None, cpus, per_trial, resume, say)
        say(
            f"sweep: {sweep.trials} trials of seeds {file.seeds}, {file.search} search, "
            f"metric {file.metric} (lower is better); folder {sweep_dir}"
        )
        results = _fit(tuner)
        if results is None:
            say(f"sweep interrupted: continue with patrolmarl sweep --resume {sweep_dir}")
            raise KeyboardInterrupt
        rows = _rows(sweep, sweep_dir, results)
        write_outputs(sweep, sweep_dir, rows, results)
    finally:
        if started:
            import ray

            ray.shutdown()
    return rows


def _fit(tuner):
    """``tuner.fit()``, or None if Ctrl-C stopped it.

    On Ctrl-C Tune saves its state and returns what it has; its SIGINT handler
    then puts back the one it replaced, which is how the interruption is told
    apart from an ordinary end (after which the earlier handler is put back too).
    """
    before = signal.getsignal(signal.SIGINT)
    try:
        results = tuner.fit()
    finally:
        restored = signal.getsignal(signal.SIGINT) is before
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, before)
    watched = threading.current_thread() is threading.main_thread()
    return None if watched and restored else results


def _tuner(sweep, sweep_dir, local, cpus, per_trial, resume, say):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    file = sweep.file
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, sweep_dir=str(sweep_dir), sweep=sweep.to_json()),
        {"cpu": per_trial},
    )
    if resume:
        path = str(sweep_dir / TUNE_NAME)
        if not tune.Tuner.can_restore(path):
            raise PatrolMarlError(f"--resume: {sweep_dir} has no Tune experiment to resume")
        return tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True)
    if file.asha is None:
        scheduler = FIFOScheduler()
    else:
        evaluations = sweep.base["total_timesteps"] // sweep.base["eval"]["freq"]
        scheduler = ASHAScheduler(
            max_t=max(2, evaluations * len(file.seeds) + 1),
            grace_period=file.asha.grace_period,
            reduction_factor=file.asha.reduction_factor,
        )
    space = {d.path: d.ray_domain(tune) for d in sweep.dimensions}
    if file.search == "grid":
        space = {d.path: tune.grid_search(list(d.values)) for d in sweep.dimensions}
        search_alg, samples = None, 1
    elif file.search == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        search_alg, samples = BasicVariantGenerator(random_state=file.search_seed), file.trials
    else:
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        search_alg = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=file.search_seed))
        samples = file.trials
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="value",
            mode="min",
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=samples,
            max_concurrent_trials=max(1, cpus // per_trial) if local else None,
            trial_dirname_creator=lambda trial: trial.trial_id,
            # One worker process trains trial after trial: imports and the final
            # report's p-median limit (cached per process) are paid once.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=TUNE_NAME,
            storage_path=str(sweep_dir),
            verbose=0,
            callbacks=[_progress_callback(say)],
        ),
    )


def _progress_callback(say: Callable[[str], None]):
    """A Tune callback printing one line per evaluation and per failed trial (restored
    with the experiment on ``--resume``)."""
    from ray.tune import Callback

    class _Progress(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            kind = "final" if result.get("final") else f"eval @ {result.get('timesteps', 0):,}"
            say(f"trial {trial.trial_id} {kind}: value {result.get('value', float('nan')):.4f}")

        def on_trial_error(self, iteration, trials, trial, **info):
            say(f"trial {trial.trial_id} failed; its log: {TRIALS_DIR}/{trial.trial_id}/{LOG_NAME}")

    return _Progress()


def _rows(sweep: Sweep, sweep_dir: Path, results) -> list[dict[str, Any]]:
    rows = []
    for result in results:
        trial = Path(result.path).name
        metrics = result.metrics or {}
        run_dir = sweep_dir / TRIALS_DIR / trial
        finished = all((run_dir / f"seed_{s}" / "final.json").is_file() for s in sweep.file.seeds)
        status = "error" if result.error else ("finished" if finished else "stopped early")
        value = metrics.get("value")
        row = {
            "trial": trial,
            "status": status,
            "value": value if isinstance(value, float) and math.isfinite(value) else None,
            "evaluations": metrics.get("evaluations", metrics.get("training_iteration", 0)),
            **{d.path: result.config.get(d.path) for d in sweep.dimensions},
            **{k: v for k, v in metrics.items() if k.startswith("held_out_")},
            "run_dir": f"{TRIALS_DIR}/{trial}",
        }
        rows.append(row)
    return sorted(rows, key=lambda r: r["trial"])


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The lowest value among finished trials (any trial if none finished)."""
    for pool in ([r for r in rows if r["status"] == "finished"], rows):
        scored = [r for r in pool if r["value"] is not None]
        if scored:
            return min(scored, key=lambda r: r["value"])
    return None


def write_outputs(sweep: Sweep, sweep_dir: Path, rows: list[dict[str, Any]], results) -> None:
    """``trials.csv``, ``trials.json``, ``best_config.yaml`` and ``metric.png``, each atomically."""
    columns = list(rows[0]) if rows else ["trial"]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    _write(sweep_dir / "trials.csv", text.getvalue())
    _write(sweep_dir / "trials.json", json.dumps(rows, indent=2))
    best = best_row(rows)
    if best is not None:
        config = sweep.config_with({d.path: best[d.path] for d in sweep.dimensions})
        header = (
            f"# Best trial {best['trial']} of the sweep in {sweep_dir.name}: "
            f"{sweep.file.metric} {best['value']:.4g} (lower is better).\n"
            f"# patrolmarl train --config {sweep_dir.name}/best_config.yaml\n"
        )
        _write(
            sweep_dir / "best_config.yaml",
            header + yaml.safe_dump(config.model_dump(), sort_keys=False),
        )
    from patrolmarl.training.sweep_plot import plot_metric

    curves = {}
    for result in results:
        frame = result.metrics_dataframe
        if frame is not None and "value" in frame and "final" in frame:
            during = frame[~frame["final"].astype(bool)]
            curves[Path(result.path).name] = (list(during["timesteps"]), list(during["value"]))
    plot_metric(rows, curves, sweep.file.metric, best, sweep_dir / "metric.png")


def format_table(rows: list[dict[str, Any]], dimensions: tuple[Dimension, ...]) -> str:
    """The trials as a text table: trial, status, value, evaluations, then the parameters."""
    names = ["trial", "status", "value", "evaluations", *(d.path for d in dimensions)]
    cells = [[_cell(r.get(n)) for n in names] for r in rows]
    widths = [max(len(n), *(len(c[i]) for c in cells)) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) for cell in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
