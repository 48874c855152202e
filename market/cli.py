"""The ``privmarket`` command: parse, call the Python API, print.

Commands::

    privmarket list
    privmarket run SCENARIO|FILE [--rounds N] [--seed S] [--out DIR] [--set KEY=VALUE ...]
                 [--owner-every K] [--owner-sample N] [--checkpoint-every K]
    privmarket resume DIR
    privmarket reproduce PAPER_ID [--out DIR]
    privmarket train-auction SCENARIO|FILE --out FILE [--steps N] [--seed S] [--set KEY=VALUE ...]
    privmarket sweep SCENARIO|FILE --grid KEY=V1,V2,... [--grid ...] [--replicates R] --out DIR
                 [--rounds N] [--set KEY=VALUE ...] [--workers W] [--threads] [--scheduler ADDRESS]
    privmarket plot DIR [--out FIGDIR]
    privmarket report DIR [--out FILE]
    privmarket app [SCENARIO|FILE] [--port P]
    privmarket --version

User mistakes (a bad scenario, an unknown name) print one line on standard
error and exit with status 2; they never show a traceback.  Ctrl-C (or
SIGTERM) during a run stops it after the current round, saves a checkpoint
and prints how to resume (exit status 130).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from analysis.plots import plot
from analysis.report import report
from analysis.reproduce import PAPERS, reproduce
from analysis.sweep import parse_grid, sweep
from market.runner import Interrupted, resume, run
from market.theory.fl_market.murba import save_model
from market.training.murba import TorchMissing, TrainingConfig, require_torch, train, training_scenario
from scenarios.schema import ScenarioError, builtin_descriptions, load

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake in the command or its inputs: printed as one line, exit 2."""


