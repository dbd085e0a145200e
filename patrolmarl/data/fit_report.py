"""The import's fit report: rows used and dropped, and data against the fitted model.

Written beside the district file as ``<name>_report/``: ``import_report.md``,
``fit.json`` (the same figures) and PNGs of the hourly profiles, the daily
rates and the fitted intensity. The model's figures come from the district's
own call generator run over as many days as the data covers (capped at
:data:`MAX_MODEL_DAYS`); it draws the exogenous, undeterred call stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from patrolmarl.data.calls_csv import DROP_REASONS
from patrolmarl.data.grid import Grid
from patrolmarl.data.intensity import top_share
from patrolmarl.envs.clock import hour_of_day
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.json_text import json_text

if TYPE_CHECKING:
    from patrolmarl.data.import_district import ImportResult

REPORT_NAME = "import_report.md"
REPORT_FILES = {REPORT_NAME, "fit.json", "hourly.png", "rates.png", "intensity.png"}
MAX_MODEL_DAYS = 3660
DPI = 110


def is_report_folder(names: set[str]) -> bool:
    """Whether a folder's file names are those of an earlier import report."""
    return REPORT_NAME in names and names <= REPORT_FILES


@dataclass(frozen=True)
class ModelCounts:
    """Calls the fitted model generates: per type and day, per type and hour, per type and cell."""

    per_day: np.ndarray  # (T, D)
    per_hour: np.ndarray  # (T, 24)
    per_cell: np.ndarray  # (T, C)


def simulate_model(district: District, days: int, seed: int) -> ModelCounts:
    """Count the calls of ``days`` generated days of ``district`` (seeds ``[seed, day]``)."""
    model = IncidentModel(district)
    sim = district.config.simulation
    per_day = np.zeros((model.n_types, days), dtype=np.int64)
    per_hour = np.zeros((model.n_types, 24), dtype=np.int64)
    per_cell = np.zeros((model.n_types, district.n_cells), dtype=np.int64)
    for d in range(days):
        calls = model.generate_day([seed, d])
        hour = hour_of_day(sim, calls.time)
        per_day[:, d] = np.bincount(calls.type, minlength=model.n_types)
        np.add.at(per_hour, (calls.type, hour), 1)
        np.add.at(per_cell, (calls.type, calls.cell), 1)
    return ModelCounts(per_day, per_hour, per_cell)


def report_figures(result: ImportResult, area: np.ndarray, seed: int) -> dict[str, Any]:
    """Every figure of the report, as plain JSON-ready values."""
    days = min(result.n_days, MAX_MODEL_DAYS)
    sim = simulate_model(result.district, days, seed)
    names = list(IncidentModel(result.district).type_names)
    types = {}
    for fit in result.fits:
        t = names.index(fit.name)
        model_daily = sim.per_day[t]
        types[fit.name] = {
            "calls": fit.calls,
            "per_day_data": fit.daily_rate,
            "per_day_data_se": fit.daily_rate_se,
            "per_day_model": float(model_daily.mean()),
            "per_day_model_se": float(model_daily.std(ddof=1) / math.sqrt(days))
            if days > 1
            else None,
            "hourly_share_data": (fit.hour_counts / fit.calls).tolist(),
            "hourly_share_fitted": fit.hourly_share.tolist(),
            "hourly_share_model": (sim.per_hour[t] / max(sim.per_hour[t].sum(), 1)).tolist(),
            "top5_share_data": top_share(fit.cell_counts, area),
            "top5_share_model": top_share(sim.per_cell[t], area),
            "bandwidth_cells": fit.spatial.sigma_cells,
            "heldout_gain_nats_per_call": fit.heldout_gain,
            "heldout_calls": fit.heldout_calls,
            "weekday_weekend_p": fit.weekday_weekend_p,
        }
    return {
        "rows_read": result.rows_read,
        "rows_used": result.rows_used,
        "dropped": {reason: result.dropped[reason] for reason in DROP_REASONS},
        "unmapped_types": dict(result.unmapped.most_common(20)),
        "days_covered": result.n_days,
        "model_days": days,
        "types": types,
    }


def write_report(
    folder: Path, result: ImportResult, grid: Grid, area: np.ndarray, seed: int
) -> None:
    """Write the report files into ``folder``."""
    figures = report_figures(result, area, seed)
    (folder / "fit.json").write_text(json_text(figures), encoding="utf-8")
    _hourly_png(figures, folder / "hourly.png")
    _rates_png(figures, folder / "rates.png")
    _intensity_png(result, grid, area, folder / "intensity.png")
    (folder / REPORT_NAME).write_text(_markdown(figures, result, grid), encoding="utf-8")


