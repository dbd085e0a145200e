"""Throughput of the batched core and the PettingZoo env, against mpe2's simple_spread.

Prints, in one run on one machine:

- agent-steps/s of the batched core (``BatchedSim.step`` + ``ObservationBuilder.observe``
  + ``BatchedSim.action_masks``, random masked actions) at B = 1, 64 and 512
  districts of ``gaoxin`` (14 agents each), and at B = 512 once more with
  ``observe(out=...)`` reusing one buffer;
- the cost of the optional ``move_gains`` observation field, at B = 16 (the
  training configs' size): agent-steps/s without and with it;
- the cost of the ``difference_all`` reward credit (each unit's difference
  reward on the theft forecast too, from the per-unit nearby presence) against
  ``difference``: agent-steps/s of ``PatrolVecEnv`` at B = 16 under nearest
  dispatch (step + reward + observations + masks + day ends) with each;
- the cost of ``move_gains`` in that training step (``difference_all`` credit,
  as the shipped config trains): its milliseconds per step against the rest of
  the step, with the target that it costs less than the rest;
- agent-steps/s of ``patrolmarl.envs.parallel_env("gaoxin")`` (per-agent dicts,
  random actions drawn from the masks in ``infos``) and of mpe2's
  ``simple_spread_v3.parallel_env(N=14)`` (random actions);
- the ratios against the targets (core at B=512 >= 1,000,000 agent-steps/s;
  ParallelEnv >= 4x simple_spread) and the memory of the B=512 core, measured
  in a fresh process (tracemalloc peak of the core's allocations, bytes of its
  arrays, and the process's max RSS, which is held to the 1 GiB target).

Only the environment calls are timed (drawing the random actions is not), with
the wall clock; each figure is the best of ``--repeat`` runs of ``--steps``
steps, so that other load on the machine disturbs it least. The process CPU
time of the same calls is shown alongside as a cross-check.

Usage::

    python benchmarks/env_throughput.py [--steps 500] [--repeat 3]
"""

from __future__ import annotations

import os

# One thread per library: the work is elementwise numpy, where BLAS/OpenMP
# threads only add overhead. Set before numpy is imported; explicit settings win.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _var in THREAD_VARS:
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

from patrolmarl.envs.core import BatchedSim  # noqa: E402
from patrolmarl.envs.dispatch_rule import NEAREST  # noqa: E402
from patrolmarl.envs.district import District  # noqa: E402
from patrolmarl.envs.observations import ObservationBuilder  # noqa: E402
from patrolmarl.envs.vec_env import PatrolVecEnv  # noqa: E402

DISTRICT = "gaoxin"
CORE_BATCHES = (1, 64, 512)
TRAINING_BATCH = 16  # districts per training run in configs/train
CORE_TARGET = 1_000_000  # agent-steps/s of the core at B=512
PETTINGZOO_TARGET = 4.0  # ParallelEnv / simple_spread
MEMORY_TARGET = 1 << 30  # bytes, B=512 core
WARMUP_STEPS = 20


@dataclass
class Rate:
    """Best agent-steps/s over the repeats, by wall clock and by process CPU time."""

    wall: float
    cpu: float
    steps_per_s: float

    def line(self, label: str) -> str:
        return (
            f"{label:<44s}{self.wall:>14,.0f} agent-steps/s"
            f"   ({self.steps_per_s:,.0f} steps/s; CPU-time rate {self.cpu:,.0f})"
        )


def _best(runs: list[tuple[float, float]], agents_per_step: int, steps: int) -> Rate:
    wall = min(w for w, _ in runs)
    cpu = min(c for _, c in runs)
    return Rate(agents_per_step * steps / wall, agents_per_step * steps / cpu, steps / wall)


def _masked_random(rng: np.random.Generator, masks: np.ndarray) -> np.ndarray:
    """Uniform random allowed action per unit from ``(B, N, A)`` bool masks."""
    u = rng.random(masks.shape, dtype=np.float32)
    u *= masks
    return u.argmax(axis=-1)


