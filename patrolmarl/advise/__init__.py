"""Advice on a real situation from an exported policy (``patrolmarl advise``).

A snapshot of the situation (``schemas/snapshot.schema.json``) is checked
against the policy's district, loaded into the simulator to build the
observations exactly as in training, and run through ``policy.onnx`` with
onnxruntime. Needs numpy, onnxruntime and patrolmarl's simulator parts, never
torch or stable-baselines3.
"""

from patrolmarl.advise.recommend import Advice, Recommendation, advise
from patrolmarl.advise.snapshot import Snapshot, situation, snapshot_from_sim
from patrolmarl.advise.validation import SnapshotError, read_snapshot

__all__ = [
    "Advice",
    "Recommendation",
    "Snapshot",
    "SnapshotError",
    "advise",
    "read_snapshot",
    "situation",
    "snapshot_from_sim",
]
