"""Seeds through Ray give the numbers of seeds one by one; the summary across seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from patrolmarl.training.config import TrainConfig
from patrolmarl.training.seed_summary import (
    bootstrap_mean_interval,
    evaluation_curve,
    seeds_summary,
)
from patrolmarl.training.train import train_seeds
from tests.training.helpers import tiny_config


@pytest.mark.slow
def test_parallel_seeds_match_sequential_seeds(tmp_path):
    pytest.importorskip("ray")
    raw = tiny_config(tmp_path, total_timesteps=900, checkpoint_freq=448)
    raw["eval"]["freq"] = 400
    config = TrainConfig.model_validate(raw)
    said: list[str] = []
    sequential = train_seeds(
        config, [0, 1], tmp_path / "one_by_one", say=said.append, parallel=False
    )
    parallel = train_seeds(config, [0, 1], tmp_path / "ray", say=said.append, parallel=True)
    assert any("through Ray" in line for line in said)
    for seed in (0, 1):
        one, other = (
            json.loads((tmp_path / name / f"seed_{seed}" / "final.json").read_text())
            for name in ("one_by_one", "ray")
        )
        assert one["seed"] == other["seed"] == seed
        assert one["summary"] == other["summary"]  # same seed, same numbers
        assert one["vs_fixed_zone"] == other["vs_fixed_zone"]
        curves = [
            evaluation_curve(tmp_path / name / f"seed_{seed}", "score")
            for name in ("one_by_one", "ray")
        ]
        assert curves[0] == curves[1] and len(curves[0]) == 3
    assert sequential["metrics"] == parallel["metrics"]
    assert sequential["curves"] == parallel["curves"]
    # Seeds differ from each other, and the rounding to whole rollouts was said.
    assert sequential["metrics"]["response_mean"]["values"][0] != pytest.approx(
        sequential["metrics"]["response_mean"]["values"][1]
    )
    rounding = "total_timesteps 900 rounds up to 1,344: whole rollouts of 448 agent-steps"
    assert rounding in said
    assert rounding in (tmp_path / "ray" / "seed_1" / "train.log").read_text()

    row = parallel["metrics"]["response_mean"]
    assert (
        min(row["values"]) <= row["ci_low"] <= row["mean"] <= row["ci_high"] <= max(row["values"])
    )
    curve = parallel["curves"]["score"]
    assert len(curve["timesteps"]) == 3 and len(curve["per_seed"]) == 2
    assert np.allclose(curve["mean"], np.mean(curve["per_seed"], axis=0))
    assert (tmp_path / "ray" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_bootstrap_interval_of_the_mean():
    rng = np.random.default_rng(0)
    assert bootstrap_mean_interval(np.array([2.0, 2.0, 2.0]), rng) == (2.0, 2.0)
    low, high = bootstrap_mean_interval(np.array([1.0, 2.0, 3.0, np.nan]), rng)
    assert 1.0 <= low < 2.0 < high <= 3.0
    assert np.isnan(bootstrap_mean_interval(np.array([np.nan]), rng)).all()
    wide = bootstrap_mean_interval(np.array([0.0, 10.0, 0.0, 10.0]), rng)
    assert wide[1] - wide[0] > high - low


def test_summary_without_curves():
    finals = [
        {"seed": s, "summary": {"response_mean": v, "thefts_per_day": float("nan")}}
        for s, v in ((0, 4.0), (1, 6.0))
    ]
    summary = seeds_summary(finals)
    assert summary["seeds"] == [0, 1] and "curves" not in summary
    row = summary["metrics"]["response_mean"]
    assert row["mean"] == 5.0 and row["std"] == pytest.approx(np.std([4.0, 6.0], ddof=1))
    assert (row["ci_low"], row["ci_high"]) == (4.0, 6.0)
    assert np.isnan(summary["metrics"]["thefts_per_day"]["mean"])


def test_a_seed_finished_by_an_older_version_leaves_out_the_metric_it_lacks():
    finals = [
        {"seed": 0, "summary": {"response_mean": 4.0, "combined_cost_per_day": 270.0}},
        {"seed": 1, "summary": {"response_mean": 6.0}},
    ]
    summary = seeds_summary(finals)
    assert list(summary["metrics"]) == ["response_mean"]
    assert summary["metrics"]["response_mean"]["values"] == [4.0, 6.0]


def test_a_resumed_session_replaces_the_steps_it_repeats(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    for name, points in (("ppo_1", [(100, 5.0), (200, 4.0), (300, 3.0)]), ("ppo_2", [(200, 7.0)])):
        writer = SummaryWriter(str(tmp_path / "tb" / name))
        for step, value in points:
            writer.add_scalar("eval/score", value, step)
        writer.close()
    assert evaluation_curve(tmp_path, "score") == [(100, 5.0), (200, 7.0)]
    assert evaluation_curve(tmp_path, "response_mean") == []
