"""Tensorboard event files of a resumed run: forget what was logged after the checkpoint.

A run killed after its last checkpoint has logged steps that the resumed run
trains again; without this, tensorboard would show those steps twice. The old
event files are rewritten without the events past the checkpoint's step (each
through a temporary file and a rename), so every reader sees each step once.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.summary.writer.record_writer import RecordWriter

EVENT_FILE_MARK = "tfevents"


def forget_logs_after(tb_dir: Path, step: int) -> int:
    """Drop every event with a step above ``step`` from the event files under ``tb_dir``.

    Returns the number of events dropped.
    """
    dropped = 0
    for path in sorted(tb_dir.glob(f"*/*{EVENT_FILE_MARK}*")):
        if path.is_file() and not path.name.startswith("."):
            dropped += _rewrite_without_later(path, step)
    return dropped


def _rewrite_without_later(path: Path, step: int) -> int:
    records = list(RawEventFileLoader(str(path)).Load())
    kept = [r for r in records if Event.FromString(r).step <= step]
    if len(kept) == len(records):
        return 0
    tmp = path.with_name(f".{uuid.uuid4().hex}.tmp")  # no "tfevents": readers skip it
    with open(tmp, "wb") as f:
        writer = RecordWriter(f)
        for record in kept:
            writer.write(record)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return len(records) - len(kept)
