"""Output folders written whole or not at all: staged in a temporary sibling, then swapped in.

A command that writes a folder (report, beats, export) stages every file in a
temporary sibling and renames it into place at the end; on any error the
staged folder is removed and the target is left as it was. An existing target
is replaced only if it is empty or an earlier output of the same kind, judged
by the file names it holds. :func:`check_writable` tries the location before
a long command starts, so that a bad ``--out`` fails at once, not after the work.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from patrolmarl.errors import PatrolMarlError

NamesCheck = Callable[[set[str]], bool]


def check_writable(out_dir: Path) -> None:
    """Raise PatrolMarlError unless a folder can be staged and renamed into ``out_dir``.

    Tries it: in the nearest existing ancestor, a temporary folder is made
    holding the missing parent folders and the staged folder's (longest) name,
    then removed. This catches a file where a folder must be, unwritable or
    read-only places and names too long for the file system.
    """
    if "\0" in str(out_dir):
        raise PatrolMarlError(f"{str(out_dir)!r}: a folder name cannot contain a NUL character")
    out_dir = Path(out_dir).absolute()
    existing = out_dir.parent
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
    except OSError as exc:  # a part longer than the file system allows, a symlink loop
        raise PatrolMarlError(f"{out_dir}: cannot use this path ({exc.strerror})") from None
    if not existing.is_dir():
        raise PatrolMarlError(f"{out_dir}: {existing} is a file, not a folder")
    missing = out_dir.parent.relative_to(existing)
    staged = f".{out_dir.name}.{'x' * 8}.old"  # as long as the staging names
    try:
        trial = Path(tempfile.mkdtemp(prefix=".patrolmarl-try.", dir=existing))
    except OSError as exc:
        raise PatrolMarlError(f"{out_dir}: cannot write in {existing} ({exc.strerror})") from None
    try:
        (trial / missing / staged).mkdir(parents=True)
    except OSError as exc:
        raise PatrolMarlError(f"{out_dir}: cannot make this folder ({exc.strerror})") from None
    finally:
        shutil.rmtree(trial, ignore_errors=True)


def check_replaceable(out_dir: Path, kind: str, is_earlier_output: NamesCheck) -> None:
    """Raise FileExistsError unless ``out_dir`` is absent, empty or an earlier ``kind`` folder.

    ``is_earlier_output`` gets the set of names in the folder.
    """
    out_dir = Path(out_dir)
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if out_dir.is_symlink() or not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a {kind} folder; not replacing it")
    names = {entry.name for entry in out_dir.iterdir()}
    if names and not is_earlier_output(names):
        raise FileExistsError(
            f"{out_dir} is not empty and not an earlier {kind} folder; not replacing it"
        )


@contextmanager
def staged_folder(out_dir: Path, kind: str, is_earlier_output: NamesCheck) -> Iterator[Path]:
    """Yield an empty temporary sibling of ``out_dir``; when the block ends, it replaces it.

    Raises FileExistsError before anything is written if ``out_dir`` may not be
    replaced (see :func:`check_replaceable`).
    """
    out_dir = Path(out_dir).absolute()
    check_replaceable(out_dir, kind, is_earlier_output)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        yield tmp
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes it owner-only
        _swap_in(tmp, out_dir, kind, is_earlier_output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: Path, out_dir: Path, kind: str, is_earlier_output: NamesCheck) -> None:
    """Rename ``tmp`` to ``out_dir``, moving a replaceable old folder away first."""
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    check_replaceable(out_dir, kind, is_earlier_output)
    old = out_dir.parent / f".{out_dir.name}.{uuid.uuid4().hex[:8]}.old"
    os.rename(out_dir, old)
    try:
        os.rename(tmp, out_dir)
    except BaseException:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
