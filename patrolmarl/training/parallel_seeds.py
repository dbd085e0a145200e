"""Training several seeds: in parallel through Ray when it is installed, else one by one.

Each seed is a normal run folder ``run_dir/seed_<s>`` trained by
:func:`~patrolmarl.training.train.train_run`; the numbers do not depend on the
path taken (same seed, same torch threads, same results).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from patrolmarl.errors import PatrolMarlError
from patrolmarl.training.config import TrainConfig
from patrolmarl.training.ray_cluster import connect, local_cpus, ray_installed

LOG_NAME = "train.log"


def seed_dir(run_dir: Path, seed: int) -> Path:
    """The run folder of ``seed`` in a set of seeds."""
    return Path(run_dir) / f"seed_{seed}"


def train_each_seed(
    config: TrainConfig,
    seeds: list[int],
    run_dir: Path,
    resume: bool = False,
    progress_bar: bool = False,
    say: Callable[[str], None] = print,
    parallel: bool | None = None,
    extra_callbacks: Sequence = (),
) -> list[dict[str, Any]]:
    """Train (or, with ``resume``, finish) every seed; their final summaries in seed order.

    ``parallel`` None: through Ray when it is installed and more than one seed
    is left to train (``extra_callbacks`` live in this process, so they force
    the sequential path).
    """
    from patrolmarl.training.train import train_run

    finals: dict[int, dict[str, Any]] = {}
    pending = []
    for seed in seeds:
        done = seed_dir(run_dir, seed) / "final.json"
        if resume and done.exists():
            finals[seed] = json.loads(done.read_text())
        else:
            pending.append(seed)
    if parallel is None:
        parallel = ray_installed() and len(pending) > 1 and not extra_callbacks
    if parallel and pending:
        finals.update(_train_through_ray(config, pending, run_dir, resume, say))
    else:
        for seed in pending:
            folder = seed_dir(run_dir, seed)
            finals[seed] = train_run(
                config.model_copy(update={"seed": seed}),
                folder,
                resume=resume and (folder / "checkpoints" / "latest").exists(),
                progress_bar=progress_bar,
                say=say,
                extra_callbacks=extra_callbacks,
            )
    return [finals[seed] for seed in seeds]


def _train_one_seed(config: dict[str, Any], folder: str, resume: bool) -> dict[str, Any]:
    """Body of one Ray task: ``train_run`` with its messages in ``folder/train.log``."""
    from patrolmarl.training.train import train_run

    folder_path = Path(folder)
    folder_path.mkdir(parents=True, exist_ok=True)
    with open(folder_path / LOG_NAME, "a", encoding="utf-8") as log:

        def say(line: str) -> None:
            print(line, file=log, flush=True)

        resume = resume and (folder_path / "checkpoints" / "latest").exists()
        return train_run(TrainConfig.model_validate(config), folder_path, resume=resume, say=say)


def _train_through_ray(
    config: TrainConfig, seeds: list[int], run_dir: Path, resume: bool, say: Callable[[str], None]
) -> dict[int, dict[str, Any]]:
    """One Ray task per seed, each with ``torch_threads`` CPUs; results as they finish."""
    started = connect("parallel seeds", None, local_cpus())
    import ray
    from ray.exceptions import RayTaskError

    task = ray.remote(num_cpus=config.torch_threads)(_train_one_seed)
    at_once = max(1, int(ray.cluster_resources().get("CPU", 1)) // config.torch_threads)
    say(
        f"training seeds {seeds} through Ray, {min(at_once, len(seeds))} at a time; "
        f"each seed's log: {seed_dir(run_dir, seeds[0]).parent}/seed_<s>/{LOG_NAME}"
    )
    refs = {
        task.remote(
            config.model_copy(update={"seed": s}).model_dump(),
            str(seed_dir(run_dir, s).absolute()),
            resume,
        ): s
        for s in seeds
    }
    finals: dict[int, dict[str, Any]] = {}
    try:
        waiting = list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            seed = refs[ready[0]]
            try:
                finals[seed] = ray.get(ready[0])
            except RayTaskError as exc:
                if isinstance(exc.cause, PatrolMarlError):
                    raise exc.cause from None
                raise
            response = finals[seed]["summary"].get("response_mean", float("nan"))
            say(f"seed {seed} done: response_mean {response:.3f} on the final days")
    finally:
        if started:
            ray.shutdown()
    return finals
