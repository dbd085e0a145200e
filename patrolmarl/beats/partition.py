"""Beats as a districting: per time block, the grid partitioned into one contiguous beat per unit.

Every cell of the grid belongs to exactly one beat (cells without street calls
too: someone must answer for them, and the beats must tile the district), each
beat is 4-neighbour connected and holds its unit's post, and the beats'
workloads are balanced:

    workload_n = sum over the beat's cells i of  rate_i * (service_i + travel_n(post_n, i))

(expected call minutes per day in the block), each within ``tolerance`` of the
mean over units. Among such partitions the most compact is sought:

    minimise  sum_n sum_{i in beat n}  rate_i * travel_n(post_n, i)

(cells without calls weigh :data:`EMPTY_CELL_WEIGHT` of the mean rate, so they
still go to a near unit).

Two solvers:

- :func:`solve_partition_mip`: the exact mixed-integer program with
  single-commodity flow contiguity (each unit's post sends one unit of flow to
  every other cell of its beat, along arcs inside the beat), by
  ``scipy.optimize.milp`` (HiGHS). Used when ``units x cells`` is at most
  :data:`MIP_MAX_VARIABLES` (its flow LP relaxation is weak: on gaoxin, 20 x 20
  cells and 14 units, HiGHS finds no feasible partition in 60 s for two of four
  blocks; ``benchmarks/partition_mip.py``).
- :func:`grow_partition`: region growing from the posts (each unit claims the
  unclaimed neighbouring cell nearest its post; by travel, and again with the
  least loaded unit claiming next), then steepest boundary-cell moves (a cell
  takes along any piece of its beat it would cut off from the post): first to
  bring every workload within the tolerance (each move lowers the workload
  beyond the band, or keeps it and lowers the workloads' variance),
  then to cut the travel cost without leaving it. Its gap is stated against the LP relaxation of the
  assignment with the balance constraints and without contiguity
  (:func:`assignment_lower_bound`), a valid lower bound.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import coo_matrix, csr_matrix, hstack, vstack

from patrolmarl.beats.derivation import DWELL_POINTS, DerivedBeats, dwell_ranks
from patrolmarl.beats.patrol_time import PatrolTime
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel

#: Default allowed deviation of a beat's workload from the mean, as a share of the mean.
DEFAULT_TOLERANCE = 0.10
#: Weight of a cell without calls in the compactness cost, as a share of the mean rate.
EMPTY_CELL_WEIGHT = 1e-3
#: The exact MIP is used up to this many assignment variables (units x cells).
MIP_MAX_VARIABLES = 600
#: HiGHS' time limit (seconds) for one block.
MIP_TIME_LIMIT = 30.0

MIP = "mip"
HEURISTIC = "region growing + boundary moves"


@dataclass(frozen=True)
class PartitionProblem:
    """One block's districting.

    Attributes
    ----------
    rate
        ``(C,)`` expected street calls per day in the block, per cell.
    service
        ``(C,)`` mean on-scene minutes of a call in the cell.
    travel
        ``(N, C)`` travel minutes from each unit's post to every cell (its vehicle).
    posts
        ``(N,)`` distinct post cells, one per unit.
    neighbour
        ``(C, 4)`` 4-neighbours of each cell (-1 off the grid).
    tolerance
        Allowed deviation of each workload from the mean, as a share of the mean.
    """

    rate: np.ndarray
    service: np.ndarray
    travel: np.ndarray
    posts: np.ndarray
    neighbour: np.ndarray
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def workload(self) -> np.ndarray:
        """``(N, C)`` call minutes per day a cell adds to each unit's beat."""
        return self.rate[None, :] * (self.service[None, :] + self.travel)

    @property
    def cost(self) -> np.ndarray:
        """``(N, C)`` compactness cost of each cell in each unit's beat."""
        floor = EMPTY_CELL_WEIGHT * float(self.rate.mean()) if self.rate.any() else 1.0
        return np.maximum(self.rate, floor)[None, :] * self.travel