def _version() -> str:
    try:
        return metadata.version("privmarket")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``privmarket``."""
    parser = argparse.ArgumentParser(
        prog="privmarket", description="Agent-based, discrete-event simulator of markets for private data.")
    parser.add_argument("--version", action="version", version=f"privmarket {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("list", help="list the built-in scenarios")

    run = sub.add_parser("run", help="run a scenario and write its outputs")
    run.add_argument("scenario", help="built-in scenario name or path to a .toml file")
    run.add_argument("--rounds", type=int, help="number of rounds (overrides the scenario)")
    run.add_argument("--seed", type=int, help="random seed (overrides the scenario)")
    run.add_argument("--out", type=Path, help="output directory (default: runs/<scenario>-seed<seed>)")
    run.add_argument("--owner-every", type=int, metavar="K", help="record owner state every K rounds (0: never)")
    run.add_argument("--owner-sample", type=int, metavar="N", help="record only about N owners (0: all)")
    run.add_argument("--checkpoint-every", type=int, metavar="K",
                     help="save the full model state every K rounds, for `privmarket resume`")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a scenario value, e.g. --set mechanism.sale_price=1.5 (repeatable)")

    res = sub.add_parser("resume", help="continue an interrupted run from its last checkpoint")
    res.add_argument("out", type=Path, help="the run's output directory")

    rep = sub.add_parser("reproduce", help="check a paper's numbers and write its figure analogues")
    rep.add_argument("paper", help="paper id: 000, 001, 002, 003 or 004")
    rep.add_argument("--out", type=Path, help="directory for the PNG figures (default: reproduce-out/<id>)")

    tra = sub.add_parser("train-auction", help="train MURBA, paper 002's learned auction, for a scenario "
                         "(needs PyTorch)")
    tra.add_argument("scenario", help="an fl_market scenario: built-in name or path to a .toml file")
    tra.add_argument("--out", type=Path, required=True, help="weights file to write (.npz)")
    tra.add_argument("--steps", type=int, help="training iterations (default 1000)")
    tra.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    tra.add_argument("--budget-range", metavar="LOW:HIGH",
                     help="train over auction budgets drawn from U[LOW, HIGH], so one network serves them all "
                          "(default: the scenario's budget only)")
    tra.add_argument("--dummy-payment", action="store_true",
                     help="payment softmax with an 'unspent' node: the budget need not be spent")
    tra.add_argument("--raw-inputs", action="store_true",
                     help="feed log(1 + x) inputs without standardising them")
    tra.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a scenario value (repeatable)")

    swp = sub.add_parser("sweep", help="run a grid of scenario values times replicate seeds on Dask")
    swp.add_argument("scenario", help="built-in scenario name or path to a .toml file")
    swp.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2,...",
                     help="a swept key and its values, or KEY=START:STOP:NUM (repeatable: Cartesian product)")
    swp.add_argument("--replicates", type=int, default=1, metavar="R", help="seeds per cell (default 1)")
    swp.add_argument("--out", type=Path, required=True, help="output directory (rerun to resume)")
    swp.add_argument("--rounds", type=int, help="number of rounds (overrides the scenario)")
    swp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="a fixed override for every cell (repeatable)")
    swp.add_argument("--scheduler", metavar="ADDRESS", help="address of an existing Dask scheduler")
    swp.add_argument("--workers", type=int, help="LocalCluster workers (default: number of cores)")
    swp.add_argument("--threads", action="store_true", help="LocalCluster workers as threads, not processes")

    plo = sub.add_parser("plot", help="write the standard figures of a run or sweep directory (PNG and SVG)")
    plo.add_argument("dir", type=Path, help="a run (privmarket run --out) or sweep directory")
    plo.add_argument("--out", type=Path, help="figure directory (default: DIR/figures)")

    rpt = sub.add_parser("report", help="write one self-contained HTML report of a run or sweep directory")
    rpt.add_argument("dir", type=Path, help="a run (privmarket run --out) or sweep directory")
    rpt.add_argument("--out", type=Path, help="HTML file (default: DIR/report.html)")

    app = sub.add_parser("app", help="serve the interactive market (Mesa SolaraViz) on localhost")
    app.add_argument("scenario", nargs="?", default="quickstart",
                     help="built-in scenario name or path to a .toml file (default: quickstart)")
    app.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default: 8765)")
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    """Print the built-in scenarios with their descriptions."""
    descriptions = builtin_descriptions()
    width = max(len(n) for n in descriptions)
    for name, text in descriptions.items():
        print(f"{name:<{width}}  {text}")
    return 0


class _StopFlag:
    """Set by SIGINT / SIGTERM: the run stops cleanly after the current round."""

    def __init__(self) -> None:
        self.raised = False

    def __call__(self) -> bool:
        return self.raised

    def install(self) -> None:
        def handler(signum, frame):
            if self.raised:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.raised = True
            print("\nprivmarket: stopping after this round ...", file=sys.stderr)

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario, write the five outputs and print a short summary."""
    stop = _StopFlag()
    try:
        scenario = load(args.scenario, args.overrides, seed=args.seed, rounds=args.rounds)
        for flag in ("owner_every", "owner_sample", "checkpoint_every"):
            if getattr(args, flag) is not None and getattr(args, flag) < 0:
                raise UserError(f"--{flag.replace('_', '-')}: must be >= 0")
        out = args.out or Path("runs") / f"{scenario.name}-seed{scenario.seed}"
        stop.install()
        result = run(scenario, out=out, owner_every=args.owner_every, owner_sample=args.owner_sample,
                     checkpoint_every=args.checkpoint_every, progress=True, stop=stop)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    except Interrupted as exc:
        print(f"privmarket: {exc}", file=sys.stderr)
        return 130
    _print_summary(result, out)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Continue an interrupted run and print its summary."""
    stop = _StopFlag()
    stop.install()
    try:
        result = resume(args.out, progress=True, stop=stop)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    except Interrupted as exc:
        print(f"privmarket: {exc}", file=sys.stderr)
        return 130
    _print_summary(result, args.out)
    return 0


def _print_summary(result, out: Path) -> None:
    scenario = result.scenario
    final = result.summary["final"]
    print(f"{scenario.name}: {scenario.rounds} rounds, {int(final['n_owners'])} owners, "
          f"mechanism {scenario.mechanism.name}, rule {scenario.rule.name}, seed {scenario.seed}")
    shares = sorted((k for k in final if k.startswith("share_")), key=lambda k: -final[k])
    shown = [k for k in shares[:4] if final[k] > 0] + [
        "mean_action", "total_payments", "information_rent", "platform_utility", "buyer_spend"]
    print("final round: " + ", ".join(f"{k} {final[k]:.4g}" for k in shown if k in final))
    print(f"wall time {result.summary['wall_time_s']:.2f} s; outputs in {out}/")


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Print a paper's checks beside the simulator's values and write its figures."""
    if args.paper not in PAPERS:
        raise UserError(f"unknown paper id {args.paper!r} (known: {', '.join(PAPERS)})")
    out = args.out or Path("reproduce-out") / args.paper
    try:
        report = reproduce(args.paper, out)
    except LookupError as exc:
        raise UserError(str(exc)) from None
    print(f"paper {args.paper}: {PAPERS[args.paper]}")
    print(report.table())
    for table in report.tables:
        print(f"\n{table}\n")
    for path in report.figures:
        print(f"figure: {path}")
    passed = sum(c.ok for c in report.checks)
    print(f"{passed} of {len(report.checks)} checks match")
    return 0 if report.ok else 1


