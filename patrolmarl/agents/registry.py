"""Turn a policy name or file path (as given on the command line) into a :class:`Policy`."""

from __future__ import annotations

from pathlib import Path

from patrolmarl.agents.baseline_spec import build_baseline, is_baseline_spec
from patrolmarl.agents.baselines import BASELINES
from patrolmarl.agents.beat_plan import BeatPlanPolicy, load_beat_plan
from patrolmarl.agents.learned import OnnxPolicy, SB3ModelPolicy
from patrolmarl.agents.policy import Policy
from patrolmarl.envs.district import District
from patrolmarl.errors import PatrolMarlError

FILE_KINDS = {
    ".zip": "SB3 model",
    ".onnx": "ONNX policy",
    ".yaml": "beat plan",
    ".yml": "beat plan",
}


def load_policy(spec: str, district: District, seed: int = 0) -> Policy:
    """A baseline by name (``fixed_zone``, ``nearest``, ``pmedian``, ``random``) or a file.

    Files: ``.zip`` (SB3 PPO/MaskablePPO), ``.onnx``, ``.yaml``/``.yml`` (beat plan).

    Raises
    ------
    PatrolMarlError
        For an unknown name, a missing file or a file that does not fit the district.
    """
    if is_baseline_spec(spec):
        return build_baseline(spec, seed=seed)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix not in FILE_KINDS:
        names = ", ".join(BASELINES)
        raise PatrolMarlError(
            f"unknown policy {spec!r}: use one of {names}, or a .zip, .onnx or .yaml file"
        )
    if not path.exists():
        raise PatrolMarlError(f"{spec}: {FILE_KINDS[suffix]} file not found")
    if suffix == ".zip":
        return SB3ModelPolicy.from_file(path, district)
    if suffix == ".onnx":
        return OnnxPolicy(path, district)
    return BeatPlanPolicy(load_beat_plan(path, district), seed=seed, name=path.stem)
