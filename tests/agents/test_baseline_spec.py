"""Baseline parameters in policy specs: parsed, named by the spec, and refused in one line."""

from __future__ import annotations

import functools

import pytest

from patrolmarl.agents.baseline_spec import (
    build_baseline,
    is_baseline_spec,
    parse_baseline_spec,
    theft_sweep_point,
)
from patrolmarl.agents.redeploy import RedeployPolicy
from patrolmarl.agents.registry import load_policy
from patrolmarl.agents.theft_posts import DEFAULT_THEFT_WEIGHT, PMedianTheftPolicy
from patrolmarl.cli import main
from patrolmarl.envs.district import District
from patrolmarl.errors import PatrolMarlError


@functools.cache
def _gaoxin() -> District:
    return District.load("gaoxin")


def test_parameters_reach_the_policy_and_the_spec_is_its_name() -> None:
    policy = build_baseline("pmedian_theft:theft=120")
    assert isinstance(policy, PMedianTheftPolicy)
    assert policy.theft == 120.0 and policy.name == "pmedian_theft:theft=120"
    policy = load_policy("redeploy:theft=60", _gaoxin())
    assert isinstance(policy, RedeployPolicy)
    assert policy.theft == 60.0 and policy.name == "redeploy:theft=60"
    assert parse_baseline_spec("redeploy: theft = 2.5") == ("redeploy", {"theft": 2.5})


def test_defaults_without_parameters() -> None:
    assert build_baseline("pmedian_theft").theft == DEFAULT_THEFT_WEIGHT == 60.0
    assert build_baseline("redeploy").theft == 0.0
    assert build_baseline("nearest").name == "nearest"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("pmedian_thef:theft=1", "unknown baseline 'pmedian_thef'"),
        ("redeploy:speed=1", "unknown parameter 'speed' of redeploy (parameters: theft)"),
        ("pmedian:theft=1", "unknown parameter 'theft' of pmedian (parameters: none)"),
        ("redeploy:theft", "expected key=value, got 'theft'"),
        ("redeploy:=3", "expected key=value, got '=3'"),
        ("redeploy:theft=1:theft=2", "parameter 'theft' given twice"),
        ("redeploy:theft=-1", "parameter 'theft' must be a finite number >= 0, got '-1'"),
        ("redeploy:theft=inf", "parameter 'theft' must be a finite number >= 0, got 'inf'"),
        ("redeploy:theft=1e999", "must be a finite number >= 0, got '1e999'"),
        ("redeploy:theft=nan", "parameter 'theft' must be a finite number >= 0, got 'nan'"),
        ("redeploy:theft=true", "parameter 'theft' must be a number, got 'true'"),
        ("redeploy:theft=", "parameter 'theft' must be a number, got ''"),
        ("redeploy:theft=ten", "parameter 'theft' must be a number, got 'ten'"),
    ],
)
def test_bad_specs_are_refused_naming_spec_and_parameter(spec: str, message: str) -> None:
    with pytest.raises(PatrolMarlError) as info:
        load_policy(spec, _gaoxin())
    text = str(info.value)
    assert text.startswith(f"policy {spec!r}: ") and message in text
    assert "\n" not in text


def test_cli_prints_one_line_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--policy", "pmedian_theft:theft=-5", "--days", "1"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "patrolmarl: error: policy 'pmedian_theft:theft=-5': parameter 'theft' must be a "
        "finite number >= 0, got '-5'\n"
    )


def test_files_and_plain_names_are_not_taken_for_specs() -> None:
    assert is_baseline_spec("nearest") and is_baseline_spec("foo:theft=1")
    assert not is_baseline_spec("runs/best.zip") and not is_baseline_spec("plan.yaml")


def test_theft_sweep_points() -> None:
    assert theft_sweep_point("pmedian_theft:theft=120") == ("pmedian_theft", 120.0)
    assert theft_sweep_point("pmedian_theft") == ("pmedian_theft", 60.0)
    assert theft_sweep_point("redeploy") == ("redeploy", 0.0)
    assert theft_sweep_point("pmedian") is None
    assert theft_sweep_point("model.zip") is None
    assert theft_sweep_point("redeploy:theft=-1") is None
