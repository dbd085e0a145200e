"""Policies trained under the command centre's nearest-unit dispatch (``dispatch: nearest``):
imitation of the teacher's moves alone, the rule carried by the run, the model, the card
and the ONNX policy, and advice whose accepts are the command centre's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from patrolmarl.advise.recommend import load_advisor
from patrolmarl.advise.snapshot import situation
from patrolmarl.advise.validation import read_snapshot
from patrolmarl.agents.learned import SB3ModelPolicy
from patrolmarl.agents.policy import policy_dispatch
from patrolmarl.cli import main
from patrolmarl.envs.boundary_accepts import accept_nearest_unit
from patrolmarl.envs.dispatch_rule import AGENTS, NEAREST
from patrolmarl.envs.district import District
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import FIRST_ACCEPT
from patrolmarl.errors import PatrolMarlError
from patrolmarl.exported.onnx_policy import OnnxPolicy
from patrolmarl.training.export import export_run
from patrolmarl.training.imitation import demonstrations
from tests.helpers import short_busy_gaoxin
from tests.training.helpers import tiny_config, write_config

EXAMPLE = Path(__file__).resolve().parents[2] / "schemas" / "snapshot.example.json"


@pytest.fixture(scope="module")
def gaoxin() -> District:
    return District.load("gaoxin")


@pytest.fixture(scope="module")
def nearest_run(tiny_run, tmp_path_factory) -> Path:
    """A copy of the tiny run whose config says it trained under ``dispatch: nearest``."""
    run = tmp_path_factory.mktemp("nearest") / "run"
    shutil.copytree(tiny_run("maskable_ppo"), run)
    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    (run / "config.yaml").write_text(yaml.safe_dump(config | {"dispatch": "nearest"}))
    return run


def test_demonstrations_under_nearest_dispatch_are_moves_alone():
    district = short_busy_gaoxin()
    agents = demonstrations(district, "coverage", 1, seed=0, move_gains=False)
    moves = demonstrations(district, "coverage", 1, seed=0, move_gains=False, dispatch=NEAREST)
    assert (agents.actions >= FIRST_ACCEPT).any()  # the rule's accepts, written in
    assert not (moves.actions >= FIRST_ACCEPT).any()
    assert not moves.masks[:, FIRST_ACCEPT:].any()
    assert moves.masks[np.arange(moves.actions.size), moves.actions].all()


def test_a_teacher_of_another_rule_is_refused():
    with pytest.raises(PatrolMarlError, match="'random' dispatches by 'agents'"):
        demonstrations(short_busy_gaoxin(), "random", 1, seed=0, move_gains=False, dispatch=NEAREST)


def test_the_rule_travels_with_the_model_and_its_export(tiny_run, nearest_run, tmp_path, gaoxin):
    assert (
        SB3ModelPolicy.from_file(tiny_run("maskable_ppo") / "best.zip", gaoxin).dispatch is AGENTS
    )
    model = SB3ModelPolicy.from_file(nearest_run / "best.zip", gaoxin)
    assert policy_dispatch(model) is NEAREST
    out = export_run(nearest_run, tmp_path / "export")
    card = json.loads((out / "policy.json").read_text(encoding="utf-8"))
    assert card["dispatch"]["rule"] == "nearest"
    assert policy_dispatch(OnnxPolicy(out / "policy.onnx", gaoxin)) is NEAREST


def test_advice_of_a_nearest_policy_sends_the_nearest_units(nearest_run, tmp_path, gaoxin):
    advisor = load_advisor(export_run(nearest_run, tmp_path / "export"))
    advice = advisor.advice(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    sit = situation(read_snapshot(EXAMPLE, gaoxin), gaoxin)
    expected = accept_nearest_unit(SimView(sit.sim), np.zeros((1, gaoxin.n_units), np.int64))[0]
    accepts = {r.unit: r.call_id for r in advice.recommendations if r.kind == "accept"}
    nearest = {
        f"patrol_{n}": sit.calls[int(sit.sim.nearest_call[0, n, a - FIRST_ACCEPT])].id
        for n, a in enumerate(expected)
        if a >= FIRST_ACCEPT
    }
    assert accepts == nearest
    assert len(accepts) == len(sit.calls)  # the example has free units for every call


@pytest.mark.parametrize("rule", [{"rule": "zone"}, {"rule": 3}, "nearest"])
def test_a_card_with_an_unknown_rule_is_a_one_line_error(nearest_run, tmp_path, capsys, rule):
    out = export_run(nearest_run, tmp_path / "export")
    card_path = out / "policy.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card_path.write_text(json.dumps(card | {"dispatch": rule}), encoding="utf-8")
    assert main(["advise", "--policy", str(out), "--snapshot", str(EXAMPLE)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dispatch rule" in err[0] and "policy.json" in err[0]


def test_a_config_with_an_unknown_rule_is_a_one_line_error(tmp_path, capsys):
    config = write_config(tmp_path, tiny_config(tmp_path, dispatch="zone"))
    assert main(["train", "--config", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dispatch" in err[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_train_under_nearest_dispatch_through_the_cli(tmp_path, capsys, gaoxin):
    config = tiny_config(
        tmp_path,
        algorithm="maskable_ppo",
        dispatch="nearest",
        pretrain={"teacher": "coverage", "days": 1, "epochs": 1},
    )
    run = tmp_path / "run"
    assert (
        main(["train", "--config", str(write_config(tmp_path, config)), "--run-dir", str(run)]) == 0
    )
    out = capsys.readouterr().out
    assert "imitated coverage" in out and "of its accepts" not in out
    assert (
        yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))["dispatch"] == "nearest"
    )
    district = District.load(config["district"])
    assert SB3ModelPolicy.from_file(run / "best.zip", district).dispatch is NEAREST


@pytest.mark.parametrize("rule", [AGENTS, NEAREST])
def test_the_evaluation_during_training_runs_the_training_envs_rule(rule):
    from sb3_contrib import MaskablePPO

    from patrolmarl.envs.vec_env import PatrolVecEnv
    from patrolmarl.training.callbacks import policy_of

    district = short_busy_gaoxin()
    env = PatrolVecEnv(district, n_districts=1, seed=0, dispatch=rule)
    model = MaskablePPO("MlpPolicy", env, seed=0, device="cpu", policy_kwargs={"net_arch": [8]})
    assert policy_dispatch(policy_of(model, None, district)) is rule
