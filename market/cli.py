"""The ``privmarket`` command: parse, call the Python API, print.

Commands::

    privmarket [-v|-q] COMMAND ...
    privmarket list
    privmarket run SCENARIO|FILE [--rounds N] [--seed S] [--out DIR] [--set KEY=VALUE ...]
                 [--owner-every K] [--owner-sample N] [--checkpoint-every K]
    privmarket resume DIR
    privmarket reproduce PAPER_ID [--out DIR]
    privmarket train-auction SCENARIO|FILE --out FILE [--steps N] [--seed S] [--init WEIGHTS] [--set KEY=VALUE ...]
    privmarket sweep SCENARIO|FILE --grid KEY=V1,V2,... [--grid ...] [--replicates R] [--out DIR]
                 [--rounds N] [--seed S] [--owner-every K] [--set KEY=VALUE ...] [--workers W] [--threads]
                 [--scheduler ADDRESS]
    privmarket sweep SCENARIO|FILE --design lhs|sobol|morris --param KEY=LOW:HIGH|KEY=A,B,C [--param ...]
                 --samples N [--design-seed S] [--out DIR] [...as above]
    privmarket sensitivity DIR --metric NAME [--out DIR]
    privmarket tournament [--out DIR] [--rules R1,R2,...] [--mechanisms M1,...] [--scenarios S1,...]
                 [--replicates R] [--rounds N] [--owners N] [--mixed] [--rank-by OUTCOME] [--test t|wilcoxon]
                 [--set KEY=VALUE ...] [--workers W] [--threads] [--scheduler ADDRESS]
    privmarket first-best SCENARIO|FILE [--points N] [--set KEY=VALUE ...]
    privmarket plot DIR [--out FIGDIR]
    privmarket report DIR [--out FILE]
    privmarket app [SCENARIO|FILE] [--port P]
    privmarket --version

Commands that run scenarios share their flags (:func:`add_run_options`):
``--out`` defaults to ``runs/<name>-<command>[-seed<seed>]`` (:func:`default_out`),
``--seed`` and ``--owner-every`` mean the same everywhere.  Results (tables,
summaries, paths) go to standard output; what happens along the way goes
through :mod:`logging` to standard error (``-v`` more, ``-q`` warnings only),
and long commands show a progress bar there when it is a terminal.

User mistakes (a bad scenario, an unknown name) print one line on standard
error and exit with status 2; they never show a traceback.  Ctrl-C (or
SIGTERM) during a run stops it after the current round, saves a checkpoint
and prints how to resume (exit status 130).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from analysis.design import designed_sweep, parse_params
from analysis.first_best import first_best
from analysis.plots import plot
from analysis.report import folder_kind, report
from analysis.reproduce import PAPERS, reproduce
from analysis.sensitivity import sensitivity
from analysis.sweep import parse_grid, sweep
from analysis.sweep_tasks import describe_failures
from analysis.tournament import tournament
from market.runner import Interrupted, resume, run
from market.simulation.checkpoint import CheckpointError
from market.simulation.run_directory import RunDirectoryError, require_complete, staging
from market.theory.fl_market.murba import load_model, save_model
from market.training.murba import TorchMissing, TrainingConfig, require_torch, train, training_scenario
from scenarios.schema import ScenarioError, builtin_descriptions, load

EXIT_USAGE = 2
RUNS_DIR = Path("runs")
"""Where the default output directories of ``run``, ``sweep``, ``tournament`` and ``reproduce`` go."""
PACKAGES = ("market", "analysis", "scenarios", "agents")
"""Loggers whose INFO lines are shown by default (third-party libraries: warnings only)."""

log = logging.getLogger("market.cli")  # not __name__: that is "__main__" under python -m market.cli


class UserError(Exception):
    """A mistake in the command or its inputs: printed as one line, exit 2."""


def _version() -> str:
    try:
        return metadata.version("privmarket")
    except metadata.PackageNotFoundError:
        return "unknown"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (``privmarket: error: ...``), exit 2."""

    def error(self, message: str):
        command = self.prog.removeprefix("privmarket").strip()
        where = f"{command}: " if command else ""
        self.exit(EXIT_USAGE, f"privmarket: error: {where}{message} (see {self.prog} --help)\n")


