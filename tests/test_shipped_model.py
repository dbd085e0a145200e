"""The policy that ships in ``models/gaoxin``: for the built-in district, loadable by every
command that takes a policy, one model in two formats, and the result docs/results.md reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from patrolmarl.agents.registry import load_policy
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.envs.sim_view import SimView
from patrolmarl.evaluation.runner import day_seeds
from patrolmarl.training.config import TrainConfig, load_train_config

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "gaoxin"
RESULT = ROOT / "docs" / "results" / "gaoxin_ppo_nearest_scratch_credit_theft240"
CONFIG = ROOT / "configs" / "train" / "gaoxin_ppo_nearest_scratch_credit_theft240.yaml"


@pytest.fixture(scope="module")
def gaoxin() -> District:
    return District.load("gaoxin")


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads((SHIPPED / "policy.json").read_text())


def test_its_card_names_the_built_in_district(card, gaoxin):
    assert card["district"]["district_config_sha256"] == gaoxin.config_sha256
    record = json.loads((SHIPPED / "district.json").read_text())
    assert record["district_config_sha256"] == gaoxin.config_sha256


def test_it_is_the_committed_result_of_the_committed_config(card):
    """Refreshed together: a new result in docs/results or a changed config fails here
    until models/gaoxin is exported again from that run. Settings added since the export
    read as their defaults, which are the behaviour the run had."""
    exported = TrainConfig.model_validate(card["training"]["config"])
    assert exported.model_dump(mode="json") == load_train_config(CONFIG).model_dump(mode="json")
    metrics = json.loads((RESULT / "metrics.json").read_text())
    reported = {name: entry["summary"] for name, entry in metrics["policies"].items()}
    assert card["evaluation"]["policies"] == json.loads(json.dumps(reported))
    assert card["evaluation"]["seed"] == metrics["seed"]


@pytest.mark.parametrize("spec", ["models/gaoxin", "models/gaoxin/policy.onnx"])
def test_commands_load_it_as_an_export(spec, gaoxin):
    policy = load_policy(str(ROOT / spec), gaoxin)
    assert policy.name in ("gaoxin", "policy")


def test_the_zip_and_the_onnx_export_take_the_same_actions(gaoxin):
    """Two simulated hours of two days: every unit's action through each format."""
    zipped = load_policy(str(SHIPPED / "best.zip"), gaoxin)
    exported = load_policy(str(SHIPPED / "policy.onnx"), gaoxin)
    assert zipped.move_gains and exported.move_gains  # the committed config observes them
    sim = BatchedSim(gaoxin, batch_size=2)
    for policy in (zipped, exported):
        policy.bind(SimView(sim))
    sim.reset(seeds=day_seeds(7, 2))
    builder = ObservationBuilder(sim, move_gains=True)
    moved = 0
    for _ in range(120):
        observations, masks = builder.observe(), sim.action_masks()
        actions = zipped.act(observations, masks)
        np.testing.assert_array_equal(actions, exported.act(observations, masks))
        moved += int((actions > 0).sum())
        sim.step(actions)
    assert moved > 0  # the comparison saw decisions, not only "stay"
