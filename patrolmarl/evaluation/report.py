"""The report folder of an evaluation: metrics.json, report.md, report.html and PNG plots.

:func:`write_report` builds the whole folder next to its destination and moves
it into place only when every file is written, so a failure never leaves a
half-written report. :func:`format_table` is the headline table for a terminal.
"""

from __future__ import annotations

import base64
import html
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from patrolmarl.evaluation import plots
from patrolmarl.evaluation.calibration import REPORTED, REPORTED_HOT_SPOT
from patrolmarl.evaluation.evaluate import (
    COMPARED,
    HIGHER_IS_BETTER,
    Evaluation,
)
from patrolmarl.evaluation.statistics import MIN_INTERVAL_DAYS
from patrolmarl.json_text import json_text
from patrolmarl.output_folder import staged_folder

METRICS_FILE = "metrics.json"
MARKDOWN_FILE = "report.md"
HTML_FILE = "report.html"


@dataclass(frozen=True)
class Section:
    """A section a caller adds to the report (e.g. the beat maps and their judgement).

    ``table`` is ``(headers, rows)`` of text cells; ``images`` are PNG files with
    their captions, copied into the report folder (their names must differ from
    the report's own figures).
    """

    title: str
    paragraphs: Sequence[str] = ()
    table: tuple[list[str], list[list[str]]] | None = None
    images: Sequence[tuple[Path, str]] = field(default_factory=tuple)


@dataclass(frozen=True)
class FrontierFigure:
    """A ``patrolmarl frontier`` folder's figure and its one-sentence answer."""

    png: Path
    answer: str


def write_report(
    ev: Evaluation,
    out_dir: Path,
    sections: Sequence[Section] = (),
    frontier: FrontierFigure | None = None,
) -> list[Path]:
    """Write the report folder of ``ev`` to ``out_dir``.

    The folder holds ``metrics.json`` (:meth:`Evaluation.to_json`, NaN as
    null), ``report.md``, a self-contained ``report.html`` (plots embedded, no
    external resources) and the PNG plots of :func:`plots.write_plots`.

    Everything is written into a temporary sibling folder first and renamed to
    ``out_dir`` at the end. An existing ``out_dir`` is replaced only if it is
    empty or an earlier report folder; on any error the temporary folder is
    removed and the error re-raised, leaving ``out_dir`` as it was.

    Parameters
    ----------
    ev
        The evaluation to report.
    out_dir
        The report folder to create (or replace).
    sections
        Sections put first, after the title (their images copied in).
    frontier
        A frontier sweep's figure to show (copied in as ``frontier_sweep.png``).

    Returns
    -------
    list of Path
        The files written, inside ``out_dir``: metrics.json, report.md,
        report.html, then the plots.

    Raises
    ------
    FileExistsError
        If ``out_dir`` exists and is neither empty nor an earlier report folder.
    """
    out_dir = Path(out_dir).absolute()
    with staged_folder(out_dir, "report", is_report_folder) as tmp:
        names = _write_folder(ev, tmp, sections, frontier)
    return [out_dir / name for name in names]


def format_table(ev: Evaluation) -> str:
    """The headline table as aligned plain text (one row per policy), for a terminal."""
    headers = [c.short for c in _HEADLINE]
    rows = _headline_rows(ev)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


# ----------------------------------------------------------------------------- formatting


def _is_missing(x: object) -> bool:
    return x is None or (isinstance(x, (float, np.floating)) and not math.isfinite(float(x)))


def _fmt(x: object, digits: int = 2) -> str:
    return "n/a" if _is_missing(x) else f"{float(x):.{digits}f}"


def _fmt_percent(x: object, digits: int = 1) -> str:
    return "n/a" if _is_missing(x) else f"{100.0 * float(x):.{digits}f} %"


def _fmt_signed(x: object, digits: int = 2) -> str:
    return "n/a" if _is_missing(x) else f"{float(x):+.{digits}f}"


def _fmt_relative(x: object) -> str:
    return "n/a" if _is_missing(x) else f"{100.0 * float(x):+.1f} %"


def _fmt_points(x: object, digits: int = 1) -> str:
    """A difference of two shares, in percentage points."""
    return "n/a" if _is_missing(x) else f"{100.0 * float(x):+.{digits}f} pp"


