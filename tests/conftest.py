"""Shared fixtures: run folders of tiny trained policies (export and advise tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

TINY_TIMESTEPS = 1792  # two rollouts of 2 districts x 14 units x 32 steps
# The final evaluation's summary rows, as `patrolmarl train` writes them in report/metrics.json.
TINY_METRICS = {
    "district": "gaoxin",
    "district_config_sha256": "0" * 64,
    "seed": 10000,
    "days": 1,
    "baseline": "fixed_zone",
    "policies": {
        "fixed_zone": {"summary": {"response_mean": 4.5, "thefts_per_day": 3.0}, "per_day": []},
        "ppo": {"summary": {"response_mean": 4.0, "thefts_per_day": None}, "per_day": []},
    },
}


def _train_tiny_run(run_dir: Path, algorithm: str, move_gains: bool) -> Path:
    """A run folder as ``patrolmarl train`` leaves it, from a few hundred simulator steps."""
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from patrolmarl.envs.district import District
    from patrolmarl.envs.vec_env import PatrolVecEnv
    from patrolmarl.training.callbacks import save_model_atomically
    from patrolmarl.training.config import TrainConfig

    config = TrainConfig(
        algorithm=algorithm,
        district="gaoxin",
        n_districts=2,
        total_timesteps=TINY_TIMESTEPS,
        seed=3,
        ppo={"n_steps": 32, "batch_size": 448, "n_epochs": 2, "learning_rate": 1e-3},
        network={"net_arch": [64, 64]},
        observation={"move_gains": move_gains},
        eval={"days": 1, "final_days": 1, "final_baselines": ["nearest"]},
    )
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
    district = District.load(config.district)
    record = {"district": district.name, "district_config_sha256": district.config_sha256}
    (run_dir / "district.json").write_text(json.dumps(record))
    venv = PatrolVecEnv(district, config.n_districts, seed=config.seed, move_gains=move_gains)
    env = VecNormalize(venv, clip_obs=config.normalize.clip_obs, gamma=config.ppo.gamma)
    algo = {"ppo": PPO, "maskable_ppo": MaskablePPO}[algorithm]
    model = algo(
        "MlpPolicy",
        env,
        seed=config.seed,
        device="cpu",
        policy_kwargs={"net_arch": list(config.network.net_arch)},
        **config.ppo.model_dump(),
    )
    model.learn(config.total_timesteps)
    for name in ("best", "final"):
        save_model_atomically(model, env, run_dir / f"{name}.zip")
    (run_dir / "report").mkdir()
    (run_dir / "report" / "metrics.json").write_text(json.dumps(TINY_METRICS))
    return run_dir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``tiny_run(algorithm, move_gains=False)``: the run folder of a tiny ``ppo`` or
    ``maskable_ppo`` on gaoxin, observing the move gains or not.

    Trained once per variant and session; treat it as read-only.
    """
    runs: dict[tuple[str, bool], Path] = {}

    def make(algorithm: str = "maskable_ppo", move_gains: bool = False) -> Path:
        key = (algorithm, move_gains)
        if key not in runs:
            folder = tmp_path_factory.mktemp(f"run_{algorithm}")
            runs[key] = _train_tiny_run(folder, algorithm, move_gains)
        return runs[key]

    return make


@pytest.fixture(scope="session")
def _session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("patrolmarl-cache")


@pytest.fixture(autouse=True)
def _isolated_cache_dir(_session_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Solution caches go to one temporary folder per test session, never the user's."""
    monkeypatch.setenv("PATROLMARL_CACHE_DIR", str(_session_cache_dir))


@pytest.fixture(scope="session")
def tiny_district() -> Callable[..., object]:
    """Factory of a 4x4 district with two cars (its 24 hourly p-medians solve in milliseconds)."""
    from patrolmarl.envs.config import validate_district_dict
    from patrolmarl.envs.district import District

    def make(daily_rate: float = 100.0, hourly_profile: list[float] | None = None) -> District:
        raw = {
            "name": "tiny",
            "cell_size_m": 400,
            "land_use_map": ["SSSS", "SAAS", "SSSS", "SSSS"],
            "precinct_map": ["1111"] * 4,
            "land_uses": {
                "S": {"name": "street", "road_speed_kmh": 25},
                "A": {"name": "arterial", "road_speed_kmh": 40},
            },
            "precincts": {"1": {"name": "all"}},
            "vehicles": {"car": {"max_speed_kmh": 30}},
            "units": [{"count": 2, "vehicle": "car", "precinct": "1"}],
            "call_types": {
                "street": {
                    "daily_rate": daily_rate,
                    "hourly_profile": hourly_profile or [1] * 12 + [3] * 12,
                    "land_use_weights": {"S": 1, "A": 4},
                    "service": {"dist": "exponential", "mean": 20},
                }
            },
        }
        return District.from_config(validate_district_dict(raw, "<tiny>"))

    return make
