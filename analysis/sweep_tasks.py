"""One task of a sweep -- a cell (a point of parameter values) times a replicate seed -- and its files.

A grid sweep (:mod:`analysis.sweep`) and a designed sweep (:mod:`analysis.design`) differ only in
how they choose their cells; both run every cell ``replicates`` times through the tasks of this
module, on the same Dask path, into the same folder layout (described in :mod:`analysis.sweep`)::

    DIR/rounds/cell=K/replicate=R.parquet    per-round table; written last, so it marks the task done
    DIR/owners/cell=K/replicate=R.parquet    owner state every ``owner_every`` rounds (optional)
    DIR/parts/cell=K/replicate=R.parquet     the task's summary row
    DIR/failures/cell=K/replicate=R.json     the failure record of a task that failed
    DIR/failures.csv                         every failure not yet made good by a rerun

Every file is written under a temporary name and renamed, so an interrupted task leaves nothing
behind and a rerun (which skips the tasks whose ``rounds`` file exists) retries it.  A summary row
holds no unexplained NaN: a number that is not finite is written as null (NaN) and its column and
reason (:func:`analysis.null_values.null_reason`) go to the row's ``null_values``, a JSON object.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w

from analysis.distributed import run_tasks
from analysis.emergence import rent_by_decile, summarize
from analysis.null_values import null_values
from analysis.regimes import EQUILIBRIUM_TOL, analyse_regimes, classify_rounds
from market.simulation.metrics import check_finite
from market.simulation.model import DataMarket
from market.simulation.provenance import table_with_provenance
from market.simulation.recorder import OWNER_COLUMNS, Recorder
from scenarios.schema import ScenarioError, load

#: Columns identifying a task, first in every table.
KEY_COLUMNS = ("cell", "replicate", "seed")


def toml_value(value: Any) -> str:
    """A value as inline TOML text (tables as ``{ k = v }``, so a ``--set`` override can hold a distribution).

    Parameters
    ----------
    value : Any
        A TOML-representable value: number, boolean, string, list, tuple or mapping.

    Returns
    -------
    str
        The text after ``=`` of a ``KEY=VALUE`` override.
    """
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{tomli_w.dumps({k: 0}).split('=', 1)[0].strip()} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def set_overrides(params: Mapping[str, Any]) -> list[str]:
    """``KEY=VALUE`` overrides (as ``--set`` takes them) setting each key path of ``params`` to its value."""
    return [f"{key}={toml_value(value)}" for key, value in params.items()]


def column_value(value: Any) -> Any:
    """A cell's parameter value as a table cell.

    Numbers become floats (one column type across cells), strings and booleans stay as they are,
    lists and tables become their TOML text (:func:`toml_value`).
    """
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return toml_value(value)


@dataclass
class SweepTask:
    """One run of a sweep: cell ``cell`` (parameter values ``params``) with seed ``scenario.seed + replicate``.

    Attributes
    ----------
    scenario : dict
        The resolved base scenario (``Scenario.to_dict()``) every cell overrides.
    cell : int
        The cell's id, its partition ``cell=K`` in the output folder.
    replicate : int
        The replicate; its seed is the scenario's seed plus ``replicate`` (common random numbers).
    params : dict
        ``--set`` key paths of this cell and their values.
    out : str or None
        The output folder (``None``: keep the results in memory).
    tol : float
        Tolerance of the regime classification (:func:`analysis.regimes.classify_rounds`).
    owner_every : int
        Record owner state every k rounds into ``DIR/owners/`` (0: never).
    label : str
        The scenario's source, named in error messages.
    """

    scenario: dict[str, Any]
    cell: int
    replicate: int
    params: dict[str, Any]
    out: str | None
    tol: float
    owner_every: int
    label: str

    @property
    def seed(self) -> int:
        """The seed of this replicate: the base scenario's seed plus ``replicate``."""
        return int(self.scenario.get("seed", 0)) + self.replicate

    @property
    def key(self) -> str:
        """The task's name, ``cell=K__replicate=R`` (its Dask key)."""
        return f"cell={self.cell}__replicate={self.replicate}"


def part_path(out: Path, table: str, cell: int, replicate: int) -> Path:
    """The Parquet file of ``table`` (``rounds``, ``owners`` or ``parts``) of one task under ``out``."""
    return out / table / f"cell={cell}" / f"replicate={replicate}.parquet"


def is_done(task: SweepTask) -> bool:
    """Whether the task's ``rounds`` file (written last) exists, so a rerun skips it."""
    return task.out is not None and part_path(Path(task.out), "rounds", task.cell, task.replicate).exists()


