"""Advice on a real situation from an exported policy (``patrolmarl advise``).

A snapshot of the situation (``schemas/snapshot.schema.json``) is checked
against the policy's district, loaded into the simulator to build the
observations exactly as in training, and run through ``policy.onnx`` with
onnxruntime. Needs numpy, onnxruntime and patrolmarl's simulator parts, never
torch or stable-baselines3. Load a policy once with :func:`load_advisor`, then
:func:`advise` on each snapshot's JSON value; :mod:`patrolmarl.advise.serve` (the
``serve`` extra, not imported here) puts that behind HTTP.
"""

from patrolmarl.advise.recommend import Advice, Advisor, Recommendation, advise, load_advisor
from patrolmarl.advise.snapshot import Snapshot, situation, snapshot_from_sim
from patrolmarl.advise.validation import SnapshotError, check_snapshot, read_snapshot

__all__ = [
    "Advice",
    "Advisor",
    "Recommendation",
    "Snapshot",
    "SnapshotError",
    "advise",
    "check_snapshot",
    "load_advisor",
    "read_snapshot",
    "situation",
    "snapshot_from_sim",
]