@dataclass(frozen=True)
class _Column:
    header: str
    short: str
    key: str
    fmt: Callable[[object], str]


_HEADLINE = (
    _Column("Policy", "policy", "", str),
    _Column("Response mean (min)", "resp", "response_mean", _fmt),
    _Column("Response p50 (min)", "p50", "response_p50", _fmt),
    _Column("Response p90 (min)", "p90", "response_p90", _fmt),
    _Column("Within 5 min", "<=5min", "within_5_min", _fmt_percent),
    _Column("Within 10 min", "<=10min", "within_10_min", _fmt_percent),
    _Column("Travel mean (min)", "travel", "travel_mean", _fmt),
    _Column("Thefts/day", "thefts/d", "thefts_per_day", _fmt),
    _Column("Expected thefts/day", "E thefts/d", "expected_thefts_per_day", _fmt),
    _Column("Closure rate", "closure", "closure_rate", _fmt_percent),
    _Column("Patrol share", "patrol", "patrol_share", _fmt_percent),
    _Column("Visibility", "visib.", "visibility", _fmt_percent),
    _Column("Fallbacks/day", "fallb/d", "fallback_per_day", _fmt),
    _Column("Workload CV", "wl CV", "workload_cv", _fmt),
    _Column("Expected cost/day (min)", "E cost/d", "expected_cost_per_day", lambda v: _fmt(v, 0)),
    _Column("Combined cost/day (min)", "cost/d", "combined_cost_per_day", lambda v: _fmt(v, 0)),
)

# Compared metrics: label, unit of the value, and whether it is a share.
_COMPARED_LABELS = {
    "response_mean": ("Response mean", "min"),
    "travel_mean": ("Travel mean", "min"),
    "within_5_min": ("Within 5 min", "%"),
    "within_10_min": ("Within 10 min", "%"),
    "thefts_per_day": ("Thefts per day", ""),
    "expected_thefts_per_day": ("Expected thefts per day", ""),
    "closure_rate": ("Closure rate", "%"),
    "visibility": ("Visibility", "%"),
    "fallback_per_day": ("Fallbacks per day", ""),
    "combined_cost_per_day": ("Combined cost per day", "min"),
    "expected_cost_per_day": ("Expected cost per day", "min"),
}

_CALIBRATION_LABELS = {
    "on_scene_calls_per_day": "On-scene calls per day",
    "patrol_share": "Patrol share of on-scene calls",
    "closure_rate": "On-scene closure rate",
}
_CALIBRATION_SHARES = frozenset({"patrol_share", "closure_rate"})


def _headline_rows(ev: Evaluation) -> list[list[str]]:
    rows = []
    for r in ev.results:
        row = [r.name]
        for col in _HEADLINE[1:]:
            row.append(col.fmt(r.summary.get(col.key)))
        rows.append(row)
    return rows


def _is_share(metric: str) -> bool:
    return _COMPARED_LABELS.get(metric, ("", ""))[1] == "%"


def _value(metric: str, x: object) -> str:
    return _fmt_percent(x) if _is_share(metric) else _fmt(x)


def _difference(metric: str, x: object) -> str:
    if _is_share(metric):
        return _fmt_points(x)
    unit = _COMPARED_LABELS.get(metric, ("", ""))[1]
    text = _fmt_signed(x)
    return f"{text} {unit}" if unit and text != "n/a" else text


def _interval(metric: str, low: object, high: object) -> str:
    if _is_missing(low) or _is_missing(high):
        return "n/a"
    if _is_share(metric):
        return f"[{100.0 * float(low):+.1f}, {100.0 * float(high):+.1f}] pp"
    return f"[{float(low):+.2f}, {float(high):+.2f}]"


def _reading(metric: str, diff: dict) -> str:
    if diff.get("interval_note"):
        return str(diff["interval_note"])
    if not diff.get("excludes_zero"):
        return "no clear difference"
    better = (diff["difference"] > 0) == (metric in HIGHER_IS_BETTER)
    return "better" if better else "worse"


# ----------------------------------------------------------------------------- content


@dataclass(frozen=True)
class _Table:
    headers: list[str]
    rows: list[list[str]]
    align: str  # one of "l"/"r" per column