@dataclass(frozen=True)
class Partition:
    """A solved block.

    Attributes
    ----------
    owner
        ``(C,)`` the unit whose beat holds each cell.
    workload
        ``(N,)`` each beat's call minutes per day.
    cost
        Compactness cost (the objective).
    lower_bound
        A proven lower bound on the cost of any feasible partition.
    method
        :data:`MIP` or :data:`HEURISTIC`.
    seconds
        Solve time.
    """

    owner: np.ndarray
    workload: np.ndarray
    cost: float
    lower_bound: float
    method: str
    seconds: float

    @property
    def gap(self) -> float:
        """Relative gap of the cost to the lower bound."""
        return (self.cost - self.lower_bound) / self.cost if self.cost > 0 else 0.0

    @property
    def imbalance(self) -> float:
        """Largest deviation of a workload from the mean, as a share of the mean."""
        mean = float(self.workload.mean())
        return float(np.abs(self.workload - mean).max() / mean) if mean > 0 else 0.0

    @property
    def workload_cv(self) -> float:
        """Coefficient of variation of the workloads across units."""
        mean = float(self.workload.mean())
        return float(self.workload.std() / mean) if mean > 0 else 0.0


def solve_partition(problem: PartitionProblem) -> Partition:
    """The exact MIP on small instances, else the heuristic with its LP gap (module docstring)."""
    if problem.travel.size <= MIP_MAX_VARIABLES:
        return solve_partition_mip(problem)
    return grow_partition(problem)


def is_connected(cells: np.ndarray, neighbour: np.ndarray) -> bool:
    """True if the bool mask ``cells`` is one 4-neighbour connected piece (empty: False)."""
    members = np.flatnonzero(cells)
    if members.size == 0:
        return False
    return bool(_piece(cells, int(members[0]), neighbour)[members].all())


def _piece(cells: np.ndarray, start: int, neighbour: np.ndarray) -> np.ndarray:
    """Bool mask of the 4-neighbour connected piece of ``cells`` holding ``start``."""
    seen = np.zeros(cells.shape, dtype=bool)
    seen[start] = True
    stack = [start]
    while stack:
        for j in neighbour[stack.pop()]:
            if j >= 0 and cells[j] and not seen[j]:
                seen[j] = True
                stack.append(int(j))
    return seen


def loads(problem: PartitionProblem, owner: np.ndarray) -> np.ndarray:
    """``(N,)`` workload of each beat of ``owner``."""
    n_units = problem.posts.size
    cells = np.arange(owner.size)
    return np.bincount(owner, problem.workload[owner, cells], minlength=n_units)


def _excess(load: np.ndarray, tolerance: float) -> np.ndarray:
    """Workload beyond the tolerance band around the mean, summed (0 when balanced).

    ``load`` may be ``(..., N)``.
    """
    mean = load.mean(axis=-1, keepdims=True)
    return np.maximum(np.abs(load - mean) - tolerance * mean, 0.0).sum(axis=-1)


def grow_partition(problem: PartitionProblem) -> Partition:
    """Region growing from the posts, then boundary-cell moves (see the module docstring).

    Two growths are improved and the better kept (balanced first, then cheaper):
    by travel (each cell to the unit that reaches it first) and by workload
    (the least loaded unit claims its nearest neighbouring cell).
    """
    start = time.perf_counter()
    cells = np.arange(problem.rate.size)
    best = None
    for balanced in (False, True):
        owner = _improve(problem, _grow(problem, balanced))
        key = (
            round(float(_excess(loads(problem, owner), problem.tolerance)), 9),
            float(problem.cost[owner, cells].sum()),
        )
        if best is None or key < best[0]:
            best = (key, owner)
    owner = best[1]
    cost = float(problem.cost[owner, cells].sum())
    bound = assignment_lower_bound(problem)
    return Partition(
        owner, loads(problem, owner), cost, min(bound, cost), HEURISTIC, time.perf_counter() - start
    )


