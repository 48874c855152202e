"""Run output: per-round tables written in Parquet chunks as the run goes.

A run produces three tables (see the README for the schema):

``model``
    one row per round (the columns of :func:`market.simulation.metrics.round_metrics`);
``owners``
    ``owner_id, round, sensitivity, data_size, action, payment, cost,
    utility`` every k-th round (sensitivity may drift, so it is recorded);
``events``
    ``time, kind, agent_id`` for buyer arrivals and departures and owner
    joins and leaves.

With an output directory, rows are buffered and written every
``chunk_rounds`` rounds (and at every checkpoint) as one small Parquet file
per table and chunk under ``DIR/chunks/``, named by the first round the
chunk covers.  A complete file is never rewritten, so memory stays flat with
the horizon and a killed run keeps every completed chunk (each is written under a
temporary name and renamed).  When the run ends, :meth:`Recorder.close` merges the chunks into ``model.parquet``,
``owners.parquet`` and ``events.parquet`` with a fixed row-group size, so the
merged files do not depend on where the chunks were cut (a resumed run writes
the same bytes as an uninterrupted one).  Without an output directory the
tables stay in memory.  Either way :meth:`Recorder.frames` returns pandas
DataFrames.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from market.simulation.provenance import with_provenance
from market.simulation.run_directory import fault_point, replace_durably

OWNER_COLUMNS = ("owner_id", "round", "sensitivity", "data_size", "action", "payment", "cost", "utility")
EVENT_COLUMNS = ("time", "kind", "agent_id")
TABLES = ("model", "owners", "events")
#: Rows per row group of the merged files.
ROW_GROUP_ROWS = 1 << 20
SCHEMAS = {
    "owners": pa.schema([("owner_id", pa.int64()), ("round", pa.int64())]
                        + [(c, pa.float64()) for c in OWNER_COLUMNS[2:]]),
    "events": pa.schema([("time", pa.float64()), ("kind", pa.string()), ("agent_id", pa.int64())]),
}


class _Table:
    """Buffered column chunks of one table."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.schema: pa.Schema | None = SCHEMAS.get(name)
        self.buffer: list[dict[str, np.ndarray]] = []
        self.kept: list[pa.Table] = []

    def add(self, columns: dict[str, np.ndarray]) -> None:
        self.buffer.append(columns)

    def take(self) -> pa.Table | None:
        """Empty the buffer into one Arrow table (None if it was empty)."""
        if not self.buffer:
            return None
        names = list(self.buffer[0])
        table = pa.table({k: np.concatenate([np.atleast_1d(c[k]) for c in self.buffer]) for k in names},
                         schema=self.schema)
        self.buffer = []
        if self.schema is None:
            self.schema = table.schema
        return table

    def empty(self) -> pa.Table:
        return self.schema.empty_table() if self.schema is not None else pa.table({})


