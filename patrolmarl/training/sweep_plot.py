"""``metric.png`` of a sweep: each trial's evaluations during training, and its value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

STATUS_MARKERS = {"finished": "o", "stopped early": "x", "error": "s"}


def plot_metric(
    rows: list[dict[str, Any]],
    curves: dict[str, tuple[list[float], list[float]]],
    metric: str,
    best: dict[str, Any] | None,
    path: Path,
) -> Path:
    """Left: ``curves`` (trial -> timesteps, values reported during training);
    right: each trial's value by trial, marked by status, the best one in red."""
    fig = Figure(figsize=(10.0, 4.0))
    FigureCanvasAgg(fig)
    during, final = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for trial, (steps, values) in sorted(curves.items()):
        during.plot(steps, values, marker=".", linewidth=1.0, label=trial)
    during.set_xlabel("agent-steps (per seed)")
    during.set_ylabel(f"eval/{metric}")
    during.set_title("Evaluations during training (selection days)")
    if 0 < len(curves) <= 12:
        during.legend(fontsize=7)
    for i, row in enumerate(rows):
        if row["value"] is None:
            continue
        colour = "crimson" if best is not None and row["trial"] == best["trial"] else "tab:blue"
        final.scatter(i, row["value"], color=colour, marker=STATUS_MARKERS[row["status"]])
    final.set_xticks(range(len(rows)), [r["trial"] for r in rows], rotation=45, fontsize=7)
    final.set_ylabel(f"{metric}\n(last evaluation, mean over seeds)")
    final.set_title("Trials (o finished, x stopped early; red: best)")
    for ax in (during, final):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    return path
