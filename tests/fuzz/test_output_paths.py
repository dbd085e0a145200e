"""Fuzz of output locations: every folder a command writes is checked before the work,
and a bad one gives one line, never another exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrolmarl.errors import PatrolMarlError
from patrolmarl.output_folder import check_writable
from patrolmarl.training.run_folder import check_location

# Path parts: ordinary names, names at and past the file system's 255-byte limit,
# "..", dots, spaces, non-ASCII, a NUL byte, and the regular file the fixture makes.
PARTS = st.one_of(
    st.sampled_from(["out", "..", ".", " ", "é" * 130, "x" * 255, "x" * 256, "a\x00b", "FILE"]),
    st.text(alphabet="abc._- ", min_size=1, max_size=12),
)
PATHS = st.lists(PARTS, min_size=1, max_size=6)


def _one_line(call) -> None:
    try:
        call()
    except PatrolMarlError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)


@settings(
    max_examples=150,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(parts=PATHS)
def test_output_locations_pass_or_give_one_line(tmp_path: Path, parts: list[str]) -> None:
    (tmp_path / "FILE").write_text("a regular file")
    out = tmp_path.joinpath(*parts)
    _one_line(lambda: check_writable(out))
    _one_line(lambda: check_location(out, "--run-dir", fresh=True))
