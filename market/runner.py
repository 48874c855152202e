"""Run a scenario end to end, write its outputs, checkpoint and resume.

:func:`run` is what ``privmarket run`` calls, and the one-call Python API::

    from market.runner import run
    result = run("quickstart", seed=3, out="runs/q")
    result.model.tail()

With an output directory, ``scenario.toml`` is written first, tables are
streamed in chunks (:mod:`market.simulation.recorder`), and with
``output.checkpoint_every = K`` the full model state is saved every K rounds
(:mod:`market.simulation.checkpoint`).  :func:`resume` continues an interrupted run from
its last checkpoint and writes the same files as an uninterrupted run.
"""

from __future__ import annotations

import json
import platform as _platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w
from tqdm import tqdm

from analysis.emergence import run_metrics
from analysis.regimes import shift_summary
from market.simulation import checkpoint
from market.simulation.model import DataMarket
from market.simulation.recorder import Recorder
from scenarios.schema import Scenario, ScenarioError, load


@dataclass
class RunResult:
    """The tables and summary of a finished run.

    Attributes
    ----------
    model : pandas.DataFrame
        One row per round (``model.parquet``).
    owners : pandas.DataFrame
        Owner state every k-th round (``owners.parquet``).
    events : pandas.DataFrame
        Discrete events (``events.parquet``).
    summary : dict
        What ``summary.json`` holds: the run's identity and versions, the
        final round, totals, graph statistics, the emergence ``metrics``
        (:func:`analysis.emergence.run_metrics`), the initial and final regime
        and the ``regime_shifts`` with their rounds
        (:func:`analysis.regimes.shift_summary`).
    scenario : Scenario
        The resolved scenario.
    out_dir : pathlib.Path or None
        Where the files were written.
    """

    model: pd.DataFrame
    owners: pd.DataFrame
    events: pd.DataFrame
    summary: dict[str, Any]
    scenario: Scenario
    out_dir: Path | None


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
    resolved = load(source, extra, seed=seed, rounds=rounds)
    out_dir = Path(out) if out is not None else None
    if out_dir is None and resolved.output["checkpoint_every"]:
        raise ScenarioError(f"{resolved.source}: output.checkpoint_every: needs an output directory")
    recorder = _recorder(resolved, out_dir)
    if out_dir is not None:
        checkpoint.remove(out_dir)
        (out_dir / "scenario.toml").write_text(tomli_w.dumps(resolved.to_dict()))
    model = DataMarket(resolved, recorder=recorder, collect=out_dir is None)
    return _drive(model, resolved, recorder, out_dir, progress, stop)


def resume(out: str | Path, *, progress: bool = False,
           stop: Callable[[], bool] | None = None) -> RunResult:
    """Continue an interrupted run from its last checkpoint.

    The finished run's files are identical to those of a run that was never
    interrupted (``summary.json`` aside, whose wall time differs).

    Raises
    ------
    FileNotFoundError
        If ``out`` holds no scenario or no checkpoint.
    """
    out_dir = Path(out)
    if not (out_dir / "scenario.toml").exists():
        raise FileNotFoundError(f"{out_dir}: not a run directory (no scenario.toml)")
    resolved = load(out_dir / "scenario.toml")
    state, arrays = checkpoint.read(out_dir)
    recorder = _recorder(resolved, out_dir)
    recorder.discard_after(int(state["round"]))
    model = DataMarket(resolved, recorder=recorder, collect=False, restore=(state, arrays))
    return _drive(model, resolved, recorder, out_dir, progress, stop)


def _recorder(scenario: Scenario, out_dir: Path | None) -> Recorder:
    pop = scenario.population
    n_owners = pop["owners"] if "owners" in pop else sum(o["count"] for o in pop["owner"])
    sample = int(scenario.output["owner_sample"]) or None
    return Recorder(out_dir, owner_every=int(scenario.output["owner_every"]),
                    owner_sample=sample, n_owners=n_owners)


def _drive(model: DataMarket, resolved: Scenario, recorder: Recorder, out_dir: Path | None,
           progress: bool, stop: Callable[[], bool] | None) -> RunResult:
    every = int(resolved.output["checkpoint_every"])
    bar = _progress_bar(resolved.rounds, model.steps) if progress else None

    def after_round(round_: int) -> None:
        if bar is not None:
            bar.update(1)
        if every and round_ % every == 0 and model.running:
            save_checkpoint(model, out_dir)

    start = time.perf_counter()
    try:
        model.run(progress=after_round, stop=stop)
    finally:
        if bar is not None:
            bar.close()
    if model.running:  # stopped early
        if out_dir is None:
            raise RuntimeError("a run without an output directory cannot be stopped and resumed")
        save_checkpoint(model, out_dir)
        raise Interrupted(out_dir, model.steps)
    recorder.close()
    frames = recorder.frames()
    summary = {
        "scenario": resolved.name, "seed": resolved.seed, "rounds": resolved.rounds,
        "mechanism": resolved.mechanism.name, "decision_rule": resolved.rule.name,
        "versions": versions(), "wall_time_s": round(time.perf_counter() - start, 3),
        "final": dict(model.row),
        "totals": {
            "payments": float(frames["model"]["total_payments"].sum()),
            "platform_utility": float(model.platform.total_utility),
            "buyer_spend": float(frames["model"]["buyer_spend"].sum()),
        },
    }
    if model.network is not None:
        summary["network"] = model.network.statistics()
    if details := model.mechanism.describe():
        summary["mechanism_details"] = details
    owners = frames["owners"] if not frames["owners"].empty else None
    metrics = run_metrics(frames["model"], owners, model.mechanism, model.owners, model.context())
    summary["metrics"] = {k: None if v != v else v for k, v in metrics.items()}  # NaN: null (strict JSON)
    summary.update(shift_summary(frames["model"], resolved.mechanism.name, resolved.mechanism.action_space))
    if out_dir is not None:
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        checkpoint.remove(out_dir)
    return RunResult(frames["model"], frames["owners"], frames["events"], summary, resolved, out_dir)


def save_checkpoint(model: DataMarket, out_dir: Path) -> Path:
    """End the current output chunk and save the model's state into ``out_dir``."""
    model.recorder.flush()
    state, arrays = model.checkpoint_state()
    return checkpoint.write(out_dir, state, arrays)


def _progress_bar(total: int, done: int):
    return tqdm(total=total, initial=done, unit="round", file=sys.stderr, leave=False,
                disable=not sys.stderr.isatty())