def run_task(task: SweepTask) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """Run one task; a task that fails returns its failure record instead of stopping the sweep.

    Returns
    -------
    (dict, pandas.DataFrame or None)
        The summary row and, without an output folder, the per-round table (with one, ``None``:
        the files are written); or the failure record (:func:`failure_record`, also written to
        ``DIR/failures/cell=K/replicate=R.json``) and ``None``.
    """
    try:
        row, frame = _compute_task(task)
    except Exception as exc:  # noqa: BLE001 - any failure of one cell is recorded, the others go on
        failure = failure_record(task, exc)
        if task.out is not None:
            write_failure(Path(task.out), failure)
        return failure, None
    if task.out is not None:
        _failure_path(Path(task.out), task.cell, task.replicate).unlink(missing_ok=True)
    return row, frame


def failure_record(task: SweepTask, exc: BaseException) -> dict[str, Any]:
    """The failure record of a task: ``failed = True``, where it failed and why, in one line.

    Returns
    -------
    dict
        ``failed``, ``cell``, ``replicate``, ``seed``, ``params`` (as table cells,
        :func:`column_value`) and ``reason`` (a scenario error's own message, else the exception's
        type and message, white space folded to one line).
    """
    reason = str(exc) if isinstance(exc, ScenarioError) else f"{type(exc).__name__}: {exc}"
    return {"failed": True, "cell": task.cell, "replicate": task.replicate, "seed": task.seed,
            "params": {k: column_value(v) for k, v in task.params.items()},
            "reason": " ".join(reason.split())}