def default_out(command: str, name: str, seed: int | None = None) -> Path:
    """The default ``--out`` of a command: ``runs/<name>-<command>[-seed<seed>]``.

    ``name`` is the scenario's name (or the paper id of ``reproduce``); the seed
    is part of it for commands that take ``--seed``, so two seeds never share a
    directory.
    """
    return RUNS_DIR / (f"{name}-{command}" + (f"-seed{seed}" if seed is not None else ""))


def add_run_options(parser: argparse.ArgumentParser, command: str, *, seed: bool = True,
                    owner_every: bool = True) -> None:
    """Add the flags every scenario-running command shares: ``--out``, ``--seed``, ``--owner-every``.

    Same names, same meaning and the same default pattern in ``run``, ``sweep``,
    ``tournament`` and ``reproduce`` (which takes only ``--out``: its checks
    use the papers' own fixed settings).  Resolve ``--out`` with
    :func:`default_out` once the scenario's name and seed are known.
    """
    pattern = f"runs/<scenario>-{command}-seed<seed>" if seed else f"runs/<id>-{command}"
    parser.add_argument("--out", type=Path, metavar="DIR", help=f"output directory (default: {pattern})")
    if seed:
        parser.add_argument("--seed", type=int, metavar="S", help="random seed (default: the scenario's)")
    if owner_every:
        parser.add_argument("--owner-every", type=int, metavar="K",
                            help="record owner state every K rounds (0: never; default: the scenario's)")


