"""The README's and docs' links stay inside the repository and their commands are ones the CLI
accepts (and, where cheap, runs)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from patrolmarl.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _markdown_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def _relative_links(path: Path) -> list[str]:
    return [t for t in LINK.findall(path.read_text()) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_point_inside_the_repository(path: Path) -> None:
    for target in _relative_links(path):
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{path.name} links outside the repo: {target}"
        assert resolved.exists(), f"{path.name} links to a missing file: {target}"


def readme_commands() -> list[list[str]]:
    """Every ``patrolmarl ...`` command in the bash blocks of the README and ``docs/*.md``,
    continuation lines joined."""
    commands = []
    for path in _markdown_files():
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                for part in line.split("&&"):
                    words = shlex.split(part, comments=True)
                    if words[:1] == ["patrolmarl"] and words[1:] not in commands:
                        commands.append(words[1:])
    return commands


def test_the_readme_shows_commands() -> None:
    assert len(readme_commands()) >= 5


@pytest.mark.parametrize("argv", readme_commands(), ids=" ".join)
def test_readme_commands_parse(argv: list[str]) -> None:
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:  # --version and --help print and leave, successfully
        assert exc.code == 0, argv


# Commands the smoke test leaves to their own tests, which run them at tiny sizes:
# training and sweeps (minutes to hours at the README's sizes), the frontier (14
# theft-weighted policies), and the paths that start from a planner's own data
# or a run trained first; and the service, which runs until stopped.
LEFT_TO_THEIR_TESTS = {"train", "sweep", "frontier", "district", "export", "serve"}


#: The repository's folders the README's commands read from (they write elsewhere).
INPUT_FOLDERS = ("models", "schemas", "configs")


def _runnable(argv: list[str]) -> bool:
    """Not left to other tests, and every file it reads is in the repository."""
    if argv[0] in LEFT_TO_THEIR_TESTS:
        return False
    paths = [
        part.partition("=")[2] or part
        for flag, value in zip(argv, argv[1:], strict=False)
        if flag in ("--district", "--snapshot", "--policy", "--policies")
        for part in value.split(",")
    ]
    return all("/" not in p or (ROOT / p).exists() for p in paths)


def _is_slow(argv: list[str]) -> bool:
    """``evaluate`` without ``--policies`` scores every baseline (the p-median limit included)."""
    return argv[0] == "evaluate" and "--policies" not in argv and "--calibration" not in argv


SMOKE = [argv for argv in readme_commands() if _runnable(argv)]


def test_the_smoke_test_runs_each_kind_of_command() -> None:
    assert {argv[0] for argv in SMOKE} >= {"simulate", "evaluate", "beats", "advise", "--version"}


@pytest.mark.parametrize(
    "argv",
    [pytest.param(a, marks=[pytest.mark.slow] if _is_slow(a) else []) for a in SMOKE],
    ids=" ".join,
)
def test_readme_commands_run(argv: list[str], tmp_path, monkeypatch, capsys) -> None:
    """The command as the README gives it, on 2 days, in a folder that sees the repo's inputs."""
    for name in INPUT_FOLDERS:
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    flags = ["", *argv[:-1]]
    days = ["2" if flag == "--days" else value for flag, value in zip(flags, argv, strict=True)]
    quiet = ["--no-progress"] if argv[0] in ("evaluate", "beats") else []
    try:
        code = main(days + quiet)
    except SystemExit as exc:  # --version
        code = exc.code
    assert code == 0, capsys.readouterr().err
