"""The report folder: complete, strict JSON, self-contained HTML, and never half-written."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import pytest

from patrolmarl.agents.baselines import BASELINES
from patrolmarl.envs.config import validate_district_dict
from patrolmarl.envs.district import District
from patrolmarl.evaluation import plots
from patrolmarl.evaluation.calibration import hot_spot_precinct
from patrolmarl.evaluation.evaluate import COMPARED, Evaluation, evaluate
from patrolmarl.evaluation.report import format_table, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TOP_LEVEL_KEYS = {
    "district",
    "district_config_sha256",
    "seed",
    "days",
    "day_seeds",
    "baseline",
    "theft_minutes",
    "pairs",
    "limit",
    "calibration",
    "policies",
}
POLICIES = ("fixed_zone", "nearest")
CALIBRATION_ROWS = (
    "On-scene calls per day",
    "Patrol share of on-scene calls",
    "On-scene closure rate",
)


def _small_district() -> District:
    """An 8 x 8 two-precinct district with one station and 3 units (fast p-median)."""
    raw = {
        "name": "small",
        "cell_size_m": 400,
        "land_use_map": [
            "SSSASSRR",
            "SRRASSRR",
            "SRRASSSS",
            "AAAAAAAA",
            "SSSASSSS",
            "SSSASRRS",
            "RRSASRRS",
            "RRSASSSS",
        ],
        "precinct_map": ["11112222"] * 8,
        "land_uses": {
            "S": {"name": "street", "road_speed_kmh": 25, "street_traffic": 2.0},
            "A": {"name": "arterial", "road_speed_kmh": 40, "street_traffic": 3.0},
            "R": {"name": "residential", "road_speed_kmh": 15, "street_traffic": 0.5},
        },
        "precincts": {"1": {"name": "west"}, "2": {"name": "east"}},
        "stations": [{"name": "kiosk", "cell": [3, 4], "precincts": ["1", "2"]}],
        "vehicles": {"car": {"max_speed_kmh": 30}, "bike": {"max_speed_kmh": 18}},
        "units": [
            {"count": 1, "vehicle": "car", "precinct": "1"},
            {"count": 1, "vehicle": "car", "precinct": "2"},
            {"count": 1, "vehicle": "bike", "station": "kiosk"},
        ],
        "call_types": {
            "noise": {
                "daily_rate": 60,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"S": 1.0, "A": 0.5},
                "service": {"dist": "exponential", "mean": 15},
                "closure_prob": 0.9,
            },
            "theft": {
                "daily_rate": 30,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"S": 1.0, "R": 0.5},
                "service": {"dist": "fixed", "mean": 20},
                "closure_prob": 0.8,
                "deterrable": True,
            },
            "compound": {
                "daily_rate": 20,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"R": 1.0},
                "service": {"dist": "exponential", "mean": 30},
                "handler": "precinct",
            },
        },
        "simulation": {"episode_minutes": 360},
    }
    return District.from_config(validate_district_dict(raw, "<test>"))


@pytest.fixture(scope="module")
def ev() -> Evaluation:
    policies = [BASELINES[name](seed=0) for name in POLICIES]
    return evaluate(_small_district(), policies, days=3, seed=0, resamples=200)


@pytest.fixture(scope="module")
def report(ev: Evaluation, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("report") / "out"
    return out, write_report(ev, out)


@pytest.fixture
def no_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip drawing, for tests of the text files and of the folder handling only."""
    monkeypatch.setattr(plots, "write_plots", lambda ev, folder: [])


def _fail_on_constant(name: str) -> None:
    raise AssertionError(f"metrics.json holds the non-JSON constant {name}")


def test_all_files_exist(report: tuple[Path, list[Path]], ev: Evaluation) -> None:
    out, written = report
    names = {p.name for p in written}
    assert {"metrics.json", "report.md", "report.html"} <= names
    assert {"response_cdf.png", "thefts_per_day.png", "workload.png", "frontier.png"} <= names
    assert "response_by_hour.png" in names
    for name in POLICIES:
        assert {f"presence_{name}.png", f"response_map_{name}.png"} <= names
    assert "response_diff_nearest.png" in names and "response_diff_fixed_zone.png" not in names
    assert all(p.parent == out and p.is_file() for p in written)
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert [p.name for p in out.parent.iterdir()] == ["out"]  # no temp folder left


