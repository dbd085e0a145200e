"""Turn a policy spec (as given on the command line) into a named :class:`Policy`.

A spec is a baseline name, a policy file, or an export folder, optionally
prefixed with its name in the report: ``NAME=SPEC``, where NAME (the text
before the first ``=``) is made of letters, digits and ``_ . -`` only, so that
``pmedian_theft:theft=120`` is a spec, not a name. Without a prefix a baseline
is called by its name, and a file by its stem, or ``parent/stem`` when the
stem is a generic one (``best``, ``final``, ``model``, ``policy``); an export
folder by the folder's name. Names are refused when they would be ambiguous in
a report: a file named like a baseline, or two policies with one name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from patrolmarl.agents.baseline_spec import build_baseline, is_baseline_spec
from patrolmarl.agents.baselines import BASELINES
from patrolmarl.agents.beat_plan import BeatPlanPolicy, load_beat_plan
from patrolmarl.agents.learned import INFERENCE_TORCH_THREADS
from patrolmarl.agents.macro_policy import load_zip_policy
from patrolmarl.agents.policy import Policy
from patrolmarl.envs.district import District
from patrolmarl.errors import PatrolMarlError
from patrolmarl.exported.contract import CARD_FILE, ONNX_FILE
from patrolmarl.exported.onnx_policy import OnnxPolicy

FILE_KINDS = {
    ".zip": "SB3 model",
    ".onnx": "ONNX policy",
    ".yaml": "beat plan",
    ".yml": "beat plan",
}
#: File stems that say nothing of the policy: such a file is called ``parent/stem``.
GENERIC_STEMS = frozenset({"best", "final", "model", "policy"})
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def split_name(spec: str) -> tuple[str | None, str]:
    """``(NAME, SPEC)`` of ``NAME=SPEC``; ``(None, spec)`` when ``spec`` has no name prefix."""
    head, sep, rest = spec.partition("=")
    if sep and rest and _NAME.fullmatch(head):
        return head, rest
    return None, spec


def default_name(path: Path) -> str:
    """A policy file's name in a report: its stem, or ``parent/stem`` for a generic stem.

    An export folder, or the ``policy.onnx`` in one, is called after the folder.
    """
    if path.is_dir():
        return path.absolute().name
    parent = path.absolute().parent.name
    if path.name == ONNX_FILE and path.with_name(CARD_FILE).is_file():
        return parent
    if path.stem.lower() in GENERIC_STEMS and parent:
        return f"{parent}/{path.stem}"
    return path.stem


def load_policy(
    spec: str, district: District, seed: int = 0, torch_threads: int = INFERENCE_TORCH_THREADS
) -> Policy:
    """The policy of one spec (see the module docstring), checked against ``district``.

    Baselines: ``fixed_zone``, ``nearest``, ``pmedian``, ``coverage``, ``random``.
    Files: ``.zip`` (SB3 PPO/MaskablePPO; loading sets torch to ``torch_threads``
    threads), ``.onnx``, ``.yaml``/``.yml`` (beat plan); or an export folder
    (``policy.onnx`` + ``policy.json``).

    Raises
    ------
    PatrolMarlError
        For an unknown name, a missing file, a file that does not fit the
        district, or a name that a baseline already has.
    """
    name, target = split_name(spec)
    if name in BASELINES and name != target:
        raise PatrolMarlError(
            f"policy {spec!r}: {name!r} is a baseline's name; choose another NAME in NAME=SPEC"
        )
    policy = _load(target, district, seed, torch_threads)
    if name is not None:
        policy.name = name
    elif policy.name in BASELINES and _names_a_file(target):
        raise PatrolMarlError(
            f"policy {spec!r} would be called {policy.name!r}, as a baseline; "
            f"name it with NAME=PATH, e.g. my_{policy.name}={spec}"
        )
    return policy


def load_policies(
    specs: Sequence[str],
    district: District,
    seed: int = 0,
    torch_threads: int = INFERENCE_TORCH_THREADS,
) -> list[Policy]:
    """The policies of several specs, refusing two with the same name.

    Raises
    ------
    PatrolMarlError
        As :func:`load_policy`, and when two specs give policies of one name.
    """
    policies: list[Policy] = []
    spec_of: dict[str, str] = {}
    for spec in specs:
        policy = load_policy(spec, district, seed, torch_threads)
        if policy.name in spec_of:
            raise PatrolMarlError(
                f"policies {spec_of[policy.name]!r} and {spec!r} are both called "
                f"{policy.name!r}; name them with NAME=SPEC (e.g. a={spec_of[policy.name]},"
                f"b={spec})"
            )
        spec_of[policy.name] = spec
        policies.append(policy)
    return policies


def _names_a_file(spec: str) -> bool:
    """Whether ``spec`` is a policy file or folder (not a baseline)."""
    return Path(spec).suffix.lower() in FILE_KINDS or Path(spec).is_dir()


def _load(spec: str, district: District, seed: int, torch_threads: int) -> Policy:
    """The policy of a spec without a name prefix."""
    if is_baseline_spec(spec):
        return build_baseline(spec, seed=seed)
    path = Path(spec)
    if path.is_dir():
        if not (path / ONNX_FILE).is_file() or not (path / CARD_FILE).is_file():
            raise PatrolMarlError(
                f"{spec}: a folder, but not an export folder (no {ONNX_FILE} and {CARD_FILE}); "
                "make one with patrolmarl export RUN --out DIR"
            )
        return OnnxPolicy(path / ONNX_FILE, district, name=default_name(path))
    suffix = path.suffix.lower()
    if suffix not in FILE_KINDS:
        names = ", ".join(BASELINES)
        raise PatrolMarlError(
            f"unknown policy {spec!r}: use one of {names}, a .zip, .onnx or .yaml file, "
            "or an export folder"
        )
    if not path.exists():
        raise PatrolMarlError(f"{spec}: {FILE_KINDS[suffix]} file not found")
    name = default_name(path)
    if suffix == ".zip":
        return load_zip_policy(path, district, torch_threads=torch_threads, name=name)
    if suffix == ".onnx":
        return OnnxPolicy(path, district, name=name)
    return BeatPlanPolicy(load_beat_plan(path, district), seed=seed, name=name)
