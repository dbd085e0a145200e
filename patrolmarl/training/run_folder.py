"""A training run folder: what counts as one, where it may go, its lock and its atomic writes.

``patrolmarl train`` writes into a run folder for a long time, so the folder is
checked before any work starts (a folder of another kind, a path under a
regular file, an unwritable place or a name too long is refused with one line),
held by a lock for the whole run (``RUN/.lock``, ``fcntl.flock``), and a run
that fails before its first complete checkpoint takes back what it wrote.
Every file is written to a hidden temporary sibling and renamed into place, so a
kill leaves either the old or the new file; leftover temporaries are removed
when the run is resumed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from patrolmarl.errors import PatrolMarlError
from patrolmarl.output_folder import check_replaceable, check_writable, os_reason

LOCK_NAME = ".lock"
#: The log of a run trained away from the terminal (a Ray task, a sweep's trial).
LOG_NAME = "train.log"
#: What a run folder (or a folder of several seeds' runs) holds, besides ``seed_<n>/``.
RUN_ENTRIES = frozenset(
    {
        "config.yaml",
        "district.json",
        "tb",
        "checkpoints",
        "best.zip",
        "best_vecnormalize.pkl",
        "final.zip",
        "final_vecnormalize.pkl",
        "warm_start.zip",
        "warm_start_vecnormalize.pkl",
        "final.json",
        "report",
        "seeds.json",
        "seeds_summary.json",
        "learning_curves.png",
        LOCK_NAME,
        LOG_NAME,
    }
)
#: Hidden temporaries of an interrupted atomic write (``.config.yaml.tmp``,
#: ``.best.tmp.zip``, ``.report.<random>.tmp``, ``.report.<random>.old``).
_TEMP_SUFFIXES = (".tmp", ".tmp.zip", ".old")


#: Entries of a run folder that are folders (the others are files).
_FOLDERS = frozenset({"tb", "checkpoints", "report"})


def is_leftover_temp(name: str) -> bool:
    """Whether ``name`` is a hidden temporary left by an interrupted atomic write."""
    return name.startswith(".") and name != LOCK_NAME and name.endswith(_TEMP_SUFFIXES)


def is_run_folder(names: set[str]) -> bool:
    """True if a folder holding ``names`` is an earlier ``patrolmarl train`` run folder."""
    ours = all(n in RUN_ENTRIES or is_leftover_temp(n) or _is_seed_folder(n) for n in names)
    return ours and bool(names & {"config.yaml", LOCK_NAME, LOG_NAME})


def _is_seed_folder(name: str) -> bool:
    return name.startswith("seed_") and name.removeprefix("seed_").isdigit()


def holds_results(run_dir: Path) -> bool:
    """Whether ``run_dir`` (or one of its ``seed_<n>`` runs) has a checkpoint or a final result.

    Such a folder is resumed, never overwritten by a fresh start nor removed
    after a failure.
    """
    runs = [run_dir] + [p for p in _entries(run_dir) if _is_seed_folder(p.name) and p.is_dir()]
    return any(_has_complete_checkpoint(r) or (r / "final.json").is_file() for r in runs)


def _has_complete_checkpoint(run_dir: Path) -> bool:
    pointer = run_dir / "checkpoints" / "latest"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False
    return bool(name) and "/" not in name and (pointer.parent / name / "model.zip").is_file()


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def check_location(run_dir: Path, flag: str, fresh: bool) -> None:
    """Refuse, before any work, a run folder that could not be written.

    The folder must be writable in place (see
    :func:`~patrolmarl.output_folder.check_writable`); a fresh run's folder must
    be absent, empty or an earlier run folder (see :func:`is_run_folder`); a
    resumed run's entries must be of the kinds the run writes.

    Raises
    ------
    PatrolMarlError
        One line naming ``flag``, the path and what is wrong.
    """
    run_dir = Path(run_dir)
    try:
        check_writable(run_dir, staged=False)
        if fresh:
            check_replaceable(run_dir.absolute(), "run", is_run_folder)
    except (PatrolMarlError, FileExistsError) as exc:
        raise PatrolMarlError(f"{flag}: {exc}") from None
    if not fresh:  # a fresh run clears what an unfinished one left
        _check_entry_kinds(run_dir, f"{flag}: {run_dir}")


def _check_entry_kinds(run_dir: Path, where: str) -> None:
    """Refuse a run folder whose own entries are of the wrong kind (a folder named
    ``final.json``, a file named ``checkpoints``): the run could not write them."""
    checks = [(run_dir / name, name in _FOLDERS) for name in RUN_ENTRIES - {"seeds.json"}]
    checks.append((run_dir / "checkpoints" / "latest", False))
    for path, folder in checks:
        if path.exists() and path.is_dir() != folder:
            kind = "a folder" if folder else "a regular file"
            raise PatrolMarlError(f"{where}: {path} should be {kind}; move it away")


@contextmanager
def claimed(run_dir: Path) -> Iterator[None]:
    """Create ``run_dir`` if needed and hold its lock for the block.

    If the block fails while the folder holds no result (see :func:`holds_results`),
    what the block added is removed: the whole folder if this call created it,
    else the entries that were not there before.

    Raises
    ------
    PatrolMarlError
        ``RUN is in use by another training (pid N)`` if another process holds the lock.
    """
    run_dir = Path(run_dir)
    created = _make_folders(run_dir)
    before = {p.name for p in _entries(run_dir)}
    lock = _lock(run_dir, created)
    try:
        yield
    except BaseException:
        if not holds_results(run_dir):
            _take_back(run_dir, created, before)
        raise
    finally:
        os.close(lock)  # releases the flock


def _make_folders(run_dir: Path) -> Path | None:
    """``mkdir -p run_dir``; returns the topmost folder created (None if it existed)."""
    missing = [p for p in [run_dir, *run_dir.parents] if not p.exists()]
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PatrolMarlError(f"{run_dir}: cannot create the folder ({os_reason(exc)})") from None
    return missing[-1] if missing else None


def _lock(run_dir: Path, created: Path | None) -> int:
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise PatrolMarlError(f"{run_dir}: cannot write in the folder ({os_reason(exc)})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise PatrolMarlError(f"{run_dir} is in use by another training (pid {holder})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _take_back(run_dir: Path, created: Path | None, before: set[str]) -> None:
    if created is not None:
        shutil.rmtree(created, ignore_errors=True)
        return
    for entry in _entries(run_dir):
        if entry.name not in before:
            _remove(entry)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_leftover_temps(run_dir: Path) -> list[str]:
    """Delete the hidden temporaries of interrupted writes in ``run_dir``, its
    ``checkpoints/`` and its tensorboard runs; returns their names."""
    leftovers = [p for p in _entries(run_dir) if is_leftover_temp(p.name)]
    leftovers += [p for p in _entries(run_dir / "checkpoints") if p.name.startswith(".tmp")]
    for tb_run in _entries(run_dir / "tb"):
        leftovers += [p for p in _entries(tb_run) if is_leftover_temp(p.name)]
    for path in leftovers:
        _remove(path)
    return [p.name for p in leftovers]


def clear_unfinished_run(run_dir: Path) -> None:
    """Delete what a run that never completed a checkpoint left in ``run_dir``
    (called before a fresh start reuses the folder; the lock stays)."""
    for entry in _entries(run_dir):
        if entry.name not in (LOCK_NAME, LOG_NAME) and (
            entry.name in RUN_ENTRIES or is_leftover_temp(entry.name) or _is_seed_folder(entry.name)
        ):
            _remove(entry)


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``path`` through a hidden temporary sibling, flushed to disk, then renamed."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