def _verbosity() -> argparse.ArgumentParser:
    """``-v`` / ``-q``, accepted before or after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="say more on standard error (-vv: debug)")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only warnings and errors on standard error")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``privmarket``."""
    verbosity = _verbosity()
    parser = _Parser(
        prog="privmarket", description="Agent-based, discrete-event simulator of markets for private data.",
        parents=[verbosity])
    parser.add_argument("--version", action="version", version=f"privmarket {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[verbosity], **kwargs)

    command("list", help="list the built-in scenarios")

    run = command("run", help="run a scenario and write its outputs")
    run.add_argument("scenario", help="built-in scenario name or path to a .toml file")
    run.add_argument("--rounds", type=int, help="number of rounds (overrides the scenario)")
    add_run_options(run, "run")
    run.add_argument("--owner-sample", type=int, metavar="N", help="record only about N owners (0: all)")
    run.add_argument("--checkpoint-every", type=int, metavar="K",
                     help="save the full model state every K rounds, for `privmarket resume`")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a scenario value, e.g. --set mechanism.sale_price=1.5 (repeatable)")

    res = command("resume", help="continue an interrupted run from its last checkpoint")
    res.add_argument("out", type=Path, help="the run's output directory")

    rep = command("reproduce", help="check a paper's numbers and write its figure analogues")
    rep.add_argument("paper", help="paper id: 000, 001, 002, 003 or 004")
    add_run_options(rep, "reproduce", seed=False, owner_every=False)

    tra = command("train-auction", help="train MURBA, paper 002's learned auction, for a scenario "
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
    tra.add_argument("--data-size-inputs", action="store_true",
                     help="give the network the owners' data sizes as inputs (drawn from the scenario's owners)")
    tra.add_argument("--init", metavar="WEIGHTS",
                     help="continue training this weights file (same owners and M) instead of a fresh network")
    tra.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a scenario value (repeatable)")

    swp = command("sweep", help="run a grid or a sampling design of scenario values times replicate seeds "
                  "on Dask")
    swp.add_argument("scenario", help="built-in scenario name or path to a .toml file")
    swp.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                     help="a swept key and its values, or KEY=START:STOP:NUM (repeatable: Cartesian product)")
    swp.add_argument("--design", choices=("grid", "lhs", "sobol", "morris"), default="grid",
                     help="sampling design over the --param ranges (SALib); grid: the --grid product (default)")
    swp.add_argument("--param", action="append", default=[], metavar="KEY=LOW:HIGH",
                     help="a design parameter: a range LOW:HIGH or a categorical set A,B,C (repeatable)")
    swp.add_argument("--samples", type=int, metavar="N",
                     help="design size: LHS points; Sobol base sample N (N(2D+2) runs); Morris trajectories")
    swp.add_argument("--design-seed", type=int, default=0, metavar="S", help="seed of the design (default 0)")
    swp.add_argument("--replicates", type=int, default=1, metavar="R",
                     help="seeds per cell, replicate r with seed S + r (default 1)")
    add_run_options(swp, "sweep")
    swp.add_argument("--rounds", type=int, help="number of rounds (overrides the scenario)")
    swp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="a fixed override for every cell (repeatable)")
    swp.add_argument("--scheduler", metavar="ADDRESS", help="address of an existing Dask scheduler")
    swp.add_argument("--workers", type=int, help="LocalCluster workers (default: number of cores)")
    swp.add_argument("--threads", action="store_true", help="LocalCluster workers as threads, not processes")

    fb = command("first-best", help="the learning platform's best parameter if it knew every owner's cost")
    fb.add_argument("scenario", help="a scenario with a [platform] table: built-in name or .toml path")
    fb.add_argument("--points", type=int, default=101, help="values per dimension of the range (default 101)")
    fb.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a scenario value (repeatable)")

    sen = command("sensitivity", help="sensitivity indices of a designed sweep (Sobol or Morris, SALib)")
    sen.add_argument("dir", type=Path, help="a sweep directory written with --design sobol or morris")
    sen.add_argument("--metric", required=True, help="a column of DIR/summary.parquet, e.g. share_2")
    sen.add_argument("--out", type=Path, help="output directory (default: DIR/sensitivity)")

    tou = command("tournament", help="every decision rule in every market, replicated, ranked, with "
                         "significance (on Dask)")
    add_run_options(tou, "tournament", seed=False, owner_every=False)
    tou.add_argument("--rules", metavar="R1,R2,...", help="decision rules (default: all)")
    tou.add_argument("--mechanisms", metavar="M1,M2,...",
                     help="mechanisms: their default scenarios, or a filter of --scenarios")
    tou.add_argument("--scenarios", metavar="S1,S2,...", help="population scenarios (names or .toml paths)")
    tou.add_argument("--replicates", type=int, default=5, metavar="R", help="seeds per cell (default 5)")
    tou.add_argument("--rounds", type=int, help="rounds of every run (overrides the scenarios)")
    tou.add_argument("--owners", type=int, help="owners of every population drawn from types")
    tou.add_argument("--mixed", action="store_true",
                     help="all rules in one market, ranked by their own owners' payoff")
    tou.add_argument("--rank-by", metavar="OUTCOME", help="ranking outcome (default owner_welfare; mixed: "
                     "owner_payoff)")
    tou.add_argument("--test", choices=("t", "wilcoxon"), default="t", help="paired test over seeds (default t)")
    tou.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm (default 0.05)")
    tou.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="an override for every scenario (repeatable)")
    tou.add_argument("--scheduler", metavar="ADDRESS", help="address of an existing Dask scheduler")
    tou.add_argument("--workers", type=int, help="LocalCluster workers (default: number of cores)")
    tou.add_argument("--threads", action="store_true", help="LocalCluster workers as threads, not processes")

    plo = command("plot", help="write the standard figures of a run or sweep directory (PNG and SVG)")
    plo.add_argument("dir", type=Path, help="a run (privmarket run --out) or sweep directory")
    plo.add_argument("--out", type=Path, help="figure directory (default: DIR/figures)")

    rpt = command("report", help="write one self-contained HTML report of a run, sweep, designed sweep or "
                  "tournament folder")
    rpt.add_argument("dir", type=Path, help="a run, sweep (grid or --design) or tournament output folder")
    rpt.add_argument("--out", type=Path, help="HTML file (default: DIR/report.html)")

    app = command("app", help="serve the interactive market (Mesa SolaraViz) on localhost")
    app.add_argument("scenario", nargs="?", default="quickstart",
                     help="built-in scenario name or path to a .toml file (default: quickstart)")
    app.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default: 8765)")
    return parser


