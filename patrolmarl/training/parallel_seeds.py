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
from patrolmarl.training.checkpoint import checkpoint_folders
from patrolmarl.training.config import TrainConfig
from patrolmarl.training.ray_cluster import connect, local_cpus, ray_installed
from patrolmarl.training.run_folder import LOG_NAME


def seed_dir(run_dir: Path, seed: int) -> Path:
    """The run folder of ``seed`` in a set of seeds."""
    return Path(run_dir) / f"seed_{seed}"


def train_each_seed(
    configs: Sequence[TrainConfig],
    run_dir: Path,
    resume: bool = False,
    progress_bar: bool = False,
    say: Callable[[str], None] = print,
    parallel: bool | None = None,
    extra_callbacks: Sequence = (),
    source: str = "training config",
) -> list[dict[str, Any]]:
    """Train (or, with ``resume``, finish) one run per config (one config per seed); their
    final summaries in the configs' order.

    ``parallel`` None: through Ray when it is installed and more than one seed
    is left to train (``extra_callbacks`` live in this process, so they force
    the sequential path).
    """
    from patrolmarl.training.train import train_run

    finals: dict[int, dict[str, Any]] = {}
    pending = []
    for config in configs:
        done = _read_final(seed_dir(run_dir, config.seed)) if resume else None
        if done is not None:
            finals[config.seed] = done
        else:
            pending.append(config)
    if parallel is None:
        parallel = ray_installed() and len(pending) > 1 and not extra_callbacks
    if parallel and pending:
        finals.update(_train_through_ray(pending, run_dir, resume, say))
    else:
        for config in pending:
            folder = seed_dir(run_dir, config.seed)
            finals[config.seed] = train_run(
                config,
                folder,
                resume=resume and bool(checkpoint_folders(folder)),
                progress_bar=progress_bar,
                say=say,
                extra_callbacks=extra_callbacks,
                source=source,
            )
    return [finals[config.seed] for config in configs]


def _read_final(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``final.json`` if it is complete; None if absent or unreadable (re-run it)."""
    try:
        final = json.loads((run_dir / "final.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return final if isinstance(final, dict) and isinstance(final.get("summary"), dict) else None


def _train_one_seed(config: dict[str, Any], folder: str, resume: bool) -> dict[str, Any]:
    """Body of one Ray task: ``train_run`` with its messages in ``folder/train.log``."""
    from patrolmarl.training.train import train_run

    folder_path = Path(folder)
    folder_path.mkdir(parents=True, exist_ok=True)
    with open(folder_path / LOG_NAME, "a", encoding="utf-8") as log:

        def say(line: str) -> None:
            print(line, file=log, flush=True)

        resume = resume and bool(checkpoint_folders(folder_path))
        return train_run(TrainConfig.model_validate(config), folder_path, resume=resume, say=say)


def _train_through_ray(
    configs: list[TrainConfig], run_dir: Path, resume: bool, say: Callable[[str], None]
) -> dict[int, dict[str, Any]]:
    """One Ray task per seed, each with ``torch_threads`` CPUs; results as they finish."""
    started = connect("parallel seeds", None, local_cpus())
    import ray
    from ray.exceptions import RayTaskError

    seeds = [c.seed for c in configs]
    threads = max(c.torch_threads for c in configs)
    task = ray.remote(num_cpus=threads)(_train_one_seed)
    at_once = max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
    say(
        f"training seeds {seeds} through Ray, {min(at_once, len(seeds))} at a time; "
        f"each seed's log: {seed_dir(run_dir, seeds[0]).parent}/seed_<s>/{LOG_NAME}"
    )
    refs = {
        task.remote(c.model_dump(), str(seed_dir(run_dir, c.seed).absolute()), resume): c.seed
        for c in configs
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
