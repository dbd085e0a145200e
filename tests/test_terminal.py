"""``patrolmarl evaluate`` in a terminal: rich's progress bar over policies run in worker
processes, then the table; without a terminal, no bar (CI has no terminal, so a pty)."""

from __future__ import annotations

import sys

from tests.helpers import run_cli, run_in_terminal, write_short_busy_gaoxin


def test_evaluate_in_a_terminal_shows_the_bar_then_the_table(tmp_path):
    district = write_short_busy_gaoxin(tmp_path)
    argv = [sys.executable, "-m", "patrolmarl", "evaluate", "--district", str(district)]
    argv += ["--policies", "fixed_zone,nearest", "--days", "2", "--out", str(tmp_path / "r")]
    code, output = run_in_terminal(argv, cwd=tmp_path)
    assert code == 0, output
    assert "Traceback" not in output
    bar, table = output.split("policy      resp", 1)
    assert "evaluating" in bar and "━" in bar  # rich's bar, before the table
    assert "nearest" in bar  # a policy from a worker process reported its steps
    assert "fixed_zone" in table and "nearest" in table and "report:" in table


def test_evaluate_without_a_terminal_shows_no_bar(tmp_path):
    district = write_short_busy_gaoxin(tmp_path)
    code, out, err = run_cli(
        "evaluate",
        "--district",
        district,
        "--policies",
        "fixed_zone,nearest",
        "--days",
        "2",
        "--out",
        tmp_path / "r",
    )
    assert code == 0, err
    assert "━" not in out + err
