"""Parameter sweeps: a Cartesian grid of scenario values times replicate seeds, run with Dask.

``privmarket sweep SCENARIO --grid KEY=V1,V2,... [--grid ...] --replicates R --out DIR`` and
:func:`sweep` run every *cell* (one combination of grid values) ``R`` times,
replicate ``r`` with seed ``scenario.seed + r`` (so every cell sees the same
seeds: common random numbers make cells comparable).  Tasks run on a
``dask.distributed`` cluster: a :class:`~dask.distributed.LocalCluster` on
this machine by default (one single-threaded worker process per core), or an
existing cluster given by its scheduler address (the output directory must
then be on a file system every worker sees).

Output directory::

    DIR/sweep.json              the grid, replicates, rounds and base scenario name
    DIR/scenario.toml           the base scenario, fully resolved
    DIR/rounds/cell=K/replicate=R.parquet
                                one partitioned Parquet dataset: one row per cell, replicate and
                                round (``cell, replicate, seed``, the grid keys, then the
                                ``model.parquet`` columns)
    DIR/owners/cell=K/replicate=R.parquet
                                owner state every ``owner_every`` rounds (as ``owners.parquet`` of a
                                run, with ``cell, replicate, seed`` and the grid keys first); absent
                                with ``owner_every = 0``
    DIR/parts/cell=K/replicate=R.parquet
                                the summary row of each task (``cell`` is the partition, as in
                                ``rounds/``: ``pandas.read_parquet(DIR / "parts")`` reads them all)
    DIR/summary.parquet, DIR/summary.csv
                                one row per cell and replicate: the grid keys,
                                :func:`analysis.emergence.summarize` of the run (owner measures from the
                                final owner state; ``converged``, ``settling_round``), the final
                                round's class ``regime`` (:func:`analysis.regimes.classify_rounds`),
                                the number of ``regime_shifts`` and the ``transient_length``
                                (:func:`analysis.regimes.analyse_regimes`) and ``rent_decile_0`` ...
                                ``rent_decile_9``, the mean payment above privacy cost of each
                                sensitivity decile in the final round
                                (:func:`analysis.emergence.rent_by_decile`); last ``null_values``, a
                                JSON object naming each number of the row that is not finite (written
                                as null) and why (:func:`analysis.null_values.null_reason`)

A sweep is resumable: a task whose ``rounds`` file exists is not rerun, and
every file is written to a temporary name and renamed, so an interrupted
task leaves nothing behind.  A task that fails (a grid value the scenario
rejects, a round that overflows, any error of the run) does not stop the
others: its cell, replicate, grid values and one-line reason go to
``DIR/failures/`` and ``DIR/failures.csv`` (:attr:`SweepResult.failures`),
and a rerun retries exactly the failed tasks (the tasks and their files:
:mod:`analysis.sweep_tasks`, shared with the designed sweeps of :mod:`analysis.design`).  Over an existing directory of
the same base scenario, a changed grid or more replicates are merged (cells
are identified by their grid values); another base scenario is refused.  Read the dataset with
``pandas.read_parquet(DIR / "rounds")`` (the ``cell`` partition comes back as
a category) or :meth:`SweepResult.rounds`.

For users of Mesa's ``batch_run``, :func:`batch_run` takes the same
arguments (``parameters`` dict whose list values are swept, ``iterations``,
``max_steps``, ``number_processes``, ``data_collection_period``,
``display_progress``) and returns the same list of dicts (``RunId``,
``iteration``, ``Step``, the parameters, the model columns).
"""

from __future__ import annotations

import itertools
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w

from analysis.distributed import dask_client
from analysis.sweep_tasks import (KEY_COLUMNS, SweepTask, collect_failures, failure_record, failure_table, is_done,
                                  load_summary, run_sweep_tasks, set_overrides, write_failure, write_summary)
from scenarios.schema import ScenarioError, load

GRID_SYNTAX = ("KEY=V1,V2,... (TOML values, e.g. mechanism.sale_price=1,1.5,2) or KEY=START:STOP:NUM "
               "(NUM evenly spaced numbers, e.g. mechanism.sale_price=1:2:5)")
"""The two forms of a ``--grid`` entry, quoted in every grid error."""


