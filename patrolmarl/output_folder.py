"""Output folders written whole or not at all: staged in a temporary sibling, then swapped in.

A command that writes a folder (report, beats, export) stages every file in a
temporary sibling and renames it into place at the end; on any error the
staged folder is removed and the target is left as it was. An existing target
is replaced only if it is empty or an earlier output of the same kind, judged
by the file names it holds. :func:`check_writable` tries the location before
a long command starts, so that a bad ``--out`` fails at once, not after the work.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from patrolmarl.errors import PatrolMarlError

NamesCheck = Callable[[set[str]], bool]


def check_writable(folder: Path, staged: bool = True) -> None:
    """Raise PatrolMarlError unless ``folder`` can be written, trying it before any work.

    ``staged``: the folder is staged in a temporary sibling and renamed into
    place (see :func:`staged_folder`), so its parent must take the staging name;
    otherwise (a run folder, written in place) the folder itself must take new
    entries. Tries it: in the nearest existing ancestor a temporary folder is
    made holding the missing folders (and the staging name), then removed. This
    catches a file where a folder must be, unwritable or read-only places and
    names too long for the file system.

    Raises
    ------
    PatrolMarlError
        One line, starting with the absolute path, saying what is wrong.
    """
    if "\0" in str(folder):
        raise PatrolMarlError(f"{str(folder)!r}: a folder name cannot contain a NUL character")
    folder = Path(folder).absolute()
    longest = max(len(os.fsencode(part)) for part in folder.parts)
    existing = _nearest_existing(folder.parent if staged else folder, folder, longest)
    if existing == folder and not existing.is_dir():
        raise PatrolMarlError(f"{folder} exists and is not a folder")
    if not existing.is_dir():
        raise PatrolMarlError(f"{folder}: {existing} is not a folder")
    name_max = os.pathconf(existing, "PC_NAME_MAX")
    if longest > name_max:
        raise PatrolMarlError(_too_long(folder, longest, name_max))
    path_max = os.pathconf(existing, "PC_PATH_MAX")
    if len(os.fsencode(str(folder))) >= path_max:
        raise PatrolMarlError(f"{folder}: the path is too long (at most {path_max - 1} bytes)")
    missing = (folder.parent if staged else folder).relative_to(existing)
    if staged:
        missing = missing / f".{folder.name}.{'x' * 8}.old"  # as long as the staging names
    try:
        trial = Path(tempfile.mkdtemp(prefix=".patrolmarl-try.", dir=existing))
    except OSError as exc:
        raise PatrolMarlError(f"{folder}: cannot write in {existing} ({os_reason(exc)})") from None
    try:
        (trial / missing).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PatrolMarlError(f"{folder}: cannot make this folder ({os_reason(exc)})") from None
    finally:
        shutil.rmtree(trial, ignore_errors=True)


def _nearest_existing(path: Path, folder: Path, longest: int) -> Path:
    """``path`` or its nearest existing ancestor (a folder, a file or a link)."""
    for candidate in [path, *path.parents]:
        try:
            os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:  # a part longer than the file system allows, a symlink loop
            if exc.errno == errno.ENAMETOOLONG:
                raise PatrolMarlError(_too_long(folder, longest, None)) from None
            raise PatrolMarlError(f"{folder}: cannot use this path ({os_reason(exc)})") from None
        return candidate
    return Path(path.anchor)


def _too_long(folder: Path, longest: int, name_max: int | None) -> str:
    limit = f" (at most {name_max})" if name_max is not None else ""
    return f"{folder}: a name of {longest} bytes is too long{limit}"


def os_reason(exc: OSError) -> str:
    """The operating system's reason, in lower case (``permission denied``)."""
    reason = os.strerror(exc.errno) if exc.errno else exc.__class__.__name__
    return reason[:1].lower() + reason[1:]


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
