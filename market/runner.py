"""Run a scenario end to end, write its outputs, checkpoint and resume.

:func:`run` is what ``privmarket run`` calls, and the one-call Python API::

    from market.runner import run
    result = run("quickstart", seed=3, out="runs/q")
    result.model.tail()

With an output directory, the run is written into a staging directory and made visible
as a unit when it ends (:mod:`market.simulation.run_directory`): ``scenario.toml`` is written first,
tables are streamed in chunks (:mod:`market.simulation.recorder`), and with
``output.checkpoint_every = K`` the full model state is saved every K rounds
(:mod:`market.simulation.checkpoint`).  :func:`resume` continues an interrupted run from
its last checkpoint and writes the same files as an uninterrupted run; it refuses a
run whose chunks do not cover every round before the checkpoint, or whose
``scenario.toml`` is not the one the checkpoint was taken with.  A round whose totals
overflow stops the run with a one-line error and leaves no output.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform as _platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import tomli_w

from analysis.emergence import summarize
from analysis.first_best import first_best, price_of_not_knowing
from analysis.null_values import null_reason
from analysis.platform_regret import fixed_parameter_utilities
from analysis.regimes import EQUILIBRIUM_TOL, shift_summary
from market.simulation import checkpoint, run_directory
from market.simulation.metrics import check_finite
from market.simulation.model import DataMarket
from market.simulation.progress import progress_bar
from market.simulation.recorder import TABLES, Recorder
from market.simulation.run_directory import RunDirectoryError, fault_point
from scenarios.schema import Scenario, ScenarioError, load


@dataclass
class RunResult:
    """The tables and summary of a finished run.

    Attributes
    ----------
    model : pandas.DataFrame
        One row per round (``model.parquet``).
    owners : pandas.DataFrame
        Owner state every k-th round (``owners.parquet``); a run that wrote
        files reads it on first access (``recorded_owners`` holds it then).
    events : pandas.DataFrame
        Discrete events (``events.parquet``), read on first access likewise.
    summary : dict
        What ``summary.json`` holds (``docs/measures.md#summaryjson``): the
        run's identity and versions, ``final`` (the last round's row),
        ``converged``, ``settling_round`` and ``equilibrium_tol`` (from
        ``exploitability``), the ``network`` statistics when the scenario has
        a non-complete graph, the emergence ``metrics``
        (:func:`analysis.emergence.summarize`, cumulative totals named
        ``cum_*``), and the regime instrument's ``transient``, ``regimes``,
        ``regime_shifts`` and ``change_points``
        (:func:`analysis.regimes.shift_summary`).  Strict JSON: a number
        that is not finite is ``null`` with a ``null_values`` note.
    scenario : Scenario
        The resolved scenario.
    out_dir : pathlib.Path or None
        Where the files were written.
    """

    model: pd.DataFrame
    recorded_owners: pd.DataFrame | None = field(repr=False)
    recorded_events: pd.DataFrame | None = field(repr=False)
    summary: dict[str, Any]
    scenario: Scenario
    out_dir: Path | None

    @property
    def owners(self) -> pd.DataFrame:
        """Owner state every k-th round, read from ``owners.parquet`` on first use when the run wrote files.

        A run with an output directory does not hold its (possibly very
        large) owners and events tables in memory until they are asked for.
        """
        if self.recorded_owners is None:
            self.recorded_owners = pd.read_parquet(self.out_dir / "owners.parquet")
        return self.recorded_owners

    @property
    def events(self) -> pd.DataFrame:
        """Discrete events, read from ``events.parquet`` on first use when the run wrote files."""
        if self.recorded_events is None:
            self.recorded_events = pd.read_parquet(self.out_dir / "events.parquet")
        return self.recorded_events


class Interrupted(Exception):
    """The run was stopped between rounds; its state is checkpointed and can be resumed."""

    def __init__(self, out_dir: Path, round_: int) -> None:
        super().__init__(f"stopped after round {round_}; resume with: privmarket resume {out_dir}")
        self.out_dir = out_dir
        self.round = round_


def versions() -> dict[str, str]:
    """Versions of privmarket and the libraries that shape its results."""
    out = {"python": _platform.python_version()}
    for package in ("privmarket", "mesa", "numpy", "scipy", "pandas", "pyarrow"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def run(scenario: Scenario | str | Path, *, seed: int | None = None, rounds: int | None = None,
        overrides: list[str] | None = None, out: str | Path | None = None,
        owner_every: int | None = None, owner_sample: int | None = None,
        checkpoint_every: int | None = None, progress: bool = False,
        stop: Callable[[], bool] | None = None) -> RunResult:
    """Run a scenario and return (and optionally write) its tables.

    Parameters
    ----------
    scenario : Scenario, str or path
        Built-in name, TOML path or validated scenario.
    seed, rounds : int, optional
        Override the scenario's seed and number of rounds.
    overrides : list of str, optional
        ``key.path=value`` overrides.
    out : path, optional
        Output directory for ``model.parquet``, ``owners.parquet``,
        ``events.parquet``, ``scenario.toml`` and ``summary.json``.
    owner_every, owner_sample, checkpoint_every : int, optional
        Override ``output.owner_every`` (record owners every k rounds; 0:
        never), ``output.owner_sample`` (record about N owners; 0: all) and
        ``output.checkpoint_every`` (save the state every K rounds; 0: never;
        needs ``out``).
    progress : bool
        Show a progress bar (on standard error, when it is a terminal).
    stop : callable, optional
        Asked after every round; when it returns True the run checkpoints
        and raises :class:`Interrupted` (needs ``out``).

    Raises
    ------
    scenarios.schema.ScenarioError
        If the scenario or an override is invalid.
    Interrupted
        If ``stop`` asked the run to stop.
    """
    source = scenario.to_dict() if isinstance(scenario, Scenario) else scenario
    extra = list(overrides or [])
    for key, value in (("owner_every", owner_every), ("owner_sample", owner_sample),
                       ("checkpoint_every", checkpoint_every)):
        if value is not None:
            extra.append(f"output.{key}={int(value)}")
    label = scenario.source if isinstance(scenario, Scenario) else None
    resolved = load(source, extra, label=label, seed=seed, rounds=rounds)
    out_dir = Path(out) if out is not None else None
    if out_dir is None and resolved.output.checkpoint_every:
        raise ScenarioError(f"{resolved.source}: output.checkpoint_every: needs an output directory")
    stage = run_directory.prepare(out_dir) if out_dir is not None else None
    try:
        recorder = _recorder(resolved, stage)
        if stage is not None:
            (stage / "scenario.toml").write_text(tomli_w.dumps(resolved.to_dict()))
        model = _build(resolved, recorder, collect=out_dir is None)
        if resolved.platform and resolved.platform["regret"]:
            model.platform.learning.set_benchmark(fixed_parameter_utilities(resolved))
        return _drive(model, resolved, recorder, out_dir, progress, stop)
    except Interrupted:
        raise
    except Exception:
        if stage is not None:  # a failed run leaves no output that could pass for a run
            shutil.rmtree(stage, ignore_errors=True)
        raise


def resume(out: str | Path, *, progress: bool = False,
           stop: Callable[[], bool] | None = None) -> RunResult:
    """Continue an interrupted run from its last checkpoint.

    The finished run's files are identical to those of a run that was never
    interrupted (``summary.json`` aside, whose wall time differs).  A run killed
    after its summary was written (while its directory was being made visible)
    is only made visible.

    Raises
    ------
    RunDirectoryError
        If ``out`` has no interrupted run, or its checkpoint or chunks are damaged,
        incomplete or do not belong to its ``scenario.toml`` (one line, naming the file).
    """
    out_dir = Path(out)
    stage = run_directory.staging(out_dir)
    if run_directory.finish_publish(out_dir):
        return _read_result(out_dir)
    if not stage.is_dir():
        if run_directory.is_complete(out_dir):
            raise RunDirectoryError(f"{out_dir}: {run_directory.MARKER}: the run is complete; nothing to resume")
        raise RunDirectoryError(f"{out_dir}: checkpoint: no interrupted run to resume here")
    scenario_file = stage / "scenario.toml"
    if not scenario_file.is_file():
        raise RunDirectoryError(f"{scenario_file}: missing; the run cannot be resumed (rerun it)")
    resolved = load(scenario_file)
    try:
        state, arrays = checkpoint.read(stage)
    except FileNotFoundError:
        raise RunDirectoryError(f"{stage / checkpoint.CHECKPOINT}: no checkpoint to resume from "
                                "(rerun with --checkpoint-every K)") from None
    expected = state.pop("scenario_sha256", None)
    if expected != _digest(scenario_file):
        raise RunDirectoryError(f"{scenario_file}: sha256: differs from the scenario the checkpoint was taken "
                                "with (edited?); rerun the scenario instead")
    _check_chunks(stage, int(state["round"]))
    recorder = _recorder(resolved, stage)
    recorder.discard_after(int(state["round"]))
    try:
        model = _build(resolved, recorder, collect=False, restore=(state, arrays))
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise RunDirectoryError(f"{stage / checkpoint.CHECKPOINT}: state: does not fit the scenario "
                                f"({type(exc).__name__}: {exc})") from None
    return _drive(model, resolved, recorder, out_dir, progress, stop)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_chunks(stage: Path, round_: int) -> None:
    """Check that the model chunks cover rounds 1 .. ``round_`` exactly once, and every chunk up to there reads.

    Raises
    ------
    RunDirectoryError
        Naming the first missing round or the damaged chunk.
    """
    folder = stage / "chunks"
    covered = 0
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        table, _, first = path.stem.rpartition("-")
        if not first.isdigit() or table not in TABLES or int(first) > round_:
            continue
        try:
            meta = pq.read_metadata(path)
            rounds = pq.read_table(path, columns=["round"])["round"].to_numpy() if table != "events" else None
        except (OSError, ValueError, KeyError) as exc:
            raise RunDirectoryError(f"{path}: damaged chunk ({exc}); the run cannot be resumed (rerun it)") from None
        if table != "model":
            continue
        expected = np.arange(covered + 1, covered + 1 + meta.num_rows)
        if int(first) != covered + 1 or not np.array_equal(rounds, expected):
            break
        covered += meta.num_rows
    if covered != round_:
        raise RunDirectoryError(f"{folder}: round {covered + 1}: missing from the chunks, but the checkpoint is at "
                                f"round {round_}; the run cannot be resumed (rerun it)")


def _build(resolved: Scenario, recorder: Recorder, collect: bool,
           restore: tuple[dict[str, Any], dict[str, Any]] | None = None) -> DataMarket:
    """Build the model; a population, graph or file the scenario asks for that cannot be built is a user error."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return DataMarket(resolved, recorder=recorder, collect=collect, restore=restore)
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"{resolved.source}: {exc}") from None
    except MemoryError:
        raise ScenarioError(f"{resolved.source}: population.owners: not enough memory to build "
                            f"the population") from None


