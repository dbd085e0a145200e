"""An ONNX file as a policy: fed by the contract's names, refused without them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from patrolmarl.envs.district import District
from patrolmarl.errors import PatrolMarlError
from patrolmarl.exported.card import make_card
from patrolmarl.exported.contract import (
    CARD_FILE,
    LOGITS_OUTPUT,
    MASK_INPUT,
    OBSERVATION_INPUT,
    ONNX_FILE,
)
from patrolmarl.exported.onnx_policy import OnnxPolicy


@pytest.fixture(scope="module")
def gaoxin() -> District:
    return District.load("gaoxin")


def _export_folder(
    tmp_path: Path, district: District, inputs: list[str], output: str = LOGITS_OUTPUT
) -> Path:
    """A folder with a card and an ONNX graph whose logits are the mask's columns
    (so the policy takes the last allowed action), with inputs in the order given."""
    card = make_card(district, {}, {}, None, None, opset=17)
    size, n_actions = card["observation"]["size"], card["actions"]["count"]
    widths = {OBSERVATION_INPUT: size, MASK_INPUT: n_actions}
    values = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", widths.get(name, size)])
        for name in inputs
    ]
    ramp = helper.make_tensor("ramp", TensorProto.FLOAT, [n_actions], range(n_actions))
    nodes = [
        helper.make_node(
            "Mul", [MASK_INPUT if MASK_INPUT in inputs else inputs[0], "ramp"], [output]
        )
    ]
    out = helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", n_actions])
    graph = helper.make_graph(nodes, "ramp", values, [out], initializer=[ramp])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder = tmp_path / "export"
    folder.mkdir()
    onnx.save(model, folder / ONNX_FILE)
    (folder / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    return folder / ONNX_FILE


def test_inputs_are_fed_by_name_in_any_order(tmp_path, gaoxin):
    path = _export_folder(tmp_path, gaoxin, [MASK_INPUT, OBSERVATION_INPUT])
    policy = OnnxPolicy(path, gaoxin)
    masks = np.zeros((1, 2, 9), dtype=bool)
    masks[0, 0, [0, 3]] = True
    masks[0, 1, [0, 1, 6]] = True
    obs = np.zeros((1, 2, policy._session.get_inputs()[1].shape[1]), dtype=np.float32)
    np.testing.assert_array_equal(policy.act(obs, masks), [[3, 6]])


@pytest.mark.parametrize(
    "inputs, output",
    [(["obs", MASK_INPUT], LOGITS_OUTPUT), ([OBSERVATION_INPUT, MASK_INPUT], "scores")],
)
def test_a_graph_without_the_contracts_names_is_refused(tmp_path, gaoxin, inputs, output):
    path = _export_folder(tmp_path, gaoxin, inputs, output)
    with pytest.raises(PatrolMarlError) as info:
        OnnxPolicy(path, gaoxin)
    message = str(info.value)
    assert message.startswith(f"{path}: ONNX model has inputs ") and "\n" not in message
    assert f"a policy takes {OBSERVATION_INPUT!r} (and {MASK_INPUT!r}) and gives" in message
