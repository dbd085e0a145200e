"""The response-theft frontier: what a planner gives up in response time to suppress theft.

Every policy runs on the same days (:func:`~patrolmarl.evaluation.evaluate.evaluate`):
the reference baselines, a sweep of ``lambda`` (response-minutes per theft) for
each theft-aware baseline, and any policy given. Each lands on the plane (mean
response time, thefts per day) beside the travel bound (the proven p-median
bound on mean travel) and the theft bound
(:func:`~patrolmarl.evaluation.limits.theft_bound`, a certified lower bound on
expected thefts per day). The planner's question, answered per policy: is it
better than ``fixed_zone`` on both axes at once, both 95 % intervals excluding
zero? The theft-aware posts' certified optimality per lambda
(:func:`~patrolmarl.agents.theft_posts.hourly_theft_posts`) comes with them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from patrolmarl.agents.baseline_spec import build_baseline, theft_sweep_point
from patrolmarl.agents.policy import Policy
from patrolmarl.agents.theft_posts import hourly_theft_posts
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.errors import PatrolMarlError
from patrolmarl.evaluation import plots
from patrolmarl.evaluation.evaluate import BASELINE, Evaluation, evaluate
from patrolmarl.evaluation.report import FrontierFigure
from patrolmarl.json_text import json_text
from patrolmarl.output_folder import staged_folder

REFERENCE_POLICIES = ("fixed_zone", "nearest", "pmedian", "coverage")
SWEPT_BASELINES = ("pmedian_theft", "redeploy")
DEFAULT_LAMBDAS = (0.0, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0)
PNG_FILE, JSON_FILE, MARKDOWN_FILE = "frontier.png", "frontier.json", "frontier.md"


def sweep_specs(lambdas: Sequence[float], baselines: Sequence[str] = SWEPT_BASELINES) -> list[str]:
    """Policy specs of the sweep, e.g. ``pmedian_theft:theft=60``, baseline by baseline."""
    return [f"{name}:theft={lam:g}" for name in baselines for lam in lambdas]


@dataclass
class Frontier:
    """An evaluation on the response-theft plane, with both bounds and the posts' certificates.

    Attributes
    ----------
    evaluation
        Every policy on the same days (``limit["theft_lower_bound"]`` set).
    theft_lower_bound
        Certified lower bound on any policy's expected thefts per day.
    posts
        Per lambda of the ``pmedian_theft`` sweep: the posts' expected response
        minutes, thefts, objective and certified lower bound per day, and the
        worst hourly gap (:meth:`HourlyPosts.per_day`).
    """

    evaluation: Evaluation
    theft_lower_bound: float
    posts: dict[float, dict[str, float]]

    def rows(self) -> list[dict]:
        """One row per policy: both axes, both differences to fixed_zone, the verdict."""
        rows = []
        for r in self.evaluation.results:
            sweep = theft_sweep_point(r.name)
            response = r.vs_baseline["response_mean"]
            thefts = r.vs_baseline["thefts_per_day"]
            rows.append(
                {
                    "policy": r.name,
                    "lambda": sweep[1] if sweep else None,
                    "response_mean": r.summary["response_mean"],
                    "thefts_per_day": r.summary["thefts_per_day"],
                    "response_vs_fixed_zone": response,
                    "thefts_vs_fixed_zone": thefts,
                    "better_on_both": r.name != BASELINE
                    and _below_zero(response)
                    and _below_zero(thefts),
                }
            )
        return rows

    def answer(self) -> str:
        """The planner's question in one sentence."""
        winners = [row["policy"] for row in self.rows() if row["better_on_both"]]
        if winners:
            return (
                "Better than fixed_zone on both response and thefts (both 95 % intervals "
                f"below zero): {', '.join(winners)}."
            )
        return (
            "No policy is better than fixed_zone on both response and thefts with both "
            "95 % intervals below zero."
        )

    def to_json(self) -> dict:
        """The machine-readable form written to ``frontier.json``."""
        ev = self.evaluation
        return {
            "district": ev.district.name,
            "district_config_sha256": ev.district.config_sha256,
            "seed": ev.seed,
            "days": len(ev.seeds),
            "baseline": BASELINE,
            "travel_lower_bound": ev.limit.get("travel_lower_bound"),
            "theft_lower_bound": self.theft_lower_bound,
            "answer": self.answer(),
            "policies": self.rows(),
            "pmedian_theft_posts": [{"lambda": lam, **day} for lam, day in self.posts.items()],
        }


def run_frontier(
    district: District,
    policies: Sequence[Policy],
    days: int,
    seed: int,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    on_step: Callable[[str, int], None] | None = None,
    resamples: int = 2000,
) -> Frontier:
    """Evaluate the reference baselines, the lambda sweeps and ``policies`` on the same days."""
    given = {p.name for p in policies}
    specs = [s for s in (*REFERENCE_POLICIES, *sweep_specs(lambdas)) if s not in given]
    everyone = [build_baseline(s, seed=seed) for s in specs] + list(policies)
    ev = evaluate(district, everyone, days, seed, on_step=on_step, resamples=resamples)
    incidents = IncidentModel(district)
    bound = ev.limit["theft_lower_bound"]
    posts = {
        float(lam): hourly_theft_posts(district, incidents, lam, certify=True).per_day()
        for lam in lambdas
    }
    return Frontier(evaluation=ev, theft_lower_bound=bound, posts=posts)


