"""PNG figures of an :class:`~patrolmarl.evaluation.evaluate.Evaluation`.

Every function draws one figure, writes it as a PNG and returns its path
(on an explicit Agg canvas, :mod:`~patrolmarl.evaluation.figures`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import Normalize, PowerNorm, TwoSlopeNorm
from matplotlib.figure import Figure

from patrolmarl.agents.baseline_spec import theft_sweep_point
from patrolmarl.envs.names import agent_names
from patrolmarl.evaluation.breakdowns import response_by_cell
from patrolmarl.evaluation.colours import distinct_colour
from patrolmarl.evaluation.evaluate import Evaluation, PolicyResult
from patrolmarl.evaluation.figures import (
    draw_precinct_borders,
    frame_grid,
    new_figure,
    save_figure,
)


def ci_caption(baseline: str) -> str:
    """What the frontier plot's error bars are."""
    return f"95 % CI of the paired difference to {baseline}, drawn around the point"


def response_time_cdf(ev: Evaluation, path: Path) -> Path:
    """Empirical CDF of realised response times, all policies on one axes.

    Vertical lines mark 5 and 10 minutes and the p-median travel lower bound
    (``ev.limit["travel_lower_bound"]``), a bound on any policy's mean travel
    time and hence on its mean response time.
    """
    fig, ax = new_figure(7.0, 4.5)
    longest = 10.0
    for i, r in enumerate(ev.results):
        times = np.sort(r.response_times())
        if times.size == 0:
            ax.plot([], [], color=distinct_colour(i), label=f"{r.name} (no calls reached)")
            continue
        longest = max(longest, float(times[-1]))
        y = np.arange(1, times.size + 1) / times.size
        ax.step(
            np.concatenate([[0.0], times]),
            np.concatenate([[0.0], y]),
            where="post",
            color=distinct_colour(i),
            linewidth=1.8,
            label=f"{r.name} (n={times.size}, mean {times.mean():.2f} min)",
        )
    for minutes in (5.0, 10.0):
        ax.axvline(minutes, color="0.45", linestyle="--", linewidth=1.0)
        ax.text(minutes, 1.01, f"{minutes:g} min", ha="center", va="bottom", fontsize=8)
    bound = ev.limit.get("travel_lower_bound")
    if bound is not None and np.isfinite(bound):
        ax.axvline(
            bound,
            color="crimson",
            linestyle=":",
            linewidth=1.6,
            label=f"p-median travel lower bound (mean) {bound:.2f} min",
        )
    ax.set_xlim(0.0, longest * 1.03)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("response time (minutes from call to arrival)")
    ax.set_ylabel("share of patrol-served street calls")
    ax.set_title(f"Response-time CDF ({_days(ev)})", pad=16)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def thefts_per_day(ev: Evaluation, path: Path) -> Path:
    """Box plot of each policy's thefts per day, with the days drawn as points."""
    fig, ax = new_figure(max(5.0, 1.3 * len(ev.results) + 2.0), 4.2)
    counts = [np.array([m["thefts"] for m in r.per_day], dtype=float) for r in ev.results]
    positions = np.arange(1, len(counts) + 1)
    ax.boxplot(
        counts, positions=positions, widths=0.5, showfliers=False, medianprops={"color": "k"}
    )
    jitter = np.random.default_rng(0)
    for i, (pos, y) in enumerate(zip(positions, counts, strict=True)):
        x = pos + jitter.uniform(-0.12, 0.12, size=y.size)
        ax.scatter(x, y, s=22, color=distinct_colour(i), alpha=0.8, zorder=3, edgecolors="none")
        if y.size:
            ax.scatter([pos], [y.mean()], marker="D", s=36, color="k", zorder=4)
    ax.set_xticks(positions, [r.name for r in ev.results])
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel("thefts per day")
    ax.set_title(f"Thefts per day (points: days, diamond: mean; {_days(ev)})")
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def workload_per_unit(ev: Evaluation, path: Path) -> Path:
    """Grouped bars: busy minutes per day of every unit under each policy."""
    n_units = ev.district.n_units
    n_pol = len(ev.results)
    fig, ax = new_figure(min(12.0, max(7.0, 0.15 * n_units * n_pol + 2.0)), 4.2)
    width = 0.8 / n_pol
    x = np.arange(n_units)
    for i, r in enumerate(ev.results):
        minutes = np.asarray(r.summary["workload_minutes_per_day"], dtype=float)
        cv = r.summary.get("workload_cv", float("nan"))
        ax.bar(
            x - 0.4 + width * (i + 0.5),
            minutes,
            width=width,
            color=distinct_colour(i),
            label=f"{r.name} (CV {cv:.2f})",
        )
    ax.set_xticks(x, agent_names(n_units), rotation=45, ha="right")
    ax.set_ylabel("busy minutes per day")
    ax.set_title(f"Workload per unit ({_days(ev)}; CV = imbalance across units)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def hourly_response(ev: Evaluation, path: Path) -> Path:
    """Mean response time by hour of the call, one line per policy (gaps: no call reached)."""
    fig, ax = new_figure(8.0, 4.2)
    for i, r in enumerate(ev.results):
        hours = r.breakdown["hours"]
        mean = [np.nan if h["response_mean"] is None else h["response_mean"] for h in hours]
        ax.plot(range(24), mean, marker="o", markersize=3, color=distinct_colour(i), label=r.name)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_xlim(-0.5, 23.5)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("hour of the call")
    ax.set_ylabel("mean response (min)")
    ax.set_title(f"Response by hour of day ({_days(ev)})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path)


def response_map(
    ev: Evaluation, name: str, path: Path, against: str | None = None, vmax: float | None = None
) -> Path:
    """Mean response time by cell of policy ``name`` (grey: no call reached there).

    With ``against``, the difference ``name - against`` per cell on a diverging
    scale centred on zero (blue: ``name`` is faster), where both reached a call.
    ``vmax`` sets a shared top of the scale (minutes, or the largest absolute
    difference).
    """
    district = ev.district
    values = response_by_cell(ev.result(name).breakdown)
    if against is not None:
        values = values - response_by_cell(ev.result(against).breakdown)
    grid = np.ma.masked_invalid(values.reshape(district.rows, district.cols))
    top = float(vmax) if vmax is not None else float(np.nanmax(np.abs(values), initial=0.0))
    top = max(top, 1e-9)
    if against is None:
        cmap, norm = "viridis", Normalize(vmin=0.0, vmax=top)
        label, title = "mean response (min)", f"Mean response by cell: {name}"
    else:
        cmap, norm = "RdBu_r", TwoSlopeNorm(vcenter=0.0, vmin=-top, vmax=top)
        label = f"difference of mean response (min), {name} - {against}"
        title = f"Response by cell: {name} - {against}"
    fig, ax = new_figure(6.0, 5.2)
    ax.set_facecolor("0.85")
    image = ax.imshow(grid, cmap=cmap, norm=norm, interpolation="nearest", origin="upper")
    fig.colorbar(image, ax=ax, label=label)
    draw_precinct_borders(ax, district, halo_width=2.6, line_width=1.2)
    frame_grid(ax, district.rows, district.cols)
    ax.set_title(f"{title} ({_days(ev)})", fontsize=10)
    return save_figure(fig, path)


def presence_heatmap(ev: Evaluation, name: str, path: Path, vmax: float | None = None) -> Path:
    """Where one policy's units spend their time: unit-minutes per day in each cell.

    Precinct borders are drawn as black lines and service stations as stars.
    Pass a common ``vmax`` to draw several policies on the same colour scale
    (the scale is a square root, so thin presence stays visible).
    """
    district = ev.district
    result = ev.result(name)
    grid = result.occupancy_per_day().reshape(district.rows, district.cols)
    top = float(vmax) if vmax is not None else float(grid.max())
    fig, ax = new_figure(6.0, 5.2)
    image = ax.imshow(
        grid,
        cmap="magma",
        norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=max(top, 1e-9)),
        interpolation="nearest",
        origin="upper",
    )
    fig.colorbar(image, ax=ax, label="unit-minutes per day in the cell (sqrt scale)")
    draw_precinct_borders(ax, district, halo_width=2.6, line_width=1.2)
    for p, code in enumerate(district.precinct_codes):
        cells = np.flatnonzero(district.precinct_of_cell == p)
        r, c = np.divmod(cells, district.cols)
        ax.text(
            c.mean(),
            r.mean(),
            code,
            ha="center",
            va="center",
            fontsize=13,
            color="white",
            alpha=0.55,
            fontweight="bold",
        )
    if district.station_cells.size:
        sr, sc = np.divmod(district.station_cells, district.cols)
        ax.scatter(
            sc,
            sr,
            marker="*",
            s=220,
            color="cyan",
            edgecolors="black",
            linewidths=0.8,
            zorder=5,
            label="service station",
        )
        ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    frame_grid(ax, district.rows, district.cols)
    ax.set_title(f"Presence: {name} ({_days(ev)})")
    return save_figure(fig, path)


def frontier(ev: Evaluation, path: Path, theft_bound: float | None = None) -> Path:
    """The response-theft plane: every policy at (mean response time, thefts per day).

    Theft-weighted baselines (``pmedian_theft:theft=L``, ``redeploy:theft=L``) of
    one family are joined by a line in order of lambda and labelled with it. Error
    bars are the paired-bootstrap 95 % interval of the difference to the
    evaluation's baseline drawn around each point (the baseline's own bars are empty by
    construction). The p-median travel bound (no policy's mean travel, hence
    response, can be lower) is a vertical line; the certified theft bound, if
    given, a horizontal one. The legend sits beside the axes; labels are placed
    where they overlap no other label.
    """
    fig, ax = new_figure(10.5, 6.0)
    base = ev.result(ev.baseline).summary
    families: dict[str, list[tuple[float, float, float]]] = {}
    labels: list[tuple[str, float, float]] = []
    xs, ys = [], []
    colour = {}
    for r in ev.results:
        x, y = float(r.summary["response_mean"]), float(r.summary["thefts_per_day"])
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        sweep = theft_sweep_point(r.name)
        family = sweep[0] if sweep else r.name
        c = colour.setdefault(family, distinct_colour(len(colour)))
        ax.errorbar(
            [x],
            [y],
            xerr=_shifted_ci(x, base["response_mean"], r.vs_baseline.get("response_mean")),
            yerr=_shifted_ci(y, base["thefts_per_day"], r.vs_baseline.get("thefts_per_day")),
            fmt="o" if sweep is None else "s",
            markersize=7,
            capsize=3,
            color=c,
            alpha=0.9,
            label=None if sweep else r.name,
        )
        if sweep:
            families.setdefault(family, []).append((sweep[1], x, y))
            labels.append((f"{sweep[1]:g}", x, y))
        else:
            labels.append((r.name, x, y))
        xs.append(x)
        ys.append(y)
    for family, pts in families.items():
        pts.sort()
        ax.plot(
            [p[1] for p in pts],
            [p[2] for p in pts],
            "-s",
            color=colour[family],
            markersize=7,
            label=f"{family} (labels: lambda, min per theft)",
        )
    bound = ev.limit.get("travel_lower_bound")
    if bound is not None and np.isfinite(bound):
        ax.axvline(bound, color="crimson", linestyle=":", linewidth=1.6)
        xs.append(bound)
        ax.plot([], [], color="crimson", linestyle=":", label=f"travel bound {bound:.2f} min")
    if theft_bound is not None and np.isfinite(theft_bound):
        ax.axhline(theft_bound, color="navy", linestyle="--", linewidth=1.4)
        ys.append(theft_bound)
        ax.plot([], [], color="navy", linestyle="--", label=f"theft bound {theft_bound:.2f}/day")
    if xs:
        span_x = max(max(xs) - min(xs), 0.5)
        span_y = max(max(ys) - min(ys), 0.5)
        ax.set_xlim(min(xs) - 0.15 * span_x, max(xs) + 0.25 * span_x)
        ax.set_ylim(min(ys) - 0.15 * span_y, max(ys) + 0.25 * span_y)
    ax.set_xlabel("mean response time (minutes from call to arrival)")
    ax.set_ylabel("thefts per day")
    ax.set_title(f"Response against thefts ({_days(ev)}); lower-left is better")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    caption = f"Error bars: {ci_caption(ev.baseline)}."
    fig.text(0.5, 0.01, caption, ha="center", va="bottom", fontsize=8)
    fig.subplots_adjust(bottom=0.13, top=0.93, left=0.07, right=0.70)
    place_labels(fig, ax, labels)
    return save_figure(fig, path, tight=False)


# Offsets (points) tried in turn for a label: right, above, left, below, the diagonals, farther.
_LABEL_OFFSETS = [
    (dx * k, dy * k)
    for k in (1, 2, 3)
    for dx, dy in ((6, 4), (0, 8), (-6, 4), (0, -12), (6, -10), (-6, -10), (8, 12), (-8, 12))
]


def place_labels(fig: Figure, ax, labels: list[tuple[str, float, float]]) -> list:
    """Annotate points so that no two labels and no label and legend overlap.

    Each label takes the first offset around its point whose box is free; a
    label with no free place is left out (its point stays, named in the legend).
    Returns the placed text artists.
    """
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    legend = ax.get_legend()
    taken = [legend.get_window_extent(renderer)] if legend is not None else []
    placed = []
    for text, x, y in labels:
        for dx, dy in _LABEL_OFFSETS:
            artist = ax.annotate(
                text,
                (x, y),
                textcoords="offset points",
                xytext=(dx, dy),
                ha="left" if dx >= 0 else "right",
                fontsize=8,
            )
            box = artist.get_window_extent(renderer).expanded(1.05, 1.1)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
            if inside and box.y1 <= frame.y1 and not any(box.overlaps(b) for b in taken):
                taken.append(box)
                placed.append(artist)
                break
            artist.remove()
    return placed


def write_plots(ev: Evaluation, out_dir: Path) -> list[Path]:
    """Write every figure of the report into ``out_dir``; returns their paths.

    Files: ``response_cdf.png``, ``thefts_per_day.png``, ``workload.png``,
    ``frontier.png`` (:func:`frontier`), ``response_by_hour.png``, then per policy (in
    :func:`policy_files` order) ``presence_<policy>.png``, ``response_map_<policy>.png``
    and, but for the baseline, ``response_diff_<policy>.png`` (against the baseline).
    """
    out_dir = Path(out_dir)
    paths = [
        response_time_cdf(ev, out_dir / "response_cdf.png"),
        thefts_per_day(ev, out_dir / "thefts_per_day.png"),
        workload_per_unit(ev, out_dir / "workload.png"),
        frontier(ev, out_dir / "frontier.png", ev.limit.get("theft_lower_bound")),
        hourly_response(ev, out_dir / "response_by_hour.png"),
    ]
    vmax = max(float(r.occupancy_per_day().max()) for r in ev.results)
    cells = {r.name: response_by_cell(r.breakdown) for r in ev.results}
    slowest = max(float(np.nanmax(v, initial=0.0)) for v in cells.values())
    base = cells[ev.baseline]
    widest = max(float(np.nanmax(np.abs(v - base), initial=0.0)) for v in cells.values())
    for r, filename in zip(ev.results, policy_files(ev.results), strict=True):
        paths.append(presence_heatmap(ev, r.name, out_dir / f"presence_{filename}", vmax=vmax))
        paths.append(response_map(ev, r.name, out_dir / f"response_map_{filename}", vmax=slowest))
        if r.name != ev.baseline:
            diff = out_dir / f"response_diff_{filename}"
            paths.append(response_map(ev, r.name, diff, against=ev.baseline, vmax=widest))
    return paths


def policy_files(results: Sequence[PolicyResult]) -> list[str]:
    """File-name tails (``<policy>.png``) of the per-policy figures, safe and distinct."""
    names: list[str] = []
    for r in results:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", r.name).strip("._") or "policy"
        candidate, k = f"{stem}.png", 2
        while candidate in names:
            candidate, k = f"{stem}_{k}.png", k + 1
        names.append(candidate)
    return names


def _days(ev: Evaluation) -> str:
    days = len(ev.seeds)
    return f"{days} day{'s' if days != 1 else ''}"


def _shifted_ci(point: float, base_value: float, diff: dict | None) -> np.ndarray | None:
    """``[[below], [above]]`` error-bar lengths of ``base + [ci_low, ci_high]`` around ``point``."""
    if not diff or diff["ci_low"] is None or diff["ci_high"] is None:
        return None
    low, high = base_value + diff["ci_low"], base_value + diff["ci_high"]
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return np.array([[max(point - low, 0.0)], [max(high - point, 0.0)]])
