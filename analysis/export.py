"""Run output: per-round tables written in Parquet chunks as the run goes.

A run produces three tables (see the README for the schema):

``model``
    one row per round (the columns of :func:`analysis.metrics.round_metrics`);
``owners``
    ``owner_id, round, action, payment, cost, utility`` every k-th round;
``events``
    ``time, kind, agent_id`` for buyer arrivals and departures and owner
    joins and leaves.

With an output directory, rows are buffered and flushed to
``model.parquet``, ``owners.parquet`` and ``events.parquet`` as Parquet row
groups every ``chunk_rounds`` rounds, so memory stays flat with the horizon
and an interrupted run keeps every completed chunk.  Without one, the tables
stay in memory.  Either way :meth:`Recorder.frames` returns pandas
DataFrames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

OWNER_COLUMNS = ("owner_id", "round", "action", "payment", "cost", "utility")
EVENT_COLUMNS = ("time", "kind", "agent_id")
TABLES = ("model", "owners", "events")


class _Table:
    """Buffered column chunks of one table, optionally streamed to Parquet."""

    def __init__(self, path: Path | None, schema: pa.Schema | None = None) -> None:
        self.path = path
        self.schema = schema
        self.chunks: list[dict[str, np.ndarray]] = []
        self.kept: list[pa.Table] = []
        self.writer: pq.ParquetWriter | None = None

    def add(self, columns: dict[str, np.ndarray]) -> None:
        self.chunks.append(columns)

    def flush(self) -> None:
        if not self.chunks:
            return
        names = list(self.chunks[0])
        table = pa.table({k: np.concatenate([np.atleast_1d(c[k]) for c in self.chunks]) for k in names},
                         schema=self.schema)
        self.chunks = []
        if self.schema is None:
            self.schema = table.schema
        elif table.schema != self.schema:
            raise RuntimeError(f"columns changed during the run: {table.schema.names} vs {self.schema.names}")
        if self.path is None:
            self.kept.append(table)
            return
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        self.flush()
        if self.path is not None:
            if self.writer is None:  # nothing was ever written: still leave a valid, empty file
                pq.write_table(self.schema.empty_table() if self.schema else pa.table({}), self.path)
            else:
                self.writer.close()
                self.writer = None

    def frame(self) -> pd.DataFrame:
        self.flush()
        if self.path is not None and self.path.exists() and self.writer is None:
            return pq.read_table(self.path).to_pandas()
        if self.path is not None:
            raise RuntimeError("the run is still writing this table; close the recorder first")
        if not self.kept:
            return (self.schema.empty_table() if self.schema else pa.table({})).to_pandas()
        return pa.concat_tables(self.kept).to_pandas()


class Recorder:
    """Collects the model, owner and event tables of one run.

    Parameters
    ----------
    out_dir : path, optional
        Where to write the Parquet files; ``None`` keeps everything in memory.
    owner_every : int
        Record every owner's state every ``owner_every`` rounds (0: never).
    chunk_rounds : int
        Rounds per Parquet row group.
    """

    def __init__(self, out_dir: Path | str | None = None, owner_every: int = 1,
                 chunk_rounds: int = 100) -> None:
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.owner_every = owner_every
        self.chunk_rounds = chunk_rounds
        path = (lambda name: self.out_dir / f"{name}.parquet") if self.out_dir else (lambda name: None)
        self.tables = {
            "model": _Table(path("model")),
            "owners": _Table(path("owners"), pa.schema(
                [("owner_id", pa.int64()), ("round", pa.int64())]
                + [(c, pa.float64()) for c in OWNER_COLUMNS[2:]])),
            "events": _Table(path("events"), pa.schema(
                [("time", pa.float64()), ("kind", pa.string()), ("agent_id", pa.int64())])),
        }
        self._rounds_buffered = 0

    def round(self, row: dict[str, float], owners: dict[str, np.ndarray] | None) -> None:
        """Record one round: its model row and, if given, the owners' state."""
        self.tables["model"].add({k: np.asarray([v]) for k, v in row.items()})
        if owners is not None:
            self.tables["owners"].add(owners)
        self._rounds_buffered += 1
        if self._rounds_buffered >= self.chunk_rounds:
            self.flush()

    def wants_owners(self, round_: int) -> bool:
        """Whether owner state is recorded at this round."""
        return self.owner_every > 0 and round_ % self.owner_every == 0

    def events(self, time: float, kind: str, agent_ids: np.ndarray) -> None:
        """Record events of one kind at one time."""
        ids = np.asarray(agent_ids, dtype=np.int64)
        if ids.size:
            self.tables["events"].add({"time": np.full(ids.size, float(time)),
                                       "kind": np.full(ids.size, kind, dtype=object), "agent_id": ids})

    def flush(self) -> None:
        """Write every buffered row."""
        for table in self.tables.values():
            table.flush()
        self._rounds_buffered = 0

    def close(self) -> None:
        """Flush and close the Parquet files."""
        for table in self.tables.values():
            table.close()

    def frames(self) -> dict[str, pd.DataFrame]:
        """The three tables as DataFrames (``model``, ``owners``, ``events``)."""
        return {name: table.frame() for name, table in self.tables.items()}
