"""Paired bootstrap confidence intervals over evaluation days.

With fewer than :data:`MIN_INTERVAL_DAYS` days, or when the resampled
differences do not vary at all, there is no interval: a zero-width interval
would call any difference significant. Then ``ci_low``, ``ci_high`` and
``excludes_zero`` are None and ``interval_note`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Fewest days for a paired bootstrap interval: resampling 1 or 2 days draws only
#: 1 or 3 distinct sets of days, so the "interval" is a point or the days themselves.
MIN_INTERVAL_DAYS = 3
TOO_FEW_DAYS = "too few days for an interval"
NO_VARIATION = "no variation between days for an interval"


@dataclass(frozen=True)
class PairedDifference:
    """``policy - baseline`` of a ratio metric over the same days, with a bootstrap CI.

    ``ci_low`` and ``ci_high`` are None when there is no interval (``note`` says why).
    """

    difference: float
    ci_low: float | None
    ci_high: float | None
    relative: float
    note: str | None = None

    @property
    def excludes_zero(self) -> bool | None:
        """Whether the 95 % interval lies entirely on one side of zero (None: no interval)."""
        if self.ci_low is None or self.ci_high is None:
            return None
        return self.ci_low > 0 or self.ci_high < 0

    def as_dict(self) -> dict[str, float | bool | str | None]:
        """JSON-ready fields."""
        return {
            "difference": self.difference,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "relative": self.relative,
            "excludes_zero": self.excludes_zero,
            "interval_note": self.note,
        }


def paired_bootstrap(
    policy_num: np.ndarray,
    policy_den: np.ndarray,
    base_num: np.ndarray,
    base_den: np.ndarray,
    rng: np.random.Generator,
    resamples: int = 2000,
    level: float = 0.95,
) -> PairedDifference:
    """Bootstrap the difference of two pooled ratios, resampling days in pairs.

    Each metric is a ratio of per-day sums (mean response = total minutes /
    calls; thefts per day = thefts / 1), so days with more calls weigh more, as
    in the pooled figure. The same resampled days are used for both policies.

    Parameters
    ----------
    policy_num, policy_den, base_num, base_den
        ``(days,)`` per-day numerators and denominators.
    rng
        Generator for the resampling (seeded by the caller).
    """
    days = policy_num.shape[0]
    point_p = policy_num.sum() / policy_den.sum()
    point_b = base_num.sum() / base_den.sum()
    diff = float(point_p - point_b)
    relative = diff / float(point_b) if point_b != 0 else float("nan")
    if days < MIN_INTERVAL_DAYS:
        return PairedDifference(diff, None, None, relative, TOO_FEW_DAYS)
    idx = rng.integers(0, days, size=(resamples, days))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = policy_num[idx].sum(1) / policy_den[idx].sum(1) - base_num[idx].sum(1) / base_den[
            idx
        ].sum(1)
    boot = boot[np.isfinite(boot)]
    if boot.size and np.ptp(boot) <= 1e-12 * max(1.0, abs(diff)):  # rounding noise only
        return PairedDifference(diff, None, None, relative, NO_VARIATION)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha]) if boot.size else (np.nan, np.nan)
    return PairedDifference(diff, float(low), float(high), relative)