def _recorder(scenario: Scenario, out_dir: Path | None) -> Recorder:
    return Recorder(out_dir, owner_every=scenario.output.owner_every,
                    owner_sample=scenario.output.owner_sample or None, n_owners=scenario.population.size,
                    scenario=scenario.to_dict(), seed=scenario.seed)


def _drive(model: DataMarket, resolved: Scenario, recorder: Recorder, out_dir: Path | None,
           progress: bool, stop: Callable[[], bool] | None) -> RunResult:
    every = resolved.output.checkpoint_every
    bar = progress_bar(resolved.rounds, "round", initial=model.steps) if progress else None

    stage = recorder.out_dir

    def after_round(round_: int) -> None:
        check_finite(model.row, round_, resolved)
        if bar is not None:
            bar.update(1)
        if every and round_ % every == 0 and model.running:
            save_checkpoint(model, stage)
        fault_point("round")

    start = time.perf_counter()
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            model.run(progress=after_round, stop=stop)
    except ValueError as exc:  # a value the scenario allowed but a later round cannot serve
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"{resolved.source}: round {model.steps}: {exc}") from None
    finally:
        if bar is not None:
            bar.close()
    if model.running:  # stopped early
        if out_dir is None:
            raise RuntimeError("a run without an output directory cannot be stopped and resumed")
        save_checkpoint(model, stage)
        raise Interrupted(out_dir, model.steps)
    recorder.close()
    frames = recorder.frames(("model",))
    metrics = summarize(frames["model"], recorder.final_owners(), equilibrium_tol=EQUILIBRIUM_TOL)
    summary: dict[str, Any] = {
        "scenario": resolved.name, "seed": resolved.seed, "rounds": resolved.rounds,
        "mechanism": resolved.mechanism.name, "decision_rule": resolved.decision.rule,
        "versions": versions(), "wall_time_s": round(time.perf_counter() - start, 3),
        "final": dict(model.row),
        **{k: metrics.pop(k) for k in ("converged", "settling_round", "equilibrium_tol")},
    }
    metrics["cum_buyer_spend"] = float(frames["model"]["buyer_spend"].sum())
    summary["metrics"] = metrics
    if resolved.network.kind != "complete" and model.network is not None:
        summary["network"] = model.network.statistics()
    if resolved.platform:
        summary["platform"] = platform_summary(resolved, frames["model"])
    if details := model.mechanism.describe():
        summary["mechanism_details"] = details
    summary.update(shift_summary(frames["model"], model.mechanism))
    summary = strict_json(summary)
    if out_dir is not None:
        run_directory.write_text_durably(stage / run_directory.MARKER,
                                         json.dumps(summary, indent=2, allow_nan=False) + "\n")
        fault_point("summary")
        checkpoint.remove(stage)
        recorder.remove_chunks()
        fault_point("cleanup")
        run_directory.publish(stage, out_dir)
    held = {} if out_dir is not None else recorder.frames(("owners", "events"))
    return RunResult(frames["model"], held.get("owners"), held.get("events"), summary, resolved, out_dir)