@dataclass(frozen=True)
class _Image:
    alt: str
    filename: str
    caption: str


# A block is (kind, payload): ("h1" | "h2" | "p", str), ("table", _Table), ("image", _Image).
_Block = tuple[str, object]


def _content(ev: Evaluation, plot_files: list[str]) -> list[_Block]:
    """The report, as blocks rendered identically to Markdown and HTML."""
    days = len(ev.seeds)
    sim = ev.district.config.simulation
    blocks: list[_Block] = [
        ("h1", f"Patrol evaluation: {ev.district.name}, {days} days, seed {ev.seed}"),
        (
            "p",
            f"Every policy ran on the same {days} days (common random numbers; day d is "
            f"seeded [{ev.seed}, d]). Baseline: {ev.baseline}. Episodes of "
            f"{sim.episode_minutes:g} minutes from hour {sim.start_hour:g}, steps of "
            f"{sim.step_minutes:g} min. District config SHA-256 "
            f"{ev.district.config_sha256[:16]}.",
        ),
    ]
    if sim.episode_minutes != 1440:
        blocks.append(
            (
                "p",
                f"Note: an episode is {sim.episode_minutes:g} minutes, not a whole day, so "
                "'per day' figures below are per episode.",
            )
        )
    blocks += [("h2", "Headline"), ("table", _headline_table(ev))]
    blocks.append(
        (
            "p",
            "Response: minutes from call creation to patrol arrival, street calls reached by "
            "patrol (p50/p90: median and 90th percentile). Travel: dispatch to arrival. "
            "Closure rate: patrol-served calls closed on scene. Patrol share: patrol-served / "
            "all on-scene calls. Visibility: street-traffic-weighted share of cell-minutes "
            "within sight of a unit. Workload CV: coefficient of variation of busy minutes "
            "across units (imbalance). Combined cost: per day, the response minutes of "
            f"those calls summed plus lambda = {ev.theft_minutes:g} minutes per theft. "
            "Expected thefts: each theft candidate's chance of becoming a theft where the "
            "units stood as it arrived, summed (the thefts the positions make expected, "
            "free of the draw's noise); expected cost: the combined cost with those.",
        )
    )
    blocks += _difference_blocks(ev)
    blocks += _pair_blocks(ev)
    blocks += _precinct_blocks(ev)
    blocks += _hour_blocks(ev)
    blocks += _call_type_blocks(ev)
    blocks += _limit_blocks(ev)
    blocks += _theft_limit_blocks(ev)
    blocks += _calibration_blocks(ev)
    blocks += _figure_blocks(ev, plot_files)
    return blocks


def _headline_table(ev: Evaluation) -> _Table:
    return _Table(
        headers=[c.header for c in _HEADLINE],
        rows=_headline_rows(ev),
        align="l" + "r" * (len(_HEADLINE) - 1),
    )


def _difference_rows(ev: Evaluation, name: str, against: str, diffs: dict) -> list[list[str]]:
    """One row per compared metric of ``name - against``."""
    ours, theirs = ev.result(name).summary, ev.result(against).summary
    rows = []
    for metric in COMPARED:
        diff = diffs.get(metric)
        if diff is None:
            continue
        rows.append(
            [
                name,
                _COMPARED_LABELS.get(metric, (metric, ""))[0],
                _value(metric, theirs.get(metric)),
                _value(metric, ours.get(metric)),
                _difference(metric, diff["difference"]),
                _interval(metric, diff["ci_low"], diff["ci_high"]),
                _fmt_relative(diff["relative"]),
                {True: "yes", False: "no"}.get(diff.get("excludes_zero"), "n/a"),
                _reading(metric, diff),
            ]
        )
    return rows


def _difference_table(rows: list[list[str]], against: str) -> _Table:
    return _Table(
        headers=[
            "Policy",
            "Metric",
            against,
            "Policy value",
            "Difference",
            "95 % CI",
            "Relative",
            "CI excludes 0",
            "Reading",
        ],
        rows=rows,
        align="llrrrrrll",
    )