def _grow(problem: PartitionProblem, balanced: bool) -> np.ndarray:
    """Claim the grid from the posts, one neighbouring cell at a time, each the unit's nearest.

    ``balanced=False``: the nearest claim of any unit comes first (a travel-time
    Voronoi grown through the grid); ``True``: the least loaded unit that can
    still grow claims next.
    """
    n_units, n_cells = problem.travel.shape
    owner = np.full(n_cells, -1, dtype=np.int64)
    owner[problem.posts] = np.arange(n_units)
    frontier: list[list[tuple[float, int]]] = [[] for _ in range(n_units)]
    load = problem.workload[np.arange(n_units), problem.posts].copy()

    def reach(n: int, i: int) -> None:
        for j in problem.neighbour[i]:
            if j >= 0 and owner[j] < 0:
                heapq.heappush(frontier[n], (float(problem.travel[n, j]), int(j)))

    for n, post in enumerate(problem.posts):
        reach(n, int(post))
    while True:
        for f in frontier:  # drop cells claimed meanwhile
            while f and owner[f[0][1]] >= 0:
                heapq.heappop(f)
        growing = [n for n in range(n_units) if frontier[n]]
        if not growing:
            break
        if balanced:
            n = min(growing, key=lambda m: (load[m], m))
        else:
            n = min(growing, key=lambda m: (frontier[m][0][0], m))
        _, i = heapq.heappop(frontier[n])
        owner[i] = n
        load[n] += problem.workload[n, i]
        reach(n, i)
    if (owner < 0).any():
        raise ValueError("the grid is not connected: some cells cannot join any beat")
    return owner


def _improve(problem: PartitionProblem, owner: np.ndarray) -> np.ndarray:
    """Steepest boundary moves, lexicographic on (workload excess, cost); beats stay connected."""
    owner = owner.copy()
    work, cost, nb = problem.workload, problem.cost, problem.neighbour
    is_post = np.zeros(owner.size, dtype=bool)
    is_post[problem.posts] = True
    src = np.repeat(np.arange(owner.size), 4)
    dst = nb.ravel()
    inside = dst >= 0
    src, dst = src[inside], dst[inside]
    scale = max(float(work.sum()), 1e-12)
    for _ in range(50 * owner.size):
        load = loads(problem, owner)
        # Candidate moves: cell src joins the beat of its neighbour dst.
        to = owner[dst]
        movable = (to != owner[src]) & ~is_post[src]
        cell, frm, to = src[movable], owner[src[movable]], to[movable]
        if cell.size == 0:
            break
        new_load = np.repeat(load[None, :], cell.size, axis=0)
        rows = np.arange(cell.size)
        new_load[rows, frm] -= work[frm, cell]
        new_load[rows, to] += work[to, cell]
        new_excess = _excess(new_load, problem.tolerance)
        delta_cost = cost[to, cell] - cost[frm, cell]
        tiny = 1e-9 * scale
        order = np.flatnonzero(_better(new_load, delta_cost, load, problem.tolerance, scale))
        if order.size == 0:
            break
        order = order[np.lexsort((delta_cost[order], np.round(new_excess[order] / tiny)))]
        for m in order:
            # The cell moves with any pieces of its beat it would cut off from the post.
            beat = owner == frm[m]
            beat[cell[m]] = False
            group = beat & ~_piece(beat, int(problem.posts[frm[m]]), nb)
            group[cell[m]] = True
            if group.sum() > 1:
                moved = np.flatnonzero(group)
                trial = load.copy()
                trial[frm[m]] -= work[frm[m], moved].sum()
                trial[to[m]] += work[to[m], moved].sum()
                delta = cost[to[m], moved].sum() - cost[frm[m], moved].sum()
                if not _better(trial, np.array(delta), load, problem.tolerance, scale):
                    continue
            owner[group] = to[m]
            break
        else:
            break
    return owner