def parse_grid(specs: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``KEY=V1,V2,...`` or ``KEY=START:STOP:NUM`` strings into a grid.

    Values are TOML (``0.5``, ``true``, ``"text"``, ``[0, 0.5, 1]``; a bare
    word is taken as a string); commas inside brackets or braces do not
    split.  ``START:STOP:NUM`` is ``numpy.linspace(START, STOP, NUM)``.

    Raises
    ------
    ValueError
        ``"grid: ..."`` for a malformed entry or a repeated key; the message
        quotes the syntax (:data:`GRID_SYNTAX`).
    """
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ValueError(f"grid: {spec!r}: expected {GRID_SYNTAX}")
        if key in grid:
            raise ValueError(f"grid: {key!r} given twice (give each key once: {GRID_SYNTAX})")
        parts = text.split(":")
        if len(parts) > 1 and not any(c in text for c in "[{\""):
            if len(parts) != 3:
                raise ValueError(f"grid: {spec!r}: a range is START:STOP:NUM (three parts); expected {GRID_SYNTAX}")
            try:
                start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
            except ValueError:
                raise ValueError(f"grid: {spec!r}: START:STOP:NUM needs two numbers and an integer; "
                                 f"expected {GRID_SYNTAX}") from None
            if num < 1:
                raise ValueError(f"grid: {spec!r}: NUM must be at least 1; expected {GRID_SYNTAX}")
            grid[key] = [float(v) for v in np.linspace(start, stop, num)]
            continue
        values = []
        for item in _split_top_level(text, spec):
            try:
                values.append(tomllib.loads(f"v = {item}")["v"])
            except tomllib.TOMLDecodeError:
                values.append(item.strip())
        grid[key] = values
    return grid


def _split_top_level(text: str, spec: str) -> list[str]:
    items, depth, current = [], 0, []
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    if any(not item.strip() for item in items):
        raise ValueError(f"grid: {spec!r}: empty value; expected {GRID_SYNTAX}")
    return items


def grid_cells(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of the grid, in order (last key varies fastest); cell ``k`` is item ``k``."""
    for key, values in grid.items():
        if len(values) == 0:
            raise ValueError(f"grid: {key!r} has no values")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


@dataclass
class SweepResult:
    """What a sweep produced.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per cell and replicate (see the module docstring).
    grid : dict
        The swept keys and their values.
    cells : list of dict
        The grid values of each cell (cell ``k`` is ``cells[k]``).
    computed : list of (int, int)
        The ``(cell, replicate)`` tasks run by this call (the others were already done).
    out_dir : pathlib.Path or None
        The output directory (``None``: in memory).
    failures : pandas.DataFrame
        One row per failed task (``cell, replicate, seed``, the grid values, ``reason``); also
        ``DIR/failures.csv``.  Empty when every task ran.  Rerunning the sweep retries exactly these.
    """

    summary: pd.DataFrame
    grid: dict[str, list[Any]]
    cells: list[dict[str, Any]]
    computed: list[tuple[int, int]]
    out_dir: Path | None
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)
    _rounds: pd.DataFrame | None = field(default=None, repr=False)

    def rounds(self) -> pd.DataFrame:
        """The per-round table of every cell and replicate, sorted by cell, replicate and round."""
        if self._rounds is not None:
            return self._rounds
        table = pd.read_parquet(self.out_dir / "rounds")
        table["cell"] = table["cell"].astype(int)
        return table.sort_values(["cell", "replicate", "round"]).reset_index(drop=True)


