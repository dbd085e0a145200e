"""PNG figures on an explicit Agg canvas, and the furniture of a map of the district's grid.

Figures are rendered on an explicit Agg canvas (``FigureCanvasAgg``) rather
than through ``pyplot``: nothing opens a window, no global backend or figure
registry is touched (safe inside notebooks and threads), and nothing leaks.
The report's plots and the beat maps share these helpers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from patrolmarl.envs.district import District

DPI = 110


def new_figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A ``width`` x ``height`` inch figure on its own Agg canvas, with one axes."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def save_figure(fig: Figure, path: Path, tight: bool = True) -> Path:
    """Write ``fig`` as a PNG to ``path`` (after ``tight_layout`` if ``tight``); returns it."""
    path = Path(path)
    if tight:
        fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI)
    return path


def precinct_borders(precinct_of_cell: np.ndarray, rows: int, cols: int) -> list:
    """Line segments (image coordinates) between neighbouring cells of different precincts."""
    grid = precinct_of_cell.reshape(rows, cols)
    segments = []
    for r, c in zip(*np.nonzero(grid[:, 1:] != grid[:, :-1]), strict=True):
        segments.append([(c + 0.5, r - 0.5), (c + 0.5, r + 0.5)])
    for r, c in zip(*np.nonzero(grid[1:, :] != grid[:-1, :]), strict=True):
        segments.append([(c - 0.5, r + 0.5), (c + 0.5, r + 0.5)])
    return segments


def draw_precinct_borders(
    ax: Axes, district: District, halo_width: float, line_width: float, zorder: float = 2
) -> None:
    """Draw the precinct borders on a grid map: black lines over a white halo."""
    borders = precinct_borders(district.precinct_of_cell, district.rows, district.cols)
    ax.add_collection(LineCollection(borders, colors="white", linewidths=halo_width, zorder=zorder))
    ax.add_collection(LineCollection(borders, colors="black", linewidths=line_width, zorder=zorder))


def frame_grid(ax: Axes, rows: int, cols: int) -> None:
    """Frame ``ax`` on a ``rows`` x ``cols`` grid map: whole cells, north at the top, labelled."""
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("column")
    ax.set_ylabel("row (north at top)")
