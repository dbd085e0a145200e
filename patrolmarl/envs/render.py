"""Drawing one district of a :class:`BatchedSim` as an RGB image or as text, with numpy only.

The frame (:class:`FrameDrawer`) shows the grid coloured by land use, precinct borders (dark lines),
stations (dark squares), cells with pending street calls (magenta frames), the
patrol units as dots coloured by status (:data:`STATUS_COLOURS`) and, along the
top, a bar with the elapsed share of the episode. :func:`text_frame` gives the
units, their status and the waiting calls as one character per cell.
"""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.status import EN_ROUTE, IDLE, MOVING, ON_SCENE

#: RGB of the unit dots by status.
STATUS_COLOURS: dict[int, tuple[int, int, int]] = {
    IDLE: (30, 160, 60),
    MOVING: (40, 90, 220),
    EN_ROUTE: (240, 140, 0),
    ON_SCENE: (210, 20, 30),
}
CALL_COLOUR = (230, 0, 200)
BORDER_COLOUR = (25, 25, 25)
STATION_COLOUR = (60, 40, 20)
GRID_COLOUR = (200, 200, 200)
BACKGROUND = (255, 255, 255)
# Land-use colours by (part of) the land use's name, first match in this order;
# others take PALETTE by index.
LAND_USE_COLOURS: dict[str, tuple[int, int, int]] = {
    "industrial": (200, 200, 235),
    "arterial": (150, 150, 150),
    "street": (222, 222, 214),
    "park": (170, 220, 150),
    "plaza": (170, 220, 150),
    "mall": (245, 210, 150),
    "residential": (245, 235, 190),
    "village": (215, 180, 150),
    "green": (120, 180, 110),
    "hill": (120, 180, 110),
}
PALETTE = (
    (230, 230, 230),
    (200, 225, 245),
    (245, 220, 220),
    (220, 245, 220),
    (240, 240, 200),
    (225, 210, 240),
)