def _better(
    new_load: np.ndarray, delta_cost: np.ndarray, load: np.ndarray, tolerance: float, scale: float
) -> np.ndarray:
    """Which moves improve: while unbalanced, (excess, variance of the workloads) falls
    lexicographically; once balanced, the cost falls and the workloads stay balanced."""
    tiny = 1e-9 * scale
    excess, new_excess = _excess(load, tolerance), _excess(new_load, tolerance)
    if excess > tiny:
        return (new_excess < excess - tiny) | (
            (new_excess <= excess + tiny) & (new_load.var(axis=-1) < load.var() * (1.0 - 1e-9))
        )
    return (new_excess <= tiny) & (delta_cost < -1e-12 * scale)


def assignment_lower_bound(problem: PartitionProblem) -> float:
    """LP relaxation of the assignment with the balance constraints, without contiguity.

    A lower bound on the cost of every feasible partition (its optimum relaxes
    integrality and drops contiguity); without the balance rows when the LP
    is infeasible.
    """
    n_units, n_cells = problem.travel.shape
    one_beat, balance = _assignment_rows(problem)
    bounds = _post_bounds(problem)
    result = linprog(
        problem.cost.ravel(),
        A_ub=balance,
        b_ub=np.zeros(balance.shape[0]),
        A_eq=one_beat,
        b_eq=np.ones(n_cells),
        bounds=np.stack([bounds.lb, bounds.ub], axis=1),
        method="highs",
    )
    if result.status == 0:
        return float(result.fun)
    return float(problem.cost.min(axis=0).sum())


def _assignment_rows(problem: PartitionProblem) -> tuple[csr_matrix, csr_matrix]:
    """Rows ``sum_n x[n, i] = 1`` and the balance rows ``±(L_n - (1 ± tol) mean L) <= 0``."""
    n_units, n_cells = problem.travel.shape
    n_x = n_units * n_cells
    x = np.arange(n_x).reshape(n_units, n_cells)
    one_beat = coo_matrix(
        (np.ones(n_x), (np.tile(np.arange(n_cells), n_units), x.ravel())), shape=(n_cells, n_x)
    ).tocsr()
    work = problem.workload
    share = np.full(n_units, 1.0 / n_units)
    rows = []
    for n in range(n_units):
        own = np.zeros((n_units, n_cells))
        own[n] = work[n]
        high = own - (1.0 + problem.tolerance) * share[:, None] * work
        low = (1.0 - problem.tolerance) * share[:, None] * work - own
        rows += [high.ravel(), low.ravel()]
    return one_beat, csr_matrix(np.array(rows))


def _post_bounds(problem: PartitionProblem) -> Bounds:
    """0 <= x <= 1, with each post's cell fixed in its unit's beat."""
    n_units, n_cells = problem.travel.shape
    low = np.zeros((n_units, n_cells))
    low[np.arange(n_units), problem.posts] = 1.0
    return Bounds(low.ravel(), np.ones(n_units * n_cells))


