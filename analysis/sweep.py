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
    DIR/parts/cell=K/replicate=R.parquet
                                the summary row of each task
    DIR/summary.parquet, DIR/summary.csv
                                one row per cell and replicate: the grid keys,
                                :func:`analysis.emergence.summarize` of the run (owner measures from the
                                final owner state), ``final_free_riding_standalone``
                                (:func:`analysis.emergence.standalone_free_riding`), the final ``regime``
                                (:func:`analysis.regimes.classify_rounds`), number of ``regime_switches``
                                and ``rent_decile_0`` ... ``rent_decile_9``, the mean information rent of
                                each sensitivity decile in the final round
                                (:func:`analysis.emergence.rent_by_decile`)

A sweep is resumable: a task whose ``rounds`` file exists is not rerun, and
every file is written to a temporary name and renamed, so an interrupted
task leaves nothing behind.  Read the dataset with
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
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w
from tqdm import tqdm

from analysis.emergence import rent_by_decile, run_metrics
from analysis.regimes import classify_rounds, regime_spans
from market.simulation.model import DataMarket
from market.simulation.recorder import OWNER_COLUMNS, Recorder
from scenarios.schema import load

#: Columns identifying a task, first in every table.
KEY_COLUMNS = ("cell", "replicate", "seed")


def parse_grid(specs: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``KEY=V1,V2,...`` or ``KEY=START:STOP:NUM`` strings into a grid.

    Values are TOML (``0.5``, ``true``, ``"text"``, ``[0, 0.5, 1]``; a bare
    word is taken as a string); commas inside brackets or braces do not
    split.  ``START:STOP:NUM`` is ``numpy.linspace(START, STOP, NUM)``.

    Raises
    ------
    ValueError
        ``"grid: ..."`` for a malformed entry or a repeated key.
    """
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ValueError(f"grid: {spec!r}: expected KEY=V1,V2,... or KEY=START:STOP:NUM")
        if key in grid:
            raise ValueError(f"grid: {key!r} given twice")
        parts = text.split(":")
        if len(parts) == 3 and not any(c in text for c in "[{\""):
            try:
                start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
            except ValueError:
                raise ValueError(f"grid: {spec!r}: START:STOP:NUM needs two numbers and an integer") from None
            if num < 1:
                raise ValueError(f"grid: {spec!r}: NUM must be at least 1")
            grid[key] = [float(v) for v in np.linspace(start, stop, num)]
            continue
        values = []
        for item in _split_top_level(text):
            try:
                values.append(tomllib.loads(f"v = {item}")["v"])
            except tomllib.TOMLDecodeError:
                values.append(item.strip())
        grid[key] = values
    return grid


def _split_top_level(text: str) -> list[str]:
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
        raise ValueError(f"grid: {text!r}: empty value")
    return items


def grid_cells(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of the grid, in order (last key varies fastest); cell ``k`` is item ``k``."""
    for key, values in grid.items():
        if len(values) == 0:
            raise ValueError(f"grid: {key!r} has no values")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def _toml_value(value: Any) -> str:
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def _column_value(value: Any) -> Any:
    """A grid value as a table cell: numbers as floats (one column type across cells), strings and
    booleans as they are, lists and tables as their TOML text."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return _toml_value(value)


@dataclass
class _Task:
    scenario: dict[str, Any]
    cell: int
    replicate: int
    params: dict[str, Any]
    rounds: int | None
    out: str | None
    tol: float


def _run_task(task: _Task) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """Run one cell and replicate; write (or return) its rounds and summary row."""
    seed = int(task.scenario.get("seed", 0)) + task.replicate
    overrides = [f"{k}={_toml_value(v)}" for k, v in task.params.items()]
    scenario = load(task.scenario, overrides, seed=seed, rounds=task.rounds)
    recorder = Recorder(None, owner_every=0)
    model = DataMarket(scenario, recorder=recorder)
    model.run()
    recorder.close()
    frame = recorder.frames()["model"]
    o = model.owners
    final = pd.DataFrame({"round": model.steps, **{c: getattr(o, c) for c in OWNER_COLUMNS[2:]}})
    regimes = classify_rounds(frame, scenario.mechanism.name, scenario.mechanism.action_space, task.tol)
    keys = {"cell": task.cell, "replicate": task.replicate, "seed": seed}
    params = {k: _column_value(v) for k, v in task.params.items()}
    deciles = rent_by_decile(o.payment, o.cost, o.sensitivity)
    row = {**keys, **params, **run_metrics(frame, final, model.mechanism, o, model.context()),
           "regime": regimes.iloc[-1],
           "regime_switches": len(regime_spans(frame["round"], regimes)) - 1,
           **{f"rent_decile_{d}": float(v) for d, v in zip(deciles["decile"], deciles["mean_rent"])}}
    table = pd.concat([pd.DataFrame({**keys, **params}, index=frame.index), frame], axis=1)
    if task.out is None:
        return row, table
    out = Path(task.out)
    _write(pd.DataFrame([row]), _part_path(out, "parts", task.cell, task.replicate))
    _write(table.drop(columns="cell"), _part_path(out, "rounds", task.cell, task.replicate))
    return row, None


def _part_path(out: Path, table: str, cell: int, replicate: int) -> Path:
    return out / table / f"cell={cell}" / f"replicate={replicate}.parquet"


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    os.replace(tmp, path)


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
    """

    summary: pd.DataFrame
    grid: dict[str, list[Any]]
    cells: list[dict[str, Any]]
    computed: list[tuple[int, int]]
    out_dir: Path | None
    _rounds: pd.DataFrame | None = field(default=None, repr=False)

    def rounds(self) -> pd.DataFrame:
        """The per-round table of every cell and replicate, sorted by cell, replicate and round."""
        if self._rounds is not None:
            return self._rounds
        table = pd.read_parquet(self.out_dir / "rounds")
        table["cell"] = table["cell"].astype(int)
        return table.sort_values(["cell", "replicate", "round"]).reset_index(drop=True)


def _client(scheduler: str | None, n_workers: int | None, processes: bool):
    from dask.distributed import Client, LocalCluster  # lazy: heavy, sweeps only

    if scheduler is not None:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1,
                           processes=processes, dashboard_address=":0")
    return Client(cluster), cluster


