"""Running many independent simulation tasks on Dask, resumably, with failures recorded.

The experiments (:mod:`analysis.tournament`, the designed sweeps of
:mod:`analysis.design`) share one execution path with ``privmarket sweep``: a
``dask.distributed`` :class:`~dask.distributed.LocalCluster` of single-threaded
worker processes by default, or an existing cluster by scheduler address.
:func:`dask_client` opens it and reports the dashboard address;
:func:`run_tasks` maps a task function over the tasks and collects what
every task returned.  A task that raises does not stop the others: its
one-line reason is returned (and, with an output directory, written to
``DIR/failed/<key>.txt``, removed again when the task later succeeds), so a
rerun retries exactly the failed and missing tasks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dask.distributed import Client, LocalCluster, as_completed
from tqdm import tqdm


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int | None = None, processes: bool = True,
                announce: Callable[[str], None] | None = None) -> Iterator[Client]:
    """A Dask client: of an existing scheduler, or of a new LocalCluster closed on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``).
    n_workers : int, optional
        LocalCluster workers (default: the number of cores), one thread each.
    processes : bool
        LocalCluster workers as processes (default) or threads.
    announce : callable, optional
        Called with one line naming the dashboard address (e.g. ``print``).
    """
    if scheduler is not None:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=processes, dashboard_address=":0")
        client = Client(cluster)
    try:
        if announce is not None:
            announce(f"dask dashboard: {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass(frozen=True)
class Failure:
    """A task that raised: its key and the one-line reason."""

    key: str
    reason: str


def reason(exc: BaseException) -> str:
    """One line saying why a task failed: the exception type and its first message line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def run_tasks(client: Client, function: Callable[[Any], Any], tasks: Sequence[Any], keys: Sequence[str],
              failed_dir: Path | None = None, progress: bool = False) -> tuple[list[Any], list[Failure]]:
    """Run ``function(task)`` for every task on the cluster; return the results and the failures.

    Parameters
    ----------
    client : dask.distributed.Client
        Where to run.
    function : callable
        The task function (importable by the workers).
    tasks : sequence
        Its arguments, one per task.
    keys : sequence of str
        A file-name-safe key per task (names its failure file).
    failed_dir : path, optional
        Where ``<key>.txt`` failure files go (a success removes a stale one).
    progress : bool
        Show a progress bar on standard error.

    Returns
    -------
    results : list
        What the successful tasks returned, in completion order.
    failures : list of Failure
        The tasks that raised, sorted by key.
    """
    results, failures = [], []
    if not tasks:
        return results, failures
    futures = client.map(function, tasks, pure=False)
    key_of = {f.key: k for f, k in zip(futures, keys)}
    with tqdm(total=len(futures), unit="run", file=sys.stderr, disable=not progress) as bar:
        for future in as_completed(futures):
            key = key_of[future.key]
            path = failed_dir / f"{key}.txt" if failed_dir is not None else None
            if future.status == "error":
                failure = Failure(key, reason(future.exception()))
                failures.append(failure)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(failure.reason + "\n")
            else:
                results.append(future.result())
                if path is not None and path.exists():
                    path.unlink()
            bar.update(1)
    return results, sorted(failures, key=lambda f: f.key)