def _difference_blocks(ev: Evaluation) -> list[_Block]:
    blocks: list[_Block] = [("h2", f"Paired differences against {ev.baseline}")]
    others = [r for r in ev.results if r.name != ev.baseline]
    if not others:
        return [*blocks, ("p", f"Only the baseline ({ev.baseline}) was evaluated.")]
    rows = [row for r in others for row in _difference_rows(ev, r.name, ev.baseline, r.vs_baseline)]
    table = _difference_table(rows, ev.baseline)
    note = (
        "Difference = policy - baseline over the same days; 95 % CI from a paired bootstrap "
        "over days (the same resampled days for both). Shares differ in percentage points "
        "(pp). 'Better'/'worse' only where the CI excludes zero; higher is better for the "
        "shares, lower for times, thefts, fallbacks and the combined cost. With fewer than "
        f"{MIN_INTERVAL_DAYS} days, or days whose differences do not vary, there is no interval."
    )
    return [*blocks, ("table", table), ("p", note)]


def _pair_blocks(ev: Evaluation) -> list[_Block]:
    blocks: list[_Block] = []
    for key, pair in ev.pairs.items():
        rows = _difference_rows(ev, pair["policy"], pair["against"], pair["differences"])
        blocks += [
            ("h2", f"Paired differences: {pair['policy']} against {pair['against']} ({key})"),
            ("table", _difference_table(rows, pair["against"])),
        ]
    return blocks


# Columns of the breakdown tables: header, key of the breakdown entry, format.
_PRECINCT_COLUMNS = (
    ("Calls reached", "reached", str),
    ("Response mean (min)", "response_mean", _fmt),
    ("Response p90 (min)", "response_p90", _fmt),
    ("Thefts/day", "thefts_per_day", _fmt),
    ("Workload (unit-min/day)", "workload_minutes_per_day", lambda v: _fmt(v, 0)),
    ("Patrol share", "patrol_share", _fmt_percent),
)
_CALL_TYPE_COLUMNS = (
    ("Calls/day", "calls_per_day", _fmt),
    ("Reached by patrol", "reached", str),
    ("Response mean (min)", "response_mean", _fmt),
    ("Response p90 (min)", "response_p90", _fmt),
    ("Closure rate", "closure_rate", _fmt_percent),
)


def _breakdown_table(
    ev: Evaluation, part: str, label: str, columns: tuple[tuple[str, str, Callable], ...]
) -> _Table:
    """One row per policy and entry of ``breakdown[part]``: policy, entry, then ``columns``."""
    rows = [
        [r.name, key, *(fmt(entry[field]) for _, field, fmt in columns)]
        for r in ev.results
        for key, entry in r.breakdown[part].items()
    ]
    headers = ["Policy", label, *(header for header, _, _ in columns)]
    return _Table(headers=headers, rows=rows, align="ll" + "r" * len(columns))


def _precinct_blocks(ev: Evaluation) -> list[_Block]:
    return [
        ("h2", "By precinct"),
        (
            "p",
            "Calls by the precinct of their cell. Workload: busy minutes per day of the units "
            "whose home precinct it is. Patrol share: patrol-served / all on-scene calls there.",
        ),
        ("table", _breakdown_table(ev, "precincts", "Precinct", _PRECINCT_COLUMNS)),
    ]


def _hour_blocks(ev: Evaluation) -> list[_Block]:
    headers = ["Hour", *(f"{r.name} (min)" for r in ev.results)]
    rows = [
        [f"{h:02d}:00", *(_fmt(r.breakdown["hours"][h]["response_mean"]) for r in ev.results)]
        for h in range(24)
    ]
    return [
        ("h2", "By hour of day"),
        ("p", "Mean response of the calls created in each hour (n/a: no call reached)."),
        ("table", _Table(headers=headers, rows=rows, align="l" + "r" * len(ev.results))),
    ]


def _call_type_blocks(ev: Evaluation) -> list[_Block]:
    return [
        ("h2", "By call type"),
        ("table", _breakdown_table(ev, "call_types", "Call type", _CALL_TYPE_COLUMNS)),
    ]


