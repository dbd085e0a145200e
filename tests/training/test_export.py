"""``patrolmarl export``: the ONNX file alone decides as the SB3 model does; card; errors."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
import yaml

from patrolmarl.agents.baselines import RandomPolicy
from patrolmarl.agents.learned import SB3ModelPolicy
from patrolmarl.agents.registry import load_policy
from patrolmarl.cli import main
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.envs.sim_view import SimView
from patrolmarl.errors import PatrolMarlError
from patrolmarl.evaluation.runner import day_seeds, run_policy
from patrolmarl.exported.contract import MASKED_LOGIT
from patrolmarl.exported.onnx_policy import OnnxPolicy
from patrolmarl.training import export
from patrolmarl.training.export import export_run

N_OBSERVATIONS = 1000


@pytest.fixture(scope="module")
def gaoxin() -> District:
    return District.load("gaoxin")


@pytest.fixture(scope="module")
def real_observations(gaoxin: District) -> tuple[np.ndarray, np.ndarray]:
    """1,000 raw observations and masks met by units under random allowed actions over a day.

    Up to half are rows where a call can be accepted, the rest from every 37th
    step, so that all the mask patterns are well represented.
    """
    sim = BatchedSim(gaoxin, batch_size=8)
    sim.reset(seeds=list(range(8)))
    builder = ObservationBuilder(sim)
    policy = RandomPolicy(seed=0)
    policy.bind(SimView(sim))
    with_calls, others = [], []
    for step in range(sim.n_steps):
        obs, masks = builder.observe(), sim.action_masks()
        can_accept = masks[..., 5:].any(axis=2)
        with_calls.append((obs[can_accept], masks[can_accept]))
        if step % 37 == 0:
            others.append((obs[~can_accept], masks[~can_accept]))
        sim.step(policy.act(obs, masks))
    half = N_OBSERVATIONS // 2
    calls_obs = np.concatenate([o for o, _ in with_calls])[:half]
    calls_masks = np.concatenate([m for _, m in with_calls])[:half]
    rest = N_OBSERVATIONS - calls_obs.shape[0]
    obs = np.concatenate([calls_obs, np.concatenate([o for o, _ in others])[:rest]])
    masks = np.concatenate([calls_masks, np.concatenate([m for _, m in others])[:rest]])
    assert obs.shape[0] == N_OBSERVATIONS
    assert masks[:, 5:].any(axis=1).sum() >= 200  # many rows where calls can be accepted
    return obs, masks


def _sb3_reference(run: Path, obs: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The SB3 model's masked log-probabilities and deterministic actions on raw ``obs``."""
    with open(run / "best_vecnormalize.pkl", "rb") as f:
        normalized = pickle.load(f).normalize_obs(obs)
    algorithm = yaml.safe_load((run / "config.yaml").read_text())["algorithm"]
    if algorithm == "maskable_ppo":
        from sb3_contrib import MaskablePPO

        model = MaskablePPO.load(run / "best.zip", device="cpu")
        with torch.no_grad():
            dist = model.policy.get_distribution(torch.as_tensor(normalized), action_masks=masks)
        actions, _ = model.predict(normalized, deterministic=True, action_masks=masks)
        return dist.distribution.logits.numpy(), actions
    from stable_baselines3 import PPO

    model = PPO.load(run / "best.zip", device="cpu")
    with torch.no_grad():
        logits = model.policy.get_distribution(torch.as_tensor(normalized)).distribution.logits
        masked = torch.where(torch.as_tensor(masks), logits, torch.tensor(MASKED_LOGIT))
        log_probs = torch.log_softmax(masked, dim=-1).numpy()
    return log_probs, np.argmax(log_probs, axis=1)


@pytest.mark.parametrize("algorithm", ["maskable_ppo", "ppo"])
def test_onnx_matches_sb3_on_real_observations(tiny_run, real_observations, tmp_path, algorithm):
    run = tiny_run(algorithm)
    out = export_run(run, tmp_path / "exports" / algorithm)
    obs, masks = real_observations
    session = onnxruntime.InferenceSession(str(out / "policy.onnx"))
    logits, actions = session.run(
        ["logits", "action"], {"observation": obs, "action_mask": masks.astype(np.float32)}
    )
    ref_logits, ref_actions = _sb3_reference(run, obs, masks)

    assert actions.dtype == np.int64 and actions.shape == (N_OBSERVATIONS,)
    agree = int((actions == ref_actions).sum())
    gap = float(np.abs(logits - ref_logits)[masks].max())
    accepting = int(masks[:, 5:].any(axis=1).sum())
    print(
        f"{algorithm}: actions agree on {agree}/{N_OBSERVATIONS} ({accepting} could accept a "
        f"call), max logit difference {gap:.2e}"
    )
    assert agree == N_OBSERVATIONS
    assert gap < 1e-5
    assert masks[np.arange(N_OBSERVATIONS), actions].all()
    assert (logits[~masks] < MASKED_LOGIT / 2).all()


