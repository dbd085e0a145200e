"""The patrolmarl command: simulate, evaluate, train, export and advise on patrol policies.

User mistakes (bad files, flags, names) print one line ``patrolmarl: error: ...``
on stderr and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from patrolmarl.errors import PatrolMarlError

EXIT_USAGE = 2
# Every simulated day's records stay in memory until the statistics are done (about 10 kB
# per policy and day, and 0.5 s of one core to simulate): ten years is far past any need.
MAX_DAYS = 3650
# `beats --dispatch` choices -> the beat plan's dispatch rule.
PLAN_DISPATCH = {"nearest": "nearest", "zone": "own_beat"}
# Top-level modules of the `train` extra: a command that needs one names the extra to install.
TRAINING_MODULES = frozenset({"torch", "stable_baselines3", "sb3_contrib", "tensorboard", "tqdm"})
INSTALL_TRAINING = 'pip install -c constraints.txt -e ".[train]"'


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows each option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and defaults in the help."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise PatrolMarlError(message)


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def _positive_int(text: str) -> int:
    return _whole_number(text, 1)


def _seed(text: str) -> int:
    return _whole_number(text, 0)


def _port(text: str) -> int:
    port = _whole_number(text, 0)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"must be at most 65535, got {port}")
    return port


def _days(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_DAYS:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_DAYS:,} days (every day's records are kept in memory), got {value:,}"
        )
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("patrolmarl")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = _Parser(prog="patrolmarl", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"patrolmarl {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sim = sub.add_parser("simulate", help="simulate days of a district under one policy")
    sim.add_argument("--district", default="gaoxin", help="built-in name or YAML path")
    sim.add_argument(
        "--policy", default="nearest", help="baseline name, policy file or export folder"
    )
    sim.add_argument("--days", type=_days, default=1, help=f"simulated days (at most {MAX_DAYS:,})")
    sim.add_argument("--seed", type=_seed, default=0, help="seed of the days and policies")
    sim.add_argument("--json", action="store_true", help="print the metrics as JSON")

    ev = sub.add_parser("evaluate", help="score policies against a baseline on the same days")
    ev.add_argument("--district", default="gaoxin", help="built-in name or YAML path")
    ev.add_argument(
        "--policies",
        default="fixed_zone,nearest,pmedian,coverage,pmedian_theft,redeploy,random",
        help="comma-separated baseline names, policy files (.zip, .onnx, .yaml) and export "
        "folders, each optionally NAME=SPEC to name it in the report",
    )
    ev.add_argument("--days", type=_days, default=30, help=f"simulated days (at most {MAX_DAYS:,})")
    ev.add_argument("--seed", type=_seed, default=0, help="seed of the days and policies")
    ev.add_argument(
        "--out", type=Path, default=None, help="report folder (default reports/<district>)"
    )
    ev.add_argument(
        "--baseline",
        default="fixed_zone",
        help="the evaluated policy every other is compared with (paired differences)",
    )
    ev.add_argument(
        "--pairs",
        default="",
        help="extra comparisons A:B,C:D (policy A against policy B, by their report names)",
    )
    ev.add_argument(
        "--frontier",
        type=Path,
        default=None,
        help="a patrolmarl frontier folder (or its frontier.json) whose figure the report "
        "shows (default: ../frontier-<district> beside the report folder, if there)",
    )
    ev.add_argument(
        "--theft-minutes",
        type=_non_negative_number,
        default=None,
        help="lambda of the combined cost: response minutes one theft weighs "
        "(default: the reward's theft weight, 60)",
    )
    ev.add_argument(
        "--calibration",
        action="store_true",
        help="run only the nearest policy and print its figures beside the report's",
    )
    ev.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    fr = sub.add_parser("frontier", help="sweep the theft weight and plot response against thefts")
    fr.add_argument("--district", default="gaoxin", help="built-in name or YAML path")
    fr.add_argument("--days", type=_positive_int, default=30)
    fr.add_argument("--seed", type=_seed, default=0)
    fr.add_argument(
        "--policies", default="", help="more policies to place (comma-separated names or files)"
    )
    fr.add_argument(
        "--lambdas",
        type=_theft_weights,
        default=None,
        help="comma-separated theft weights, minutes per theft (default 0,15,30,60,120,240,480)",
    )
    fr.add_argument(
        "--out", type=Path, default=None, help="folder (default reports/frontier-<district>)"
    )
    fr.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    bt = sub.add_parser("beats", help="derive, map and judge recommended beats from a policy")
    bt.add_argument("--policy", required=True, help="baseline name, policy file or export folder")
    bt.add_argument("--district", default="gaoxin", help="built-in name or YAML path")
    bt.add_argument("--days", type=_days, default=30, help=f"simulated days (at most {MAX_DAYS:,})")
    bt.add_argument("--blocks", type=_day_blocks, default=4, help="time blocks a day (divides 24)")
    bt.add_argument(
        "--method",
        choices=("partition", "patrol-time"),
        default="partition",
        help="partition: contiguous balanced beats tiling the district (default); "
        "patrol-time: each unit's cells holding --share of its patrol time",
    )
    bt.add_argument(
        "--share", type=_share, default=0.8, help="share of idle patrol time per beat (patrol-time)"
    )
    bt.add_argument(
        "--tolerance",
        type=_tolerance,
        default=None,
        help="largest workload deviation from the mean, a share of it (partition; default 0.1)",
    )
    bt.add_argument(
        "--dispatch",
        choices=tuple(PLAN_DISPATCH),
        default="nearest",
        help="nearest: nearest free unit (1+1, default); zone: units take only their beat's calls",
    )
    bt.add_argument("--seed", type=_seed, default=0, help="seed of the days and policies")
    bt.add_argument("--out", type=Path, default=None, help="folder (default beats/<policy>)")
    bt.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    tr = sub.add_parser("train", help="train PPO patrol policies from a YAML config")
    tr.add_argument(
        "--config", type=Path, help="training config YAML (e.g. configs/train/ppo.yaml)"
    )
    tr.add_argument("--district", default=None, help="override the config's district")
    tr.add_argument("--timesteps", type=_positive_int, default=None, help="total agent-steps")
    tr.add_argument("--seeds", default=None, help="comma-separated seeds: one run per seed")
    tr.add_argument("--run-dir", type=Path, default=None, help="run folder (default runs/<config>)")
    tr.add_argument("--resume", type=Path, default=None, help="continue the run in this folder")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    sw = sub.add_parser("sweep", help="search training hyperparameters on Ray Tune")
    sw.add_argument("--config", type=Path, help="sweep YAML (e.g. configs/sweeps/ppo_search.yaml)")
    sw.add_argument("--out", type=Path, default=None, help="sweep folder (default sweeps/<config>)")
    sw.add_argument("--address", default=None, help="join a Ray cluster: auto or HOST:PORT")
    sw.add_argument("--resume", type=Path, default=None, help="continue the sweep in this folder")

    ex = sub.add_parser("export", help="write a policy as ONNX, its card and observation tables")
    ex.add_argument("run_dir", type=Path, help="run folder of patrolmarl train")
    ex.add_argument("--out", type=Path, required=True, help="export folder (e.g. exports/NAME)")
    ex.add_argument(
        "--model", choices=("best", "final"), default="best", help="which model of the run"
    )

    ad = sub.add_parser("advise", help="recommend each unit's next action in a real situation")
    ad.add_argument("--policy", type=Path, required=True, help="export folder (or its .onnx)")
    ad.add_argument(
        "--snapshot", type=Path, required=True, help="situation JSON (schemas/snapshot.schema.json)"
    )
    ad.add_argument("--json", action="store_true", help="print the recommendations as JSON")

    se = sub.add_parser("serve", help="advise over HTTP: POST /advise, GET /policy, GET /health")
    se.add_argument("--policy", type=Path, required=True, help="export folder (or its .onnx)")
    se.add_argument("--host", default="127.0.0.1", help="address to listen on")
    se.add_argument("--port", type=_port, default=8000, help="TCP port (0: any free port)")

    di = sub.add_parser("district", help="build a district file from a planner's own data")
    di_sub = di.add_subparsers(dest="district_command", required=True, parser_class=_Parser)
    im = di_sub.add_parser("import", help="calls CSV + type map (+ boundary, roads, fleet) -> YAML")
    im.add_argument("--calls", type=Path, required=True, help="calls-for-service CSV (header row)")
    im.add_argument("--types", type=Path, required=True, help="type map YAML (data types -> ours)")
    im.add_argument("--out", type=Path, required=True, help="district file to write (.yaml)")
    im.add_argument("--cell-size", type=_metres, default=400.0, help="cell edge in metres")
    im.add_argument("--boundary", type=Path, help="precinct polygons (GeoJSON, WGS84)")
    im.add_argument("--precinct-field", default="name", help="boundary property naming a precinct")
    im.add_argument("--precinct-column", help="calls column naming the precinct (no boundary)")
    im.add_argument("--stations", type=Path, help="stations CSV: name, lat, lon[, precincts]")
    im.add_argument("--units", type=Path, help="units YAML: vehicles, units, precincts")
    im.add_argument("--roads", type=Path, help="road lines (GeoJSON) or an OSM XML file (.osm)")
    im.add_argument("--time-column", default="time")
    im.add_argument("--type-column", default="type")
    im.add_argument("--lat-column", default="lat")
    im.add_argument("--lon-column", default="lon")
    im.add_argument("--x-column", help="projected x (with --y-column and --crs)")
    im.add_argument("--y-column", help="projected y (with --x-column and --crs)")
    im.add_argument("--crs", help="CRS of --x-column/--y-column, e.g. EPSG:32649")
    im.add_argument("--id-column", help="call id column: repeated ids are dropped")
    im.add_argument("--time-format", help="strftime format of the times (default ISO 8601)")
    im.add_argument("--max-dropped", type=_share_or_zero, help="fail if more rows are dropped")
    im.add_argument("--name", help="district name (default: the file name)")
    im.add_argument("--seed", type=_seed, default=0, help="seed of the report's model days")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``patrolmarl`` console script."""
    try:
        args = build_parser().parse_args(argv)
        return _run(args)
    except PatrolMarlError as exc:
        for line in str(exc).splitlines() or [""]:  # some errors list several problems
            print(f"patrolmarl: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("patrolmarl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; stay quiet like other Unix tools.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - flushed at interpreter exit
        return 0


def _run(args: argparse.Namespace) -> int:
    """Run the subcommand; a missing module of the training extra is a user error naming it."""
    try:
        return _COMMANDS[args.command](args)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in TRAINING_MODULES:
            raise
        raise PatrolMarlError(
            f"{args.command} needs the training extra ({missing} is not installed): "
            f"{INSTALL_TRAINING}"
        ) from None


def _simulate(args: argparse.Namespace) -> int:
    from patrolmarl.agents.registry import load_policy
    from patrolmarl.envs.district import District
    from patrolmarl.envs.incidents import IncidentModel
    from patrolmarl.evaluation.evaluate import summarise
    from patrolmarl.evaluation.runner import day_seeds, run_policy
    from patrolmarl.json_text import json_text

    district = District.load(args.district)
    policy = load_policy(args.policy, district, seed=args.seed)
    records = run_policy(district, policy, day_seeds(args.seed, args.days))
    summary = summarise(policy.name, records, IncidentModel(district)).summary
    if args.json:
        print(json_text(summary))
    else:
        print(f"{district.name}: policy {policy.name}, {args.days} day(s), seed {args.seed}")
        for key, value in summary.items():
            print(f"  {key:24s} {_format_value(value)}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from patrolmarl.agents.registry import load_policies
    from patrolmarl.envs.district import District
    from patrolmarl.evaluation.combined_cost import DEFAULT_THEFT_MINUTES
    from patrolmarl.evaluation.evaluate import BASELINE, check_compared_names, evaluate
    from patrolmarl.evaluation.frontier import read_frontier_figure
    from patrolmarl.evaluation.report import format_table, is_report_folder, write_report
    from patrolmarl.evaluation.runner import default_workers

    district = District.load(args.district)
    names = ["nearest"] if args.calibration else [p.strip() for p in args.policies.split(",")]
    if not all(names):
        raise PatrolMarlError(f"--policies: empty policy name in {args.policies!r}")
    if len(set(names)) != len(names):
        raise PatrolMarlError(f"--policies: a policy is listed twice in {args.policies!r}")
    policies = load_policies(names, district, seed=args.seed)
    evaluated = [p.name for p in policies]
    if args.baseline == BASELINE and BASELINE not in evaluated:
        evaluated.insert(0, BASELINE)
    pairs = _pairs(args.pairs, evaluated)
    check_compared_names(evaluated, args.baseline, pairs)
    out = args.out or Path("reports") / district.name
    frontier = None
    if args.frontier is not None:
        frontier = read_frontier_figure(args.frontier, district)
    elif (beside := out.absolute().parent / f"frontier-{district.name}").is_dir():
        try:
            frontier = read_frontier_figure(beside, district)
        except PatrolMarlError:
            frontier = None  # not this district's sweep, or not a sweep: not ours to show
    if not args.calibration:
        _check_out(out, "report", is_report_folder)
    with _progress(not args.no_progress, len(policies) + 1, district) as on_step:
        ev = evaluate(
            district,
            policies,
            args.days,
            args.seed,
            on_step=on_step,
            workers=default_workers(),
            baseline=args.baseline,
            pairs=pairs,
            theft_minutes=(
                DEFAULT_THEFT_MINUTES if args.theft_minutes is None else args.theft_minutes
            ),
        )
    if args.calibration:
        print(_calibration_table(ev.calibration))
        return 0
    written = write_report(ev, out, frontier=frontier)
    print(format_table(ev))
    print(f"report: {out / 'report.html'} ({len(written)} files)")
    return 0


def _pairs(text: str, names: Sequence[str]) -> list[tuple[str, str]]:
    """``A:B,C:D`` as ``[(A, B), (C, D)]``; a name may hold a colon (``pmedian_theft:theft=60``),
    so each item is split at the one colon that leaves two evaluated names."""
    if not text.strip():
        return []
    pairs = []
    for item in (part.strip() for part in text.split(",")):
        splits = [
            (item[:i], item[i + 1 :])
            for i, ch in enumerate(item)
            if ch == ":" and item[:i] in names and item[i + 1 :] in names
        ]
        if len(splits) != 1:
            raise PatrolMarlError(
                f"--pairs: {item!r} is not A:B of two evaluated policies ({', '.join(names)})"
            )
        pairs.append(splits[0])
    if len(set(pairs)) != len(pairs):
        raise PatrolMarlError(f"--pairs: a pair is listed twice in {text!r}")
    return pairs


def _non_negative_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text.strip()!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be finite and >= 0, got {text.strip()!r}")
    return value


def _theft_weights(text: str) -> list[float]:
    weights = [_non_negative_number(item) for item in text.split(",")]
    if len(set(weights)) != len(weights):
        raise argparse.ArgumentTypeError(f"a weight is listed twice in {text!r}")
    return weights


def _frontier(args: argparse.Namespace) -> int:
    from patrolmarl.agents.registry import load_policies
    from patrolmarl.envs.district import District
    from patrolmarl.evaluation.frontier import (
        DEFAULT_LAMBDAS,
        format_table,
        is_frontier_folder,
        run_frontier,
        sweep_specs,
        write_frontier,
    )

    district = District.load(args.district)
    names = [p.strip() for p in args.policies.split(",")] if args.policies.strip() else []
    if not all(names) or len(set(names)) != len(names):
        raise PatrolMarlError(f"--policies: an empty or repeated name in {args.policies!r}")
    policies = load_policies(names, district, seed=args.seed)
    lambdas = args.lambdas if args.lambdas is not None else list(DEFAULT_LAMBDAS)
    out = args.out or Path("reports") / f"frontier-{district.name}"
    _check_out(out, "frontier", is_frontier_folder)
    n_policies = len(set(sweep_specs(lambdas)) | set(names)) + 4
    with _progress(not args.no_progress, n_policies, district) as on_step:
        frontier = run_frontier(district, policies, args.days, args.seed, lambdas, on_step)
    write_frontier(frontier, out)
    print(frontier.answer())
    print(format_table(frontier))
    print(f"frontier: {out / 'frontier.png'} (frontier.json, frontier.md)")
    return 0


def _day_blocks(text: str) -> int:
    value = _positive_int(text)
    if 24 % value:
        raise argparse.ArgumentTypeError(f"must divide 24 (1, 2, 3, 4, 6, 8, 12, 24), got {value}")
    return value


def _fraction(text: str, zero_allowed: bool) -> float:
    """A number in (0, 1], or [0, 1] when ``zero_allowed``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (0.0 <= value if zero_allowed else 0.0 < value) or not value <= 1.0:
        low = "from 0" if zero_allowed else "above 0"
        raise argparse.ArgumentTypeError(f"must be {low} and at most 1, got {text}")
    return value


def _share(text: str) -> float:
    return _fraction(text, zero_allowed=False)


def _share_or_zero(text: str) -> float:
    return _fraction(text, zero_allowed=True)


def _tolerance(text: str) -> float:
    value = _share(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"must be above 0 and below 1, got {text}")
    return value


def _beats(args: argparse.Namespace) -> int:
    from patrolmarl.beats.partition import DEFAULT_TOLERANCE
    from patrolmarl.beats.recommendation import recommend_beats
    from patrolmarl.envs.district import District

    district = District.load(args.district)
    out = args.out or Path("beats") / _folder_name(args.policy)
    _check_out(out)
    with _progress(not args.no_progress, 4, district) as on_step:
        rec = recommend_beats(
            district,
            args.policy,
            args.days,
            args.seed,
            args.blocks,
            args.share,
            out,
            on_step,
            method=args.method,
            tolerance=DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance,
            dispatch=PLAN_DISPATCH[args.dispatch],
        )
    if rec.partition is not None:
        tolerance = rec.partition.tolerance
        for k, part in enumerate(rec.partition.blocks):
            missed = part.imbalance > tolerance + 1e-9
            print(
                f"block {k}: {part.method}, {part.seconds:.1f} s, gap {part.gap:.1%} to the bound, "
                f"workload within {part.imbalance:.1%} of the mean (CV {part.workload_cv:.3f})"
                + (f": NOT within the tolerance {tolerance:.0%}" if missed else "")
            )
    print(rec.judgement.to_text())
    print(f"beats: {rec.out_dir} (plan.yaml, beats.geojson, schedule.csv, maps, judgement, report)")
    return 0


def _metres(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected metres, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of metres, got {text}")
    return value


def _district_import(args: argparse.Namespace) -> int:
    from patrolmarl.data.calls_csv import CallColumns
    from patrolmarl.data.import_district import ImportOptions, import_district

    if (args.x_column is None) != (args.y_column is None) or (
        args.x_column is not None and args.crs is None
    ):
        raise PatrolMarlError("--x-column, --y-column and --crs go together")
    if args.boundary is not None and args.precinct_column is not None:
        raise PatrolMarlError("--precinct-column is for calls without --boundary; give one")
    columns = CallColumns(
        time=args.time_column,
        type=args.type_column,
        lat=args.lat_column,
        lon=args.lon_column,
        x=args.x_column,
        y=args.y_column,
        crs=args.crs,
        id=args.id_column,
        precinct=args.precinct_column,
        time_format=args.time_format,
    )
    result = import_district(
        ImportOptions(
            calls=args.calls,
            types=args.types,
            out=args.out,
            cell_size_m=args.cell_size,
            columns=columns,
            boundary=args.boundary,
            precinct_field=args.precinct_field,
            stations=args.stations,
            units=args.units,
            roads=args.roads,
            max_dropped=args.max_dropped,
            name=args.name,
            seed=args.seed,
        )
    )
    d = result.district
    print(
        f"{d.name}: {d.rows} x {d.cols} cells, {d.n_precincts} precincts, {d.n_units} units, "
        f"{len(result.fits)} call types from {result.rows_used:,} of {result.rows_read:,} rows "
        f"over {result.n_days} days"
    )
    print(f"district: {result.district_path}  report: {result.report_dir / 'import_report.md'}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from patrolmarl.envs.district import District
    from patrolmarl.training.config import load_train_config
    from patrolmarl.training.train import describe_final, resume_config, train_run, train_seeds

    overrides = {"total_timesteps": args.timesteps}
    if args.resume is not None:
        if args.config is not None or args.run_dir is not None:
            raise PatrolMarlError("--resume takes the config and folder of the run it continues")
        run_dir = args.resume
        config, source = resume_config(run_dir, overrides)
    else:
        if args.config is None:
            raise PatrolMarlError("train needs --config FILE (or --resume RUN_DIR)")
        source = args.config
        run_dir = args.run_dir or Path("runs") / args.config.stem
        config = load_train_config(source, overrides | {"district": args.district})
    District.load(config.district)  # a bad district fails now, not after set-up
    progress = not args.no_progress and sys.stderr.isatty()
    resume = args.resume is not None
    seeds = _parse_seeds(args.seeds) if args.seeds is not None else None
    if resume and (run_dir / "seeds.json").is_file():
        seeds = _saved_seeds(run_dir / "seeds.json")
    if seeds is None:
        summary = train_run(config, run_dir, resume, progress, source=str(source))
        print(describe_final(summary, run_dir))
        return 0
    summary = train_seeds(config, seeds, run_dir, resume, progress, source=str(source))
    for key in ("response_mean", "thefts_per_day", "response_p90"):
        row = summary["metrics"][key]
        print(
            f"{key:16s} mean {row['mean']:.3f}  95% CI [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
            f"  sd {row['std']:.3f}  over seeds {seeds}"
        )
    print(f"runs: {', '.join(str(run_dir / f'seed_{s}') for s in seeds)} (each with report/)")
    print(f"learning curves: {run_dir / 'learning_curves.png'}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from patrolmarl.training.sweep import format_table, load_sweep, read_sweep_folder, run_sweep

    if args.resume is not None:
        if args.config is not None or args.out is not None:
            raise PatrolMarlError("--resume takes the sweep file and folder it continues")
        sweep, sweep_dir = read_sweep_folder(args.resume), args.resume
    else:
        if args.config is None:
            raise PatrolMarlError("sweep needs --config FILE (or --resume SWEEP_DIR)")
        sweep = load_sweep(args.config)
        sweep_dir = args.out or Path("sweeps") / args.config.stem
    rows = run_sweep(sweep, sweep_dir, args.address, resume=args.resume is not None)
    print(format_table(rows, sweep.dimensions))
    print(f"sweep: {sweep_dir} (trials.csv, trials.json, best_config.yaml, metric.png)")
    return 0


def _export(args: argparse.Namespace) -> int:
    _check_out(args.out)  # before the (slow) import of the training stack
    from patrolmarl.training.export import export_run

    out = export_run(args.run_dir, args.out, model=args.model)
    files = "policy.onnx, policy.json, observation_tables.npz"
    print(f"exported {args.run_dir / (args.model + '.zip')} to {out}/ ({files})")
    return 0


def _advise(args: argparse.Namespace) -> int:
    from patrolmarl.advise import advise, load_advisor
    from patrolmarl.advise.validation import read_snapshot_json

    advisor = load_advisor(args.policy)
    snapshot, source = read_snapshot_json(args.snapshot), str(args.snapshot)
    if args.json:
        print(json.dumps(advise(advisor, snapshot, source), indent=2))
    else:
        print(advisor.advice(snapshot, source).words())
    return 0


def _serve(args: argparse.Namespace) -> int:
    from patrolmarl.advise import load_advisor
    from patrolmarl.advise.serve import listening_socket, serve

    advisor = load_advisor(args.policy)
    sock = listening_socket(args.host, args.port)
    serve(advisor, sock)
    return 0


def _parse_seeds(text: str) -> list[int]:
    from patrolmarl.training.config import MAX_SEED

    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise PatrolMarlError(
            f"--seeds: expected comma-separated whole numbers, got {text!r}"
        ) from None
    if any(not 0 <= s <= MAX_SEED for s in seeds) or len(set(seeds)) != len(seeds):
        raise PatrolMarlError(
            f"--seeds: seeds must be distinct, from 0 to {MAX_SEED:,}, got {text!r}"
        )
    return seeds


def _folder_name(spec: str) -> str:
    """A folder name for a policy spec: its NAME=, or the name a policy file would get."""
    from patrolmarl.agents.registry import default_name, split_name

    name, target = split_name(spec)
    return (name or default_name(Path(target))).replace("/", "_")


def _check_out(
    out: Path, kind: str | None = None, is_kind: Callable[[set[str]], bool] | None = None
) -> None:
    """Refuse, before any work starts, an output folder that cannot be written or that
    holds something other than an earlier output of this ``kind`` (when given)."""
    from patrolmarl.output_folder import check_replaceable, check_writable

    try:
        if kind is not None and is_kind is not None:
            check_replaceable(out.absolute(), kind, is_kind)
        check_writable(out)
    except (FileExistsError, PatrolMarlError) as exc:
        raise PatrolMarlError(f"--out: {exc}") from None


def _saved_seeds(path: Path) -> list[int]:
    """The seeds of a resumed set of runs (``seeds.json``, written by ``train --seeds``)."""
    try:
        return _parse_seeds(",".join(str(s) for s in json.loads(path.read_text())))
    except (OSError, UnicodeDecodeError, ValueError, TypeError, PatrolMarlError):
        raise PatrolMarlError(f"--resume: {path} is damaged (expected a list of seeds)") from None


def _calibration_table(calibration: dict) -> str:
    lines = [f"{'figure':26s} {'model':>10s} {'reported':>10s}"]
    rows = [
        *calibration["district"].items(),
        *((f"patrol_share precinct {code}", row) for code, row in calibration["precincts"].items()),
    ]
    for key, row in rows:
        model, reported = row["model"], row["reported"]
        model_text = "n/a" if model is None else f"{model:10.4g}"
        reported_text = "" if reported is None else f"{reported:10.4g}"
        lines.append(f"{key:26s} {model_text:>10s} {reported_text:>10s}")
    return "\n".join(lines)


class _progress:
    """A rich progress bar over policies x steps (or nothing)."""

    def __init__(self, enabled: bool, n_policies: int, district) -> None:
        self._enabled = enabled and sys.stderr.isatty()
        self._total = (
            n_policies
            * district.config.simulation.episode_minutes
            / (district.config.simulation.step_minutes)
        )
        self._bar = None

    def __enter__(self):
        if not self._enabled:
            return None
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        self._bar.start()
        task = self._bar.add_task("evaluating", total=self._total)
        last: dict[str, int] = {}

        def on_step(name: str, steps: int) -> None:
            self._bar.update(task, advance=steps - last.get(name, 0), description=name)
            last[name] = steps

        return on_step

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def _format_value(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_format_value(v)}" for k, v in value.items())
    return str(value)


# Each subcommand's handler.
_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "simulate": _simulate,
    "evaluate": _evaluate,
    "train": _train,
    "export": _export,
    "sweep": _sweep,
    "advise": _advise,
    "serve": _serve,
    "beats": _beats,
    "frontier": _frontier,
    "district": _district_import,
}


if __name__ == "__main__":
    sys.exit(main())