class _StderrHandler(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a line is logged (not when it was created)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        """``StreamHandler.__init__`` sets a stream: ignored, the current ``sys.stderr`` is always used."""


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Log lines ``privmarket: message`` on standard error.

    Default: INFO of privmarket's own packages, WARNING of other libraries;
    ``-v``: DEBUG of privmarket's packages; ``-vv``: DEBUG of everything;
    ``-q``: WARNING only.
    """
    own = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    others = logging.DEBUG if verbose > 1 else logging.ERROR if quiet else logging.WARNING
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("privmarket: %(message)s"))
    # libraries such as dask.distributed set their own loggers to INFO: filter them here, at the handler
    handler.addFilter(lambda record: record.name.split(".")[0] in PACKAGES or record.levelno >= others)
    logging.basicConfig(handlers=[handler], force=True, level=others)
    for package in PACKAGES:
        logging.getLogger(package).setLevel(own)


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
            log.warning("stopping after this round ...")

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario, write the five outputs and print a short summary."""
    stop = _StopFlag()
    try:
        scenario = load(args.scenario, args.overrides, seed=args.seed, rounds=args.rounds)
        for flag in ("owner_every", "owner_sample", "checkpoint_every"):
            _non_negative(args, flag)
        out = args.out or default_out("run", scenario.name, scenario.seed)
        stop.install()
        result = run(scenario, out=out, owner_every=args.owner_every, owner_sample=args.owner_sample,
                     checkpoint_every=args.checkpoint_every, progress=True, stop=stop)
    except (ScenarioError, RunDirectoryError) as exc:
        raise UserError(str(exc)) from None
    except Interrupted as exc:
        log.warning(str(exc))
        return 130
    _print_summary(result, out)
    return 0


def _non_negative(args: argparse.Namespace, flag: str) -> None:
    if getattr(args, flag, None) is not None and getattr(args, flag) < 0:
        raise UserError(f"--{flag.replace('_', '-')}: must be >= 0")


def cmd_resume(args: argparse.Namespace) -> int:
    """Continue an interrupted run and print its summary."""
    stop = _StopFlag()
    stop.install()
    try:
        result = resume(args.out, progress=True, stop=stop)
    except (RunDirectoryError, CheckpointError, ScenarioError) as exc:
        raise UserError(str(exc)) from None
    except Interrupted as exc:
        log.warning(str(exc))
        return 130
    _print_summary(result, args.out)
    return 0


#: Money columns of the end-of-run line, printed with two decimals.
SUMMARY_MONEY = ("total_payments", "information_rent_total", "platform_utility", "buyer_spend")
SHARES_SHOWN = 8
"""The end-of-run line lists at most this many action shares (the first levels, then ``...``)."""


def fixed(value: float, decimals: int) -> str:
    """``value`` with a fixed number of decimals, never ``-0.00`` (a rounded-away sign is dropped)."""
    return f"{round(float(value), decimals) + 0.0:.{decimals}f}"


def summary_line(final: dict) -> str:
    """The end-of-run line: action shares in level order (3 decimals), mean action, money (2 decimals).

    Shares follow the mechanism's action levels (the order of the ``share_*``
    columns), all of them up to :data:`SHARES_SHOWN`, zeros included, so two
    runs' lines line up.
    """
    shares = [k for k in final if k.startswith("share_")]
    parts = [f"{k} {fixed(final[k], 3)}" for k in shares[:SHARES_SHOWN]]
    if len(shares) > SHARES_SHOWN:
        parts.append(f"... ({len(shares) - SHARES_SHOWN} more levels)")
    if final.get("mean_action") is not None:
        parts.append(f"mean_action {fixed(final['mean_action'], 3)}")
    parts += [f"{k} {fixed(final[k], 2)}" for k in SUMMARY_MONEY if final.get(k) is not None]
    if final.get("exploitability") is not None:
        parts.append(f"exploitability {final['exploitability']:.3g}")
    return "final round: " + ", ".join(parts)


def _print_summary(result, out: Path) -> None:
    scenario = result.scenario
    final = result.summary["final"]
    print(f"{scenario.name}: {scenario.rounds} rounds, {int(final['n_owners'])} owners, "
          f"mechanism {scenario.mechanism.name}, rule {scenario.decision.rule}, seed {scenario.seed}")
    print(summary_line(final))
    print(f"wall time {result.summary['wall_time_s']:.2f} s; outputs in {out}/")


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Print a paper's checks beside the simulator's values and write its figures."""
    if args.paper not in PAPERS:
        raise UserError(f"unknown paper id {args.paper!r} (known: {', '.join(PAPERS)})")
    out = args.out or default_out("reproduce", args.paper)
    try:
        report = reproduce(args.paper, out, progress=True)
    except LookupError as exc:
        raise UserError(str(exc)) from None
    print(f"paper {args.paper}: {PAPERS[args.paper]}")
    print(report.table())
    for table in report.tables:
        print(f"\n{table}\n")
    for path in report.figures:
        print(f"figure: {path}")
    print(f"checks: {out / 'checks.json'}, {out / 'checks.csv'}")
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
                                normalise=not args.raw_inputs, data_size_inputs=args.data_size_inputs)
    except ValueError:
        raise UserError(f"--budget-range: expected LOW:HIGH with 0 < LOW <= HIGH, got {args.budget_range!r}") \
            from None
    try:
        require_torch()
        scenario = training_scenario(args.scenario, args.overrides)
        init = None if args.init is None else load_model(args.init)
        result = train(scenario, steps=args.steps, seed=args.seed, config=config, progress=True, init=init)
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
          f"{info['aggregation']}; {info['config']['steps']} steps in {result.seconds:.1f} s (seed {info['seed']}; "
          f"{info['total_steps']} in all)")
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
    """Run a sweep (a grid, or a sampling design) and print where its tables are."""
    if args.rounds is not None and args.rounds < 1:
        raise UserError("--rounds: must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers: must be at least 1")
    _non_negative(args, "owner_every")
    if args.design != "grid":
        return _designed_sweep(args)
    if args.param or args.samples is not None:
        raise UserError("--param/--samples: need --design lhs, sobol or morris")
    if not args.grid:
        raise UserError("--grid: give at least one KEY=V1,V2,... (or --design with --param)")
    try:
        grid = parse_grid(args.grid)
        base = load(args.scenario, args.overrides, seed=args.seed, rounds=args.rounds)
        out = args.out or default_out("sweep", base.name, base.seed)
        result = sweep(args.scenario, grid, args.replicates, out=out, rounds=args.rounds, seed=args.seed,
                       owner_every=args.owner_every, overrides=args.overrides, scheduler=args.scheduler,
                       n_workers=args.workers, processes=not args.threads, progress=True)
    except (ScenarioError, ValueError) as exc:
        raise UserError(str(exc)) from None
    n_tasks = len(result.cells) * args.replicates
    failed = len(result.failures)
    print(f"{len(result.cells)} cells x {args.replicates} replicates: {len(result.computed) - failed} run now, "
          f"{n_tasks - len(result.computed)} already done" + (f", {failed} failed" if failed else ""))
    print(f"per-round dataset {out / 'rounds'}/, summary {out / 'summary.parquet'} (and .csv)")
    if failed:
        raise UserError(f"{out / 'failures.csv'}: {failed} failed: {describe_failures(result.failures)} "
                        "(rerun the same command to retry only these)")
    return 0


def cmd_first_best(args: argparse.Namespace) -> int:
    """Print the first-best parameters of a learning-platform scenario, over its grid and its range."""
    try:
        scenario = load(args.scenario, args.overrides)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    if not scenario.platform:
        raise UserError(f"{scenario.source}: platform: no [platform] table (nothing is learnt)")
    if args.points < 2:
        raise UserError(f"--points: must be >= 2, got {args.points}")
    best = first_best(scenario, points=args.points)
    shown = ", ".join(f"{k} = {v:.6g}" for k, v in zip(best.keys, best.values))
    on_grid = ", ".join(f"{k} = {v:.6g}" for k, v in zip(best.keys, best.grid_values))
    print(f"{scenario.name}: first-best over the range {shown}: platform utility {best.utility:.6g}")
    print(f"best of the learner's candidates {on_grid}: platform utility {best.grid_utility:.6g}")
    unsettled = int((~best.table["settled"]).sum())
    if unsettled:
        log.warning("best response did not settle at %d of %d candidates", unsettled, len(best.table))
    return 0


def _require_finished(directory: Path) -> None:
    """Refuse an incomplete run directory (an experiment folder is checked by :func:`analysis.report.report`)."""
    if folder_kind(directory) != "run":
        return
    if not any((directory / n).exists() for n in ("model.parquet", "summary.json", "scenario.toml")) \
            and not staging(directory).is_dir():
        return  # neither a run nor a sweep: the reader says so
    try:
        require_complete(directory)
    except RunDirectoryError as exc:
        raise UserError(str(exc)) from None


def _designed_sweep(args: argparse.Namespace) -> int:
    """``privmarket sweep --design lhs|sobol|morris``: sample the design, run it, print what it was."""
    if args.grid:
        raise UserError("--grid: not with --design (give the ranges with --param)")
    if args.samples is None or args.samples < 1:
        raise UserError("--samples: a design needs a sample size of at least 1")
    try:
        base = load(args.scenario, args.overrides, seed=args.seed, rounds=args.rounds)
        out = args.out or default_out("sweep", base.name, base.seed)
        params = parse_params(args.param)
        result = designed_sweep(args.scenario, args.design, params, args.samples, seed=args.design_seed,
                                replicates=args.replicates, out=out, rounds=args.rounds,
                                overrides=args.overrides, scheduler=args.scheduler, n_workers=args.workers,
                                processes=not args.threads, progress=True)
    except (ScenarioError, ValueError) as exc:
        raise UserError(str(exc)) from None
    design = result.design
    print(f"design {design.kind} over {len(design.params)} parameters, seed {design.seed}, sample size "
          f"{design.samples}: {len(design.points)} points x {args.replicates} replicates; "
          f"{result.computed} run now, {len(design.points) * args.replicates - result.computed - len(result.failures)}"
          f" already done")
    print(f"summary {out / 'summary.parquet'} (and .csv), design {out / 'design.json'}")
    return _report_failures(result.failures)


def _report_failures(failures) -> int:
    """Name every failed task on standard error; exit status 1 if there is one."""
    for failure in failures:
        print(f"privmarket: failed: {failure.key}: {failure.reason}", file=sys.stderr)
    if failures:
        print(f"privmarket: {len(failures)} runs failed (rerun the command to retry them)", file=sys.stderr)
    return 1 if failures else 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    """Compute and write the sensitivity indices of a designed sweep, and print them."""
    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: no such directory")
    try:
        result = sensitivity(args.dir, args.metric, args.out)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"{result.method} indices of {args.metric} ({result.runs} runs, design seed {result.design_seed}):")
    print(result.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for path in result.paths:
        print(f"wrote: {path}")
    return 0


def cmd_tournament(args: argparse.Namespace) -> int:
    """Run a tournament, print the rule ranking and the significance statements; exit 1 naming failed runs."""
    for flag in ("replicates", "rounds", "owners", "workers"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError(f"--{flag}: must be at least 1")
    if not 0 < args.alpha < 1:
        raise UserError("--alpha: must be between 0 and 1")
    split = lambda text: [v.strip() for v in text.split(",") if v.strip()] if text else None  # noqa: E731
    try:
        out = args.out or default_out("tournament", "mixed" if args.mixed else "rules")
        result = tournament(out, rules=split(args.rules), scenarios=split(args.scenarios),
                            mechanisms=split(args.mechanisms), replicates=args.replicates, rounds=args.rounds,
                            owners=args.owners, overrides=args.overrides, mixed=args.mixed, rank_by=args.rank_by,
                            test=args.test, alpha=args.alpha, scheduler=args.scheduler, n_workers=args.workers,
                            processes=not args.threads, progress=True)
    except (ScenarioError, ValueError) as exc:
        raise UserError(str(exc)) from None
    if not result.rules.empty:
        print(result.rules.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print("\n".join(result.statements))
        page = report(out) if not result.failures else None
        print(f"{len(result.results)} result rows ({result.computed} runs now); ranked table "
              f"{out / 'ranking.parquet'} (.csv), {out / 'tournament.md'}, heatmaps in {out / 'figures'}/"
              + (f", report {page}" if page else ""))
    return _report_failures(result.failures)


def cmd_plot(args: argparse.Namespace) -> int:
    """Write the standard figures of a run or sweep and print their paths."""
    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: no such directory")
    _require_finished(args.dir)
    try:
        paths = plot(args.dir, args.out)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for path in paths:
        print(f"figure: {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report of a run, sweep, designed sweep or tournament folder and print its path."""
    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: no such directory")
    _require_finished(args.dir)
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
    # solara warns, once per page load, that a cookie cannot be "samesite=none" on plain http at 127.0.0.1;
    # it falls back to "lax", which is right for a local page: not a message for the user
    warnings = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"),
                                      "ignore:Cookies with samesite=none require https:UserWarning"]))
    env = dict(os.environ, PRIVMARKET_APP_SCENARIO=scenario, PYTHONWARNINGS=warnings)
    log.info(f"app: {args.scenario} at http://127.0.0.1:{args.port}/ (Ctrl-C stops)")
    command = [sys.executable, "-m", "solara", "run", page, "--host", "127.0.0.1",
               "--port", str(args.port), "--no-open", "--production", "--no-check-version"]
    return _serve(subprocess.Popen(command, env=env))