def test_metrics_json_is_strict_and_complete(report: tuple[Path, list[Path]]) -> None:
    out, _ = report
    data = json.loads((out / "metrics.json").read_text(), parse_constant=_fail_on_constant)
    assert set(data) == TOP_LEVEL_KEYS
    assert data["days"] == 3 and data["baseline"] == "fixed_zone"
    assert set(data["policies"]) == set(POLICIES)
    for entry in data["policies"].values():
        assert {"summary", "vs_baseline", "breakdowns", "per_day"} <= set(entry)
        assert "response_mean" in entry["summary"]
        assert set(entry["vs_baseline"]) == set(COMPARED)
        for diff in entry["vs_baseline"].values():
            keys = {"difference", "ci_low", "ci_high", "relative", "excludes_zero", "interval_note"}
            assert set(diff) == keys
        assert len(entry["per_day"]) == 3
    calibration = data["calibration"]
    assert set(calibration) == {"district", "precincts"}
    district_keys = {"on_scene_calls_per_day", "patrol_share", "closure_rate"}
    assert set(calibration["district"]) == district_keys
    assert set(calibration["precincts"]) == {"1", "2"}
    reported = [row["reported"] for row in calibration["precincts"].values()]
    assert sorted(reported, key=lambda x: x is None) == [0.3997, None]  # one hot-spot precinct
    theft = {"theft_lower_bound", "theft_relaxation", "theft_undeterred", "theft_worst_gap"}
    assert {"travel_lower_bound", *theft} <= set(data["limit"])


def test_nan_is_written_as_null(
    ev: Evaluation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_plots: None
) -> None:
    monkeypatch.setitem(ev.result("nearest").summary, "response_p90", float("nan"))
    out = tmp_path / "out"
    write_report(ev, out)
    text = (out / "metrics.json").read_text()
    data = json.loads(text, parse_constant=_fail_on_constant)
    assert data["policies"]["nearest"]["summary"]["response_p90"] is None
    assert "n/a" in (out / "report.md").read_text()


def test_html_is_self_contained(report: tuple[Path, list[Path]]) -> None:
    out, written = report
    text = (out / "report.html").read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower() and "<link" not in text.lower()
    pngs = [p for p in written if p.suffix == ".png"]
    assert text.count('src="data:image/png;base64,') == len(pngs)


def test_every_png_opens(report: tuple[Path, list[Path]]) -> None:
    _, written = report
    pngs = [p for p in written if p.suffix == ".png"]
    assert len(pngs) == 5 + 2 * len(POLICIES) + len(POLICIES) - 1
    for path in pngs:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 100 and image.shape[1] > 100


def test_the_combined_cost_is_a_column_with_its_lambda_stated_once(
    report: tuple[Path, list[Path]], ev: Evaluation
) -> None:
    out, _ = report
    text = (out / "report.md").read_text()
    page = html.unescape((out / "report.html").read_text())
    header = next(line for line in text.splitlines() if line.startswith("| Policy | Response"))
    assert header.split(" | ")[-1] == "Combined cost/day (min) |"
    assert '<th class="r">Combined cost/day (min)</th>' in page
    assert text.count("lambda = 60 minutes per theft") == 1
    assert page.count("lambda = 60 minutes per theft") == 1
    for r in ev.results:
        assert f" | {r.summary['combined_cost_per_day']:.0f} |\n" in text, r.name
    nearest = ev.result("nearest").vs_baseline["combined_cost_per_day"]
    row = next(line for line in text.splitlines() if "| Combined cost per day |" in line)
    assert row.startswith("| nearest |") and f"{nearest['difference']:+.2f} min" in row
    assert json.loads((out / "metrics.json").read_text())["theft_minutes"] == 60.0


