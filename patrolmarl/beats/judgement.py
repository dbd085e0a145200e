"""Judge a static beat plan against the policy it was derived from and the fixed-zone baseline.

The share of the source policy's gain the plan keeps, per metric (lower is
better for both)::

    kept = (fixed_zone - plan) / (fixed_zone - source)

1 means the static plan does as well as the source, 0 no better than fixed
zones; n/a when the source does not beat fixed zones. The workload imbalance
(coefficient of variation across units of their busy minutes over all the
days: a single day's CV is mostly the noise of a few calls per unit) is
judged the same way, with a bootstrap interval over days for each policy and
for its difference to fixed zones (days resampled in pairs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from patrolmarl.evaluation.evaluate import BASELINE, Evaluation
from patrolmarl.evaluation.statistics import MIN_INTERVAL_DAYS, TOO_FEW_DAYS, PairedDifference

JUDGED = ("response_mean", "thefts_per_day", "workload_cv")
LABELS = {
    "response_mean": "response mean (min)",
    "thefts_per_day": "thefts per day",
    "workload_cv": "workload CV",
}
KEPT_DEFINITION = (
    f"(`{BASELINE}` - plan) / (`{BASELINE}` - source); 1 = as good as the source, "
    f"0 = no better than `{BASELINE}`."
)


def gain_kept(baseline: float, plan: float, source: float) -> float | None:
    """``(baseline - plan) / (baseline - source)``, or None when the source has no gain."""
    gain = baseline - source
    if not (math.isfinite(gain) and math.isfinite(plan)) or gain <= 0:
        return None
    return (baseline - plan) / gain


@dataclass(frozen=True)
class Judgement:
    """The plan beside its source and the baseline on the same days."""

    source: str
    plan: str
    days: int
    seed: int
    rows: dict[str, dict[str, dict]]  # policy -> metric -> value and difference to baseline
    kept: dict[str, float | None]  # metric -> share of the source's gain kept
    source_gain_significant: dict[str, bool]

    def to_json(self) -> dict:
        """The content of ``judgement.json``."""
        return {
            "source": self.source,
            "plan": self.plan,
            "baseline": BASELINE,
            "days": self.days,
            "seed": self.seed,
            "in_sample": True,
            "policies": self.rows,
            "gain_kept": self.kept,
            "source_gain_significant": self.source_gain_significant,
        }

    def to_text(self) -> str:
        """Plain text for the terminal (also the body of ``judgement.md``)."""
        lines = [f"Judgement on {self.days} day(s), seed {self.seed} (vs {BASELINE}, 95 % CI):"]
        for name, metrics in self.rows.items():
            cells = []
            for metric in JUDGED:
                row = metrics[metric]
                cells.append(f"{LABELS[metric]} {_fmt(row['value'])}{_vs(row)}")
            lines.append(f"  {name:18s} " + "; ".join(cells))
        lines.append("Share of the source policy's gain kept by the static plan:")
        for metric in JUDGED:
            lines.append(f"  {LABELS[metric]:20s} {self._kept_text(metric)}")
        return "\n".join(lines)

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Headers and rows of the judgement: each policy's value and difference per metric."""
        headers = ["Policy"]
        for m in JUDGED:
            headers += [LABELS[m], f"vs {BASELINE} [95 % CI]"]
        rows = []
        for name, metrics in self.rows.items():
            cells = [name]
            for metric in JUDGED:
                row = metrics[metric]
                cells += [_fmt(row["value"]), _vs(row).strip(" ()") or "-"]
            rows.append(cells)
        return headers, rows

    def kept_lines(self) -> list[str]:
        """One line per metric: the share of the source's gain the plan keeps."""
        return [f"{LABELS[m]}: {self._kept_text(m)}" for m in JUDGED]

    def to_markdown(self) -> str:
        """The content of ``judgement.md``."""
        headers, rows = self.table()
        lines = [
            f"# Judgement of the beat plan derived from `{self.source}`",
            "",
            self.summary(),
            "",
            "| " + " | ".join(headers) + " |",
            "|---" * len(headers) + "|",
            *("| " + " | ".join(row) + " |" for row in rows),
            "",
            "## Share of the source policy's gain kept by the static plan",
            "",
            KEPT_DEFINITION,
            "",
        ]
        lines += [f"- {line}" for line in self.kept_lines()]
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        """What was compared, on which days, in one paragraph."""
        return (
            f"`{self.plan}` (the static plan, `plan.yaml`), its source `{self.source}` and "
            f"`{BASELINE}` on the same {self.days} day(s), seed {self.seed}. The plan was "
            "derived from these days (in-sample); evaluate it with another `--seed` for "
            "days it has not seen."
        )

    def _kept_text(self, metric: str) -> str:
        kept = self.kept[metric]
        if kept is None:
            return f"n/a ({self.source} has no gain over {BASELINE})"
        text = f"{100.0 * kept:.0f} %"
        if not self.source_gain_significant[metric]:
            text += f" (the source's gain over {BASELINE} is not significant: read with care)"
        return text


