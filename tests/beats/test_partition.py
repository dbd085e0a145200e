"""Partition beats: every cell in one beat, beats contiguous and balanced, the MIP against brute
force, the heuristic's bound, the beats on gaoxin, the CLI's files and its bad flags."""

from __future__ import annotations

import functools
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from patrolmarl.agents.beat_plan import load_beat_plan
from patrolmarl.beats.outputs import GEOJSON_FILE, PARTITION_FILE, PLAN_FILE, map_file
from patrolmarl.beats.partition import (
    MIP,
    PartitionProblem,
    assignment_lower_bound,
    grow_partition,
    partition_beats,
    patrol_time_posts,
    solve_partition,
    solve_partition_mip,
)
from patrolmarl.beats.patrol_time import PatrolTime, block_edges
from patrolmarl.cli import main
from patrolmarl.envs.district import District, _neighbours
from tests.helpers import assert_one_line_error


def _grid_problem(rows: int, cols: int, n_units: int, seed: int, tolerance: float):
    """A random grid: calls per cell, per-unit speeds, Manhattan travel, distinct random posts."""
    rng = np.random.default_rng(seed)
    n_cells = rows * cols
    rc = np.stack(np.divmod(np.arange(n_cells), cols), axis=1)
    posts = rng.choice(n_cells, n_units, replace=False)
    manhattan = np.abs(rc[posts][:, None, :] - rc[None, :, :]).sum(axis=2)
    speed = rng.uniform(0.5, 1.5, n_units)
    return PartitionProblem(
        rate=rng.gamma(2.0, 1.0, n_cells) * (rng.random(n_cells) > 0.1),
        service=rng.uniform(10.0, 40.0, n_cells),
        travel=manhattan / speed[:, None] * 2.0,
        posts=posts,
        neighbour=_neighbours(rows, cols),
        tolerance=tolerance,
    )


def _contiguous(mask: np.ndarray) -> bool:
    """One 4-connected piece (scipy's labelling: independent of the module's own BFS)."""
    _, pieces = ndimage.label(mask)
    return pieces == 1


def _assert_valid(problem: PartitionProblem, owner: np.ndarray, rows: int, cols: int) -> None:
    n_units = problem.posts.size
    assert owner.shape == (rows * cols,) and set(np.unique(owner)) == set(range(n_units))
    assert (owner[problem.posts] == np.arange(n_units)).all()  # each unit's post in its beat
    for n in range(n_units):
        assert _contiguous((owner == n).reshape(rows, cols)), n
    load = np.array(
        [(problem.workload[n] * (owner == n)).sum() for n in range(n_units)]
    )  # recomputed from the definition
    deviation = np.abs(load - load.mean()) / load.mean()
    assert deviation.max() <= problem.tolerance + 1e-9, deviation


@pytest.mark.parametrize("seed", range(4))
def test_heuristic_partitions_random_grids(seed):
    problem = _grid_problem(12, 10, 5, seed, tolerance=0.10)
    part = grow_partition(problem)
    _assert_valid(problem, part.owner, 12, 10)
    assert part.lower_bound <= part.cost
    assert part.imbalance <= 0.10 + 1e-9


def _brute_force(problem: PartitionProblem, rows: int, cols: int) -> float:
    """The cheapest balanced contiguous partition, by trying every assignment."""
    n_units, n_cells = problem.travel.shape
    best = np.inf
    for owner in itertools.product(range(n_units), repeat=n_cells):
        owner = np.array(owner)
        if (owner[problem.posts] != np.arange(n_units)).any():
            continue
        load = np.array([(problem.workload[n] * (owner == n)).sum() for n in range(n_units)])
        if (np.abs(load - load.mean()) > problem.tolerance * load.mean() + 1e-9).any():
            continue
        if all(_contiguous((owner == n).reshape(rows, cols)) for n in range(n_units)):
            best = min(best, float(problem.cost[owner, np.arange(n_cells)].sum()))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mip_matches_brute_force_on_a_tiny_grid(seed):
    problem = _grid_problem(2, 4, 3, seed, tolerance=0.5)
    optimum = _brute_force(problem, 2, 4)
    assert np.isfinite(optimum)
    part = solve_partition(problem)
    assert part.method == MIP
    assert part.cost == pytest.approx(optimum, rel=1e-6)
    _assert_valid(problem, part.owner, 2, 4)
    # The bounds the heuristic states are valid: below the true optimum.
    assert assignment_lower_bound(problem) <= optimum + 1e-9
    assert grow_partition(problem).lower_bound <= optimum + 1e-9