def format_table(frontier: Frontier) -> str:
    """The frontier table in Markdown: policy, lambda, both axes, both differences with CIs."""
    lines = [
        "| policy | lambda | response mean (min) | thefts/day | response vs fixed_zone "
        "[95 % CI] | thefts/day vs fixed_zone [95 % CI] | better on both |",
        "| --- | ---: | ---: | ---: | --- | --- | :---: |",
    ]
    for row in frontier.rows():
        lam = "" if row["lambda"] is None else f"{row['lambda']:g}"
        lines.append(
            f"| {row['policy']} | {lam} | {row['response_mean']:.2f} | "
            f"{row['thefts_per_day']:.2f} | {_difference(row['response_vs_fixed_zone'])} | "
            f"{_difference(row['thefts_vs_fixed_zone'])} | "
            f"{'yes' if row['better_on_both'] else ''} |"
        )
    return "\n".join(lines)


def _below_zero(diff: dict) -> bool:
    """Whether the difference's whole 95 % interval is below zero (False without one)."""
    return diff["ci_high"] is not None and diff["ci_high"] < 0


def _difference(diff: dict) -> str:
    if diff["ci_low"] is None:
        return f"{diff['difference']:+.2f} ({diff.get('interval_note', 'no interval')})"
    return f"{diff['difference']:+.2f} [{diff['ci_low']:+.2f}, {diff['ci_high']:+.2f}]"


def _markdown(frontier: Frontier) -> str:
    ev = frontier.evaluation
    posts = [
        "| lambda | response min/day | thefts/day | objective/day | bound/day | worst hourly gap |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for lam, day in frontier.posts.items():
        posts.append(
            f"| {lam:g} | {day['response_minutes']:.2f} | {day['thefts']:.3f} | "
            f"{day['objective']:.2f} | {day['lower_bound']:.2f} | {day['max_gap']:.1%} |"
        )
    return "\n".join(
        [
            f"# Response against thefts: {ev.district.name}",
            "",
            f"{len(ev.seeds)} days, seed {ev.seed}; every policy on the same days. Travel bound "
            f"{ev.limit.get('travel_lower_bound', float('nan')):.2f} min (mean travel), theft "
            f"bound {frontier.theft_lower_bound:.3f} expected thefts/day (any policy).",
            "",
            f"**{frontier.answer()}**",
            "",
            format_table(frontier),
            "",
            "Differences are policy minus fixed_zone, paired bootstrap 95 % intervals over days. "
            "lambda: response-minutes a theft is worth.",
            "",
            "## pmedian_theft posts (expected, all units parked; certified bound)",
            "",
            *posts,
            "",
            f"![Response against thefts]({PNG_FILE})",
            "",
        ]
    )


def write_frontier(frontier: Frontier, out_dir: Path) -> list[Path]:
    """Write ``frontier.png``, ``frontier.json`` and ``frontier.md`` to ``out_dir``, whole or not.

    Raises
    ------
    FileExistsError
        If ``out_dir`` exists and is neither empty nor an earlier frontier folder.
    """
    out_dir = Path(out_dir).absolute()
    with staged_folder(out_dir, "frontier", is_frontier_folder) as tmp:
        plots.frontier(frontier.evaluation, tmp / PNG_FILE, frontier.theft_lower_bound)
        text = json_text(frontier.to_json())
        (tmp / JSON_FILE).write_text(text + "\n", encoding="utf-8")
        (tmp / MARKDOWN_FILE).write_text(_markdown(frontier), encoding="utf-8")
    return [out_dir / name for name in (PNG_FILE, JSON_FILE, MARKDOWN_FILE)]


def is_frontier_folder(names: set[str]) -> bool:
    """True if a folder holding ``names`` is an earlier :func:`write_frontier` output."""
    return JSON_FILE in names and names <= {PNG_FILE, JSON_FILE, MARKDOWN_FILE}


def read_frontier_figure(path: Path, district: District) -> FrontierFigure:
    """The figure and answer of a frontier folder (or its ``frontier.json``) for a report.

    Raises
    ------
    PatrolMarlError
        If ``frontier.json`` or ``frontier.png`` is missing, the JSON is damaged,
        or it was swept on another district configuration.
    """
    path = Path(path)
    folder = path.parent if path.name == JSON_FILE else path
    source = folder / JSON_FILE
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        sha, answer = data["district_config_sha256"], data["answer"]
    except FileNotFoundError:
        raise PatrolMarlError(f"--frontier: no {JSON_FILE} in {folder}") from None
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError):
        raise PatrolMarlError(f"--frontier: {source} is not a frontier.json") from None
    if sha != district.config_sha256:
        raise PatrolMarlError(
            f"--frontier: {source} was swept on another district configuration "
            f"(SHA-256 {str(sha)[:16]}, this one {district.config_sha256[:16]})"
        )
    if not (folder / PNG_FILE).is_file():
        raise PatrolMarlError(f"--frontier: no {PNG_FILE} beside {source}")
    return FrontierFigure(png=folder / PNG_FILE, answer=str(answer))
