"""Recommended beats for planners: derive a static plan from a policy, write it and judge it.

:func:`recommend_beats` runs a policy on seeded days (all days batched),
records where each unit patrols when free, derives every unit's beat per time
block, either as a balanced contiguous partition of the district seeded at the
units' most patrolled cells (``method="partition"``,
:mod:`~patrolmarl.beats.partition`) or as the cells holding a share of each
unit's patrol time (``method="patrol-time"``,
:mod:`~patrolmarl.beats.derivation`), writes the plan
(``plan.yaml``) and judges the plan *as written* against its source policy and
``fixed_zone`` on the same days, then writes the maps, GeoJSON, schedule,
judgement and report (:mod:`~patrolmarl.beats.outputs`), all into a
folder that appears only when complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from patrolmarl.agents.beat_plan import BeatPlanPolicy, load_beat_plan
from patrolmarl.agents.registry import load_policy
from patrolmarl.beats.derivation import DerivedBeats, derive_beats
from patrolmarl.beats.judgement import Judgement, judge
from patrolmarl.beats.outputs import (
    REPORT_DIR,
    is_beats_folder,
    report_section,
    write_geojson,
    write_judgement,
    write_maps,
    write_partition,
    write_plan,
    write_schedule,
)
from patrolmarl.beats.partition import DEFAULT_TOLERANCE, PartitionedBeats, partition_beats
from patrolmarl.beats.patrol_time import record_patrol_time
from patrolmarl.envs.district import District
from patrolmarl.errors import PatrolMarlError
from patrolmarl.evaluation.evaluate import Evaluation, evaluate
from patrolmarl.evaluation.report import write_report
from patrolmarl.evaluation.runner import day_seeds
from patrolmarl.output_folder import check_replaceable, staged_folder


@dataclass(frozen=True)
class BeatRecommendation:
    """What :func:`recommend_beats` derived, judged and wrote."""

    beats: DerivedBeats
    judgement: Judgement
    evaluation: Evaluation
    out_dir: Path
    partition: PartitionedBeats | None = None


def recommend_beats(
    district: District,
    policy: str,
    days: int,
    seed: int,
    n_blocks: int,
    share: float,
    out_dir: Path,
    on_step: Callable[[str, int], None] | None = None,
    method: str = "partition",
    tolerance: float = DEFAULT_TOLERANCE,
    dispatch: str = "nearest",
) -> BeatRecommendation:
    """Derive, write and judge the recommended beats of ``policy`` (a name or file).

    Parameters
    ----------
    district
        The district.
    policy
        As :func:`~patrolmarl.agents.registry.load_policy` takes it.
    days, seed
        The days (:func:`~patrolmarl.evaluation.runner.day_seeds`) to derive and judge on.
    n_blocks
        Equal time blocks of the day; each unit gets one beat per block.
    share
        Share of each unit's idle patrol time its beat must hold, in (0, 1]
        (``method="patrol-time"`` only).
    out_dir
        The folder to create, or replace if it is empty or an earlier beats folder.
    on_step
        Progress: called with a run's name and its steps so far.
    method
        "partition" or "patrol-time" (see the module docstring).
    tolerance
        Allowed deviation of a partition beat's workload from the mean (share of it).
    dispatch
        The plan's dispatch rule: "nearest" (1+1) or "own_beat" (zone only).

    Raises
    ------
    PatrolMarlError
        For a policy that cannot be loaded or an ``out_dir`` that is not replaceable.
    """
    try:  # before the runs: would the folder be refused at the end?
        check_replaceable(Path(out_dir).absolute(), "beats", is_beats_folder)
    except FileExistsError as exc:
        raise PatrolMarlError(f"--out: {exc}") from None
    source = load_policy(policy, district, seed=seed)
    seeds = day_seeds(seed, days)
    label = f"recording {source.name}"
    hook = (lambda n: on_step(label, n)) if on_step else None
    time = record_patrol_time(district, source, seeds, n_blocks, on_step=hook)
    partition = None
    if method == "partition":
        partition = partition_beats(time, district, tolerance)
        beats = partition.beats
        how = (
            "the beats of a block tile the district,\neach contiguous around the unit's most "
            f"patrolled cell, workloads within {tolerance:.0%} of the mean;\na cell's weight is "
            "its share of the beat's street calls."
        )
    else:
        beats = derive_beats(time, district, share)
        how = (
            f"each beat is the fewest cells holding {share:.0%} of the unit's\nidle patrol time "
            "in the block; a cell's weight is its share of that time."
        )
    with staged_folder(out_dir, "beats", is_beats_folder) as folder:
        header = (
            f"Recommended beats of {district.name}, derived by `patrolmarl beats` from the "
            f"policy {policy}\non {days} day(s), seed {seed}: {how}\nEdit a copy (cells are "
            "[row, col] or [row, col, weight]) and score it with\n  patrolmarl evaluate "
            "--policies fixed_zone,<the copy>.yaml"
        )
        plan_file = write_plan(folder, beats.to_plan(district, dispatch), header)
        plan = BeatPlanPolicy(
            load_beat_plan(plan_file, district), seed=seed, name=f"{source.name}_beats"
        )
        fresh_source = load_policy(policy, district, seed=seed)  # same seed: the same runs
        ev = evaluate(district, [fresh_source, plan], days, seed, on_step, with_limit=False)
        judgement = judge(ev, source.name, plan.name)
        write_geojson(folder, district, beats)
        write_schedule(folder, district, beats)
        maps = write_maps(folder, district, beats, source.name)
        write_judgement(folder, judgement)
        if partition is not None:
            write_partition(folder, district, partition)
        write_report(ev, folder / REPORT_DIR, [report_section(judgement, maps, beats)])
    return BeatRecommendation(beats, judgement, ev, Path(out_dir), partition)
