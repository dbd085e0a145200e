"""The design's import directions: envs <- agents <- training/evaluation <- beats/advise <- cli;
exported depends on envs alone; the batched core and advice load without the heavy stacks."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "patrolmarl"
ABOVE_ENVS = ("agents", "training", "evaluation", "beats", "exported", "advise", "data", "cli")
# What the exported room may use besides itself: the simulator parts and the input helpers.
EXPORTED_MAY_USE = ("envs", "exported", "errors", "input_files", "config_types")
HEAVY = ("torch", "stable_baselines3", "sb3_contrib", "tensorboard", "pettingzoo")
# Moved to envs by another branch (wt-coverage): SimView's home.


def _patrolmarl_imports(path: Path) -> set[str]:
    """The ``patrolmarl.*`` modules a file imports anywhere (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("patrolmarl.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("patrolmarl."):
                found.add(node.module)
    return found


def _room(module: str) -> str:
    """``patrolmarl.envs.core`` -> ``envs``."""
    return module.split(".")[1]


def _files(room: str) -> list[pytest.param]:
    return [pytest.param(path, id=path.name) for path in sorted((PACKAGE / room).glob("*.py"))]


@pytest.mark.parametrize("path", _files("envs"))
def test_envs_imports_nothing_above_it(path):
    above = {m for m in _patrolmarl_imports(path) if _room(m) in ABOVE_ENVS}
    assert not above, f"{path.name} imports {sorted(above)}"


@pytest.mark.parametrize("path", _files("exported"))
def test_exported_imports_only_envs(path):
    other = {m for m in _patrolmarl_imports(path) if _room(m) not in EXPORTED_MAY_USE}
    assert not other, f"{path.name} imports {sorted(other)}"


def _loaded_by(*modules: str) -> set[str]:
    """Every module loaded by importing ``modules`` in a fresh interpreter."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def _tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_the_core_loads_without_pettingzoo_torch_or_the_evaluator():
    loaded = _loaded_by("patrolmarl.envs.core")
    assert not _tops(loaded) & {"pettingzoo", "torch", "stable_baselines3", "sb3_contrib"}
    assert not {m for m in loaded if m.startswith("patrolmarl.evaluation")}


def test_the_policy_registry_loads_without_the_training_stack():
    # Macro-action models are evaluated through it (agents.macro_policy, envs.post_orders).
    loaded = _loaded_by("patrolmarl.agents.registry")
    assert "patrolmarl.agents.macro_policy" in loaded
    assert not _tops(loaded) & set(HEAVY)


def test_advise_loads_neither_the_evaluator_nor_the_training_stack():
    loaded = _loaded_by("patrolmarl.advise")
    assert not {m for m in loaded if m.startswith(("patrolmarl.evaluation", "patrolmarl.agents"))}
    assert not _tops(loaded) & set(HEAVY)


def test_the_exported_room_loads_only_envs():
    modules = [f"patrolmarl.exported.{p.stem}" for p in (PACKAGE / "exported").glob("[!_]*.py")]
    loaded = _loaded_by(*modules)
    ours = {m for m in loaded if m.startswith("patrolmarl.") and m != "patrolmarl"}
    # envs reads its district files with the YAML helper.
    allowed = (*EXPORTED_MAY_USE, "yaml_config")
    assert {m for m in ours if _room(m) not in allowed} == set()
    assert not _tops(loaded) & set(HEAVY)
    assert "onnxruntime" not in _tops(loaded)  # loaded when a policy is, not on import


def test_only_the_serve_module_loads_the_web_stack():
    loaded = _tops(_loaded_by("patrolmarl.advise", "patrolmarl.cli"))
    assert not loaded & {"fastapi", "starlette", "uvicorn"}
    assert {"fastapi", "uvicorn"} <= _tops(_loaded_by("patrolmarl.advise.serve"))
