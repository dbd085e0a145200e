"""An imported district works everywhere: PettingZoo's API test, a short evaluation, beats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from patrolmarl.cli import main
from patrolmarl.envs import parallel_env

pytestmark = pytest.mark.filterwarnings("ignore:.*space value is infinity:UserWarning")


def test_pettingzoo_parallel_api(imported: Path) -> None:
    parallel_api_test(parallel_env(district=imported, max_cycles=30), num_cycles=60)


@pytest.mark.slow
def test_short_evaluate(imported: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    argv = ["evaluate", "--district", str(imported), "--days", "2"]
    code = main([*argv, "--policies", "fixed_zone,nearest", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["policies"]) == {"fixed_zone", "nearest"}
    assert "nearest" in printed


def test_maps_of_the_imported_district_land_on_the_boundary(imported: Path) -> None:
    """Beats and precincts are drawn through the same projection: the same polygons come out."""
    from patrolmarl.data.synthetic_calls import precincts_geojson
    from patrolmarl.envs.district import District

    ours = precincts_geojson(District.load(imported))["features"]
    theirs = precincts_geojson(District.load("gaoxin"))["features"]
    assert [f["properties"]["name"] for f in ours] == [f["properties"]["name"] for f in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a["geometry"]["type"] == b["geometry"]["type"]
        np.testing.assert_allclose(
            np.concatenate([np.ravel(r) for r in a["geometry"]["coordinates"]]),
            np.concatenate([np.ravel(r) for r in b["geometry"]["coordinates"]]),
            atol=1e-6,
        )


@pytest.mark.slow
def test_train_export_and_advise_on_the_imported_district(imported: Path, tmp_path: Path) -> None:
    """The researcher's and engineer's paths take an imported district like a built-in one."""
    import yaml

    from patrolmarl.advise.snapshot import snapshot_from_sim
    from patrolmarl.envs.core import BatchedSim
    from patrolmarl.envs.district import District

    config = {
        "algorithm": "maskable_ppo",
        "district": str(imported),
        "n_districts": 1,
        "total_timesteps": 600,
        "torch_threads": 1,
        "checkpoint_freq": 600,
        "ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 1},
        "network": {"net_arch": [16]},
        "eval": {"freq": 600, "days": 1, "final_days": 1, "final_baselines": ["nearest"]},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    run, export = tmp_path / "run", tmp_path / "export"
    train = ["train", "--config", str(tmp_path / "tiny.yaml"), "--run-dir", str(run)]
    assert main([*train, "--no-progress"]) == 0
    assert main(["export", str(run), "--out", str(export)]) == 0
    sim = BatchedSim(District.load(imported), batch_size=1)
    sim.reset(seeds=[[3, 0]])
    for _ in range(60):
        sim.step(np.zeros(sim.unit_cell.shape, dtype=np.int64))  # an hour of everyone staying
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps(snapshot_from_sim(sim, 0)))
    assert main(["advise", "--policy", str(export), "--snapshot", str(snapshot), "--json"]) == 0
