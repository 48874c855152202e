"""Run a scenario end to end and write its outputs.

:func:`run` is what ``privmarket run`` calls, and the one-call Python API::

    from market import run
    result = run("quickstart", seed=3, out="runs/q")
    result.model.tail()
"""

from __future__ import annotations

import json
import platform as _platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w

from analysis.export import Recorder
from market.model import DataMarket
from scenarios.schema import Scenario, load


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
        What ``summary.json`` holds.
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
        owner_every: int | None = None, progress: bool = False) -> RunResult:
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
    owner_every : int, optional
        Record owner state every k rounds (0: never); default from the scenario.
    progress : bool
        Show a progress bar (on standard error).

    Raises
    ------
    scenarios.schema.ScenarioError
        If the scenario or an override is invalid.
    """
    source = scenario.to_dict() if isinstance(scenario, Scenario) else scenario
    extra = list(overrides or [])
    if owner_every is not None:
        extra.append(f"output.owner_every={int(owner_every)}")
    resolved = load(source, extra, seed=seed, rounds=rounds)
    out_dir = Path(out) if out is not None else None
    recorder = Recorder(out_dir, owner_every=int(resolved.output["owner_every"]))
    start = time.perf_counter()
    model = DataMarket(resolved, recorder=recorder)
    bar = _progress_bar(resolved.rounds) if progress else None
    try:
        model.run(progress=(lambda r: bar.update(1)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
        recorder.close()
    wall = time.perf_counter() - start
    summary = {
        "scenario": resolved.name, "seed": resolved.seed, "rounds": resolved.rounds,
        "mechanism": resolved.mechanism.name, "decision_rule": resolved.rule.name,
        "versions": versions(), "wall_time_s": round(wall, 3),
        "final": {k: v for k, v in model.row.items()},
        "totals": {
            "payments": float(model.model_frame()["total_payments"].sum()),
            "platform_utility": float(model.platform.total_utility),
            "buyer_spend": float(model.model_frame()["buyer_spend"].sum()),
        },
    }
    if out_dir is not None:
        (out_dir / "scenario.toml").write_text(tomli_w.dumps(resolved.to_dict()))
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    frames = recorder.frames()
    return RunResult(frames["model"], frames["owners"], frames["events"], summary, resolved, out_dir)


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="round", file=sys.stderr, leave=False, disable=not sys.stderr.isatty())
