"""``patrolmarl train`` end to end, in-process: run folder, tensorboard, report, errors.

Tiny runs (see :mod:`tests.training.helpers`).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from tests.helpers import assert_one_line_error, run_cli
from tests.training.helpers import TIMESTEPS, scalars, tiny_config, write_config

# ------------------------------------------------------------------------ a whole run
THEFT_MINUTES = 45.0  # lambda of the combined cost (not the default 60)


@pytest.fixture(scope="module", params=["ppo", "maskable_ppo"])
def trained(request, tmp_path_factory):
    """One tiny run per algorithm through the CLI: (algorithm, folder, run_dir, exit, out, err)."""
    algorithm = request.param
    folder = tmp_path_factory.mktemp(algorithm)
    settings = tiny_config(folder, algorithm)
    settings["eval"]["theft_minutes"] = THEFT_MINUTES
    config = write_config(folder, settings)
    run_dir = folder / "run"
    code, out, err = run_cli("train", "--config", config, "--run-dir", run_dir, "--no-progress")
    return algorithm, folder, run_dir, code, out, err


def test_run_folder_layout(trained):
    algorithm, _, run_dir, code, out, err = trained
    assert code == 0, err
    assert "Traceback" not in err
    # Stdout ends with a short summary for people; final.json is the machine record.
    lines = out.splitlines()
    assert lines[-1] == f"report: {run_dir / 'report' / 'report.html'}"
    assert "{" not in out
    table = [line.split() for line in lines if line.startswith("  ") and " - " not in line]
    rows = {cells[0]: cells[1:] for cells in table}
    assert {"ppo", "fixed_zone", "nearest"} <= set(rows)
    response = json.loads((run_dir / "final.json").read_text())["summary"]["response_mean"]
    assert rows["ppo"][0] == f"{response:.2f}"
    assert any(line.startswith("  ppo - nearest: response ") for line in lines)
    # 4,000 agent-steps are 9 rollouts of 32 steps x 14 slots, and training says so.
    assert "4,000 agent-steps rounded up to 4,032 = 9 rollouts of 448" in out
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["algorithm"] == algorithm and saved["total_timesteps"] == TIMESTEPS
    for name in ("best.zip", "best_vecnormalize.pkl", "final.zip", "final.json"):
        assert (run_dir / name).is_file(), name
    final = json.loads((run_dir / "final.json").read_text())
    assert final["summary"]["days"] == 1 and "response_mean" in final["summary"]
    assert final["policies"]["ppo"]["response_mean"] == final["summary"]["response_mean"]
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith((".tmp", ".tmp.zip"))]
    assert set(final["vs_baselines"]) == {"nearest"}  # the config's final_baselines
    # One final day is too few for an interval, and the record says so.
    difference = final["vs_baselines"]["nearest"]["response_mean"]
    assert difference["ci_low"] is None and difference["ci_high"] is None
    assert difference["interval_note"] == "too few days for an interval"
    # The combined cost at the config's lambda throughout the record.
    summary = final["summary"]
    thefts = THEFT_MINUTES * summary["thefts"]
    cost = summary["response_mean"] * summary["served_by_patrol"] + thefts
    assert final["theft_minutes"] == THEFT_MINUTES
    assert summary["combined_cost_per_day"] == pytest.approx(cost, rel=1e-12)
    assert final["policies"]["ppo"]["combined_cost_per_day"] == summary["combined_cost_per_day"]
    assert "combined_cost_per_day" in final["vs_fixed_zone"]
    assert "combined_cost_per_day" in final["vs_baselines"]["nearest"]
    assert rows["ppo"][-1] == f"{cost:.2f}"
    assert any("combined cost = response minutes + 45 min per theft:" in line for line in lines)
    assert any(line.startswith("  ppo - nearest: ") and "cost/day" in line for line in lines)
    expected = summary["response_mean"] * summary["served_by_patrol"]
    expected += THEFT_MINUTES * summary["expected_thefts"]
    assert summary["expected_cost_per_day"] == pytest.approx(expected, rel=1e-12)
    nearest_line = next(line for line in lines if line.startswith("  ppo - nearest: "))
    assert "expected cost/day" in nearest_line

    latest = (run_dir / "checkpoints" / "latest").read_text().strip()
    step = run_dir / "checkpoints" / latest
    assert step.is_dir() and latest.startswith("step_")
    for name in ("model.zip", "vecnormalize.pkl", "rng.pt", "state.json"):
        assert (step / name).is_file(), name
    state = json.loads((step / "state.json").read_text())
    assert state["num_timesteps"] >= TIMESTEPS
    assert latest == f"step_{state['num_timesteps']}"
    assert state["config"]["algorithm"] == algorithm
    assert np.isfinite(state["best_score"])
    assert not list((run_dir / "checkpoints").glob(".tmp-*"))

    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    assert set(metrics["policies"]) == {"ppo", "fixed_zone", "nearest"}
    assert metrics["days"] == 1
    assert (run_dir / "report" / "report.html").is_file()


def test_tensorboard_scalars(trained):
    _, _, run_dir, code, _, err = trained
    assert code == 0, err
    runs = [p for p in (run_dir / "tb").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    assert list(runs[0].glob("events.out.tfevents.*"))
    tags = scalars(runs[0])
    # At least one simulated day finished during training: domain scalars were logged.
    assert tags.get("patrol/response_mean"), sorted(tags)
    assert all(np.isfinite(v) and v > 0 for _, v in tags["patrol/response_mean"])
    assert tags["patrol/days_finished"][0][1] >= 1
    assert len(tags.get("eval/score", [])) >= 2, sorted(tags)  # eval.freq 1500 of 4000
    assert tags.get("time/fps") and tags.get("train/loss")


def test_best_model_loads_and_evaluates(trained):
    algorithm, folder, run_dir, code, _, err = trained
    assert code == 0, err
    from patrolmarl.agents.registry import load_policy
    from patrolmarl.envs.district import District

    district = District.load(folder / "district.yaml")
    policy = load_policy(str(run_dir / "best.zip"), district)
    assert type(policy.model).__name__ == {"ppo": "PPO", "maskable_ppo": "MaskablePPO"}[algorithm]
    assert policy.normalizer is not None  # best_vecnormalize.pkl was picked up

    out_dir = folder / "evaluation"
    code, out, err = run_cli(
        "evaluate",
        "--district",
        folder / "district.yaml",
        "--policies",
        f"fixed_zone,{run_dir / 'best.zip'}",
        "--days",
        "1",
        "--out",
        out_dir,
        "--no-progress",
    )
    assert code == 0, err
    assert "report:" in out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    # A model named best.zip is called after its run folder too.
    assert set(metrics["policies"]) == {"fixed_zone", f"{run_dir.name}/best"}


def test_fresh_run_into_existing_run_is_refused(trained):
    _, folder, run_dir, code, _, err = trained
    assert code == 0, err
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
    config_text = (run_dir / "config.yaml").read_text()
    code, out, err = run_cli(
        "train", "--config", folder / "tiny.yaml", "--run-dir", run_dir, "--no-progress"
    )
    assert_one_line_error(code, out, err, str(run_dir), "--resume")
    assert out == ""
    assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == before
    assert (run_dir / "config.yaml").read_text() == config_text


# ------------------------------------------------------------------------ several seeds
@pytest.mark.slow
def test_several_seeds(tmp_path):
    config = write_config(tmp_path, tiny_config(tmp_path))
    run_dir = tmp_path / "seeds"
    code, out, err = run_cli(
        "train",
        "--config",
        config,
        "--run-dir",
        run_dir,
        "--seeds",
        "0,1",
        "--timesteps",
        "900",
        "--no-progress",
    )
    assert code == 0, err
    for seed in (0, 1):
        seed_dir = run_dir / f"seed_{seed}"
        assert (seed_dir / "best.zip").is_file() and (seed_dir / "final.zip").is_file()
        assert yaml.safe_load((seed_dir / "config.yaml").read_text())["seed"] == seed
        assert json.loads((seed_dir / "final.json").read_text())["seed"] == seed
    assert json.loads((run_dir / "seeds.json").read_text()) == [0, 1]
    summary = json.loads((run_dir / "seeds_summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    row = summary["metrics"]["response_mean"]
    assert len(row["values"]) == 2
    assert row["mean"] == pytest.approx(np.mean(row["values"]))
    assert row["std"] == pytest.approx(np.std(row["values"], ddof=1))
    assert "response_mean" in out and "over seeds [0, 1]" in out

    # A fresh set of seeds into the same folder is refused and changes nothing.
    files = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    for argv in (["--seeds", "2,3"], ["--seeds", "0,1"], []):
        code, out, err = run_cli(
            "train", "--config", config, "--run-dir", run_dir, "--no-progress", *argv
        )
        assert_one_line_error(code, out, err, str(run_dir), "--resume")
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == files


# ------------------------------------------------------------------------ credit
@pytest.mark.slow
def test_a_run_trains_with_difference_all_credit(tmp_path):
    settings = tiny_config(tmp_path, reward={"credit": "difference_all"}, dispatch="nearest")
    config = write_config(tmp_path, settings)
    run_dir = tmp_path / "run"
    code, out, err = run_cli(
        "train", "--config", config, "--run-dir", run_dir, "--timesteps", "448", "--no-progress"
    )
    assert code == 0, err
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["reward"]["credit"] == (
        "difference_all"
    )
    assert (run_dir / "final.zip").is_file()


# ------------------------------------------------------------------------ bad input
BAD_CONFIGS = {
    "unknown field": ({"ppo": {"n_stepz": 32}}, ["ppo.n_stepz", "unknown field"]),
    "unknown top-level field": ({"colour": "red"}, ["colour", "unknown field"]),
    "negative learning rate": (
        {"ppo": {"learning_rate": -0.001}},
        ["ppo.learning_rate", "greater than 0"],
    ),
    "unknown algorithm": ({"algorithm": "dqn"}, ["algorithm"]),
    "zero timesteps": ({"total_timesteps": 0}, ["total_timesteps"]),
    "final days not held out": (
        {"eval": {"seed": 7, "final_seed": 7}},
        ["eval", "final_seed must differ from seed"],
    ),
    "unknown teacher": ({"pretrain": {"teacher": "oracle"}}, ["pretrain.teacher"]),
    "demonstrations on evaluation days": (
        {"seed": 2081, "pretrain": {"teacher": "coverage"}},
        ["seed 2081", "would be evaluation days"],
    ),
    # Values that pass field by field but used to crash mid-run (issue 17, item 9).
    "no score weights": ({"eval": {"score_weights": {}}}, ["eval.score_weights", "positive"]),
    "zero score weights": (
        {"eval": {"score_weights": {"response_mean": 0.0, "thefts_per_day": 0.0}}},
        ["eval.score_weights", "positive"],
    ),
    "unknown score metric": (
        {"eval": {"score_weights": {"combined_cost_per_day": 1.0, "bogus": 1.0}}},
        ["eval.score_weights.bogus", "'combined_cost_per_day'", "got 'bogus'"],
    ),
    "negative theft minutes": ({"eval": {"theft_minutes": -1}}, ["eval.theft_minutes"]),
    "infinite theft minutes": ({"eval": {"theft_minutes": float("inf")}}, ["eval.theft_minutes"]),
    "theft minutes as text": ({"eval": {"theft_minutes": "sixty"}}, ["eval.theft_minutes"]),
    "fixed_zone as a final baseline": (
        {"eval": {"final_baselines": ["fixed_zone"]}},
        ["eval.final_baselines.0", "'redeploy'", "got 'fixed_zone'"],
    ),
    "batch of one": (
        {"ppo": {"n_steps": 32, "batch_size": 1}},
        ["ppo.batch_size", "at least 2"],
    ),
    "batch larger than the rollout": (
        {"ppo": {"n_steps": 32, "batch_size": 1000}},
        ["ppo.batch_size", "must divide the rollout", "= 448 samples"],
    ),
    "batch not dividing the rollout": (
        {"ppo": {"n_steps": 32, "batch_size": 60}},
        ["ppo.batch_size", "must divide the rollout"],
    ),
    "infinite learning rate": (
        {"ppo": {"n_steps": 32, "batch_size": 64, "learning_rate": float("inf")}},
        ["ppo.learning_rate"],
    ),
    "infinite entropy coefficient": (
        {"ppo": {"n_steps": 32, "batch_size": 64, "ent_coef": float("inf")}},
        ["ppo.ent_coef"],
    ),
    "infinite reward weight": ({"reward": {"theft": float("inf")}}, ["reward.theft"]),
    "seed beyond numpy's": ({"seed": 2**32}, ["seed", "4294967295"]),
}


@pytest.mark.parametrize("kind", sorted(BAD_CONFIGS))
def test_bad_train_config(tmp_path, kind):
    changes, pieces = BAD_CONFIGS[kind]
    config = tiny_config(tmp_path)
    config.update(changes)
    path = write_config(tmp_path, config, "bad.yaml")
    run_dir = tmp_path / "run"
    code, out, err = run_cli("train", "--config", path, "--run-dir", run_dir, "--no-progress")
    assert_one_line_error(code, out, err, str(path), *pieces)
    assert out == ""
    assert not run_dir.exists()


def test_selection_by_combined_cost_and_every_baseline_are_accepted(tmp_path):
    from patrolmarl.agents.baselines import BASELINES
    from patrolmarl.training.config import load_train_config

    config = tiny_config(tmp_path)
    config["eval"] |= {
        "score_weights": {"combined_cost_per_day": 1.0},
        "theft_minutes": 30,
        "final_baselines": ["pmedian_theft", "redeploy", "coverage", "random", "pmedian"],
    }
    settings = load_train_config(write_config(tmp_path, config)).eval
    assert settings.score_weights == {"combined_cost_per_day": 1.0}
    assert settings.theft_minutes == 30.0
    assert settings.final_baselines == [
        "pmedian_theft",
        "redeploy",
        "coverage",
        "random",
        "pmedian",
    ]
    every = [name for name in BASELINES if name != "fixed_zone"]
    config["eval"] = {"final_baselines": every}  # the default lambda: the reward's theft weight
    settings = load_train_config(write_config(tmp_path, config)).eval
    assert settings.final_baselines == every and settings.theft_minutes == 60.0


@pytest.mark.parametrize(
    "text", ["algorithm: ppo\nppo: {n_steps: [unclosed\n", "- a\n- list\n"], ids=["yaml", "list"]
)
def test_malformed_train_config(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, out, err = run_cli("train", "--config", path, "--run-dir", tmp_path / "run")
    assert_one_line_error(code, out, err, str(path))
    assert not (tmp_path / "run").exists()


def test_missing_train_config(tmp_path):
    path = tmp_path / "missing.yaml"
    code, out, err = run_cli("train", "--config", path, "--run-dir", tmp_path / "run")
    assert_one_line_error(code, out, err, str(path), "not found")


def test_bad_district_in_train_config(tmp_path):
    path = write_config(tmp_path, tiny_config(tmp_path, district=str(tmp_path / "nope.yaml")))
    code, out, err = run_cli("train", "--config", path, "--run-dir", tmp_path / "run")
    assert_one_line_error(code, out, err, "nope.yaml", "not found")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("seeds", ["4294967296", "1,1", "-1", "1,x"])
def test_bad_seeds_flag(tmp_path, seeds):
    config = write_config(tmp_path, tiny_config(tmp_path))
    code, out, err = run_cli(
        "train", "--config", config, "--run-dir", tmp_path / "run", "--seeds", seeds
    )
    assert_one_line_error(code, out, err, "--seeds", repr(seeds))
    assert not (tmp_path / "run").exists()


def test_train_needs_a_config(tmp_path):
    code, out, err = run_cli("train", "--run-dir", tmp_path / "run")
    assert_one_line_error(code, out, err, "--config")


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    code, out, err = run_cli("train", "--resume", tmp_path)
    assert_one_line_error(code, out, err, str(tmp_path), "not a run folder")
    code, out, err = run_cli("train", "--resume", tmp_path / "missing")
    assert_one_line_error(code, out, err, "missing", "not a run folder")
    # A config.yaml but no checkpoint: nothing to resume from.
    write_config(tmp_path, tiny_config(tmp_path), "config.yaml")
    code, out, err = run_cli("train", "--resume", tmp_path, "--no-progress")
    assert_one_line_error(code, out, err, str(tmp_path), "no checkpoint")
    assert not (tmp_path / "checkpoints").exists()


def test_resume_takes_no_config(tmp_path):
    config = write_config(tmp_path, tiny_config(tmp_path))
    code, out, err = run_cli("train", "--resume", tmp_path, "--config", config)
    assert_one_line_error(code, out, err, "--resume")


def test_relative_score_when_the_baseline_scores_zero():
    """Short evaluation days often have no theft at all: no ZeroDivisionError mid-training."""
    from patrolmarl.training.callbacks import relative_score

    weights = {"response_mean": 0.5, "thefts_per_day": 0.5}
    base = {"response_mean": 4.0, "thefts_per_day": 0.0}
    assert relative_score({"response_mean": 6.0, "thefts_per_day": 0.0}, base, weights) == 1.25
    assert relative_score({"response_mean": 2.0, "thefts_per_day": 1.0}, base, weights) == np.inf
    assert (
        relative_score(
            {"response_mean": 8.0, "thefts_per_day": 1.0},
            base,
            {"response_mean": 1.0, "thefts_per_day": 0.0},
        )
        == 2.0
    )


def test_rounding_note():
    """ppo.yaml's rollout is 16 districts x 14 units x 128 steps = 28,672 agent-steps."""
    from patrolmarl.training.train import rounding_note

    assert rounding_note(60_000, 0, 28_672) == (
        "60,000 agent-steps rounded up to 86,016 = 3 rollouts of 28,672"
    )
    assert rounding_note(57_344, 0, 28_672) == "training 57,344 agent-steps = 2 rollouts of 28,672"
    assert rounding_note(1_000, 448, 448) == (
        "1,000 agent-steps rounded up to 1,344 = 448 + 2 rollouts of 448"
    )
    assert (
        rounding_note(500, 448, 448) == "500 agent-steps rounded up to 896 = 448 + 1 rollout of 448"
    )