def test_markdown_mentions_policies_limit_and_calibration(
    report: tuple[Path, list[Path]], ev: Evaluation
) -> None:
    out, written = report
    text = (out / "report.md").read_text()
    assert text.startswith("# Patrol evaluation: small, 3 days, seed 0")
    for name in POLICIES:
        assert f"| {name} |" in text
    assert "Paired differences against fixed_zone" in text
    assert "Travel lower bound (min)" in text and "Multiple of the bound" in text
    bound = f"| Theft lower bound (expected/day) | {ev.limit['theft_lower_bound']:.2f} |"
    assert "The limit: theft bound" in text and bound in text
    for row in CALIBRATION_ROWS:
        assert f"| {row} |" in text
    assert "44.83 %" in text and "86.11 %" in text
    shares = ev.result("nearest").breakdown["precincts"]
    hot = hot_spot_precinct(ev.district)
    row = f"| {hot} {ev.district.config.precincts[hot].name} | "
    row += f"{100 * shares[hot]['patrol_share']:.2f} % | 39.97 % |"
    assert row in text
    district_share = 100 * ev.result("nearest").summary["patrol_share"]
    assert f"| District | {district_share:.2f} % | 44.83 % |" in text
    for p in written:
        if p.suffix == ".png":
            assert f"]({p.name})" in text


def test_no_calibration_without_nearest(ev: Evaluation, tmp_path: Path, no_plots: None) -> None:
    only_base = Evaluation(
        district=ev.district,
        seed=ev.seed,
        seeds=ev.seeds,
        results=[ev.result("fixed_zone")],
        limit=ev.limit,
        calibration=None,
    )
    write_report(only_base, tmp_path / "out")
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Calibration" not in text and "nearest" not in text


def test_format_table(ev: Evaluation) -> None:
    lines = format_table(ev).splitlines()
    assert len(lines) == 2 + len(POLICIES)
    assert lines[0].split()[:2] == ["policy", "resp"]
    for line, name in zip(lines[2:], POLICIES, strict=True):
        assert line.startswith(name)


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("plot failed")


def test_failure_mid_write_leaves_nothing(
    ev: Evaluation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plots, "presence_heatmap", _boom)  # after four plots were written
    with pytest.raises(RuntimeError, match="plot failed"):
        write_report(ev, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_the_earlier_report(
    ev: Evaluation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    write_report(ev, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(plots, "thefts_per_day", _boom)
    with pytest.raises(RuntimeError):
        write_report(ev, out)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_replaces_an_earlier_report_or_an_empty_folder(
    ev: Evaluation, tmp_path: Path, no_plots: None
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write_report(ev, out)
    (out / "stale.png").write_bytes(PNG_SIGNATURE)
    write_report(ev, out)
    assert not (out / "stale.png").exists()
    assert (out / "metrics.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_refuses_to_replace_a_foreign_folder(ev: Evaluation, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        write_report(ev, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# A harness script put first in <head>: it records console errors and uncaught errors, and,
# once the page has loaded, every image's natural width, into <pre id="harness"> for --dump-dom.
_HARNESS = """<script>
window.__errors = [];
const __error = console.error.bind(console);
console.error = (...a) => { window.__errors.push(a.join(" ")); __error(...a); };
window.addEventListener("error", e => window.__errors.push(String(e.message || e)), true);
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "harness";
  const images = [...document.images].map(i => [i.alt, i.complete, i.naturalWidth]);
  out.textContent = JSON.stringify({errors: window.__errors, images: images});
  document.body.appendChild(out);
});
</script>"""


def test_report_html_renders_in_headless_chromium(
    report: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    out, written = report
    page = tmp_path / "report.html"
    page.write_text(
        (out / "report.html").read_text(encoding="utf-8").replace("<head>", "<head>" + _HARNESS, 1),
        encoding="utf-8",
    )
    run = subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
            "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
            "--dump-dom", page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="harness">(.*?)</pre>', run.stdout, re.S)
    assert found, f"the page never finished loading: {run.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    assert result["errors"] == []
    assert [line for line in run.stderr.splitlines() if ":CONSOLE" in line] == []  # no script logs
    pngs = [p for p in written if p.suffix == ".png"]
    assert len(result["images"]) == len(pngs)
    for alt, complete, width in result["images"]:
        assert complete and width > 100, alt
