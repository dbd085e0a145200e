"""PNG maps of recommended beats, one per time block (Agg canvas, no window).

Each map shows every unit's beat (outline and light fill in the unit's colour,
its first dwell point as a numbered dot) over the block's street-call
intensity (grey shade), the cells holding half of the block's theft (red
crosses), precinct borders and service stations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath

from patrolmarl.beats.derivation import DerivedBeats, smallest_share_set
from patrolmarl.beats.geometry import cell_polygons
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.evaluation.colours import distinct_colour
from patrolmarl.evaluation.figures import (
    draw_precinct_borders,
    frame_grid,
    new_figure,
    save_figure,
)

THEFT_SHARE = 0.5


def block_intensity(
    incidents: IncidentModel, start_hour: float, end_hour: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(C,)`` expected street calls and ``(C,)`` thefts per day in the block's hours."""
    hours = np.arange(int(start_hour), int(np.ceil(end_hour))) % 24
    street = incidents.street_rate_per_minute()[hours].sum(axis=0) * 60.0
    theft = incidents.rate_per_minute[hours][:, incidents.deterrable].sum(axis=(0, 1)) * 60.0
    return street, theft


def beat_map(
    district: District,
    beats: DerivedBeats,
    block: int,
    path: Path,
    source: str,
    incidents: IncidentModel | None = None,
) -> Path:
    """Draw the beats of ``block`` to the PNG ``path``; returns it."""
    if incidents is None:
        incidents = IncidentModel(district)
    start, end = float(beats.block_hours[block]), float(beats.block_hours[block + 1])
    street, theft = block_intensity(incidents, start, end)
    rows, cols = district.rows, district.cols
    fig, ax = new_figure(10.0, 7.0)
    shade = ax.imshow(
        street.reshape(rows, cols),
        cmap=ListedColormap(colormaps["Greys"](np.linspace(0.0, 0.55, 256))),
        vmin=0.0,
        vmax=max(float(street.max()), 1e-9),
        interpolation="nearest",
        origin="upper",
    )
    fig.colorbar(shade, ax=ax, shrink=0.7, pad=0.02, label="street calls a day in these hours")
    draw_precinct_borders(ax, district, halo_width=4.0, line_width=1.6, zorder=4)
    handles = []
    for n in range(district.n_units):
        colour = distinct_colour(n)
        mask = beats.cells[block, n].reshape(rows, cols)
        for polygon in cell_polygons(mask):
            rings = [MplPath(ring[:, ::-1] - 0.5, closed=True) for ring in polygon]
            ax.add_patch(
                PathPatch(
                    MplPath.make_compound_path(*rings),
                    facecolor=(*colour[:3], 0.14),
                    edgecolor=colour,
                    linewidth=2.0,
                    zorder=3,
                )
            )
        first = np.flatnonzero(beats.dwell_rank[block, n] == 1)
        if first.size:
            r, c = divmod(int(first[0]), cols)
            ax.scatter(c, r, s=190, color=colour, edgecolors="black", linewidths=0.8, zorder=6)
            ink = "black" if sum(colour[:3]) > 2.0 else "white"
            ax.text(c, r, str(n), ha="center", va="center", fontsize=7, color=ink, zorder=7)
        cells = int(mask.sum())
        handles.append(
            Patch(
                facecolor=(*colour[:3], 0.3),
                edgecolor=colour,
                label=f"{n}: {district.vehicle_names[district.unit_vehicle[n]]}, {cells} cells",
            )
        )
    hot = np.flatnonzero(smallest_share_set(theft, THEFT_SHARE))
    hr, hc = np.divmod(hot, cols)
    ax.scatter(hc, hr, marker="x", s=28, color="crimson", linewidths=1.2, zorder=4)
    if district.station_cells.size:
        sr, sc = np.divmod(district.station_cells, cols)
        ax.scatter(sc, sr, marker="*", s=260, color="gold", edgecolors="black", zorder=8)
    handles += [
        _marker_handle("o", "0.5", "where the unit waits most", markersize=10),
        Line2D([], [], marker="x", ls="", color="crimson", label="cells with half the theft"),
        _marker_handle("*", "gold", "service station", markersize=13),
        Line2D([], [], color="black", linewidth=1.6, label="precinct border"),
    ]
    fig.legend(
        handles=handles,
        loc="upper right",
        bbox_to_anchor=(0.995, 0.93),
        fontsize=8,
        title="unit: vehicle, beat size",
        title_fontsize=8,
        frameon=False,
    )
    frame_grid(ax, rows, cols)
    what = (
        f"{beats.share:.0%} of each unit's idle patrol time under {source}"
        if beats.share is not None
        else f"a balanced contiguous partition seeded from {source}"
    )
    ax.set_title(f"Recommended beats {_hhmm(start)}-{_hhmm(end)}: {what}", fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.78, bottom=0.07, top=0.94)
    return save_figure(fig, path, tight=False)


def _hhmm(hour: float) -> str:
    h, m = divmod(round(hour * 60), 60)
    return f"{h:02d}:{m:02d}"


def _marker_handle(marker: str, color: str, label: str, markersize: float) -> Line2D:
    """A legend entry: a black-edged marker without a line."""
    return Line2D(
        [],
        [],
        marker=marker,
        ls="",
        markersize=markersize,
        color=color,
        markeredgecolor="black",
        label=label,
    )