def _markdown(fig: dict[str, Any], result: ImportResult, grid: Grid) -> str:
    read, used = fig["rows_read"], fig["rows_used"]
    lines = [
        f"# Import report: {result.district.name}",
        "",
        f"District file: `{result.district_path.name}`; grid {grid.rows} x {grid.cols} cells of "
        f"{grid.cell_size_m:g} m, north-west corner at lat {grid.projection.lat0:.6f}, "
        f"lon {grid.projection.lon0:.6f}; {result.district.n_precincts} precincts, "
        f"{result.district.n_units} patrol units.",
        "",
        "## Rows",
        "",
        "| rows | count | share |",
        "| --- | ---: | ---: |",
        f"| read | {read:,} | 100 % |",
        f"| used | {used:,} | {_pct(used, read)} |",
    ]
    lines += [
        f"| dropped: {reason} | {n:,} | {_pct(n, read)} |" for reason, n in fig["dropped"].items()
    ]
    if fig["unmapped_types"]:
        listed = ", ".join(f"`{t or '(blank)'}` {n:,}" for t, n in fig["unmapped_types"].items())
        lines += [
            "",
            f"Most common unmapped types (add them to the type map to use them): {listed}.",
        ]
    lines += [
        "",
        f"Days covered: {fig['days_covered']} (first to last call); the model's figures are "
        f"{fig['model_days']} simulated days of the fitted district.",
        "",
        "## Calls per day, concentration and held-out fit",
        "",
        "| type | calls | per day: data | per day: model | top 5 % cells: data | model "
        "| bandwidth | held-out gain | weekday vs weekend |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, t in fig["types"].items():
        model_se = "" if t["per_day_model_se"] is None else f" ± {t['per_day_model_se']:.2f}"
        lines.append(
            f"| {name} | {t['calls']:,} | {t['per_day_data']:.2f} ± {t['per_day_data_se']:.2f} "
            f"| {t['per_day_model']:.2f}{model_se} | {_pct(t['top5_share_data'], 1)} "
            f"| {_pct(t['top5_share_model'], 1)} | {t['bandwidth_cells']:g} cells "
            f"({t['bandwidth_cells'] * grid.cell_size_m:.0f} m) "
            f"| {_num(t['heldout_gain_nats_per_call'], '+.3f')} nats/call "
            f"| p = {_num(t['weekday_weekend_p'], '.3g')} |"
        )
    lines += [
        "",
        "- **per day**: calls a day over the days covered, ± one standard error (Poisson).",
        "- **top 5 % cells**: share of the calls in the 5 % of the area's cells with the most.",
        "- **bandwidth**: of the Gaussian kernel smoothing the call counts per cell, chosen by "
        "the likelihood of held-out days (5-fold cross-validation over days).",
        "- **held-out gain**: the density fitted on the first 80 % of days, scored on the last "
        "20 %: mean log-likelihood per call above a uniform-in-space model (0 = no better "
        "than uniform).",
        "- **weekday vs weekend**: chi-square test that both share one hourly profile; the "
        "district keeps one profile a type (a small p says the two differ).",
        "- Hourly profiles are the counts by hour smoothed with weights 1/4, 1/2, 1/4 over "
        "neighbouring hours (circularly). Times are the wall clock the calls were logged in.",
        "- The model draws the undeterred call stream; where patrol deters theft, the "
        "simulator thins it as in any district.",
        "",
        "![hourly profiles](hourly.png)",
        "",
        "![calls per day](rates.png)",
        "",
        "![fitted intensity](intensity.png)",
        "",
    ]
    return "\n".join(lines)


def _pct(part: float, whole: float) -> str:
    if whole == 0 or part is None or not math.isfinite(part):
        return "n/a"
    return f"{100.0 * part / whole:.1f} %"


def _num(value: float, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _figure(n_panels: int, width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(3, n_panels)
    rows = math.ceil(n_panels / cols)
    fig = Figure(figsize=(width * cols, height * rows), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes


def _hourly_png(fig_data: dict[str, Any], path: Path) -> None:
    types = fig_data["types"]
    fig, axes = _figure(len(types), 4.2, 3.0)
    hours = np.arange(24)
    for ax, (name, t) in zip(axes, types.items(), strict=False):
        ax.bar(hours, t["hourly_share_data"], color="0.75", label="data")
        ax.plot(hours, t["hourly_share_fitted"], color="C0", linewidth=2, label="fitted profile")
        ax.plot(hours, t["hourly_share_model"], "o", color="C3", markersize=3, label="model")
        ax.set_title(f"{name} ({t['calls']:,} calls)", fontsize=10)
        ax.set_xlabel("hour of day")
        ax.set_ylabel("share of calls")
        ax.set_xticks(range(0, 24, 6))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI)


def _rates_png(fig_data: dict[str, Any], path: Path) -> None:
    types = fig_data["types"]
    fig, axes = _figure(1, 6.0, 3.6)
    ax = axes[0]
    x = np.arange(len(types))
    data = [t["per_day_data"] for t in types.values()]
    model = [t["per_day_model"] for t in types.values()]
    se = [t["per_day_data_se"] for t in types.values()]
    ax.bar(x - 0.2, data, 0.4, yerr=se, label="data", color="0.6")
    ax.bar(x + 0.2, model, 0.4, label=f"model ({fig_data['model_days']} days)", color="C0")
    ax.set_xticks(x, list(types), rotation=30, ha="right")
    ax.set_ylabel("calls per day")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI)


def _intensity_png(result: ImportResult, grid: Grid, area: np.ndarray, path: Path) -> None:
    from matplotlib.colors import PowerNorm

    fig, axes = _figure(len(result.fits), 4.2, 3.8)
    outside = np.where(area, np.nan, 1.0).reshape(grid.rows, grid.cols)
    for ax, fit in zip(axes, result.fits, strict=False):
        grid_values = fit.intensity.reshape(grid.rows, grid.cols)
        image = ax.imshow(
            grid_values,
            cmap="magma",
            norm=PowerNorm(0.5, vmin=0.0, vmax=max(float(grid_values.max()), 1e-9)),
            interpolation="nearest",
        )
        ax.imshow(outside, cmap="Greys", vmin=0, vmax=2, interpolation="nearest")
        fig.colorbar(image, ax=ax, label="calls a day per cell", shrink=0.85)
        ax.set_title(f"{fit.name}: bandwidth {fit.spatial.sigma_cells:g} cells", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Fitted intensity (north at top; grey: outside the boundary)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI)
