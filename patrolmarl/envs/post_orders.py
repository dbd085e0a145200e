"""Macro actions' standing orders: a free unit chooses one of the hour's candidate posts and
drives there.

The variant runs under the command centre's nearest dispatch
(:data:`~patrolmarl.envs.dispatch_rule.NEAREST`): the policy positions free
units only (the SB3 face is :class:`~patrolmarl.envs.macro_actions.MacroActionVecEnv`,
the evaluator's :class:`~patrolmarl.agents.macro_policy.MacroPostPolicy`; this module
needs numpy alone). Candidate posts are a ``(24, P)`` array of cells per clock hour
(e.g. :func:`patrolmarl.agents.candidate_posts.candidate_posts`). A unit's
action is one of ``1 + P``: 0 keeps its standing order, ``1 + p`` orders it
to post ``p`` of the current hour.

A unit *decides* (its mask allows every post and not 0) when it is idle at a
step boundary and has no order (at the day's start, or after a call: a unit
seen en route or on scene loses its order), or has stood at its post for
``dwell_minutes`` (Koper's 10-16 minute stops suggest 12). Otherwise only 0
is allowed, and between decisions the unit goes to its post by the
shortest-path step rule (:func:`~patrolmarl.envs.moves.moves_toward`), then
stays there. An action the mask forbids is taken as 0.

The observation is the plain one (:func:`~patrolmarl.envs.observations.observation_layout`)
followed by the fields ``deciding`` (1 where the unit decides now) and ``posts``:
per post of the current hour, post-major, :data:`POST_FEATURES` (its row and col
offset from the unit, the unit's travel minutes to it, whether it is the unit's
own order, whether another unit's); see :func:`macro_layout`.
"""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.dispatch_rule import HOURS
from patrolmarl.envs.district import District
from patrolmarl.envs.moves import moves_toward
from patrolmarl.envs.observations import (
    TRAVEL_SCALE_MINUTES,
    Field,
    ObservationLayout,
    observation_layout,
)
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import EN_ROUTE, IDLE, ON_SCENE

KEEP = 0  # the action keeping a unit's standing order
DEFAULT_DWELL_MINUTES = 12.0
POST_FEATURES = ("d_row", "d_col", "travel", "mine", "held")


def macro_layout(district: District, n_posts: int, move_gains: bool = False) -> ObservationLayout:
    """The plain observation fields followed by the macro fields ``deciding`` and ``posts``."""
    plain = observation_layout(district, move_gains)
    start = plain.size
    deciding = Field("deciding", start, start + 1, "1 where the unit chooses a post now")
    posts = Field(
        "posts",
        start + 1,
        start + 1 + n_posts * len(POST_FEATURES),
        "per post of the current hour: d_row / (rows - 1), d_col / (cols - 1) from the unit, "
        f"the unit's travel minutes to it / {TRAVEL_SCALE_MINUTES:g}, 1 if it is the unit's "
        "own order, 1 if another unit's",
    )
    return ObservationLayout((*plain.fields, deciding, posts), plain.n_units)


def macro_bounds(district: District, n_posts: int) -> tuple[np.ndarray, np.ndarray]:
    """``(1 + 5 P,)`` float32 bounds of the macro fields (the part after the plain observation)."""
    travel_high = float(district.unit_travel_minutes.max()) / TRAVEL_SCALE_MINUTES
    low = np.concatenate([[0.0], np.tile([-1.0, -1.0, 0.0, 0.0, 0.0], n_posts)])
    high = np.concatenate([[1.0], np.tile([1.0, 1.0, travel_high, 1.0, 1.0], n_posts)])
    return low.astype(np.float32), high.astype(np.float32)


