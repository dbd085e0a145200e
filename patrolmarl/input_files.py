"""Reading a user's input file: regular files only, of bounded size, with one-line errors.

Every file the user names (district, training config, beat plan, snapshot, policy
card) is read here, so that a named pipe never hangs, a folder, a symlink loop or
an over-long name gives one line, and no file is read into memory unbounded.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from patrolmarl.errors import ConfigError, one_line

#: Largest input file read (bytes): far above any real district, plan or snapshot.
MAX_INPUT_BYTES = 8 * 1024 * 1024
#: Deepest nesting of lists and mappings in an input file (YAML or JSON).
MAX_NESTING_DEPTH = 64

_OS_REASONS = {
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENAMETOOLONG: "file name too long",
    errno.ELOOP: "too many levels of symbolic links (a symlink loop?)",
    errno.EACCES: "permission denied",
    errno.EISDIR: "is a folder, not a file",
}


def read_text(path: str | Path, max_bytes: int = MAX_INPUT_BYTES, what: str = "file") -> str:
    """The UTF-8 text of the regular file ``path``, at most ``max_bytes`` long.

    ``what`` names the file in the "not found" line ("snapshot file not found").

    The file is opened without blocking and checked to be a regular file before
    anything is read, so a named pipe nobody writes to is refused, not waited on.

    Raises
    ------
    ConfigError
        One line naming the file and the problem.
    """
    source = str(path)
    if source == "":
        raise ConfigError("''", "", "empty file name")
    if "\0" in source:
        raise ConfigError(one_line(repr(source)), "", "a file name cannot contain a NUL character")
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ConfigError(source, "", f"{what} not found") from None
    except OSError as exc:
        raise ConfigError(source, "", _os_reason(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(source, "", f"not a regular file ({_kind(info.st_mode)})")
        if info.st_size > max_bytes:
            raise ConfigError(
                source, "", f"file is {info.st_size} bytes, more than the limit of {max_bytes}"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(source, "", _os_reason(exc)) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ConfigError(source, "", f"file is more than the limit of {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "", f"not UTF-8 text (byte {exc.start})") from None


def read_json(path: str | Path, max_bytes: int = MAX_INPUT_BYTES, what: str = "file") -> Any:
    """The JSON value of the file ``path`` (see :func:`read_text`), nested at most
    :data:`MAX_NESTING_DEPTH` deep; :class:`ConfigError` with line and column if malformed."""
    return json_value(read_text(path, max_bytes, what), str(path))


def json_value(text: str, source: str, what: str = "file") -> Any:
    """The JSON value of ``text`` (read from ``source``, a ``what``), nested at most
    :data:`MAX_NESTING_DEPTH` deep; :class:`ConfigError` with line and column if malformed."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{source}:{exc.lineno}:{exc.colno}"
        raise ConfigError(where, "", f"not a readable JSON {what}: {exc.msg}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise ConfigError(source, "", f"not a readable JSON {what}: {exc}") from None
    except RecursionError:
        value = None  # nested deeper than the interpreter can parse: refused just below
        depth = MAX_NESTING_DEPTH + 1
    else:
        depth = nesting_depth(value)
    if depth > MAX_NESTING_DEPTH:
        raise ConfigError(source, "", f"nested more than {MAX_NESTING_DEPTH} levels deep")
    return value


def nesting_depth(value: Any) -> int:
    """Depth of nested lists and dicts in ``value`` (0 for a scalar), without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            if depth + 1 <= MAX_NESTING_DEPTH:
                stack.extend((child, depth + 1) for child in item)
    return deepest


def _os_reason(exc: OSError) -> str:
    reason = _OS_REASONS.get(exc.errno or 0)
    return reason or f"cannot read file ({exc.strerror or exc.__class__.__name__})"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a plain file"