def cmd_train_auction(args: argparse.Namespace) -> int:
    """Train MURBA for a scenario, save its weights and print its regret and IR violation on held-out profiles."""
    if args.steps is not None and args.steps < 1:
        raise UserError("--steps: must be at least 1")
    try:
        budget_range = () if args.budget_range is None else tuple(float(x) for x in args.budget_range.split(":"))
        config = TrainingConfig(budget_range=budget_range, dummy_payment=args.dummy_payment,
                                normalise=not args.raw_inputs)
    except ValueError:
        raise UserError(f"--budget-range: expected LOW:HIGH with 0 < LOW <= HIGH, got {args.budget_range!r}") \
            from None
    try:
        require_torch()
        scenario = training_scenario(args.scenario, args.overrides)
        result = train(scenario, steps=args.steps, seed=args.seed, config=config, progress=True)
    except (TorchMissing, ScenarioError, ValueError) as exc:
        raise UserError(str(exc)) from None
    try:
        path = save_model(result.model, args.out)
    except OSError as exc:
        raise UserError(f"{args.out}: cannot write the weights ({exc.strerror})") from None
    info = result.model.info
    low, high = info["budget_range"]
    budget = f"B = {low:g}" if low == high else f"B in [{low:g}, {high:g}]"
    print(f"MURBA for {info['scenario']}: {info['n']} owners, M = {info['M']}, {budget}, "
          f"{info['aggregation']}; {info['config']['steps']} steps in {result.seconds:.1f} s (seed {info['seed']})")
    rows = [("error bound, mean", "error_bound"),
            ("regret (eq. 3), mean over owners", "regret_mean"), ("regret (eq. 3), max over owners", "regret_max"),
            ("shading regret, mean over owners", "shading_regret_mean"),
            ("shading regret, max over owners", "shading_regret_max"),
            ("IR violation, mean over owners", "ir_mean"), ("IR violation, max over owners", "ir_max"),
            ("budget: max sum(p) - B", "budget_excess")]
    print(f"{result.trained.profiles} held-out profiles{'':<17}trained   untrained")
    for label, key in rows:
        print(f"  {label:<34}{getattr(result.trained, key):>10.4g}  {getattr(result.untrained, key):>10.4g}")
    print(f'weights: {path} (a scenario uses them with auction = "murba", weights = "{path}")')
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run a sweep and print where its tables are."""
    if args.rounds is not None and args.rounds < 1:
        raise UserError("--rounds: must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers: must be at least 1")
    try:
        grid = parse_grid(args.grid)
        result = sweep(args.scenario, grid, args.replicates, out=args.out, rounds=args.rounds,
                       overrides=args.overrides, scheduler=args.scheduler, n_workers=args.workers,
                       processes=not args.threads, progress=True)
    except (ScenarioError, ValueError) as exc:
        raise UserError(str(exc)) from None
    n_tasks = len(result.cells) * args.replicates
    print(f"{len(result.cells)} cells x {args.replicates} replicates: {len(result.computed)} run now, "
          f"{n_tasks - len(result.computed)} already done")
    print(f"per-round dataset {args.out / 'rounds'}/, summary {args.out / 'summary.parquet'} (and .csv)")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Write the standard figures of a run or sweep and print their paths."""
    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: no such directory")
    try:
        paths = plot(args.dir, args.out)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for path in paths:
        print(f"figure: {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report of a run or sweep and print its path."""
    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: no such directory")
    try:
        path = report(args.dir, args.out)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"report: {path}")
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    """Serve ``analysis/app.py`` with ``solara run`` on 127.0.0.1 and print its URL."""

    try:
        load(args.scenario)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    if not 0 < args.port < 65536:
        raise UserError(f"--port: must be between 1 and 65535, got {args.port}")
    if importlib.util.find_spec("solara") is None:
        raise UserError('the browser app needs solara: pip install -e ".[app]"')
    page = importlib.util.find_spec("analysis.app").origin
    scenario = str(Path(args.scenario).resolve()) if Path(args.scenario).is_file() else args.scenario
    env = dict(os.environ, PRIVMARKET_APP_SCENARIO=scenario)
    print(f"privmarket app: {args.scenario} at http://127.0.0.1:{args.port}/ (Ctrl-C stops)", flush=True)
    command = [sys.executable, "-m", "solara", "run", page, "--host", "127.0.0.1",
               "--port", str(args.port), "--no-open", "--production"]
    return subprocess.run(command, env=env, check=False).returncode


COMMANDS = {"list": cmd_list, "run": cmd_run, "resume": cmd_resume, "reproduce": cmd_reproduce,
            "train-auction": cmd_train_auction, "sweep": cmd_sweep, "plot": cmd_plot, "report": cmd_report,
            "app": cmd_app}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``privmarket`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"privmarket: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("privmarket: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `privmarket list | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