def test_mip_and_heuristic_agree_on_feasibility_of_a_small_grid():
    problem = _grid_problem(4, 5, 3, 7, tolerance=0.2)
    exact = solve_partition_mip(problem)
    _assert_valid(problem, exact.owner, 4, 5)
    heuristic = grow_partition(problem)
    _assert_valid(problem, heuristic.owner, 4, 5)
    assert exact.cost <= heuristic.cost + 1e-9
    assert exact.lower_bound <= exact.cost + 1e-9


@functools.cache
def _gaoxin() -> District:
    return District.load("gaoxin")


def _random_patrol_time(district: District, n_blocks: int, seed: int) -> PatrolTime:
    rng = np.random.default_rng(seed)
    shape = (n_blocks, district.n_units, district.n_cells)
    minutes = rng.gamma(0.3, 10.0, shape)
    return PatrolTime(block_edges(n_blocks), minutes, 0.5 * minutes, days=2)


def test_posts_are_distinct_and_most_patrolled():
    d = _gaoxin()
    time = _random_patrol_time(d, 2, 0)
    time.patrol_minutes[:, 1] = time.patrol_minutes[:, 0]  # two units with the same favourite
    posts = patrol_time_posts(time, d)
    for k in range(2):
        assert len(set(posts[k].tolist())) == d.n_units
        assert posts[k, 0] == np.argmax(time.patrol_minutes[k, 0])
        second = np.argsort(-time.patrol_minutes[k, 1], kind="stable")[1]
        assert posts[k, 1] == second


def test_gaoxin_partition_beats():
    d = _gaoxin()
    result = partition_beats(_random_patrol_time(d, 4, 1), d, tolerance=0.1)
    cells = result.beats.cells
    assert cells.shape == (4, d.n_units, d.n_cells)
    assert (cells.sum(axis=1) == 1).all()  # every cell in exactly one beat per block
    for k, part in enumerate(result.blocks):
        assert (cells[k].argmax(axis=0) == part.owner).all()
        for n in range(d.n_units):
            assert _contiguous(cells[k, n].reshape(d.rows, d.cols)), (k, n)
            assert cells[k, n, result.posts[k, n]]
        assert part.imbalance <= 0.1 + 1e-9
        assert 0.0 <= part.gap < 0.5 and part.lower_bound <= part.cost
    np.testing.assert_allclose(result.beats.weights.sum(axis=2), 1.0)


@pytest.fixture(scope="module")
def cli_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("partition") / "fixed_zone"
    code = main(
        ["beats", "--policy", "fixed_zone", "--days", "1", "--blocks", "2", "--dispatch", "zone"]
        + ["--no-progress", "--out", str(out)]
    )
    assert code == 0
    return out


def test_cli_writes_the_partition_files(cli_folder, capsys):
    d = _gaoxin()
    for name in (PLAN_FILE, GEOJSON_FILE, PARTITION_FILE, map_file(0), map_file(1)):
        assert (cli_folder / name).stat().st_size > 0, name
    summary = json.loads((cli_folder / PARTITION_FILE).read_text(encoding="utf-8"))
    assert [b["contiguous"] for b in summary["blocks"]] == [True, True]
    assert all(b["max_imbalance"] <= summary["tolerance"] + 1e-9 for b in summary["blocks"])
    judgement = json.loads((cli_folder / "judgement.json").read_text(encoding="utf-8"))
    assert "workload_cv" in judgement["policies"]["fixed_zone_beats"]
    # The plan loads as a policy's plan: zone dispatch, one beat per cell per block.
    plan = load_beat_plan(cli_folder / PLAN_FILE, d)
    assert plan.dispatch == "own_beat"
    assert ((plan.weights > 0).sum(axis=1) == 1).all()


@pytest.mark.parametrize(
    ("flag", "value", "pieces"),
    [
        ("--method", "voronoi", ["argument --method", "invalid choice", "'voronoi'"]),
        ("--dispatch", "own", ["argument --dispatch", "invalid choice"]),
        ("--tolerance", "1", ["argument --tolerance", "below 1"]),
        ("--tolerance", "nan", ["argument --tolerance", "above 0"]),
        ("--tolerance", "0", ["argument --tolerance", "above 0"]),
    ],
)
def test_bad_flags_give_one_line(capsys, tmp_path: Path, flag, value, pieces):
    code = main(["beats", "--policy", "nearest", flag, value, "--out", str(tmp_path / "b")])
    captured = capsys.readouterr()
    assert_one_line_error(code, captured.out, captured.err, *pieces)
    assert not (tmp_path / "b").exists()
