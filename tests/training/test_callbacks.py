"""The periodic trigger of evaluations and checkpoints counts from the step training starts at;
the selection evaluation scores by the configured metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from stable_baselines3.common.callbacks import BaseCallback, EveryNTimesteps
from stable_baselines3.common.logger import Logger

from patrolmarl.agents.baselines import NearestPolicy
from patrolmarl.evaluation.evaluate import BASELINE, evaluate
from patrolmarl.training import callbacks
from patrolmarl.training.callbacks import (
    EveryNTimestepsFromStart,
    PatrolEvalCallback,
    ResumeCheckpointCallback,
)
from patrolmarl.training.config import EvalSettings
from tests.helpers import short_busy_gaoxin

AGENTS = 14  # agent-steps a simulator step adds


class _Model:
    """What a callback reads of an SB3 model: the step count and the environment."""

    def __init__(self, num_timesteps: int) -> None:
        self.num_timesteps = num_timesteps

    def get_env(self) -> None:
        return None


def _triggered_at(trigger_class: type[EveryNTimesteps], start: int, every: int) -> list[int]:
    """The steps at which a ResumeCheckpointCallback under ``trigger_class`` saves, over
    30 simulator steps of a run (re)started at step ``start``."""
    model = _Model(start)
    saved: list[int] = []
    trigger = trigger_class(
        every, ResumeCheckpointCallback(lambda: saved.append(model.num_timesteps))
    )
    trigger.init_callback(model)
    trigger.on_training_start({}, {})
    for _ in range(30):
        model.num_timesteps += AGENTS
        trigger.on_step()
    return saved


def test_a_fresh_run_triggers_as_sb3_does() -> None:
    expected = _triggered_at(EveryNTimesteps, 0, 100)
    assert expected == [112, 224, 336]  # the first step count at least 100 past the last
    assert _triggered_at(EveryNTimestepsFromStart, 0, 100) == expected


def test_a_resumed_run_first_triggers_a_period_after_its_checkpoint() -> None:
    assert _triggered_at(EveryNTimestepsFromStart, 1000, 100) == [1112, 1224, 1336]
    assert _triggered_at(EveryNTimesteps, 1000, 100)[0] == 1014  # SB3's: at once


def test_the_checkpoint_callback_calls_save_each_time() -> None:
    calls: list[int] = []
    callback = ResumeCheckpointCallback(lambda: calls.append(len(calls)))
    assert isinstance(callback, BaseCallback)
    callback.init_callback(_Model(0))
    assert callback.on_step() and callback.on_step()
    assert calls == [0, 1]


def _nearest_as_ppo() -> NearestPolicy:
    policy = NearestPolicy(seed=0)
    policy.name = "ppo"
    return policy


def _stand_in_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: EvalSettings
) -> tuple[float, _Model, list[str], list[Path]]:
    """The selection evaluation of a stand-in for the model being trained (nearest, called
    ppo): its score, the model (with the logged values), what it said and what it saved."""
    monkeypatch.setattr(
        callbacks, "policy_of", lambda model, vecnormalize, district: _nearest_as_ppo()
    )
    saved: list[Path] = []
    monkeypatch.setattr(
        callbacks, "save_model_atomically", lambda model, vecnormalize, path: saved.append(path)
    )
    said: list[str] = []
    evaluator = PatrolEvalCallback(short_busy_gaoxin(), settings, tmp_path, None, say=said.append)
    model = _Model(0)
    model.logger = Logger(folder=None, output_formats=[])
    evaluator.init_callback(model)
    return evaluator.run_evaluation(), model, said, saved


def _costs_per_day(theft_minutes: float, thefts: str) -> dict[str, float]:
    """Each policy's response minutes a day + ``theft_minutes`` x its ``thefts`` metric, on the
    selection days of :func:`_stand_in_scored` (3 days, seed 4)."""
    ev = evaluate(short_busy_gaoxin(), [_nearest_as_ppo()], 3, 4, resamples=10, with_limit=False)
    return {
        r.name: r.summary["response_mean"] * r.summary["served_by_patrol"] / 3
        + theft_minutes * r.summary[thefts]
        for r in ev.results
    }


@pytest.mark.parametrize("theft_minutes", [0.0, 240.0])
def test_the_selection_scores_by_the_combined_cost_at_its_lambda(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, theft_minutes: float
) -> None:
    """The stand-in scored by combined cost."""
    settings = EvalSettings(
        days=3, seed=4, score_weights={"combined_cost_per_day": 1.0}, theft_minutes=theft_minutes
    )
    score, model, said, saved = _stand_in_scored(tmp_path, monkeypatch, settings)

    cost = _costs_per_day(theft_minutes, "thefts_per_day")
    assert score == pytest.approx(cost["ppo"] / cost[BASELINE], rel=1e-12)
    logged = model.logger.name_to_value
    assert logged["eval/combined_cost_per_day"] == pytest.approx(cost["ppo"], rel=1e-12)
    assert logged["eval/score"] == score
    assert saved == [tmp_path / "best.zip"]
    assert f"combined cost/day {cost['ppo']:.0f} min ({cost[BASELINE]:.0f})" in said[0]


def test_the_selection_can_score_by_the_expected_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in scored by the response minutes + 60 x the expected thefts."""
    settings = EvalSettings(days=3, seed=4, score_weights={"expected_cost_per_day": 1.0})
    score, model, _, _ = _stand_in_scored(tmp_path, monkeypatch, settings)

    cost = _costs_per_day(60.0, "expected_thefts_per_day")
    assert score == pytest.approx(cost["ppo"] / cost[BASELINE], rel=1e-12)
    assert model.logger.name_to_value["eval/expected_cost_per_day"] == pytest.approx(cost["ppo"])
    # The expected thefts are not the drawn ones (a fractional sum of chances).
    assert cost["ppo"] != _costs_per_day(60.0, "thefts_per_day")["ppo"]
