"""The README's links stay inside the repository and its commands are ones the CLI accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from patrolmarl.cli import build_parser

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
    """Every ``patrolmarl ...`` command in the README's bash blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:1] == ["patrolmarl"]:
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
