"""The files of a beats folder: plan.yaml, beats.geojson, schedule.csv, maps and the judgement.

The folder is written whole or not at all (:mod:`patrolmarl.output_folder`); an
existing one is replaced only if it is empty or an earlier beats folder
(:func:`is_beats_folder`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from patrolmarl.agents.beat_plan import BeatPlan
from patrolmarl.beats.derivation import DerivedBeats
from patrolmarl.beats.geometry import cell_centre_on_map, cells_geometry
from patrolmarl.beats.judgement import KEPT_DEFINITION, Judgement
from patrolmarl.beats.maps import beat_map
from patrolmarl.beats.partition import PartitionedBeats, is_connected
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.names import agent_name
from patrolmarl.evaluation.report import Section

PLAN_FILE = "plan.yaml"
GEOJSON_FILE = "beats.geojson"
SCHEDULE_FILE = "schedule.csv"
JUDGEMENT_JSON = "judgement.json"
JUDGEMENT_MD = "judgement.md"
PARTITION_FILE = "partition.json"
REPORT_DIR = "report"
SCHEDULE_COLUMNS = ("unit", "block", "start_hour", "end_hour", "row", "col", "share", "dwell_rank")
_FILES = {
    PLAN_FILE,
    GEOJSON_FILE,
    SCHEDULE_FILE,
    JUDGEMENT_JSON,
    JUDGEMENT_MD,
    PARTITION_FILE,
    REPORT_DIR,
}


def map_file(block: int) -> str:
    """File name of the map of ``block``."""
    return f"beats_block_{block}.png"


def is_beats_folder(names: set[str]) -> bool:
    """True if a folder holding ``names`` is an earlier beats output."""
    ours = all(n in _FILES or (n.startswith("beats_block_") and n.endswith(".png")) for n in names)
    return ours and PLAN_FILE in names


def write_plan(folder: Path, plan: BeatPlan, header: str) -> Path:
    """``plan.yaml``: the plan in the beat-plan format, ``header`` as comments."""
    path = folder / PLAN_FILE
    path.write_text(plan.to_yaml(header), encoding="utf-8")
    return path


def beats_geojson(district: District, beats: DerivedBeats) -> dict:
    """A FeatureCollection with one (Multi)Polygon feature per unit and block.

    Coordinates are WGS84 lon/lat when the district has an ``origin``, else
    metres east and north of the grid's north-west corner (see
    :func:`~patrolmarl.beats.geometry.to_map`).
    """
    digits = 7 if district.config.origin is not None else 3
    features = []
    for n in range(district.n_units):
        for k in range(beats.block_hours.size - 1):
            mask = beats.cells[k, n].reshape(district.rows, district.cols)
            features.append(
                {
                    "type": "Feature",
                    "geometry": cells_geometry(mask, district, digits),
                    "properties": _properties(district, beats, k, n, digits),
                }
            )
    crs = (
        "WGS84 lon/lat"
        if district.config.origin is not None
        else "metres, x east and y north of the grid's north-west corner"
    )
    return {
        "type": "FeatureCollection",
        "patrolmarl": {
            "district": district.name,
            "coordinates": crs,
            "cell_size_m": district.config.cell_size_m,
            "share": beats.share,
        },
        "features": features,
    }


def write_geojson(folder: Path, district: District, beats: DerivedBeats) -> Path:
    """``beats.geojson`` (see :func:`beats_geojson`)."""
    path = folder / GEOJSON_FILE
    path.write_text(json.dumps(beats_geojson(district, beats)) + "\n", encoding="utf-8")
    return path


def write_schedule(folder: Path, district: District, beats: DerivedBeats) -> Path:
    """``schedule.csv``: one row per beat cell, most time first, dwell rank where it waits."""
    path = folder / SCHEDULE_FILE
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SCHEDULE_COLUMNS)
        for n in range(district.n_units):
            for k in range(beats.block_hours.size - 1):
                w = beats.weights[k, n]
                for c in np.argsort(-w, kind="stable")[: int((w > 0).sum())]:
                    rank = int(beats.dwell_rank[k, n, c])
                    writer.writerow(
                        [
                            agent_name(n),
                            k,
                            f"{beats.block_hours[k]:g}",
                            f"{beats.block_hours[k + 1]:g}",
                            c // district.cols,
                            c % district.cols,
                            f"{w[c]:.6f}",
                            rank if rank else "",
                        ]
                    )
    return path


def write_maps(folder: Path, district: District, beats: DerivedBeats, source: str) -> list[Path]:
    """One PNG map per block (:func:`beat_map`)."""
    incidents = IncidentModel(district)
    return [
        beat_map(district, beats, k, folder / map_file(k), source, incidents)
        for k in range(beats.block_hours.size - 1)
    ]


def write_judgement(folder: Path, judgement: Judgement) -> list[Path]:
    """``judgement.json`` and ``judgement.md``."""
    text = json.dumps(judgement.to_json(), indent=2, allow_nan=False)
    (folder / JUDGEMENT_JSON).write_text(text + "\n", encoding="utf-8")
    (folder / JUDGEMENT_MD).write_text(judgement.to_markdown(), encoding="utf-8")
    return [folder / JUDGEMENT_JSON, folder / JUDGEMENT_MD]


def partition_summary(district: District, partition: PartitionedBeats) -> dict:
    """The content of ``partition.json``: per block, how it was solved and how it came out."""
    blocks = []
    hours = partition.beats.block_hours
    for k, part in enumerate(partition.blocks):
        blocks.append(
            {
                "block": k,
                "start_hour": float(hours[k]),
                "end_hour": float(hours[k + 1]),
                "method": part.method,
                "seconds": round(part.seconds, 3),
                "cost": part.cost,
                "lower_bound": part.lower_bound,
                "gap": part.gap,
                "contiguous": all(
                    is_connected(part.owner == n, district.neighbour)
                    for n in range(district.n_units)
                ),
                "max_imbalance": part.imbalance,
                "workload_cv": part.workload_cv,
                "posts": {
                    agent_name(n): [int(c) // district.cols, int(c) % district.cols]
                    for n, c in enumerate(partition.posts[k])
                },
                "workload_minutes_per_day": {
                    agent_name(n): round(float(w), 2) for n, w in enumerate(part.workload)
                },
            }
        )
    return {
        "tolerance": partition.tolerance,
        "cost": "sum over cells of street calls a day x travel minutes from the beat's post",
        "workload": "street calls a day x (mean service + travel from the post), minutes",
        "blocks": blocks,
    }


def write_partition(folder: Path, district: District, partition: PartitionedBeats) -> Path:
    """``partition.json`` (see :func:`partition_summary`)."""
    path = folder / PARTITION_FILE
    text = json.dumps(partition_summary(district, partition), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _properties(district: District, beats: DerivedBeats, k: int, n: int, digits: int) -> dict:
    dwell = []
    for c in np.flatnonzero(beats.dwell_rank[k, n]):
        r, col = divmod(int(c), district.cols)
        where = np.round(cell_centre_on_map(r, col, district), digits).tolist()
        dwell.append({"rank": int(beats.dwell_rank[k, n, c]), "row": r, "col": col, "at": where})
    dwell.sort(key=lambda d: d["rank"])
    return {
        "unit": agent_name(n),
        "vehicle": district.vehicle_names[district.unit_vehicle[n]],
        "block": k,
        "start_hour": float(beats.block_hours[k]),
        "end_hour": float(beats.block_hours[k + 1]),
        "share": round(float(beats.kept_share[k, n]), 4),
        "cells": int(beats.cells[k, n].sum()),
        "patrol_minutes_per_day": round(float(beats.patrol_minutes_per_day[k, n]), 1),
        "borrowed": bool(beats.borrowed[k, n]),
        "dwell_points": dwell,
    }


def report_section(judgement: Judgement, maps: list[Path], beats: DerivedBeats) -> Section:
    """The beats folder's report page section: the judgement and the map of every block."""
    hours = beats.block_hours
    captions = [
        f"Recommended beats {hours[k]:g}:00-{hours[k + 1]:g}:00 (one colour per unit)"
        for k in range(hours.size - 1)
    ]
    return Section(
        title=f"The beat plan derived from {judgement.source}: maps and judgement",
        paragraphs=[
            judgement.summary().replace("`", ""),
            "Share of the source policy's gain kept by the static plan, "
            + KEPT_DEFINITION.replace("`", "")
            + " "
            + "; ".join(judgement.kept_lines())
            + ".",
        ],
        table=judgement.table(),
        images=list(zip(maps, captions, strict=True)),
    )
