"""An on-disk cache of solved arrays, one ``.npz`` file per key, never trusted blindly.

Entries live in the user cache folder (``$PATROLMARL_CACHE_DIR``, else
``$XDG_CACHE_HOME/patrolmarl``, else ``~/.cache/patrolmarl``). Each entry
stores its metadata (format version and whatever identifies what was solved)
beside the arrays; reading checks the metadata against the caller's, and any
unreadable, truncated or mismatching file reads as a miss. Writes go to a
temporary file in the same folder and are moved into place with
``os.replace``, so a reader never sees half a file. A folder that cannot be
created or written makes the cache a no-op, with one warning line on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
_META = "meta_json"
_warned: set[str] = set()


def cache_folder() -> Path:
    """The user cache folder of patrolmarl (created on first write, not here)."""
    explicit = os.environ.get("PATROLMARL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "patrolmarl"


def read_entry(kind: str, key: str, meta: dict) -> dict[str, np.ndarray] | None:
    """The arrays stored under ``kind/key`` if the entry is intact and its metadata matches.

    Parameters
    ----------
    kind
        Sub-folder (one per kind of solution, e.g. ``"pmedian"``).
    key
        File name stem (a hash of ``meta``).
    meta
        JSON-serialisable description the entry must carry exactly.

    Returns
    -------
    dict or None
        The arrays, or None on a miss (absent, unreadable, or stale).
    """
    path = cache_folder() / kind / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None  # corrupt or truncated: the caller re-solves and rewrites it
    stored_meta = arrays.pop(_META, None)
    if stored_meta is None or stored_meta.shape != () or stored_meta.dtype.kind != "U":
        return None
    try:
        if json.loads(str(stored_meta)) != _normalised(meta):
            return None
    except json.JSONDecodeError:
        return None
    return arrays


def write_entry(kind: str, key: str, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Store ``arrays`` with ``meta`` under ``kind/key`` atomically; warn and skip if unwritable."""
    folder = cache_folder() / kind
    temporary = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as handle:
            temporary = Path(handle.name)
            np.savez(handle, **arrays, **{_META: np.array(json.dumps(_normalised(meta)))})
        os.replace(temporary, folder / f"{key}.npz")
    except OSError as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        if str(folder) not in _warned:
            _warned.add(str(folder))
            reason = error.strerror or type(error).__name__
            print(
                f"patrolmarl: warning: cache folder {folder} is not writable ({reason}); "
                "solutions are not cached",
                file=sys.stderr,
            )


def _normalised(meta: dict) -> dict:
    """``meta`` with its format version, as it reads back from JSON."""
    return json.loads(json.dumps({"format_version": FORMAT_VERSION, **meta}, sort_keys=True))
