"""The policy card: written by ``patrolmarl export``, its layout the simulator's own."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest
import yaml

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import (
    ObservationBuilder,
    observation_bounds,
    observation_layout,
    state_bounds,
)
from patrolmarl.exported.card import action_meanings, make_card
from patrolmarl.exported.contract import FORMAT_VERSION
from patrolmarl.training.export import export_run


@pytest.fixture(scope="module")
def gaoxin() -> District:
    return District.load("gaoxin")


def test_policy_card(tiny_run, gaoxin, tmp_path):
    run = tiny_run("maskable_ppo")
    out = export_run(run, tmp_path / "card", model="final")
    card = json.loads((out / "policy.json").read_text())
    builder = ObservationBuilder(BatchedSim(gaoxin))

    assert card["format_version"] == FORMAT_VERSION
    assert card["district"]["name"] == "gaoxin"
    assert card["district"]["district_config_sha256"] == gaoxin.config_sha256
    assert card["observation"]["size"] == builder.size
    assert card["observation"]["layout"] == [
        {"name": f.name, "start": f.start, "stop": f.stop, "meaning": f.meaning}
        for f in builder.layout
    ]
    assert card["actions"] == {"count": 9, "meanings": action_meanings(4)}
    assert card["actions"]["meanings"][1].startswith("move north")
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert card["training"] == {"seed": 3, "config": config}
    assert card["source"]["model"] == "final.zip"
    assert card["source"]["num_timesteps"] >= 1792
    assert card["observation"]["normalization"]["clip"] == 10.0
    assert set(card["observation"]["fields"]) == {f.name for f in builder.layout}
    arrays = card["observation"]["tables"]["arrays"]
    with np.load(out / card["observation"]["tables"]["file"]) as tables:
        assert set(tables.files) == set(arrays)
        for name, entry in arrays.items():
            assert [list(tables[name].shape), str(tables[name].dtype)] == [
                entry["shape"],
                entry["dtype"],
            ]
    policies = card["evaluation"]["policies"]
    assert policies["ppo"] == {"response_mean": 4.0, "thefts_per_day": None}
    assert set(policies) == {"fixed_zone", "ppo"}
    session = onnxruntime.InferenceSession(str(out / "policy.onnx"))
    assert [i["name"] for i in card["onnx"]["inputs"]] == [i.name for i in session.get_inputs()]
    assert [o["name"] for o in card["onnx"]["outputs"]] == [o.name for o in session.get_outputs()]
    assert session.get_inputs()[0].shape == ["batch", builder.size]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"simulation.observed_calls": 2},
        {"simulation.coarse_block_cells": 3, "simulation.local_radius_cells": 3},
    ],
)
@pytest.mark.parametrize("move_gains", [False, True])
def test_the_static_layout_is_the_builders(overrides, move_gains):
    district = District.load("gaoxin", **overrides)
    sim = BatchedSim(district, batch_size=2)
    sim.reset(seeds=[5, 6])
    builder = ObservationBuilder(sim, move_gains=move_gains)
    layout = observation_layout(district, move_gains)
    assert layout == builder.layout and layout.size == builder.size
    assert make_card(district, {}, {}, None, None, 17, move_gains)["actions"]["count"] == (
        sim.n_actions
    )
    low, high = observation_bounds(layout)
    s_low, s_high = state_bounds(district)
    for _ in range(30):
        obs, state = builder.observe(), builder.state()
        assert obs.shape[-1] == low.size and state.shape[-1] == s_low.size
        assert ((obs >= low) & (obs <= high)).all()
        assert ((state >= s_low) & (state <= s_high)).all()
        sim.step(np.zeros((2, sim.n_units), dtype=np.int64))