def sweep(scenario: str | Path | Mapping[str, Any], grid: Mapping[str, Sequence[Any]], replicates: int = 1, *,
          out: str | Path | None = None, rounds: int | None = None, seed: int | None = None,
          owner_every: int | None = None, overrides: Sequence[str] = (), client: Any = None,
          scheduler: str | None = None, n_workers: int | None = None, processes: bool = True,
          progress: bool = False, tol: float = 0.01) -> SweepResult:
    """Run the grid times ``replicates`` seeds on Dask; see the module docstring.

    Parameters
    ----------
    scenario : str, path or mapping
        Built-in name, TOML path or scenario dict.
    grid : mapping of str to sequence
        ``--set`` key paths and their values (e.g. from :func:`parse_grid`).
    replicates : int
        Seeds per cell.
    out : path, optional
        Output directory; without it nothing is written and the sweep is not resumable.
    rounds : int, optional
        Overrides the scenario's rounds.
    seed : int, optional
        Overrides the scenario's seed, the seed of replicate 0.
    owner_every : int, optional
        Record owner state every k rounds into ``DIR/owners/`` (0: never;
        default: the scenario's ``output.owner_every``, as ``privmarket run``).
        Only with ``out``.
    overrides : sequence of str
        Fixed ``key=value`` overrides for every cell.
    client : dask.distributed.Client, optional
        Use this client (nothing is started or closed; :func:`analysis.distributed.dask_client`).
    scheduler : str, optional
        Address of an existing Dask scheduler (ignored with ``client``).
    n_workers : int, optional
        Workers of the LocalCluster (default: the number of cores).
    processes : bool
        LocalCluster workers as processes (default) or threads.
    progress : bool
        Show a progress bar on standard error when it is a terminal.
    tol : float
        Tolerance of the regime classification.

    Raises
    ------
    ValueError
        For a bad grid, replicates below 1, or an output directory that holds a different sweep.
    scenarios.schema.ScenarioError
        If the scenario or a grid value is invalid (checked on every cell before anything runs).
    """
    if replicates < 1:
        raise ValueError("replicates: must be at least 1")
    if not grid:
        raise ValueError("grid: give at least one key")
    grid = {k: list(v) for k, v in grid.items()}
    cells = grid_cells(grid)
    if owner_every is not None and owner_every < 0:
        raise ValueError("owner_every: must be >= 0")
    fixed = [*overrides, *([f"output.owner_every={int(owner_every)}"] if owner_every is not None else [])]
    base = load(scenario, fixed, rounds=rounds, seed=seed)
    base_dict = base.to_dict()
    out_dir = Path(out) if out is not None else None
    every = base.output.owner_every if out_dir is not None else 0
    ids = _merge_manifest(out_dir, base_dict, grid, cells, replicates) if out_dir is not None \
        else list(range(len(cells)))
    tasks = [SweepTask(base_dict, c, r, params, str(out_dir) if out_dir else None, tol, every, base.source)
             for c, params in zip(ids, cells) for r in range(replicates)]
    tasks = [t for t in tasks if not is_done(t)]
    tasks, invalid = _precheck(tasks)
    rows, frames = [], []
    if tasks:
        with dask_client(scheduler, n_workers, processes, client) as running:
            rows, frames = run_sweep_tasks(running, tasks, progress)
    failed = invalid + [r for r in rows if r.get("failed")]
    rows = [r for r in rows if not r.get("failed")]
    computed = sorted([(t.cell, t.replicate) for t in tasks] + [(f["cell"], f["replicate"]) for f in invalid])
    if out_dir is None:
        summary = pd.DataFrame(rows).sort_values(["cell", "replicate"]).reset_index(drop=True) if rows \
            else pd.DataFrame()
        table = pd.concat(frames).sort_values(["cell", "replicate", "round"]).reset_index(drop=True) if frames \
            else pd.DataFrame()
        return SweepResult(summary, grid, cells, computed, None, failure_table(failed), table)
    for failure in invalid:
        write_failure(out_dir, failure)
    failures = collect_failures(out_dir)
    summary = load_summary(out_dir)
    write_summary(out_dir, summary, base_dict)
    return SweepResult(summary, grid, cells, computed, out_dir, failures)


def _precheck(tasks: list[SweepTask]) -> tuple[list[SweepTask], list[dict[str, Any]]]:
    """Split tasks into those whose scenario validates and the failure records of the others
    (a bad grid value fails its cells before any worker starts; the other cells still run)."""

    valid, invalid, checked = [], [], {}
    for task in tasks:
        if task.cell not in checked:
            try:
                load(task.scenario, set_overrides(task.params), label=task.label)
                checked[task.cell] = None
            except ScenarioError as exc:
                checked[task.cell] = exc
        if checked[task.cell] is None:
            valid.append(task)
        else:
            invalid.append(failure_record(task, checked[task.cell]))
    return valid, invalid