@pytest.mark.parametrize("move_gains", [False, True])
def test_onnx_policy_runs_days_as_the_sb3_model(tiny_run, tmp_path, move_gains):
    run = tiny_run("maskable_ppo", move_gains)
    out = export_run(run, tmp_path / "tiny")
    card = json.loads((out / "policy.json").read_text())
    assert ("move_gains" in [f["name"] for f in card["observation"]["layout"]]) == move_gains
    district = District.load("gaoxin", episode_minutes=240, **{"call_types.noise.daily_rate": 300})
    # A shorter, busier day: a district variant, recorded as such beside copies of the models.
    onnx_policy = OnnxPolicy(_retarget_export(out, tmp_path / "short", district), district)
    sb3_policy = SB3ModelPolicy.from_file(
        _retarget_run(run, tmp_path / "short_run", district), district
    )
    assert onnx_policy.move_gains == sb3_policy.move_gains == move_gains
    seeds = day_seeds(0, 1)
    ours = run_policy(district, onnx_policy, seeds)
    theirs = run_policy(district, sb3_policy, seeds)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a.status, b.status)
        np.testing.assert_array_equal(a.unit, b.unit)
        np.testing.assert_array_equal(a.occupied_steps, b.occupied_steps)


def test_cli_export_then_evaluate(tiny_run, tmp_path, capsys):
    run = tiny_run("maskable_ppo")
    out = tmp_path / "exports" / "tiny"
    assert main(["export", str(run), "--out", str(out)]) == 0
    assert "policy.onnx" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "observation_tables.npz",
        "policy.json",
        "policy.onnx",
    ]
    # Exporting again replaces the earlier export.
    assert main(["export", str(run), "--out", str(out), "--model", "final"]) == 0
    assert json.loads((out / "policy.json").read_text())["source"]["model"] == "final.zip"
    assert [p.name for p in out.parent.iterdir()] == ["tiny"]  # no temporary folders left
    capsys.readouterr()

    argv = ["evaluate", "--policies", f"fixed_zone,{out}", "--days", "1"]  # the export folder
    assert main([*argv, "--out", str(tmp_path / "report"), "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert any(line.startswith("tiny ") for line in table.splitlines()), table


def _assert_one_line_error(capsys, argv: list[str], *pieces: str) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith("patrolmarl: error: "), err
    for piece in pieces:
        assert piece in err, (piece, err)


def _retarget_export(export: Path, to: Path, district: District) -> Path:
    """A copy of an export folder whose card names ``district``; returns its policy.onnx."""
    to.mkdir()
    card = json.loads((export / "policy.json").read_text())
    card["district"] |= {
        "name": district.name,
        "district_config_sha256": district.config_sha256,
        "config": district.config.model_dump(mode="json"),
    }
    (to / "policy.json").write_text(json.dumps(card))
    (to / "policy.onnx").write_bytes((export / "policy.onnx").read_bytes())
    return to / "policy.onnx"


def _retarget_run(run: Path, to: Path, district: District) -> Path:
    """A copy of a run's best model whose district.json names ``district``; returns its .zip."""
    _copy_run(run, to)
    record = {"district": district.name, "district_config_sha256": district.config_sha256}
    (to / "district.json").write_text(json.dumps(record))
    return to / "best.zip"


def _copy_run(run: Path, to: Path, without: tuple[str, ...] = ()) -> Path:
    to.mkdir()
    for name in ("config.yaml", "district.json", "best.zip", "best_vecnormalize.pkl"):
        if name not in without:
            (to / name).write_bytes((run / name).read_bytes())
    return to


def test_bad_run_folders(tiny_run, tmp_path, capsys):
    run = tiny_run("maskable_ppo")
    out = str(tmp_path / "out")
    _assert_one_line_error(capsys, ["export", str(tmp_path), "--out", out], "not a run folder")
    _assert_one_line_error(
        capsys, ["export", str(tmp_path / "nowhere"), "--out", out], "not a run folder"
    )
    no_model = _copy_run(run, tmp_path / "no_model", without=("best.zip",))
    _assert_one_line_error(capsys, ["export", str(no_model), "--out", out], "file not found")
    _assert_one_line_error(
        capsys, ["export", str(no_model), "--out", out, "--model", "last"], "--model"
    )
    corrupt = _copy_run(run, tmp_path / "corrupt")
    (corrupt / "best.zip").write_bytes(b"PK\x03\x04 not really a zip")
    _assert_one_line_error(capsys, ["export", str(corrupt), "--out", out], "best.zip")
    junk = _copy_run(run, tmp_path / "junk")
    with zipfile.ZipFile(junk / "best.zip", "w") as z:
        z.writestr("data", "{}")
    _assert_one_line_error(capsys, ["export", str(junk), "--out", out], "not a loadable")
    no_stats = _copy_run(run, tmp_path / "no_stats", without=("best_vecnormalize.pkl",))
    _assert_one_line_error(capsys, ["export", str(no_stats), "--out", out], "best_vecnormalize.pkl")
    bad_stats = _copy_run(run, tmp_path / "bad_stats")
    (bad_stats / "best_vecnormalize.pkl").write_bytes(b"not a pickle")
    _assert_one_line_error(capsys, ["export", str(bad_stats), "--out", out], "VecNormalize")
    _assert_one_line_error(capsys, ["export", str(run), "--out", str(run)], "not an earlier export")
    assert not (tmp_path / "out").exists()


def test_failed_export_leaves_nothing(tiny_run, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export.torch.onnx, "export", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        export_run(tiny_run("maskable_ppo"), tmp_path / "exports" / "x")
    assert list((tmp_path / "exports").iterdir()) == []


def test_a_model_for_other_observations_is_refused(tiny_run):
    run = tiny_run("maskable_ppo")
    fewer_calls = District.load("gaoxin", **{"simulation.observed_calls": 2})
    with pytest.raises(PatrolMarlError, match=r"expects observations of size \d+ .*with move"):
        SB3ModelPolicy.from_file(run / "best.zip", fewer_calls)


# ------------------------------------------------------------ loading rules of model files
def _other_gaoxin(tmp_path: Path) -> Path:
    """gaoxin with one more noise call a day: another district config, the same shapes."""
    raw = yaml.safe_load((Path(__file__).parents[2] / "configs/districts/gaoxin.yaml").read_text())
    raw["call_types"]["noise"]["daily_rate"] += 1
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_loading_a_zip_sets_the_inference_threads(tiny_run, gaoxin):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        load_policy(str(tiny_run("maskable_ppo") / "best.zip"), gaoxin)
        assert torch.get_num_threads() == 1  # the default, as training's torch_threads
        load_policy(str(tiny_run("maskable_ppo") / "best.zip"), gaoxin, torch_threads=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_zip_for_another_district_config_is_refused(tiny_run, tmp_path, capsys):
    run = tiny_run("maskable_ppo")
    other = str(_other_gaoxin(tmp_path))
    argv = ["simulate", "--district", other, "--policy", str(run / "best.zip")]
    _assert_one_line_error(
        capsys, argv, "best.zip: trained for another config of district 'gaoxin'", "district.json"
    )


def test_an_onnx_for_another_district_config_is_refused(tiny_run, tmp_path, capsys):
    out = export_run(tiny_run("maskable_ppo"), tmp_path / "tiny")
    other = str(_other_gaoxin(tmp_path))
    for spec in (out, out / "policy.onnx"):
        argv = ["simulate", "--district", other, "--policy", str(spec)]
        _assert_one_line_error(
            capsys, argv, "policy.onnx: trained for another config of district", "policy.json"
        )


def test_a_zip_without_a_district_record_is_refused(tiny_run, tmp_path, capsys):
    bare = _copy_run(tiny_run("maskable_ppo"), tmp_path / "bare", without=("district.json",))
    argv = ["simulate", "--policy", str(bare / "best.zip")]
    _assert_one_line_error(
        capsys, argv, "best.zip: no district.json", "district it was trained for is unknown"
    )
    onnx_only = tmp_path / "loose.onnx"
    onnx_only.write_bytes((export_run(tiny_run(), tmp_path / "x") / "policy.onnx").read_bytes())
    _assert_one_line_error(capsys, ["simulate", "--policy", str(onnx_only)], "no policy.json")


def test_the_district_record_of_a_parent_run_folder_counts(tiny_run, tmp_path, gaoxin):
    run = tmp_path / "run"
    run.mkdir()
    _copy_run(tiny_run("maskable_ppo"), run / "seed_3", without=("district.json",))
    (run / "district.json").write_bytes((tiny_run("maskable_ppo") / "district.json").read_bytes())
    assert load_policy(str(run / "seed_3" / "best.zip"), gaoxin).name == "seed_3/best"


def test_a_zip_without_its_statistics_is_refused(tiny_run, tmp_path, capsys, gaoxin):
    run = _copy_run(tiny_run("maskable_ppo"), tmp_path / "r", without=("best_vecnormalize.pkl",))
    argv = ["simulate", "--policy", str(run / "best.zip")]
    _assert_one_line_error(
        capsys, argv, "best.zip: no best_vecnormalize.pkl beside it", "normalised observations"
    )
    # A run that did not normalise observations needs no statistics.
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["normalize"]["observations"] = False
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    assert load_policy(str(run / "best.zip"), gaoxin).normalizer is None


def test_an_export_folder_is_a_policy_spec(tiny_run, tmp_path, gaoxin):
    out = export_run(tiny_run("maskable_ppo"), tmp_path / "exports" / "tiny")
    policy = load_policy(str(out), gaoxin)
    assert isinstance(policy, OnnxPolicy) and policy.name == "tiny"
    assert load_policy(str(out / "policy.onnx"), gaoxin).name == "tiny"
    assert load_policy(f"mine={out}", gaoxin).name == "mine"
    with pytest.raises(PatrolMarlError, match="not an export folder .*patrolmarl export"):
        load_policy(str(tmp_path / "exports"), gaoxin)