def _limit_blocks(ev: Evaluation) -> list[_Block]:
    limit = ev.limit
    bound = limit.get("travel_lower_bound")
    blocks: list[_Block] = [
        ("h2", "The limit: p-median travel time"),
        (
            "p",
            "Calls do not depend on where units are, so the hour's p-median of street-call "
            "intensity (all units idle at the best sites) bounds the mean travel time of any "
            "policy from below. The bound is the call-weighted proven lower bound of the 24 "
            "hourly p-medians (each hour's Lagrangian bound, or HiGHS' dual bound where the "
            "MIP was needed and did better); the gap is the largest certified relative gap "
            "between the placement found and that bound over the 24 hours.",
        ),
        (
            "table",
            _Table(
                headers=["Quantity", "Value"],
                rows=[
                    ["Travel lower bound (min)", _fmt(bound)],
                    ["p-median travel at sites (min)", _fmt(limit.get("pmedian_travel_at_sites"))],
                    ["Max certified gap (24 hours)", _fmt_percent(limit.get("max_gap"))],
                ],
                align="lr",
            ),
        ),
    ]
    rows = []
    for r in ev.results:
        travel = r.summary.get("travel_mean")
        ok = not _is_missing(travel) and not _is_missing(bound) and float(bound) > 0
        rows.append(
            [r.name, _fmt(travel), f"{float(travel) / float(bound):.2f} x" if ok else "n/a"]
        )
    blocks.append(
        (
            "table",
            _Table(
                headers=["Policy", "Travel mean (min)", "Multiple of the bound"],
                rows=rows,
                align="lrr",
            ),
        )
    )
    hourly = limit.get("hourly") or []
    if hourly:
        hour_rows = [
            [
                f"{h['hour']:02d}:00",
                _fmt(h["objective"], 4),
                _fmt(h["lower_bound"], 4),
                _fmt_percent(h["gap"], 2),
                _fmt(h["solve_seconds"], 1),
                h["bound_source"],
            ]
            for h in hourly
        ]
        blocks.append(
            (
                "table",
                _Table(
                    headers=[
                        "Hour",
                        "p-median travel (min)",
                        "Proven bound (min)",
                        "Gap",
                        "Solve (s)",
                        "Bound from",
                    ],
                    rows=hour_rows,
                    align="lrrrrl",
                ),
            )
        )
    return blocks


def _theft_limit_blocks(ev: Evaluation) -> list[_Block]:
    limit = ev.limit
    bound = limit.get("theft_lower_bound")
    if bound is None:
        return []
    rows = [
        ["Theft lower bound (expected/day)", _fmt(bound)],
        ["Relaxation optimum (expected/day)", _fmt(limit.get("theft_relaxation"))],
        ["Undeterred (expected/day)", _fmt(limit.get("theft_undeterred"))],
        ["Worst hourly gap", f"{float(limit.get('theft_worst_gap', float('nan'))):.1e}"],
    ]
    return [
        ("h2", "The limit: theft bound"),
        (
            "p",
            "Presence decays each step and every unit adds at most a step's minutes, so the "
            "total presence any policy can hold is capped. The least expected thefts of any "
            "presence field within that cap, solved hour by hour and certified by its "
            "Frank-Wolfe gap, bounds any policy's expected thefts per day from below (calls, "
            "travel and the empty field at the day's start are ignored, in the policy's favour). "
            "Realised thefts per day are random around the expected figure.",
        ),
        ("table", _Table(headers=["Quantity", "Value"], rows=rows, align="lr")),
    ]