def platform_summary(scenario: Scenario, model: pd.DataFrame) -> dict[str, Any]:
    """A learning platform's run in figures (``summary.json``'s ``platform``).

    The last quarter's mean utility and information rent and the final
    parameters; with ``regret = true`` also regret/T, the best fixed candidate
    and its last-quarter utility, and the first-best
    (:func:`analysis.first_best.first_best`, 101 values per
    dimension of a one-parameter range, 11 of a menu) with the price of not knowing.
    """
    table = scenario.platform
    quarter = model.iloc[-max(len(model) // 4, 1):]
    columns = [c for c in model.columns if c.startswith("platform_param_")]
    out: dict[str, Any] = {
        "algorithm": table["algorithm"], "learn": table["learn"], "update_every": table["update_every"],
        "final_params": {c: float(model[c].iloc[-1]) for c in columns},
        "last_quarter_utility": float(quarter["platform_utility"].mean()),
        "last_quarter_information_rent": float(quarter["information_rent_total"].mean()),
    }
    if table["regret"]:
        fixed = quarter["platform_utility"] + quarter["platform_regret_round"]
        best = first_best(scenario, points=101 if len(columns) == 1 else 11)
        out.update({
            "regret_per_round": float(model["platform_regret"].iloc[-1] / len(model)),
            "best_fixed_last_quarter_utility": float(fixed.mean()),
            "first_best_params": dict(zip(best.keys, best.values.tolist())),
            "first_best_utility": best.utility,
            "first_best_grid_params": dict(zip(best.keys, best.grid_values.tolist())),
            "first_best_grid_utility": best.grid_utility,
            "price_of_not_knowing": price_of_not_knowing(best.utility, model["platform_utility"].to_numpy()),
        })
    return out


def strict_json(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary as strict JSON data: integral counts as integers, non-finite numbers as null.

    Every null that replaced a number is listed under ``null_values`` (its
    path and why, :func:`analysis.null_values.null_reason`: NaN means undefined,
    e.g. a mean over no owners or a round not measured; infinity e.g. an error
    bound where nothing was bought, or a total beyond the float range).
    """
    nulls: dict[str, str] = {}

    def clean(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {k: clean(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            f = float(value)
            if not math.isfinite(f):
                nulls[path] = null_reason(path, f)
                return None
            return int(f) if path.split(".")[-1] in INTEGER_KEYS and f.is_integer() else f
        return value

    out = clean(summary, "")
    if nulls:
        out["null_values"] = nulls
    return out


#: Keys whose values are counts (written as JSON integers).
INTEGER_KEYS = frozenset({"round", "rounds", "n_owners", "n_buyers", "seed", "cycle_period", "settling_round",
                          "length", "end_round", "start", "end", "min_duration"})


def save_checkpoint(model: DataMarket, stage: Path) -> Path:
    """End the current output chunk and save the model's state (and its scenario's digest) into ``stage``."""
    model.recorder.flush()
    state, arrays = model.checkpoint_state()
    state["scenario_sha256"] = _digest(stage / "scenario.toml")
    return checkpoint.write(stage, state, arrays)


def _read_result(out_dir: Path) -> RunResult:
    """The result of a finished run, read back from its directory."""
    resolved = load(out_dir / "scenario.toml")
    frames = {name: pq.read_table(out_dir / f"{name}.parquet").to_pandas() for name in TABLES}
    summary = json.loads((out_dir / run_directory.MARKER).read_text())
    return RunResult(frames["model"], frames["owners"], frames["events"], summary, resolved, out_dir)

