"""Where calls happen: kernel-smoothed counts per cell, the bandwidth chosen by held-out likelihood.

The density of a call type over the area's cells is its call counts smoothed by
a Gaussian kernel of ``sigma`` cells (scipy.ndimage; edge-corrected, so cells at
the area's rim are not thinned by mass smoothed outside), plus one call's worth
spread uniformly over the area so no cell of it has zero probability. The
bandwidth is the candidate with the highest likelihood of held-out days
(cross-validation over days), so each type gets its own: tight for hot spots,
wide for calls spread thin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Candidate bandwidths in cells (0: the counts themselves).
BANDWIDTHS_CELLS = (0.0, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
FOLDS = 5


@dataclass(frozen=True)
class SpatialFit:
    """A call type's fitted share of calls per cell and the bandwidth that made it."""

    density: np.ndarray  # (C,), sums to 1, zero outside the area
    sigma_cells: float
    cv_log_likelihood: dict[float, float]  # per held-out call, by candidate bandwidth


def smoothed_density(
    counts: np.ndarray, area: np.ndarray, shape: tuple[int, int], sigma: float
) -> np.ndarray:
    """``(C,)`` share of calls per cell from ``(C,)`` counts over the bool ``area`` mask."""
    n = float(counts.sum())
    inside = area.astype(float).reshape(shape)
    grid = counts.astype(float).reshape(shape) * inside
    if sigma > 0:
        weight = ndimage.gaussian_filter(inside, sigma, mode="constant")
        smooth = ndimage.gaussian_filter(grid, sigma, mode="constant")
        grid = np.divide(smooth, weight, out=np.zeros_like(smooth), where=weight > 0) * inside
        total = grid.sum()
        grid = grid * (n / total) if total > 0 else grid
    grid = grid + inside / inside.sum()
    return (grid / grid.sum()).ravel()


def log_likelihood(density: np.ndarray, counts: np.ndarray) -> float:
    """Log-likelihood of calls with ``counts`` per cell under a per-cell ``density``."""
    hit = counts > 0
    with np.errstate(divide="ignore"):
        return float((counts[hit] * np.log(density[hit])).sum())


def fit_spatial(
    cell: np.ndarray, day: np.ndarray, area: np.ndarray, shape: tuple[int, int]
) -> SpatialFit:
    """Fit one call type's density from its calls' cells and day numbers.

    The bandwidth maximises the likelihood of each fold of days (day mod
    :data:`FOLDS`) under the density fitted on the other days; with fewer than
    two distinct days there is nothing to hold out and 1 cell is used.
    """
    n_cells = area.size
    counts = np.bincount(cell, minlength=n_cells)
    folds = day % FOLDS
    if np.unique(day).size < 2:
        scores = {1.0: float("nan")}
    else:
        fold_counts = [np.bincount(cell[folds == f], minlength=n_cells) for f in range(FOLDS)]
        scores = {}
        for sigma in BANDWIDTHS_CELLS:
            total = 0.0
            for held in fold_counts:
                if held.sum():
                    total += log_likelihood(
                        smoothed_density(counts - held, area, shape, sigma), held
                    )
            scores[sigma] = total / cell.size
    best = max(scores, key=lambda s: -np.inf if np.isnan(scores[s]) else scores[s])
    return SpatialFit(smoothed_density(counts, area, shape, best), best, scores)


def top_share(density_or_counts: np.ndarray, area: np.ndarray, fraction: float = 0.05) -> float:
    """Share of calls in the top ``fraction`` of the area's cells (at least one cell)."""
    values = np.sort(density_or_counts[area])[::-1]
    k = max(1, int(round(fraction * values.size)))
    total = values.sum()
    return float(values[:k].sum() / total) if total > 0 else float("nan")