def _calibration_blocks(ev: Evaluation) -> list[_Block]:
    if ev.calibration is None:
        return []
    district = ev.calibration["district"]
    rows = []
    for key, entry in district.items():
        cells = _calibration_cells(entry, key in _CALIBRATION_SHARES)
        rows.append([_CALIBRATION_LABELS.get(key, key), *cells])
    precincts = ev.district.config.precincts
    share_rows = [
        [f"{code} {precincts[code].name}", *_calibration_cells(entry, True)]
        for code, entry in ev.calibration["precincts"].items()
    ]
    share_rows.append(["District", *_calibration_cells(district["patrol_share"], True)])
    headers = ["Model (nearest)", "Reported", "Difference"]
    return [
        ("h2", "Calibration: the nearest policy against the 2020 report"),
        (
            "p",
            "The nearest policy is the '1+1' rule the district runs; its figures beside the "
            "press report's (Jan-Nov 2020: about "
            f"{REPORTED['on_scene_calls_per_day']:.0f} on-scene calls a day, "
            f"{_fmt_percent(REPORTED['patrol_share'], 2)} taken by street patrol, "
            f"{_fmt_percent(REPORTED['closure_rate'], 2)} closed on scene). Differences of "
            "shares in percentage points (pp).",
        ),
        ("table", _Table(headers=["Quantity", *headers], rows=rows, align="lrrr")),
        (
            "p",
            "Patrol share by precinct: street patrol's share of each precinct's on-scene "
            "calls. The report gives one precinct's figure, "
            f"{_fmt_percent(REPORTED_HOT_SPOT['patrol_share'], 2)} (weekly average), for the "
            "precinct with the e-bike-theft hot spot: here the precinct with the most theft.",
        ),
        ("table", _Table(headers=["Precinct", *headers], rows=share_rows, align="lrrr")),
    ]


def _calibration_cells(entry: dict, share: bool) -> list[str]:
    """Model, reported and difference of one calibration figure (shares to two decimals)."""
    model, reported = entry.get("model"), entry.get("reported")
    diff = None if _is_missing(model) or _is_missing(reported) else model - reported
    if share:  # two decimals, as the report gives them
        return [_fmt_percent(model, 2), _fmt_percent(reported, 2), _fmt_points(diff, 2)]
    return [_fmt(model), _fmt(reported), _fmt_signed(diff)]


def _figure_blocks(ev: Evaluation, plot_files: list[str]) -> list[_Block]:
    captions = {
        "response_cdf.png": (
            "Response-time CDF",
            "Share of patrol-served street calls reached within x minutes; dashed lines at 5 "
            "and 10 min, dotted line at the p-median travel lower bound (a bound on the mean).",
        ),
        "thefts_per_day.png": (
            "Thefts per day",
            "Thefts per day of each policy over the same days (points: days, diamond: mean).",
        ),
        "workload.png": (
            "Workload per unit",
            "Busy minutes per day of every unit; CV in the legend measures the imbalance.",
        ),
        "frontier.png": (
            "Response against thefts",
            "Mean response time against thefts per day (lower-left is better); theft-weighted "
            "baselines joined in order of lambda; dotted line: the travel bound. Error bars: "
            f"{plots.ci_caption(ev.baseline)}.",
        ),
    }
    captions["response_by_hour.png"] = (
        "Response by hour",
        "Mean response of the calls created in each hour of the day, one line per policy.",
    )
    for tail, r in zip(plots.policy_files(ev.results), ev.results, strict=True):
        name = r.name
        captions[f"presence_{tail}"] = (
            f"Presence heatmap: {name}",
            f"Where {name}'s units spend their time (unit-minutes per day per cell, shared "
            "square-root colour scale); black lines: precinct borders; stars: service stations.",
        )
        captions[f"response_map_{tail}"] = (
            f"Response map: {name}",
            f"Mean response (min) of {name} to the calls reached in each cell (one scale for "
            "every policy; grey: no call reached).",
        )
        captions[f"response_diff_{tail}"] = (
            f"Response difference map: {name} - {ev.baseline}",
            f"Mean response of {name} minus {ev.baseline}'s, cell by cell (blue: {name} is "
            "faster; grey: a cell where either reached no call). Single cells hold few calls: "
            "read the pattern, not one cell.",
        )
    blocks: list[_Block] = [("h2", "Figures")]
    for filename in plot_files:
        alt, caption = captions.get(filename, (filename, ""))
        blocks.append(("image", _Image(alt=alt, filename=filename, caption=caption)))
    return blocks


FRONTIER_SWEEP_FILE = "frontier_sweep.png"


def _frontier_blocks(frontier: FrontierFigure | None) -> list[_Block]:
    if frontier is None:
        return []
    return [
        ("h2", "The response-theft frontier (patrolmarl frontier)"),
        ("p", frontier.answer),
        (
            "image",
            _Image(
                alt="Response against thefts: the theft-weight sweep",
                filename=FRONTIER_SWEEP_FILE,
                caption="The sweep's policies on the response-theft plane (its own days).",
            ),
        ),
    ]