class Recorder:
    """Collects the model, owner and event tables of one run.

    Parameters
    ----------
    out_dir : path, optional
        Where to write the Parquet files; ``None`` keeps everything in memory.
    owner_every : int
        Record every owner's state every ``owner_every`` rounds (0: never).
    owner_sample : int, optional
        Record only about this many owners (a fixed pseudo-random subset of
        owner ids, stable under churn); ``None`` records every owner.
    n_owners : int
        The initial population size, which ``owner_sample`` is a share of.
    chunk_rounds : int
        Rounds per chunk file.
    scenario : mapping, optional
        The resolved scenario, whose hash the merged files carry (:mod:`market.simulation.provenance`).
    seed : int, optional
        The run's seed, recorded likewise.
    """

    def __init__(self, out_dir: Path | str | None = None, owner_every: int = 1,
                 owner_sample: int | None = None, n_owners: int = 0, chunk_rounds: int = 100,
                 scenario: dict | None = None, seed: int | None = None) -> None:
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.provenance = {"scenario": scenario, "seed": seed}
        if self.out_dir is not None:
            (self.out_dir / "chunks").mkdir(parents=True, exist_ok=True)
        self.owner_every = owner_every
        self.sample_share = None if owner_sample is None else min(1.0, owner_sample / max(n_owners, 1))
        self.chunk_rounds = chunk_rounds
        self.tables = {name: _Table(name) for name in TABLES}
        self.chunk_start = 1  # first round of the buffered chunk
        self.last_round = 0
        self.closed = False

    # ---------------------------------------------------------------- writing
    def round(self, row: dict[str, float], owners: dict[str, np.ndarray] | None) -> None:
        """Record one round: its model row and, if given, the owners' state."""
        self.tables["model"].add({k: np.asarray([v]) for k, v in row.items()})
        if owners is not None:
            if self.sample_share is not None:
                keep = in_sample(owners["owner_id"], self.sample_share)
                owners = {k: v[keep] for k, v in owners.items()}
            self.tables["owners"].add(owners)
        self.last_round = int(row["round"])
        if self.last_round - self.chunk_start + 1 >= self.chunk_rounds:
            self.flush()

    def wants_owners(self, round_: int) -> bool:
        """Whether owner state is recorded at this round."""
        return self.owner_every > 0 and round_ % self.owner_every == 0

    def events(self, time: float, kind: str, agent_ids) -> None:
        """Record events of one kind at one time."""
        ids = np.asarray(agent_ids, dtype=np.int64)
        if ids.size:
            self.tables["events"].add({"time": np.full(ids.size, float(time)),
                                       "kind": np.full(ids.size, kind, dtype=object), "agent_id": ids})

    def flush(self) -> None:
        """End the current chunk: write (or keep) everything buffered."""
        for table in self.tables.values():
            data = table.take()
            if data is None:
                continue
            if self.out_dir is None:
                table.kept.append(data)
            else:
                path = self.chunk_path(table.name, self.chunk_start)
                tmp = path.with_name(f".{path.name}.tmp")
                pq.write_table(data, tmp)
                fault_point("chunk")
                replace_durably(tmp, path)
        self.chunk_start = self.last_round + 1

    def chunk_path(self, table: str, first_round: int) -> Path:
        """The chunk file of ``table`` whose first round is ``first_round``."""
        return self.out_dir / "chunks" / f"{table}-{first_round:09d}.parquet"

    def discard_after(self, round_: int) -> None:
        """Delete chunk files covering rounds after ``round_`` (before resuming there)."""
        for path in (self.out_dir / "chunks").glob(".*.tmp"):
            path.unlink()
        for path in (self.out_dir / "chunks").glob("*.parquet"):
            if int(path.stem.rsplit("-", 1)[1]) > round_:
                path.unlink()
        self.chunk_start = round_ + 1
        self.last_round = round_

    def close(self) -> None:
        """Flush, and merge the chunk files into the final Parquet files.

        Each merged file is written under a temporary name, flushed to disk and renamed; the
        chunks stay until :meth:`remove_chunks` (called once the run's summary is on disk too),
        so a kill during the merge leaves everything a resume needs.
        """
        self.flush()
        self.closed = True
        if self.out_dir is None:
            return
        for name, table in self.tables.items():
            chunks = sorted((self.out_dir / "chunks").glob(f"{name}-*.parquet"))
            dest = self.out_dir / f"{name}.parquet"
            tmp = dest.with_name(f".{dest.name}.tmp")
            _merge(chunks, tmp, table.schema, self.provenance)
            replace_durably(tmp, dest)
            fault_point("merge")

    def remove_chunks(self) -> None:
        """Delete the chunk files (once the merged files and the summary are durable)."""
        shutil.rmtree(self.out_dir / "chunks", ignore_errors=True)

    # ---------------------------------------------------------------- reading
    def frames(self, names: tuple[str, ...] = TABLES) -> dict[str, pd.DataFrame]:
        """Tables as DataFrames (by default all three: ``model``, ``owners``, ``events``)."""
        out = {}
        for name in names:
            table = self.tables[name]
            if self.out_dir is not None:
                if not self.closed:
                    raise RuntimeError("the run is still writing its tables; close the recorder first")
                out[name] = pq.read_table(self.out_dir / f"{name}.parquet").to_pandas()
            else:
                pending = table.take()
                if pending is not None:
                    table.kept.append(pending)
                out[name] = (pa.concat_tables(table.kept) if table.kept else table.empty()).to_pandas()
        return out


    def final_owners(self) -> pd.DataFrame | None:
        """The owner rows of the last recorded round (``None`` if no owner was recorded).

        Reads only what that round needs: from the files, the row groups whose
        ``round`` statistics can hold it (pyarrow's filter pushdown), so the
        memory it takes does not grow with the horizon or the recorded rows.
        """
        table = self.tables["owners"]
        if self.out_dir is not None:
            if not self.closed:
                raise RuntimeError("the run is still writing its tables; close the recorder first")
            path = self.out_dir / "owners.parquet"
            meta = pq.ParquetFile(path).metadata
            column = meta.schema.to_arrow_schema().get_field_index("round")
            if meta.num_rows == 0 or column < 0:
                return None
            last = max(meta.row_group(g).column(column).statistics.max for g in range(meta.num_row_groups))
            return pq.read_table(path, filters=[("round", "==", last)]).to_pandas()
        pending = table.take()
        if pending is not None:
            table.kept.append(pending)
        if not table.kept or sum(t.num_rows for t in table.kept) == 0:
            return None
        last = max(pc.max(t["round"]).as_py() for t in table.kept if t.num_rows)
        rows = [t.filter(pc.equal(t["round"], last)) for t in table.kept if t.num_rows]
        return pa.concat_tables(rows).to_pandas()


def in_sample(owner_id: np.ndarray, share: float) -> np.ndarray:
    """Whether each owner id belongs to the recorded sample.

    A multiplicative hash of the id (Knuth), compared with ``share``: the
    sample is fixed for the whole run, newcomers enter it at the same rate,
    and it needs no random stream.
    """
    hashed = (owner_id.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(1 << 32)
    return hashed < np.uint64(share * (1 << 32))


def _merge(chunks: list[Path], dest: Path, schema: pa.Schema | None, provenance: dict) -> None:
    """Concatenate chunk files into ``dest`` in row groups of exactly ``ROW_GROUP_ROWS`` rows.

    The file's schema carries the run's provenance (:func:`market.simulation.provenance.with_provenance`).
    """
    if not chunks:
        empty = schema.empty_table() if schema is not None else pa.table({})
        pq.write_table(empty.cast(with_provenance(empty.schema, **provenance)), dest)
        return
    schema = with_provenance(pq.read_schema(chunks[0]), **provenance)
    pending: list[pa.Table] = []
    count = 0
    with pq.ParquetWriter(dest, schema) as writer:
        for path in chunks:
            part = pq.read_table(path)
            if not part.schema.equals(schema, check_metadata=False):
                raise RuntimeError(f"{path.name}: columns changed during the run")
            pending.append(part)
            count += part.num_rows
            while count >= ROW_GROUP_ROWS:
                merged = pa.concat_tables(pending)
                writer.write_table(merged.slice(0, ROW_GROUP_ROWS), row_group_size=ROW_GROUP_ROWS)
                pending, count = [merged.slice(ROW_GROUP_ROWS)], count - ROW_GROUP_ROWS
        if count:
            writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