# ---------------------------------------------------------------------- core
def bench_core(
    batch: int,
    steps: int,
    repeat: int,
    reuse: bool = False,
    seed: int = 0,
    move_gains: bool = False,
) -> Rate:
    """The batched core: step + observe + action masks, auto-resetting finished days.

    With ``reuse``, observations are written into one buffer (``observe(out=...)``)
    instead of a new array at every step; ``move_gains`` adds that observation field.
    """
    district = District.load(DISTRICT)
    sim = BatchedSim(district, batch_size=batch, seed=seed)
    builder = ObservationBuilder(sim, move_gains=move_gains)
    sim.reset(seeds=[seed * 100_003 + i for i in range(batch)])
    rng = np.random.default_rng(seed)
    masks = sim.action_masks()
    obs = builder.observe()
    out = obs if reuse else None

    def run(n: int) -> tuple[float, float]:
        nonlocal masks, obs
        wall = cpu = 0.0
        for _ in range(n):
            actions = _masked_random(rng, masks)
            w0, c0 = time.perf_counter(), time.process_time()
            sim.step(actions)
            done = sim.done
            if done.any():
                sim.reset(mask=done)
            obs = builder.observe(out)
            masks = sim.action_masks()
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
        return wall, cpu

    run(WARMUP_STEPS)
    return _best([run(steps) for _ in range(repeat)], batch * sim.n_units, steps)


# ------------------------------------------------------------------- VecEnv
def bench_vec_env(
    credit: str, steps: int, repeat: int, seed: int = 0, move_gains: bool = False
) -> Rate:
    """``PatrolVecEnv`` at the training batch under nearest dispatch, with reward ``credit``
    (and the ``move_gains`` observation field if asked)."""
    env = PatrolVecEnv(
        District.load(DISTRICT),
        TRAINING_BATCH,
        seed=seed,
        reward_weights={"credit": credit},
        move_gains=move_gains,
        dispatch=NEAREST,
    )
    env.reset()
    rng = np.random.default_rng(seed)
    masks = env.action_masks()

    def run(n: int) -> tuple[float, float]:
        nonlocal masks
        wall = cpu = 0.0
        for _ in range(n):
            actions = _masked_random(rng, masks)
            w0, c0 = time.perf_counter(), time.process_time()
            env.step(actions)
            masks = env.action_masks()
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
        return wall, cpu

    run(WARMUP_STEPS)
    return _best([run(steps) for _ in range(repeat)], env.num_envs, steps)


# ---------------------------------------------------------------- PettingZoo
def _bench_parallel_env(
    env, sample: Callable[[dict], dict], steps: int, repeat: int, seed: int = 0
) -> Rate:
    """A PettingZoo ParallelEnv stepped with ``sample(infos)`` actions, reset when done."""
    obs, infos = env.reset(seed=seed)
    n_agents = len(env.possible_agents)

    def run(n: int) -> tuple[float, float]:
        nonlocal obs, infos
        wall = cpu = 0.0
        for _ in range(n):
            actions = sample(infos)
            w0, c0 = time.perf_counter(), time.process_time()
            obs, rewards, terminations, truncations, infos = env.step(actions)
            if not env.agents:
                obs, infos = env.reset()
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
        return wall, cpu

    run(WARMUP_STEPS)
    return _best([run(steps) for _ in range(repeat)], n_agents, steps)


def bench_patrol_env(steps: int, repeat: int) -> Rate:
    """``patrolmarl.envs.parallel_env("gaoxin")`` with random actions from the info masks."""
    from patrolmarl.envs import parallel_env

    rng = np.random.default_rng(0)

    def sample(infos: dict) -> dict:
        actions = {}
        for agent, info in infos.items():
            allowed = np.flatnonzero(info["action_mask"])
            actions[agent] = int(allowed[rng.integers(allowed.size)])
        return actions

    return _bench_parallel_env(parallel_env(DISTRICT), sample, steps, repeat)


def bench_simple_spread(steps: int, repeat: int) -> Rate:
    """mpe2 ``simple_spread_v3.parallel_env(N=14)`` with uniform random actions."""
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env(N=14)
    rng = np.random.default_rng(0)

    def sample(infos: dict) -> dict:
        return {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}

    return _bench_parallel_env(env, sample, steps, repeat)


# -------------------------------------------------------------------- memory
def _core_memory(batch: int, steps: int, queue: multiprocessing.Queue) -> None:
    """In a fresh process: tracemalloc peak, array bytes and max RSS of a B-district core."""
    rss_before = _current_rss()
    district = District.load(DISTRICT)
    tracemalloc.start()
    sim = BatchedSim(district, batch_size=batch, seed=0)
    builder = ObservationBuilder(sim)
    sim.reset(seeds=list(range(batch)))
    rng = np.random.default_rng(0)
    masks = sim.action_masks()
    obs = builder.observe()
    for _ in range(steps):
        sim.step(_masked_random(rng, masks))
        obs = builder.observe()
        masks = sim.action_masks()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    arrays = [v for v in vars(sim).values() if isinstance(v, np.ndarray)]
    arrays += [v for v in vars(sim.calls).values() if isinstance(v, np.ndarray)]
    arrays += [v for v in vars(builder).values() if isinstance(v, np.ndarray) and v.base is None]
    arrays += [obs, masks]
    queue.put(
        {
            "tracemalloc_peak": peak,
            "array_bytes": sum(a.nbytes for a in arrays),
            "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "rss_before": rss_before,
        }
    )