def sweep(scenario: str | Path | Mapping[str, Any], grid: Mapping[str, Sequence[Any]], replicates: int = 1, *,
          out: str | Path | None = None, rounds: int | None = None, overrides: Sequence[str] = (),
          client: Any = None, scheduler: str | None = None, n_workers: int | None = None,
          processes: bool = True, progress: bool = False, tol: float = 0.01) -> SweepResult:
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
    overrides : sequence of str
        Fixed ``key=value`` overrides for every cell.
    client : dask.distributed.Client, optional
        Use this client (nothing is started or closed).
    scheduler : str, optional
        Address of an existing Dask scheduler (ignored with ``client``).
    n_workers : int, optional
        Workers of the LocalCluster (default: the number of cores).
    processes : bool
        LocalCluster workers as processes (default) or threads.
    progress : bool
        Show a progress bar on standard error.
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
    base = load(scenario, list(overrides), rounds=rounds)
    for params in cells:  # fail fast on a bad value, before any worker starts
        load(base.to_dict(), [f"{k}={_toml_value(v)}" for k, v in params.items()])
    base_dict = base.to_dict()
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        _check_or_write_manifest(out_dir, base_dict, grid, replicates)
    tasks = [_Task(base_dict, c, r, params, None, str(out_dir) if out_dir else None, tol)
             for c, params in enumerate(cells) for r in range(replicates)]
    if out_dir is not None:
        tasks = [t for t in tasks if not _part_path(out_dir, "rounds", t.cell, t.replicate).exists()]
    rows, frames = [], []
    if tasks:
        own = client is None
        cluster = None
        if own:
            client, cluster = _client(scheduler, n_workers, processes)
        try:
            rows, frames = _gather(client, tasks, progress)
        finally:
            if own:
                client.close()
                if cluster is not None:
                    cluster.close()
    computed = sorted((t.cell, t.replicate) for t in tasks)
    if out_dir is None:
        summary = pd.DataFrame(rows).sort_values(["cell", "replicate"]).reset_index(drop=True)
        table = pd.concat(frames).sort_values(["cell", "replicate", "round"]).reset_index(drop=True)
        return SweepResult(summary, grid, cells, computed, None, table)
    summary = _load_summary(out_dir)
    summary.to_parquet(out_dir / "summary.parquet", index=False)
    summary.to_csv(out_dir / "summary.csv", index=False)
    return SweepResult(summary, grid, cells, computed, out_dir)


def _load_summary(out_dir: Path) -> pd.DataFrame:
    parts = [pd.read_parquet(p) for p in sorted((out_dir / "parts").glob("cell=*/replicate=*.parquet"))]
    return pd.concat(parts).sort_values(["cell", "replicate"]).reset_index(drop=True)


def _gather(client: Any, tasks: list[_Task], progress: bool) -> tuple[list[dict], list[pd.DataFrame]]:
    from dask.distributed import as_completed  # lazy: heavy, sweeps only

    futures = client.map(_run_task, tasks, pure=False)
    rows, frames = [], []
    with tqdm(total=len(futures), unit="run", file=sys.stderr, disable=not progress) as bar:
        for future in as_completed(futures):
            row, frame = future.result()
            rows.append(row)
            if frame is not None:
                frames.append(frame)
            bar.update(1)
    return rows, frames


def _check_or_write_manifest(out_dir: Path, scenario: dict[str, Any], grid: dict[str, list[Any]],
                             replicates: int) -> None:
    manifest = {"scenario": scenario["name"], "rounds": scenario["rounds"], "seed": scenario["seed"],
                "grid": grid, "replicates": replicates}
    path = out_dir / "sweep.json"
    text = tomli_w.dumps(scenario)
    if path.exists():
        old = json.loads(path.read_text())
        same_scenario = (out_dir / "scenario.toml").exists() and (out_dir / "scenario.toml").read_text() == text
        if old != json.loads(json.dumps(manifest)) or not same_scenario:
            raise ValueError(f"out: {out_dir} holds a different sweep (remove it or choose another directory)")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scenario.toml").write_text(text)
    path.write_text(json.dumps(manifest, indent=2) + "\n")


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
    fixed = [f"{k}={_toml_value(v)}" for k, v in parameters.items() if k not in swept]
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