class FrameDrawer:
    """Draws frames of one district; the static layer is built once.

    Parameters
    ----------
    sim
        The simulator to draw.
    cell_px
        Side of one grid cell in pixels (at least 9).
    """

    def __init__(self, sim: BatchedSim, cell_px: int = 30) -> None:
        if cell_px < 9:
            raise ValueError(f"cell_px must be at least 9, got {cell_px}")
        self.sim = sim
        self.cell_px = cell_px
        self.bar_px = max(cell_px // 4, 4)
        d = sim.district
        self.height = self.bar_px + d.rows * cell_px
        self.width = d.cols * cell_px
        self._static = self._draw_static()
        # Up to 9 unit dots per cell on a 3 x 3 sub-grid; more wrap around.
        radius = max(cell_px / 6.0, 2.0)
        size = int(np.ceil(2 * radius))
        yy, xx = np.mgrid[0:size, 0:size] + 0.5 - size / 2.0
        self._dot = (yy**2 + xx**2) <= radius**2
        slot = (np.arange(3) + 0.5) * cell_px / 3.0 - size / 2.0
        sr, sc = np.meshgrid(slot, slot, indexing="ij")
        self._slots = np.stack([sr.ravel(), sc.ravel()], axis=1).round().astype(int)

    def _cell_origin(self, cell: int) -> tuple[int, int]:
        r, c = divmod(int(cell), self.sim.district.cols)
        return self.bar_px + r * self.cell_px, c * self.cell_px

    def _draw_static(self) -> np.ndarray:
        d = self.sim.district
        p = self.cell_px
        names = [d.config.land_uses[code].name.lower() for code in d.land_use_codes]
        colours = np.array(
            [
                next(
                    (rgb for key, rgb in LAND_USE_COLOURS.items() if key in name),
                    PALETTE[i % len(PALETTE)],
                )
                for i, name in enumerate(names)
            ],
            dtype=np.uint8,
        )
        grid = colours[d.land_use_of_cell].reshape(d.rows, d.cols, 3)
        img = np.full((self.height, self.width, 3), BACKGROUND, dtype=np.uint8)
        body = np.repeat(np.repeat(grid, p, axis=0), p, axis=1)
        body[::p, :] = GRID_COLOUR
        body[:, ::p] = GRID_COLOUR
        precinct = d.precinct_of_cell.reshape(d.rows, d.cols)
        w = max(p // 10, 1)
        # Precinct borders: a dark line on both sides of each edge between precincts.
        for r, c in zip(*np.nonzero(precinct[1:, :] != precinct[:-1, :]), strict=True):
            body[(r + 1) * p - w : (r + 1) * p + w, c * p : (c + 1) * p] = BORDER_COLOUR
        for r, c in zip(*np.nonzero(precinct[:, 1:] != precinct[:, :-1]), strict=True):
            body[r * p : (r + 1) * p, (c + 1) * p - w : (c + 1) * p + w] = BORDER_COLOUR
        img[self.bar_px :] = body
        for cell in d.station_cells:
            y, x = self._cell_origin(cell)
            q = p // 4
            img[y + q : y + p - q, x + q : x + p - q] = STATION_COLOUR
        return img

    def draw(self, b: int = 0) -> np.ndarray:
        """``(H, W, 3)`` uint8 frame of district ``b`` as it stands now."""
        sim = self.sim
        img = self._static.copy()
        p = self.cell_px
        frac = min(float(sim.now[b]) / max(sim.n_steps * sim.step_minutes, 1e-9), 1.0)
        img[: self.bar_px - 1, : int(round(frac * self.width))] = (90, 90, 90)
        w = max(p // 10, 2)
        pending = sim.pending[b]
        for cell in np.unique(sim.calls.cell[b, pending[pending >= 0]]):
            y, x = self._cell_origin(cell)
            img[y : y + w, x : x + p] = CALL_COLOUR
            img[y + p - w : y + p, x : x + p] = CALL_COLOUR
            img[y : y + p, x : x + w] = CALL_COLOUR
            img[y : y + p, x + p - w : x + p] = CALL_COLOUR
        seen: dict[int, int] = {}
        size = self._dot.shape[0]
        for cell, status in zip(sim.unit_cell[b], sim.unit_status[b], strict=True):
            k = seen.get(int(cell), 0)
            seen[int(cell)] = k + 1
            y, x = self._cell_origin(cell)
            dy, dx = self._slots[k % len(self._slots)]
            y0 = int(np.clip(y + dy, 0, self.height - size))
            x0 = int(np.clip(x + dx, 0, self.width - size))
            patch = img[y0 : y0 + size, x0 : x0 + size]
            patch[self._dot] = STATUS_COLOURS.get(int(status), (0, 0, 0))
        return img


#: Text of a cell holding units, by the status of its first unit (capital: more than one unit).
STATUS_LETTERS: dict[int, str] = {IDLE: "i", MOVING: "m", EN_ROUTE: "e", ON_SCENE: "s"}
CALL_MARK = "*"
EMPTY_MARK = "."


def text_frame(sim: BatchedSim, b: int = 0) -> str:
    """District ``b`` as text: a status line, then one character per cell.

    A cell shows its first unit's status letter (:data:`STATUS_LETTERS`,
    capital when several units stand there), else ``*`` if a street call waits
    there, else ``.``.
    """
    d = sim.district
    grid = np.full(d.n_cells, EMPTY_MARK, dtype="<U1")
    pending = sim.pending[b]
    grid[sim.calls.cell[b, pending[pending >= 0]]] = CALL_MARK
    cells, first, counts = np.unique(sim.unit_cell[b], return_index=True, return_counts=True)
    for cell, unit, count in zip(cells, first, counts, strict=True):
        letter = STATUS_LETTERS.get(int(sim.unit_status[b, unit]), "?")
        grid[cell] = letter.upper() if count > 1 else letter
    statuses = ", ".join(
        f"{int((sim.unit_status[b] == code).sum())} {name}"
        for code, name in zip(
            STATUS_LETTERS, ("idle", "moving", "en route", "on scene"), strict=True
        )
    )
    head = (
        f"minute {float(sim.now[b]):g} of {sim.n_steps * sim.step_minutes:g}: "
        f"{int((pending >= 0).sum())} pending calls; units {statuses}"
    )
    rows = ["".join(grid[r * d.cols : (r + 1) * d.cols]) for r in range(d.rows)]
    return "\n".join([head, *rows])