def solve_partition_mip(problem: PartitionProblem, time_limit: float = MIP_TIME_LIMIT) -> Partition:
    """The exact MIP with single-commodity flow contiguity (HiGHS); see the module docstring.

    Raises
    ------
    ValueError
        When HiGHS finds no feasible partition within the time limit.
    """
    start = time.perf_counter()
    n_units, n_cells = problem.travel.shape
    n_x = n_units * n_cells
    src = np.repeat(np.arange(n_cells), 4)
    dst = problem.neighbour.ravel()
    src, dst = src[dst >= 0], dst[dst >= 0]
    n_arcs = src.size
    n_f = n_units * n_arcs
    big = n_cells - n_units + 1  # a beat holds at most this many cells besides its post
    one_beat, balance = _assignment_rows(problem)
    pad = csr_matrix((one_beat.shape[0], n_f))
    rows = [hstack([one_beat, pad]), hstack([balance, csr_matrix((balance.shape[0], n_f))])]
    low = [np.ones(n_cells), np.full(balance.shape[0], -np.inf)]
    high = [np.ones(n_cells), np.zeros(balance.shape[0])]
    # Flow conservation: every non-post cell of beat n absorbs one unit of n's flow.
    x_index = np.arange(n_x).reshape(n_units, n_cells)
    f_index = n_x + np.arange(n_f).reshape(n_units, n_arcs)
    r, c, v = [], [], []
    for n in range(n_units):
        base = n * n_cells
        r += [base + dst, base + src, base + np.arange(n_cells)]
        c += [f_index[n], f_index[n], x_index[n]]
        v += [np.ones(n_arcs), -np.ones(n_arcs), -np.ones(n_cells)]
    conserve = coo_matrix(
        (np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(n_x, n_x + n_f)
    ).tocsr()
    not_post = np.ones(n_x, dtype=bool)
    not_post[x_index[np.arange(n_units), problem.posts]] = False
    rows.append(conserve[not_post])
    low.append(np.zeros(int(not_post.sum())))
    high.append(np.zeros(int(not_post.sum())))
    # Flow only along arcs inside the beat: f[n, i->j] <= big * x[n, i] and <= big * x[n, j].
    for end in (src, dst):
        arc_rows = np.arange(n_f)
        link = coo_matrix(
            (
                np.concatenate([np.ones(n_f), -big * np.ones(n_f)]),
                (
                    np.concatenate([arc_rows, arc_rows]),
                    np.concatenate([f_index.ravel(), x_index[:, end].ravel()]),
                ),
            ),
            shape=(n_f, n_x + n_f),
        )
        rows.append(link.tocsr())
        low.append(np.full(n_f, -np.inf))
        high.append(np.zeros(n_f))
    x_bounds = _post_bounds(problem)
    result = milp(
        np.concatenate([problem.cost.ravel(), np.zeros(n_f)]),
        integrality=np.concatenate([np.ones(n_x), np.zeros(n_f)]),
        bounds=Bounds(
            np.concatenate([x_bounds.lb, np.zeros(n_f)]),
            np.concatenate([x_bounds.ub, np.full(n_f, float(big))]),
        ),
        constraints=LinearConstraint(
            vstack(rows).tocsr(), np.concatenate(low), np.concatenate(high)
        ),
        options={"time_limit": float(time_limit), "disp": False},
    )
    if result.x is None:
        raise ValueError(f"no balanced contiguous partition found: {result.message}")
    owner = result.x[:n_x].reshape(n_units, n_cells).argmax(axis=0)
    cost = float(problem.cost[owner, np.arange(n_cells)].sum())
    bound = float(getattr(result, "mip_dual_bound", cost))
    bound = min(cost, bound if np.isfinite(bound) else assignment_lower_bound(problem))
    return Partition(owner, loads(problem, owner), cost, bound, MIP, time.perf_counter() - start)


@dataclass(frozen=True)
class PartitionedBeats:
    """The partition beats of every block and how each block was solved.

    Attributes
    ----------
    beats
        The beats in the shape the outputs and plan take (a cell's weight is
        its share of the beat's street calls; a cell without calls gets
        :data:`EMPTY_CELL_WEIGHT` of the beat's mean weight, so it stays in the beat).
    blocks
        ``(K,)`` the solved :class:`Partition` of each block.
    posts
        ``(K, N)`` the post of each unit in each block.
    tolerance
        The balance tolerance asked for.
    """

    beats: DerivedBeats
    blocks: tuple[Partition, ...]
    posts: np.ndarray
    tolerance: float


def patrol_time_posts(time_: PatrolTime, district: District) -> np.ndarray:
    """``(K, N)`` distinct posts: each unit's most patrolled cell in the block.

    A unit without patrol time in a block uses its whole run's, else its start
    cell; a cell already taken by an earlier unit goes to the next most
    patrolled one (ties and units without time: nearest to the unit's own choice).
    """
    k_blocks, n_units, _ = time_.patrol_minutes.shape
    whole = time_.patrol_minutes.sum(axis=0)
    posts = np.zeros((k_blocks, n_units), dtype=np.int64)
    for k in range(k_blocks):
        taken: set[int] = set()
        for n in range(n_units):
            minutes = time_.patrol_minutes[k, n]
            if minutes.sum() <= 0:
                minutes = whole[n]
            has_time = minutes.sum() > 0
            wish = int(np.argmax(minutes)) if has_time else int(district.unit_start_cell[n])
            travel = district.unit_travel_minutes[n, wish]
            for c in np.lexsort((travel, -minutes)):
                if int(c) not in taken:
                    posts[k, n] = c
                    taken.add(int(c))
                    break
    return posts


def block_calls(incidents: IncidentModel, block_hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(K, C)`` street calls per day in each block and ``(K, C)`` their mean service minutes.

    Blocks are whole hours of the day (``block_hours`` the ``K + 1`` edges).
    """
    street = incidents.rate_per_minute[:, incidents.patrol_type, :] * 60.0  # (24, T, C) per hour
    service_mean = np.array([t.service.mean for t in incidents.district.config.call_types.values()])
    service_mean = service_mean[incidents.patrol_type]
    rates, services = [], []
    for start, end in zip(block_hours[:-1], block_hours[1:], strict=True):
        calls = street[int(start) : int(end)].sum(axis=0)  # (T, C)
        rate = calls.sum(axis=0)
        minutes = (calls * service_mean[:, None]).sum(axis=0)
        rates.append(rate)
        services.append(np.divide(minutes, rate, out=np.zeros_like(rate), where=rate > 0))
    return np.array(rates), np.array(services)


def partition_beats(
    time_: PatrolTime,
    district: District,
    tolerance: float = DEFAULT_TOLERANCE,
    posts: np.ndarray | None = None,
) -> PartitionedBeats:
    """Partition beats per block, seeded at ``posts`` (default :func:`patrol_time_posts`).

    Raises
    ------
    ValueError
        For a tolerance outside (0, 1).
    """
    if not 0.0 < tolerance < 1.0:
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance}")
    posts = patrol_time_posts(time_, district) if posts is None else posts
    rates, services = block_calls(IncidentModel(district), time_.block_hours)
    k_blocks, n_units, n_cells = time_.patrol_minutes.shape
    units = np.arange(n_units)
    solved = []
    weights = np.zeros((k_blocks, n_units, n_cells))
    for k in range(k_blocks):
        problem = PartitionProblem(
            rate=rates[k],
            service=services[k],
            travel=district.unit_travel_minutes[units, posts[k]],
            posts=posts[k],
            neighbour=district.neighbour,
            tolerance=tolerance,
        )
        part = solve_partition(problem)
        solved.append(part)
        for n in units:
            beat = part.owner == n
            w = np.where(beat, rates[k], 0.0)
            floor = EMPTY_CELL_WEIGHT * (w.sum() / beat.sum() if w.sum() > 0 else 1.0)
            w[beat] = np.maximum(w[beat], floor)
            weights[k, n] = w / w.sum()
    cells = weights > 0
    kept = (time_.patrol_minutes * cells).sum(axis=2)
    total = time_.patrol_minutes.sum(axis=2)
    wait = np.where(cells, time_.wait_minutes, 0.0)
    beats = DerivedBeats(
        block_hours=time_.block_hours.copy(),
        weights=weights,
        kept_share=np.divide(kept, total, out=np.zeros_like(kept), where=total > 0),
        dwell_rank=np.array(
            [[dwell_ranks(wait[k, n], DWELL_POINTS) for n in units] for k in range(k_blocks)]
        ),
        patrol_minutes_per_day=total / time_.days,
        borrowed=total <= 0,
        share=None,
    )
    return PartitionedBeats(beats, tuple(solved), posts, tolerance)