def _cell_key(params: Mapping[str, Any]) -> str:
    """A cell's identity: its grid values, numbers compared as floats (``--grid k=1`` is ``k = 1.0``)."""
    def canonical(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: canonical(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [canonical(v) for v in value]
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
    return json.dumps(canonical(params), sort_keys=True)


def _merge_manifest(out_dir: Path, scenario: dict[str, Any], grid: dict[str, list[Any]],
                    cells: list[dict[str, Any]], replicates: int) -> list[int]:
    """Write the sweep's manifest, or merge this grid into the directory's; return each cell's id.

    A directory holds one base scenario (``scenario.toml``).  Over a directory of the same base
    scenario, a changed grid or more replicates are merged: a cell already present (same grid
    values) keeps its id and its finished tasks, a new cell gets the next free id.  A different
    base scenario is refused.

    Raises
    ------
    ValueError
        ``"out: ..."`` if the directory holds a sweep of another base scenario.
    """
    path = out_dir / "sweep.json"
    text = tomli_w.dumps(scenario)
    if path.exists():
        old_text = (out_dir / "scenario.toml").read_text() if (out_dir / "scenario.toml").exists() else ""
        if old_text != text:
            raise ValueError(f"out: {out_dir} holds a sweep of a different base scenario (its scenario.toml differs "
                             "in scenario, --rounds or --set values); choose another --out, or delete the directory "
                             "to start over")
        old = json.loads(path.read_text())
        known = old.get("cells") or grid_cells(old["grid"])
        merged_grid = {k: list(v) for k, v in old["grid"].items()}
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "scenario.toml").write_text(text)
        old, known, merged_grid = {"replicates": replicates}, [], {}
    known = [json.loads(json.dumps(c)) for c in known]
    index = {_cell_key(c): i for i, c in enumerate(known)}
    ids = []
    for params in json.loads(json.dumps(cells)):
        key = _cell_key(params)
        if key not in index:
            index[key] = len(known)
            known.append(params)
        ids.append(index[key])
    for key, values in json.loads(json.dumps(grid)).items():
        merged_grid.setdefault(key, [])
        merged_grid[key] += [v for v in values if v not in merged_grid[key]]
    manifest = {"scenario": scenario["name"], "rounds": scenario["rounds"], "seed": scenario["seed"],
                "grid": merged_grid, "replicates": max(int(old["replicates"]), replicates), "cells": known}
    tmp = path.with_name(".sweep.json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)
    return ids


def batch_run(scenario: str | Path | Mapping[str, Any], parameters: Mapping[str, Any], number_processes: int | None = 1,
              iterations: int = 1, data_collection_period: int = -1, max_steps: int | None = None,
              display_progress: bool = True) -> list[dict[str, Any]]:
    """Mesa's ``batch_run`` over a scenario instead of a model class.

    Parameters
    ----------
    scenario : str, path or mapping
        The scenario whose values ``parameters`` override.
    parameters : mapping
        ``--set`` key paths to a value (fixed) or a list of values (swept), as
        in ``mesa.batch_run``.
    number_processes : int or None
        Worker processes (``None``: all cores; 1: one worker thread).
    iterations : int
        Replicates per combination (seeds ``scenario.seed + iteration``).
    data_collection_period : int
        Keep every k-th round; ``-1`` only the last round (Mesa's default).
    max_steps : int, optional
        Rounds per run (default: the scenario's).
    display_progress : bool
        Show a progress bar.

    Returns
    -------
    list of dict
        One dict per kept round and run: ``RunId``, ``iteration``, ``Step``,
        the swept and fixed parameters, then every model column.
    """
    if data_collection_period == 0 or data_collection_period < -1:
        raise ValueError("data_collection_period: must be -1 or a positive integer")
    swept = {k: list(v) for k, v in parameters.items() if isinstance(v, (list, tuple, range))}
    fixed = set_overrides({k: v for k, v in parameters.items() if k not in swept})
    grid = swept or {"seed": [int(_base_seed(scenario))]}
    result = sweep(scenario, grid, iterations, rounds=max_steps, overrides=fixed,
                   n_workers=number_processes or os.cpu_count(), processes=number_processes != 1,
                   progress=display_progress)
    table = result.rounds()
    last = table.groupby(["cell", "replicate"])["round"].transform("max")
    keep = table["round"] == last if data_collection_period == -1 else table["round"] % data_collection_period == 0
    table = table[keep]
    n_rep = iterations
    records = []
    for row in table.to_dict("records"):
        record = {"RunId": int(row["cell"]) * n_rep + int(row["replicate"]), "iteration": int(row["replicate"]),
                  "Step": int(row["round"])}
        record.update({k: v for k, v in parameters.items() if k not in swept})
        record.update({k: row[k] for k in swept})
        record.update({k: v for k, v in row.items() if k not in (*KEY_COLUMNS, *grid)})
        records.append(record)
    return records


def _base_seed(scenario: str | Path | Mapping[str, Any]) -> int:
    return load(scenario).seed