def judge(ev: Evaluation, source: str, plan: str) -> Judgement:
    """The judgement of ``plan`` against ``source`` and the baseline, from one evaluation."""
    rows = {}
    cv_values, cv_differences = _workload_cv_rows(ev, [source, plan])
    for name in dict.fromkeys([BASELINE, source, plan]):
        result = ev.result(name)
        summary = {**result.summary, "workload_cv": cv_values[name]["value"]}
        vs = {**result.vs_baseline, "workload_cv": cv_differences.get(name)}
        rows[name] = {
            metric: {
                "value": _finite(float(summary[metric])),
                "vs_baseline": None
                if name == BASELINE
                else {k: _finite(v) for k, v in vs[metric].items()},
            }
            for metric in JUDGED
        }
        rows[name]["workload_cv"]["interval"] = [
            cv_values[name]["ci_low"],
            cv_values[name]["ci_high"],
        ]
    base = {m: rows[BASELINE][m]["value"] for m in JUDGED}
    kept = {
        m: gain_kept(
            _as_float(base[m]),
            _as_float(rows[plan][m]["value"]),
            _as_float(rows[source][m]["value"]),
        )
        for m in JUDGED
    }
    significant = {
        m: source != BASELINE
        and bool(rows[source][m]["vs_baseline"]["excludes_zero"])
        and kept[m] is not None
        for m in JUDGED
    }
    return Judgement(source, plan, len(ev.seeds), ev.seed, rows, kept, significant)


def workload_cv(minutes: np.ndarray) -> np.ndarray:
    """CV across units of the busy minutes summed over days: ``(..., days, N)`` -> ``(...)``."""
    total = minutes.sum(axis=-2)
    mean = total.mean(axis=-1)
    return np.divide(total.std(axis=-1), mean, out=np.zeros_like(mean), where=mean > 0)


def _workload_cv_rows(
    ev: Evaluation, names: list[str], resamples: int = 2000
) -> tuple[dict[str, dict], dict[str, dict]]:
    """Each policy's workload CV over all days with its 95 % bootstrap interval, and its
    difference to the baseline's (days resampled in pairs, as the other metrics)."""
    rng = np.random.default_rng([ev.seed, 2**31 - 3])
    names = list(dict.fromkeys([BASELINE, *names]))
    minutes = {
        name: np.array([m["workload_minutes"] for m in ev.result(name).per_day]) for name in names
    }
    days = minutes[BASELINE].shape[0]
    idx = rng.integers(0, days, size=(resamples, days))
    boot = {name: workload_cv(m[idx]) for name, m in minutes.items()}
    point = {name: float(workload_cv(m)) for name, m in minutes.items()}
    values, differences = {}, {}
    for name in names:
        low, high = (
            np.quantile(boot[name], [0.025, 0.975]) if days >= MIN_INTERVAL_DAYS else (None, None)
        )
        values[name] = {
            "value": point[name],
            "ci_low": None if low is None else float(low),
            "ci_high": None if high is None else float(high),
        }
        if name == BASELINE:
            continue
        diff = point[name] - point[BASELINE]
        relative = diff / point[BASELINE] if point[BASELINE] > 0 else float("nan")
        if days < MIN_INTERVAL_DAYS:
            differences[name] = PairedDifference(diff, None, None, relative, TOO_FEW_DAYS)
        else:
            d_low, d_high = np.quantile(boot[name] - boot[BASELINE], [0.025, 0.975])
            differences[name] = PairedDifference(diff, float(d_low), float(d_high), relative)
        differences[name] = differences[name].as_dict()
    return values, differences


def _as_float(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def _finite(x: object) -> object:
    """``x``, or None for a NaN or infinite float (JSON has neither)."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _fmt(x: float | None, sign: str = "") -> str:
    return "n/a" if x is None else f"{x:{sign}.2f}"


def _vs(row: dict) -> str:
    diff = row["vs_baseline"]
    if diff is None:
        return ""
    low, high = _fmt(diff["ci_low"], "+"), _fmt(diff["ci_high"], "+")
    return f" ({_fmt(diff['difference'], '+')} [{low}, {high}])"