class PostOrders:
    """Each unit's standing order (a post's cell), when it decides, and what it sees of the posts.

    Call :meth:`refresh` once at every step boundary (after a reset or a step,
    before observing); then :meth:`features` and :meth:`masks` describe that
    boundary and :meth:`primitive_actions` turns the chosen macro actions into
    the core's stay/move actions.

    Parameters
    ----------
    view
        The simulator the orders are given in.
    posts
        ``(24, P)`` candidate cells of every clock hour.
    dwell_minutes
        How long a unit stands at its post before it decides again.
    """

    def __init__(
        self, view: SimView, posts: np.ndarray, dwell_minutes: float = DEFAULT_DWELL_MINUTES
    ) -> None:
        posts = np.asarray(posts)
        n_cells = view.district.n_cells
        if posts.ndim != 2 or posts.shape[0] != HOURS or posts.shape[1] < 1:
            raise ValueError(f"posts must be (24, P) cells with P >= 1, got shape {posts.shape}")
        if posts.dtype.kind not in "iu" or posts.min() < 0 or posts.max() >= n_cells:
            raise ValueError(f"posts must be integer cells in [0, {n_cells})")
        if not dwell_minutes >= 0:
            raise ValueError(f"dwell_minutes must be >= 0, got {dwell_minutes!r}")
        self.view = view
        self.posts = posts.astype(np.int64)
        self.dwell_minutes = float(dwell_minutes)
        shape = (view.batch_size, view.district.n_units)
        self.target = np.full(shape, -1, dtype=np.int64)
        self.dwell_until = np.full(shape, np.nan)
        self.deciding = np.zeros(shape, dtype=bool)
        rc = view.district.cell_rc.astype(np.float64)
        self._rc_scaled = rc / np.maximum(np.array([view.district.rows, view.district.cols]) - 1, 1)

    @property
    def n_posts(self) -> int:
        """Number of candidate posts ``P`` per hour."""
        return self.posts.shape[1]

    @property
    def n_actions(self) -> int:
        """``1 + P``: keep, or go to one of the posts."""
        return 1 + self.n_posts

    def clear(self, mask: np.ndarray | None = None) -> None:
        """Cancel the orders of the districts in ``mask`` (all when None)."""
        rows = slice(None) if mask is None else np.asarray(mask, dtype=bool)
        self.target[rows] = -1
        self.dwell_until[rows] = np.nan

    def refresh(self) -> None:
        """Cancel busy units' orders, start the dwell of arrived ones, and mark who decides."""
        status = self.view.unit_status
        busy = (status == EN_ROUTE) | (status == ON_SCENE)
        self.target[busy] = -1
        self.dwell_until[busy] = np.nan
        now = np.broadcast_to(self.view.now[:, None], self.target.shape)
        idle = status == IDLE
        arrived = idle & (self.view.unit_cell == self.target)
        start = arrived & np.isnan(self.dwell_until)
        self.dwell_until[start] = now[start] + self.dwell_minutes
        self.deciding = idle & ((self.target < 0) | (arrived & (self.dwell_until <= now)))

    def hour_posts(self) -> np.ndarray:
        """``(B, P)`` the candidate posts of each district's current hour."""
        return self.posts[self.view.hour_of_day]

    def features(self) -> np.ndarray:
        """``(B, N, 1 + 5 P)`` float32 macro fields (layout: :func:`macro_layout`)."""
        post = self.hour_posts()  # (B, P)
        cell = self.view.unit_cell  # (B, N)
        offset = self._rc_scaled[post][:, None, :, :] - self._rc_scaled[cell][:, :, None, :]
        travel = self.view.district.unit_travel_minutes  # (N, C, C)
        units = np.arange(cell.shape[1])[None, :, None]
        minutes = travel[units, cell[:, :, None], post[:, None, :]] / TRAVEL_SCALE_MINUTES
        mine = self.target[:, :, None] == post[:, None, :]  # (B, N, P)
        held = (mine.sum(axis=1, keepdims=True) - mine) > 0
        per_post = np.concatenate(
            [offset, minutes[..., None], mine[..., None], held[..., None]], axis=3
        )
        b, n = cell.shape
        return np.concatenate(
            [self.deciding[..., None], per_post.reshape(b, n, -1)], axis=2
        ).astype(np.float32)

    def masks(self) -> np.ndarray:
        """``(B, N, 1 + P)`` bool: every post where a unit decides, else keep alone."""
        b, n = self.deciding.shape
        mask = np.empty((b, n, self.n_actions), dtype=bool)
        mask[..., KEEP] = ~self.deciding
        mask[..., 1:] = self.deciding[..., None]
        return mask

    def primitive_actions(self, actions: np.ndarray) -> np.ndarray:
        """``(B, N)`` stay/move actions of the core after giving the deciding units their posts."""
        actions = np.asarray(actions, dtype=np.int64).reshape(self.target.shape)
        ordered = self.deciding & (actions >= 1) & (actions <= self.n_posts)
        bi, ni = np.nonzero(ordered)
        self.target[bi, ni] = self.hour_posts()[bi, actions[bi, ni] - 1]
        self.dwell_until[bi, ni] = np.nan
        return moves_toward(self.view, self.target)
