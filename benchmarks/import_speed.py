"""How long `patrolmarl district import` takes: 1,000,000 calls, 400 m cells, 20 km x 20 km.

Target: under 30 s on the 2-core machine. The calls are drawn (seeded) from a
synthetic 50 x 50-cell district with four precincts, five call types and a few
hot spots: its own call stream over enough days for 1,000,000 rows, written as
a CAD-like CSV with its precincts as a GeoJSON boundary. The import then runs
as a planner runs it, in a child process, and its wall time and peak memory
(maximum resident set size) are printed, with its CPU time (user + system),
which a machine shared with other work inflates less than the wall time.

    python benchmarks/import_speed.py [--rows 1000000] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from patrolmarl.data.synthetic_calls import district_calls, precincts_geojson
from patrolmarl.envs.config import validate_district_dict
from patrolmarl.envs.district import District

TARGET_SECONDS = 30.0
SIDE_CELLS = 50  # 50 x 400 m = 20 km
TYPES = {"noise": 0.25, "help": 0.2, "dispute": 0.2, "theft": 0.1, "compound": 0.25}


def synthetic_district(calls_per_day: float) -> District:
    """A 20 km square of 400 m cells: streets, residential blocks, four precincts, hot spots."""
    rows = ["".join("R" if (r // 5 + c // 5) % 3 == 0 else "S" for c in range(SIDE_CELLS))
            for r in range(SIDE_CELLS)]  # fmt: skip
    half = SIDE_CELLS // 2
    precincts = ["".join(str(1 + 2 * (r >= half) + (c >= half)) for c in range(SIDE_CELLS))
                 for r in range(SIDE_CELLS)]  # fmt: skip
    profile = [2, 1, 1, 1, 1, 1, 2, 4, 6, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 7, 6, 5, 4, 3]
    call_types = {
        name: {
            "daily_rate": share * calls_per_day,
            "hourly_profile": profile,
            "land_use_weights": {"R": 1.0} if name == "compound" else {"S": 1.0, "R": 0.3},
            "hotspots": [{"cell": [12, 30], "radius_cells": 1.5, "multiplier": 30}]
            if name == "theft"
            else [],
            "service": {"dist": "exponential", "mean": 30},
            "handler": "precinct" if name == "compound" else "patrol",
        }
        for name, share in TYPES.items()
    }
    raw = {
        "name": "bench",
        "cell_size_m": 400,
        "origin": {"lat": 30.0, "lon": 114.0},
        "land_use_map": rows,
        "precinct_map": precincts,
        "land_uses": {
            "S": {"name": "street", "road_speed_kmh": 25},
            "R": {"name": "residential", "road_speed_kmh": 15},
        },
        "precincts": {str(p): {"name": f"P{p}"} for p in range(1, 5)},
        "vehicles": {"car": {"max_speed_kmh": 40}},
        "units": [{"count": 2, "vehicle": "car", "precinct": str(p)} for p in range(1, 5)],
        "call_types": call_types,
    }
    return District.from_config(validate_district_dict(raw, "<benchmark>"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--keep", type=Path, default=None, help="write the files here and keep them"
    )
    args = parser.parse_args()

    days = 365
    district = synthetic_district(args.rows / days)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        frame = district_calls(district, days, args.seed)
        calls, boundary, types = (
            folder / "calls.csv",
            folder / "precincts.geojson",
            folder / "types.yaml",
        )
        frame.to_csv(calls, index=False)
        boundary.write_text(json.dumps(precincts_geojson(district)), encoding="utf-8")
        types.write_text("".join(f"{n}: [{n.upper()}]\n" for n in TYPES), encoding="utf-8")
        print(
            f"cpus {os.cpu_count()}: {len(frame):,} rows over {days} days "
            f"({calls.stat().st_size / 1e6:.0f} MB CSV) written in "
            f"{time.perf_counter() - started:.1f} s"
        )
        out = folder / "bench.yaml"
        argv = ["district", "import", "--calls", str(calls), "--types", str(types),
                "--boundary", str(boundary), "--id-column", "id", "--cell-size", "400",
                "--out", str(out)]  # fmt: skip
        env = dict(os.environ, OMP_NUM_THREADS="1")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "patrolmarl.cli", *argv], env=env, check=False)
        seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mb, cpu = usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime
        if done.returncode != 0:
            sys.exit(f"import failed with exit code {done.returncode}")
        verdict = "within" if seconds < TARGET_SECONDS else "OVER"
        print(f"import: {seconds:.1f} s wall ({verdict} the {TARGET_SECONDS:.0f} s target), "
              f"{cpu:.1f} s CPU, peak memory {peak_mb:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
