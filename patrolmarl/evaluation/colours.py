"""Distinct colours for up to 20 units or policies, shared by the beat maps and the report's plots.

A fixed list (after Trubetskoy's 20 distinct colours, black swapped for dark
green because precinct borders are black), strong hues first: any two of the
20 differ by at least 25 in CIELAB (CIE76 delta E), where matplotlib's
``tab20`` pairs a hue with its own light shade (as little as 17 apart).
"""

from __future__ import annotations

from matplotlib.colors import to_rgba

DISTINCT_COLOURS = (
    "#e6194b",  # red
    "#3cb44b",  # green
    "#4363d8",  # blue
    "#f58231",  # orange
    "#911eb4",  # purple
    "#42d4f4",  # cyan
    "#f032e6",  # magenta
    "#bfef45",  # lime
    "#469990",  # teal
    "#9a6324",  # brown
    "#800000",  # maroon
    "#808000",  # olive
    "#000075",  # navy
    "#ffe119",  # yellow
    "#fabed4",  # pink
    "#dcbeff",  # lavender
    "#aaffc3",  # mint
    "#ffd8b1",  # apricot
    "#a9a9a9",  # grey
    "#006400",  # dark green
)


def distinct_colour(i: int) -> tuple[float, float, float, float]:
    """The RGBA colour of unit or policy ``i`` (the list repeats past 20)."""
    return to_rgba(DISTINCT_COLOURS[i % len(DISTINCT_COLOURS)])
