"""Results across training seeds: bootstrap 95 % intervals and learning curves.

A seed is one run folder. Its final metrics come from ``final.json``; its
learning curve from the evaluations made during training (the ``eval/*``
scalars that :class:`~patrolmarl.training.callbacks.PatrolEvalCallback` logs
to tensorboard), never from the shaped reward.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: The evaluation metrics drawn as learning curves (all lower is better).
CURVE_METRICS = ("score", "response_mean", "thefts_per_day")
RESAMPLES = 10_000
LEVEL = 0.95


def bootstrap_mean_interval(
    values: np.ndarray, rng: np.random.Generator, resamples: int = RESAMPLES, level: float = LEVEL
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaNs dropped).

    With few seeds the interval is crude (two seeds give their two values);
    ``(nan, nan)`` when no value is finite.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    means = finite[rng.integers(0, finite.size, size=(resamples, finite.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def evaluation_curve(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    """``[(timestep, value)]`` of ``eval/<metric>`` logged during training in ``run_dir/tb``.

    A resumed run logs to a new tensorboard folder and repeats the steps after
    its checkpoint: a later session replaces the earlier one's values from its
    own first step on.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tag = f"eval/{metric}"
    sessions = []
    for folder in sorted(p for p in (Path(run_dir) / "tb").glob("*") if p.is_dir()):
        acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            events = acc.Scalars(tag)
            if events:
                sessions.append(events)
    curve: dict[int, float] = {}
    for events in sorted(sessions, key=lambda e: e[0].wall_time):
        first = events[0].step
        curve = {step: value for step, value in curve.items() if step < first}
        curve.update({e.step: float(e.value) for e in events})
    return sorted(curve.items())


def learning_curves(seed_dirs: list[Path], metric: str, rng: np.random.Generator) -> dict:
    """Mean and bootstrap interval across seeds at each timestep evaluated in every seed."""
    curves = [dict(evaluation_curve(d, metric)) for d in seed_dirs]
    common = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    mean, low, high = [], [], []
    for step in common:
        values = np.array([c[step] for c in curves], dtype=float)
        lo, hi = bootstrap_mean_interval(values, rng)
        mean.append(float(np.nanmean(values)) if np.isfinite(values).any() else float("nan"))
        low.append(lo)
        high.append(hi)
    return {
        "timesteps": common,
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "per_seed": [[c[s] for s in common] for c in curves],
    }


def seeds_summary(
    finals: list[dict[str, Any]], seed_dirs: list[Path] | None = None, seed: int = 0
) -> dict[str, Any]:
    """Mean, standard deviation and bootstrap 95 % interval (over seeds) of each final
    metric; with ``seed_dirs``, also the learning curves of :data:`CURVE_METRICS`.

    The metrics are those every seed's summary has: a resumed set may hold seeds
    finished by an older version that reported fewer."""
    rng = np.random.default_rng(seed)
    table = {}
    shared = [key for key in finals[0]["summary"] if all(key in f["summary"] for f in finals)]
    for key in shared:
        values = np.array([f["summary"][key] for f in finals], dtype=float)
        finite = values[np.isfinite(values)]
        low, high = bootstrap_mean_interval(values, rng)
        table[key] = {
            "mean": float(finite.mean()) if finite.size else float("nan"),
            "std": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
            "ci_low": low,
            "ci_high": high,
            "values": values.tolist(),
        }
    summary: dict[str, Any] = {"seeds": [f["seed"] for f in finals], "metrics": table}
    if seed_dirs is not None:
        summary["curves"] = {m: learning_curves(seed_dirs, m, rng) for m in CURVE_METRICS}
    return summary


def plot_learning_curves(summary: dict[str, Any], path: Path) -> Path:
    """One panel per curve metric: each seed thin, the mean bold, the 95 % interval shaded."""
    curves = summary["curves"]
    fig = Figure(figsize=(4.2 * len(curves), 3.6))
    FigureCanvasAgg(fig)
    for i, (metric, curve) in enumerate(curves.items()):
        ax = fig.add_subplot(1, len(curves), i + 1)
        steps = np.array(curve["timesteps"], dtype=float)
        for seed, values in zip(summary["seeds"], curve["per_seed"], strict=True):
            ax.plot(steps, values, color="0.6", linewidth=0.8, label=f"seed {seed}")
        if steps.size:
            ax.fill_between(
                steps,
                curve["ci_low"],
                curve["ci_high"],
                color="tab:blue",
                alpha=0.25,
                label="95 % interval (bootstrap over seeds)",
            )
            ax.plot(steps, curve["mean"], color="tab:blue", linewidth=2.0, label="mean")
        else:
            ax.text(
                0.5, 0.5, "no evaluation common to all seeds", ha="center", transform=ax.transAxes
            )
        ax.set_title(f"eval/{metric}" + (" (1 = fixed_zone)" if metric == "score" else ""))
        ax.set_xlabel("agent-steps")
        ax.grid(alpha=0.3)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    keep = {lab: h for h, lab in zip(handles, labels, strict=True) if not lab.startswith("seed")}
    if handles:
        keep = {"each seed": handles[0], **keep}
    fig.legend(keep.values(), keep.keys(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"Evaluations during training across seeds {summary['seeds']}", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path
