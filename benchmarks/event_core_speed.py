"""The event-timed core against the step-timed core it replaced, in one run.

Issue 16 asks that the batched core's throughput at B = 512 stay at least 0.8x
what it was before event-timed dispatch. This script loads the previous core
from git (``--before``, default the last commit with boundary-timed dispatch),
then times ``BatchedSim.step`` of both on the same days under the same random
masked actions (the ``AGENTS`` rule, the only one the old core had; the
episode's observations and masks are not part of the core's change and are left
out), and the new core once more under ``NEAREST``. Runs alternate between the
cores so that load on the shared machine disturbs both alike; each figure is the
best of ``--repeat`` runs, by wall clock and by process CPU time.

Usage::

    python benchmarks/event_core_speed.py [--batch 512] [--steps 300] [--repeat 5]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from patrolmarl.envs.core import BatchedSim  # noqa: E402
from patrolmarl.envs.dispatch_rule import AGENTS, NEAREST, DispatchRule  # noqa: E402
from patrolmarl.envs.district import District  # noqa: E402

BEFORE = "d622c1f"  # main before event-timed dispatch
TARGET = 0.8


def _old_core(commit: str) -> type:
    """``BatchedSim`` as it was at ``commit`` (its imports resolve to today's modules)."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "-C", str(root), "show", f"{commit}:patrolmarl/envs/core.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "core_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("core_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BatchedSim


def _runner(sim_cls: type, rule: DispatchRule | None, batch: int, seed: int):
    """A function timing ``n`` steps of a fresh simulator (wall, CPU seconds)."""
    district = District.load("gaoxin")
    sim = sim_cls(district, batch_size=batch, seed=seed)
    if rule is not None:
        sim.set_dispatch(rule)
    sim.reset(seeds=[seed * 100_003 + i for i in range(batch)])
    rng = np.random.default_rng(seed)

    def run(n: int) -> tuple[float, float]:
        wall = cpu = 0.0
        for _ in range(n):
            masks = sim.action_masks()
            actions = (rng.random(masks.shape, dtype=np.float32) * masks).argmax(axis=-1)
            w0, c0 = time.perf_counter(), time.process_time()
            sim.step(actions)
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
            if sim.done.any():
                sim.reset(mask=sim.done)
        return wall, cpu

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", default=BEFORE, help="git commit of the old core")
    args = parser.parse_args()
    runners = {
        "before (step-timed, agents)": _runner(_old_core(args.before), None, args.batch, 0),
        "after (event-timed, agents)": _runner(BatchedSim, AGENTS, args.batch, 0),
        "after (event-timed, nearest)": _runner(BatchedSim, NEAREST, args.batch, 0),
    }
    for run in runners.values():
        run(20)  # warm-up
    best = {name: [np.inf, np.inf] for name in runners}
    for _ in range(args.repeat):
        for name, run in runners.items():
            wall, cpu = run(args.steps)
            best[name] = [min(best[name][0], wall), min(best[name][1], cpu)]
    agent_steps = args.batch * District.load("gaoxin").n_units * args.steps
    print(f"B = {args.batch}, {args.steps} steps per run, best of {args.repeat}")
    for name, (wall, cpu) in best.items():
        print(
            f"{name:<32s}{agent_steps / wall:>12,.0f} agent-steps/s"
            f"   (CPU-time rate {agent_steps / cpu:,.0f})"
        )
    before = best["before (step-timed, agents)"]
    for name in ("after (event-timed, agents)", "after (event-timed, nearest)"):
        wall, cpu = (before[i] / best[name][i] for i in range(2))
        verdict = "meets" if min(wall, cpu) >= TARGET else "MISSES"
        print(f"{name} / before: {wall:.2f} wall, {cpu:.2f} CPU ({verdict} the {TARGET}x target)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