#: Seconds the server has to stop after a forwarded SIGTERM / SIGINT before it is killed.
APP_STOP_S = 10.0


def _serve(proc) -> int:
    """Wait for the server child; SIGTERM / SIGINT to privmarket are forwarded to it, and
    privmarket returns only once it has exited (killed after :data:`APP_STOP_S` seconds), so
    no server is left orphaned and listening."""
    deadline: list[float] = []

    def forward(signum, frame):
        if proc.poll() is None:
            proc.send_signal(signum)
        deadline[:] = [time.monotonic() + APP_STOP_S]

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                code = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if deadline and time.monotonic() > deadline[0]:
                    proc.kill()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if deadline else code  # asked to stop, and stopped: a clean exit


COMMANDS = {"list": cmd_list, "run": cmd_run, "resume": cmd_resume, "reproduce": cmd_reproduce,
            "train-auction": cmd_train_auction, "sweep": cmd_sweep, "first-best": cmd_first_best,
            "sensitivity": cmd_sensitivity, "tournament": cmd_tournament, "plot": cmd_plot, "report": cmd_report,
            "app": cmd_app}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``privmarket`` console script."""
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "verbose", 0), getattr(args, "quiet", False))
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"privmarket: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        log.warning("interrupted")
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `privmarket list | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