def _current_rss() -> int:
    """Resident set size of this process now (bytes; Linux), else its peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_core_memory(batch: int = 512, steps: int = 100) -> dict[str, int]:
    """Run :func:`_core_memory` in a spawned process so that its max RSS is its own."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_core_memory, args=(batch, steps, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500, help="timed steps per repeat")
    parser.add_argument("--repeat", type=int, default=3, help="repeats (the best is shown)")
    args = parser.parse_args(argv)

    import mpe2
    import pettingzoo

    mib = 1 << 20
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}; Python {platform.python_version()}, "
        f"numpy {np.__version__}, pettingzoo {pettingzoo.__version__}, mpe2 {mpe2.__version__}"
    )
    print("threads: " + ", ".join(f"{v}={os.environ[v]}" for v in THREAD_VARS))
    print(
        f"timing: env calls only (random action draws excluded), best of {args.repeat} x "
        f"{args.steps} steps after {WARMUP_STEPS} warm-up steps"
    )
    print()
    core = {}
    for batch in CORE_BATCHES:
        core[batch] = bench_core(batch, args.steps, args.repeat)
        print(core[batch].line(f"batched core {DISTRICT}, B={batch} (x14 agents)"))
    big = CORE_BATCHES[-1]
    reused = bench_core(big, args.steps, args.repeat, reuse=True)
    print(reused.line(f"  same, B={big}, observe(out=reused buffer)"))
    plain = bench_core(TRAINING_BATCH, args.steps, args.repeat)
    print(plain.line(f"batched core {DISTRICT}, B={TRAINING_BATCH}"))
    gains = bench_core(TRAINING_BATCH, args.steps, args.repeat, move_gains=True)
    print(gains.line(f"  same, B={TRAINING_BATCH}, with move_gains"))
    difference = bench_vec_env("difference", args.steps, args.repeat)
    print(difference.line(f"PatrolVecEnv B={TRAINING_BATCH}, credit difference"))
    difference_all = bench_vec_env("difference_all", args.steps, args.repeat)
    print(difference_all.line("  same, credit difference_all"))
    trained = bench_vec_env("difference_all", args.steps, args.repeat, move_gains=True)
    print(trained.line("  same, with move_gains (the shipped config)"))
    patrol = bench_patrol_env(args.steps, args.repeat)
    print(patrol.line(f"PettingZoo parallel_env('{DISTRICT}')"))
    spread = bench_simple_spread(args.steps, args.repeat)
    print(spread.line("mpe2 simple_spread_v3.parallel_env(N=14)"))

    memory = measure_core_memory(batch=big)
    print()
    core_ratio = core[big].wall / CORE_TARGET
    pz_ratio = patrol.wall / spread.wall
    verdict = {True: "met", False: "NOT met"}
    print(
        f"core B={big} / {CORE_TARGET:,} target: {core_ratio:.2f}x -> {verdict[core_ratio >= 1.0]}"
    )
    print(
        f"ParallelEnv / simple_spread: {pz_ratio:.1f}x (target {PETTINGZOO_TARGET:g}x) "
        f"-> {verdict[pz_ratio >= PETTINGZOO_TARGET]}"
    )
    print(
        f"memory of the B={big} core (construction, reset, 100 steps): "
        f"tracemalloc peak {memory['tracemalloc_peak'] / mib:.1f} MiB, "
        f"live arrays {memory['array_bytes'] / mib:.1f} MiB, "
        f"process max RSS {memory['maxrss'] / mib:.1f} MiB "
        f"({memory['rss_before'] / mib:.1f} MiB after imports) "
        f"-> {verdict[memory['maxrss'] < MEMORY_TARGET]} (< 1 GiB)"
    )
    print(f"move_gains field at B={TRAINING_BATCH}: {gains.wall / plain.wall:.2f}x the plain speed")
    # Step times (ms per step of the B districts): the field's own cost against the rest.
    rest, with_field = 1e3 / difference_all.steps_per_s, 1e3 / trained.steps_per_s
    field = with_field - rest
    print(
        f"move_gains in the training step (difference_all credit, B={TRAINING_BATCH}): "
        f"{field:.2f} ms of {with_field:.2f} ms, {field / rest:.2f}x the rest of the step "
        f"-> {verdict[field < rest]} (< 1x)"
    )
    print(
        f"difference_all credit at B={TRAINING_BATCH}: "
        f"{difference.wall / difference_all.wall:.2f}x the step time of difference"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