def write_failure(out_dir: Path, failure: Mapping[str, Any]) -> None:
    """Write a failure record to ``DIR/failures/cell=K/replicate=R.json`` (temporary name, then rename)."""
    path = _failure_path(out_dir, failure["cell"], failure["replicate"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(failure))
    os.replace(tmp, path)


def _failure_path(out: Path, cell: int, replicate: int) -> Path:
    return out / "failures" / f"cell={cell}" / f"replicate={replicate}.json"


def _compute_task(task: SweepTask) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """Run one cell and replicate; write (or return) its rounds and summary row."""
    seed = task.seed
    scenario = load(task.scenario, set_overrides(task.params), seed=seed, label=task.label)
    recorder = Recorder(None, owner_every=task.owner_every)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        model = DataMarket(scenario, recorder=recorder)
        model.run(progress=lambda round_: check_finite(model.row, round_, scenario))
    recorder.close()
    frames = recorder.frames()
    frame = frames["model"]
    o = model.owners
    final = pd.DataFrame({"round": model.steps, **{c: getattr(o, c) for c in OWNER_COLUMNS[2:]}})
    regimes = classify_rounds(frame, model.mechanism, task.tol)
    analysis = analyse_regimes(frame, model.mechanism)
    keys = {"cell": task.cell, "replicate": task.replicate, "seed": seed}
    params = {k: column_value(v) for k, v in task.params.items()}
    deciles = rent_by_decile(o.payment, o.cost, o.sensitivity)
    row = {**keys, **params, **summarize(frame, final, equilibrium_tol=EQUILIBRIUM_TOL),
           "regime": regimes.iloc[-1],
           "regime_shifts": len(analysis.shifts()),
           "transient_length": analysis.transient_length if analysis.regimes else len(frame),
           **{f"rent_decile_{d}": float(v) for d, v in zip(deciles["decile"], deciles["mean_rent"])}}
    reasons = null_values(row)  # no unexplained NaN: a number that is not finite is null, and says why
    row = {**{k: float("nan") if k in reasons and v is not None else v for k, v in row.items()},
           "null_values": json.dumps(reasons)}
    table = pd.concat([pd.DataFrame({**keys, **params}, index=frame.index), frame], axis=1)
    if task.out is None:
        return row, table
    out = Path(task.out)
    resolved = scenario.to_dict()
    _write(pd.DataFrame([row]).drop(columns="cell"), part_path(out, "parts", task.cell, task.replicate),
           resolved, seed)
    if task.owner_every:
        owners = frames["owners"]
        _write(pd.concat([pd.DataFrame({**keys, **params}, index=owners.index), owners], axis=1)
               .drop(columns="cell"), part_path(out, "owners", task.cell, task.replicate), resolved, seed)
    _write(table.drop(columns="cell"), part_path(out, "rounds", task.cell, task.replicate), resolved,
           seed)  # last: "done"
    return row, None


def _write(frame: pd.DataFrame, path: Path, scenario: dict[str, Any] | None = None,
           seed: int | None = None) -> None:
    """Write ``frame`` atomically (temporary name, then rename), with provenance metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table_with_provenance(pa.Table.from_pandas(frame, preserve_index=False), scenario, seed), tmp)
    os.replace(tmp, path)


def run_sweep_tasks(client: Any, tasks: Sequence[SweepTask], progress: bool = False
                    ) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    """Run sweep tasks (grid cells or design points) on ``client``: their summary rows and in-memory frames.

    A task's own error comes back as its failure record (``failed = True``, :func:`run_task`); a task
    whose worker was lost (:func:`analysis.distributed.run_tasks` reports it) gets one too, written to
    ``DIR/failures/`` like the others, so a rerun retries it.

    Parameters
    ----------
    client : dask.distributed.Client
        The client to submit to (:func:`analysis.distributed.dask_client`).
    tasks : sequence of SweepTask
        The tasks to run.
    progress : bool
        Show a progress bar on standard error when it is a terminal.

    Returns
    -------
    (list of dict, list of pandas.DataFrame)
        One summary row or failure record per task, and the per-round tables of the tasks run in
        memory (``out = None``).
    """
    by_key = {t.key: t for t in tasks}
    results, lost = run_tasks(client, run_task, list(by_key.values()), list(by_key), progress=progress)
    rows = [row for row, _ in results]
    frames = [frame for _, frame in results if frame is not None]
    for failure in lost:
        task = by_key[failure.key]
        record = failure_record(task, RuntimeError(failure.reason))
        if task.out is not None:
            write_failure(Path(task.out), record)
        rows.append(record)
    return rows, frames


def failure_table(failures: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Failure records as a table: ``cell, replicate, seed``, the parameter values, ``reason``."""
    if not failures:
        return pd.DataFrame(columns=[*KEY_COLUMNS, "reason"])
    rows = [{"cell": f["cell"], "replicate": f["replicate"], "seed": f["seed"], **f["params"], "reason": f["reason"]}
            for f in failures]
    return pd.DataFrame(rows).sort_values(["cell", "replicate"]).reset_index(drop=True)


def collect_failures(out_dir: Path) -> pd.DataFrame:
    """Every task of the folder that failed and has not succeeded since (:func:`failure_table`).

    Written to ``DIR/failures.csv``, which is removed when there is none.
    """
    records = [json.loads(p.read_text()) for p in sorted((out_dir / "failures").glob("cell=*/replicate=*.json"))]
    records = [r for r in records if not part_path(out_dir, "rounds", r["cell"], r["replicate"]).exists()]
    table = failure_table(records)
    path = out_dir / "failures.csv"
    if records:
        table.to_csv(path, index=False)
    else:
        path.unlink(missing_ok=True)
    return table


def describe_failures(failures: pd.DataFrame, limit: int = 3) -> str:
    """One line naming the failed tasks, e.g. ``cell 3 replicate 0 (mechanism.price=...): reason``."""
    keys = [c for c in failures.columns if c not in (*KEY_COLUMNS, "reason")]
    parts = []
    for row in failures.head(limit).to_dict("records"):
        values = ", ".join(f"{k}={row[k]}" for k in keys if not (isinstance(row[k], float) and row[k] != row[k]))
        parts.append(f"cell {row['cell']} replicate {row['replicate']} ({values}): {row['reason']}")
    more = f"; and {len(failures) - limit} more" if len(failures) > limit else ""
    return "; ".join(parts) + more


def load_summary(out_dir: Path) -> pd.DataFrame:
    """Every summary row of ``DIR/parts`` (one ``read_parquet`` of the partitioned folder), ``cell`` first,
    sorted by cell and replicate."""
    if not any((out_dir / "parts").glob("cell=*/replicate=*.parquet")):
        return pd.DataFrame(columns=list(KEY_COLUMNS))
    parts = pd.read_parquet(out_dir / "parts")
    parts["cell"] = parts["cell"].astype(np.int64)
    parts = parts[["cell", *(c for c in parts.columns if c != "cell")]]
    return parts.sort_values(["cell", "replicate"]).reset_index(drop=True)


def write_summary(out_dir: Path, summary: pd.DataFrame, scenario: dict[str, Any], **metadata: Any) -> None:
    """Write the summary table to ``DIR/summary.parquet`` (with provenance: the base ``scenario``, every
    seed, and ``metadata`` such as a design's kind and size) and ``DIR/summary.csv``."""
    table = table_with_provenance(pa.Table.from_pandas(summary, preserve_index=False), scenario,
                                  summary["seed"].unique().tolist(), **metadata)
    pq.write_table(table, out_dir / "summary.parquet")
    summary.to_csv(out_dir / "summary.csv", index=False)