def _section_blocks(section: Section) -> list[_Block]:
    blocks: list[_Block] = [("h2", section.title)]
    blocks += [("p", text) for text in section.paragraphs]
    if section.table is not None:
        headers, rows = section.table
        blocks.append(("table", _Table(headers, rows, "l" * len(headers))))
    for path, caption in section.images:
        blocks.append(("image", _Image(alt=caption, filename=Path(path).name, caption=caption)))
    return blocks


# ----------------------------------------------------------------------------- rendering


def _markdown(blocks: list[_Block]) -> str:
    out: list[str] = []
    for kind, payload in blocks:
        if kind == "h1":
            out.append(f"# {payload}")
        elif kind == "h2":
            out.append(f"## {payload}")
        elif kind == "p":
            out.append(str(payload))
        elif kind == "table":
            out.append(_markdown_table(payload))
        elif kind == "image":
            text = f"![{payload.alt}]({payload.filename})"
            out.append(f"{text}\n\n*{payload.caption}*" if payload.caption else text)
    return "\n\n".join(out) + "\n"


def _markdown_table(table: _Table) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rule = ["---:" if a == "r" else ":---" for a in table.align]
    lines = [
        "| " + " | ".join(cell(h) for h in table.headers) + " |",
        "| " + " | ".join(rule) + " |",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; }
th { background: #f3f3f3; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td.l, th.l { text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; font-style: italic; }
.table-wrap { overflow-x: auto; }
"""


def _html(blocks: list[_Block], folder: Path) -> str:
    title = next((str(p) for k, p in blocks if k == "h1"), "Patrol evaluation")
    body: list[str] = []
    for kind, payload in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{html.escape(str(payload))}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{html.escape(str(payload))}</p>")
        elif kind == "table":
            body.append(_html_table(payload))
        elif kind == "image":
            data = base64.b64encode((folder / payload.filename).read_bytes()).decode("ascii")
            body.append(
                "<figure>"
                f'<img alt="{html.escape(payload.alt)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(payload.caption)}</figcaption>"
                "</figure>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _html_table(table: _Table) -> str:
    head = "".join(
        f'<th class="{a}">{html.escape(h)}</th>'
        for h, a in zip(table.headers, table.align, strict=True)
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td class="{a}">{html.escape(c)}</td>' for c, a in zip(row, table.align, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


# ----------------------------------------------------------------------------- files


def _write_folder(
    ev: Evaluation, folder: Path, sections: Sequence[Section], frontier: FrontierFigure | None
) -> list[str]:
    """Write every file of the report into ``folder``; returns their names."""
    plot_files = [p.name for p in plots.write_plots(ev, folder)]
    copied = []
    if frontier is not None:
        shutil.copyfile(frontier.png, folder / FRONTIER_SWEEP_FILE)
        copied.append(FRONTIER_SWEEP_FILE)
    for section in sections:
        for path, _ in section.images:
            name = Path(path).name
            if name in plot_files or name in copied or not name.endswith(".png"):
                raise ValueError(f"section image {name!r} is not a new PNG name in the report")
            shutil.copyfile(path, folder / name)
            copied.append(name)
    text = json_text(ev.to_json())
    (folder / METRICS_FILE).write_text(text + "\n", encoding="utf-8")
    blocks = _content(ev, plot_files) + _frontier_blocks(frontier)
    first_h2 = next(i for i, (kind, _) in enumerate(blocks) if kind == "h2")
    added = [block for section in sections for block in _section_blocks(section)]
    blocks[first_h2:first_h2] = added  # what the caller adds comes first, after the title
    (folder / MARKDOWN_FILE).write_text(_markdown(blocks), encoding="utf-8")
    (folder / HTML_FILE).write_text(_html(blocks, folder), encoding="utf-8")
    return [METRICS_FILE, MARKDOWN_FILE, HTML_FILE, *plot_files, *copied]


def is_report_folder(names: set[str]) -> bool:
    """True if a folder holding ``names`` is an earlier :func:`write_report` output."""
    ours = all(n in (METRICS_FILE, MARKDOWN_FILE, HTML_FILE) or n.endswith(".png") for n in names)
    return ours and METRICS_FILE in names
