"""``patrolmarl advise``: words and JSON, every problem of a bad snapshot, no torch, round trip."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from patrolmarl.advise import Snapshot, read_snapshot, situation, snapshot_from_sim
from patrolmarl.advise.recommend import recommend
from patrolmarl.advise.snapshot import PendingCall, SituationLoader, UnitState
from patrolmarl.advise.validation import snapshot_schema
from patrolmarl.agents.baselines import BASELINES
from patrolmarl.cli import main
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.move_gains import MoveGains
from patrolmarl.envs.observations import LOCAL_CHANNELS, ObservationBuilder
from patrolmarl.envs.sim_view import SimView
from tests.helpers import CLI_CODE, run_without_training

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "schemas" / "snapshot.example.json"


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory) -> Path:
    from patrolmarl.training.export import export_run

    return export_run(tiny_run("maskable_ppo"), tmp_path_factory.mktemp("exports") / "tiny")


@pytest.fixture(scope="module")
def gaoxin() -> District:
    return District.load("gaoxin")


def _example() -> dict:
    return json.loads(EXAMPLE.read_text())


def _write(tmp_path: Path, snapshot: dict, name: str = "snapshot.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(snapshot))
    return path


# ---------------------------------------------------------------------------- output


def test_words_and_json(exported, capsys):
    argv = ["advise", "--policy", str(exported), "--snapshot", str(EXAMPLE)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "gaoxin at 14:05, 3 pending call(s), policy tiny:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [f"patrol_{n}" for n in range(14)]
    assert lines[2] == "  patrol_1: busy (on_scene), continue"
    assert lines[7] == "  patrol_6: busy (en_route), continue"

    assert main([*argv, "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["unit"] for e in entries] == [f"patrol_{n}" for n in range(14)]
    accepted = [e["call_id"] for e in entries if e["kind"] == "accept"]
    assert len(accepted) == len(set(accepted))  # each call to one unit at most
    for entry, line in zip(entries, lines[1:], strict=True):
        assert entry["kind"] in {"accept", "move", "stay", "continue"}
        if entry["kind"] == "accept":
            assert set(entry) >= {"call_id", "call_type", "target_cell", "eta_minutes"}
            assert f"accept call {entry['call_id']} ({entry['call_type']}, " in line
        elif entry["kind"] == "move":
            row, col = entry["target_cell"]
            assert line.endswith(f"to cell ({row}, {col})")
        elif entry["kind"] == "stay":
            assert f"stay at cell ({entry['cell'][0]}, {entry['cell'][1]})" in line
        else:
            assert entry["status"] != "idle" and "continue" in line


def test_policies_observing_move_gains_get_them_from_the_snapshot(
    tiny_run, gaoxin, tmp_path, capsys
):
    from patrolmarl.training.export import export_run

    out = export_run(tiny_run("maskable_ppo", move_gains=True), tmp_path / "gains")
    assert main(["advise", "--policy", str(out), "--snapshot", str(EXAMPLE), "--json"]) == 0
    assert [e["unit"] for e in json.loads(capsys.readouterr().out)] == [
        f"patrol_{n}" for n in range(14)
    ]
    sit = situation(read_snapshot(EXAMPLE, gaoxin), gaoxin, move_gains=True)
    plain = ObservationBuilder(sit.sim).size
    assert sit.observations.shape == (14, plain + 8)
    np.testing.assert_array_equal(sit.observations[:, plain:], MoveGains(sit.sim)()[0])


def _units(gaoxin: District, **changes: UnitState) -> tuple[UnitState, ...]:
    """Every unit idle at its start cell, except ``changes`` (by name)."""
    units = []
    for n, cell in enumerate(gaoxin.unit_start_cell):
        name = f"patrol_{n}"
        start = (int(cell // gaoxin.cols), int(cell % gaoxin.cols))
        units.append(changes.get(name, UnitState(name, start, "idle")))
    return tuple(units)


def test_recommendations_in_words(gaoxin):
    units = _units(
        gaoxin,
        patrol_0=UnitState("patrol_0", (13, 7), "idle"),
        patrol_2=UnitState("patrol_2", (3, 4), "idle"),
        patrol_3=UnitState("patrol_3", (12, 4), "idle"),
        patrol_4=UnitState("patrol_4", (9, 9), "moving", 0.5),
        patrol_5=UnitState("patrol_5", (12, 1), "idle"),
        patrol_9=UnitState("patrol_9", (15, 10), "on_scene", 20.0),
    )
    call = PendingCall(17, (12, 7), "dispute", 2.0)
    sit = situation(Snapshot("gaoxin", 14 * 60 + 5, units, (call,)), gaoxin)
    actions = np.zeros(14, dtype=np.int64)
    actions[[0, 3, 5]] = [1, 5, 5]  # north; patrol_3 and patrol_5 both accept call 17
    assert sit.masks[np.arange(14), actions].all()
    recs = {r.unit: r for r in recommend(sit, actions)}
    eta = sit.sim.nearest_travel[0, 3, 0]
    assert (
        recs["patrol_3"].words() == f"patrol_3: accept call 17 (dispute, 1.2 km, ETA {eta:.0f} min)"
    )
    assert recs["patrol_0"].words() == "patrol_0: move north to cell (12, 7)"
    assert recs["patrol_2"].words() == "patrol_2: stay at cell (3, 4)"
    assert recs["patrol_4"].words() == "patrol_4: moving, continue"
    assert recs["patrol_9"].words() == "patrol_9: busy (on_scene), continue"
    assert recs["patrol_5"].words() == (
        "patrol_5: stay at cell (12, 1) (call 17 goes to patrol_3, who is nearer)"
    )
    assert recs["patrol_3"].to_json() == {
        "unit": "patrol_3",
        "status": "idle",
        "cell": [12, 4],
        "action": 5,
        "kind": "accept",
        "call_id": 17,
        "call_type": "dispute",
        "target_cell": [12, 7],
        "eta_minutes": round(float(eta), 2),
        "distance_km": 1.2,
    }
    assert recs["patrol_5"].to_json()["kind"] == "stay"


def test_clock_as_minutes_is_the_same_situation(gaoxin, tmp_path):
    snapshot = _example()
    by_clock = situation(read_snapshot(_write(tmp_path, snapshot), gaoxin), gaoxin)
    snapshot["time_of_day"] = 14 * 60 + 5
    by_minutes = situation(read_snapshot(_write(tmp_path, snapshot), gaoxin), gaoxin)
    np.testing.assert_array_equal(by_clock.observations, by_minutes.observations)
    assert by_clock.sim.hour_of_day[0] == 14


# ---------------------------------------------------------------------------- bad input


def _errors(capsys, exported: Path, snapshot: Path) -> list[str]:
    code = main(["advise", "--policy", str(exported), "--snapshot", str(snapshot)])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == "" and "Traceback" not in err
    lines = err.splitlines()
    assert all(line.startswith(f"patrolmarl: error: {snapshot}: ") for line in lines), err
    return lines


def _bad_everything(snapshot: dict) -> None:
    snapshot["district"] = "other"
    snapshot["time_of_day"] = "25:00"
    units, calls = snapshot["units"], snapshot["calls"]
    units[0]["name"] = "patrol_99"
    del units[1]["minutes_until_free"]
    units[2]["cell"] = [25, 3]
    units[3]["name"] = "patrol_4"
    units[5]["stauts"] = units[5].pop("status")
    calls[0]["age_minutes"] = -3
    calls[1]["type"] = "robbery"
    calls[2]["type"] = "compound"


def test_every_problem_is_listed(exported, tmp_path, capsys):
    snapshot = _example()
    _bad_everything(snapshot)
    lines = _errors(capsys, exported, _write(tmp_path, snapshot))
    expected = [
        "district: the snapshot is of district 'other', the policy of 'gaoxin'",
        "time_of_day: expected",
        "units[0].name: unknown unit 'patrol_99' (the district has patrol_0 to patrol_13)",
        "units[1].minutes_until_free: missing (needed for status 'on_scene')",
        "units[2].cell: [25, 3] is outside the 20x20 grid",
        "units[4].name: patrol_4 is listed twice",
        "units[5].status: missing",
        "units[5]: Additional properties are not allowed ('stauts' was unexpected)",
        "units: patrol_0 is missing",
        "units: patrol_3 is missing",
        "calls[0].age_minutes: -3 is negative",
        "calls[1].type: unknown call type 'robbery' (street-call types: noise, help, dispute",
        "calls[2].type: 'compound' calls go to the precinct's responders, not to street patrol",
    ]
    assert len(lines) == len(expected), "\n".join(lines)
    for piece in expected:
        assert sum(piece in line for line in lines) == 1, (piece, lines)


@pytest.mark.parametrize(
    "change, piece",
    [
        (
            lambda s: s["units"].append({"name": "patrol_99", "cell": [0, 0], "status": "idle"}),
            "units[14].name: unknown unit 'patrol_99'",
        ),
        (lambda s: s["units"].pop(4), "units: patrol_4 is missing"),
        (lambda s: s["calls"][1].update(cell=[3, 20]), "calls[1].cell: [3, 20] is outside"),
        (lambda s: s["calls"][0].update(age_minutes=-0.5), "age_minutes: -0.5 is negative"),
        (lambda s: s["calls"][0].update(type="fire"), "unknown call type 'fire'"),
        (lambda s: s.update(district="nanning"), "is of district 'nanning'"),
        (lambda s: s["units"][9].update(minutes_until_free=-1), "-1 is negative"),
        (lambda s: s["calls"][2].update(id=17), "calls[2].id: id 17 is used twice"),
        (lambda s: s.update(presence=[{"cell": [0, 0], "minutes": "x"}]), "expected a number"),
        (lambda s: s.pop("calls"), "calls: missing"),
    ],
)
def test_each_problem_alone_is_one_line(exported, tmp_path, capsys, change, piece):
    snapshot = _example()
    change(snapshot)
    lines = _errors(capsys, exported, _write(tmp_path, snapshot))
    assert len(lines) == 1 and piece in lines[0], lines


def test_unreadable_files_are_one_line_errors(exported, tmp_path, capsys):
    def one_line(argv: list[str], piece: str) -> None:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and piece in err, err

    broken = tmp_path / "broken.json"
    broken.write_text('{"district": "gaoxin",')
    one_line(["advise", "--policy", str(exported), "--snapshot", str(broken)], "not a readable")
    missing = str(tmp_path / "none.json")
    one_line(["advise", "--policy", str(exported), "--snapshot", missing], "not found")
    nowhere = str(tmp_path / "nowhere")
    one_line(["advise", "--policy", nowhere, "--snapshot", str(EXAMPLE)], "no such export")
    one_line(["advise", "--policy", str(tmp_path), "--snapshot", str(EXAMPLE)], "export folder")
    one_line(["advise", "--snapshot", str(EXAMPLE)], "--policy")


def test_schema_is_published_and_fits_the_example():
    published = json.loads((REPO / "schemas" / "snapshot.schema.json").read_text())
    assert published == snapshot_schema()
    jsonschema.Draft202012Validator.check_schema(published)
    jsonschema.Draft202012Validator(published).validate(_example())
    bad = copy.deepcopy(_example())
    bad["units"][0]["status"] = "asleep"
    assert not jsonschema.Draft202012Validator(published).is_valid(bad)


# ---------------------------------------------------------------------------- no torch


def test_advise_runs_without_torch_or_sb3(exported, tmp_path):
    bad = _example()
    _bad_everything(bad)
    bad_path = _write(tmp_path, bad, "bad.json")

    def run(snapshot: Path, *flags: str) -> subprocess.CompletedProcess:
        argv = ["advise", "--policy", exported, "--snapshot", snapshot, *flags]
        return run_without_training(CLI_CODE, *argv, cwd=tmp_path)

    good = run(EXAMPLE, "--json")
    assert good.returncode == 0, good.stderr
    assert len(json.loads(good.stdout)) == 14
    failed = run(bad_path)
    assert failed.returncode == 2, failed.stderr
    assert len(failed.stderr.splitlines()) == 13 and "Traceback" not in failed.stderr


# ---------------------------------------------------------------------------- round trip


def _presence_columns(builder: ObservationBuilder) -> np.ndarray:
    """Observation columns of the local map's presence channel."""
    local = next(f for f in builder.layout if f.name == "local_map")
    channels = len(LOCAL_CHANNELS)
    return np.arange(local.start, local.stop)[LOCAL_CHANNELS.index("presence") :: channels]


