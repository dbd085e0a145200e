"""The periodic trigger of evaluations and checkpoints counts from the step training starts at."""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback, EveryNTimesteps

from patrolmarl.training.callbacks import EveryNTimestepsFromStart, ResumeCheckpointCallback

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