@pytest.mark.parametrize(
    "baseline, overrides",
    [("nearest", {}), ("random", {"call_types.noise.daily_rate": 300})],
)
def test_snapshots_rebuild_the_simulators_observations(tmp_path, baseline, overrides):
    district = District.load("gaoxin", **overrides)
    sim = BatchedSim(district, batch_size=3)
    sim.reset(seeds=[1, 2, 3])
    builder = ObservationBuilder(sim)
    policy = BASELINES[baseline](seed=0)
    policy.bind(SimView(sim))
    policy.reset(np.ones(3, dtype=bool))
    others = np.setdiff1d(np.arange(builder.size), _presence_columns(builder))
    path = tmp_path / "snapshot.json"
    reused = SituationLoader(district)  # one simulator for every snapshot, as an Advisor keeps
    seen_calls = seen_busy = 0
    for step in range(600):
        obs, masks = builder.observe(), sim.action_masks()
        if step % 60 == 59:
            for b in range(3):
                seen_calls += int((sim.pending[b] >= 0).sum())
                seen_busy += int((sim.unit_status[b] != 0).sum())
                for with_presence in (True, False):
                    path.write_text(json.dumps(snapshot_from_sim(sim, b, with_presence)))
                    snap = read_snapshot(path, district)
                    for sit in (situation(snap, district), reused.load(snap)):
                        np.testing.assert_array_equal(sit.masks, masks[b])
                        if with_presence:
                            np.testing.assert_array_equal(sit.observations, obs[b])
                        else:  # all but the presence the snapshot leaves out
                            np.testing.assert_array_equal(
                                sit.observations[:, others], obs[b][:, others]
                            )
        sim.step(policy.act(obs, masks))
    assert seen_busy > 0
    assert seen_calls > 0 or not overrides


def test_a_model_zip_is_pointed_to_export(tiny_run, capsys):
    best = tiny_run("maskable_ppo") / "best.zip"
    for policy in (best, best.parent):  # the model, or its run folder
        assert main(["advise", "--policy", str(policy), "--snapshot", str(EXAMPLE)]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, err
        assert f"--policy: {policy}: advise takes an export folder" in err
        assert "make one with patrolmarl export RUN --out DIR" in err
        assert "policy card" not in err
