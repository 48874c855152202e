"""Running many independent simulation tasks on Dask, resumably, with failures recorded.

Every experiment -- ``privmarket sweep`` over a grid (:mod:`analysis.sweep`) or a
sampling design (:mod:`analysis.design`) and ``privmarket tournament``
(:mod:`analysis.tournament`) -- runs on one execution path: :func:`dask_client`
opens a ``dask.distributed`` :class:`~dask.distributed.LocalCluster` of
single-threaded worker processes by default, or connects to an existing
cluster by its scheduler address (``--scheduler``), and logs the dashboard
address; :func:`run_tasks` maps a task function over the tasks and collects
what every task returned.  A task that raises does not stop the others: its
one-line reason is returned (and, with an output directory, written to
``DIR/failed/<key>.txt``, removed again when the task later succeeds), so a
rerun retries exactly the failed and missing tasks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dask.distributed import Client, LocalCluster, as_completed
from distributed.comm.addressing import get_address_host_port, parse_address

from market.simulation.progress import progress_bar

log = logging.getLogger(__name__)


class SchedulerError(ValueError):
    """No Dask scheduler answers at the given address: a user mistake (one line, exit status 2)."""


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int | None = None, processes: bool = True,
                client: Client | None = None) -> Iterator[Client]:
    """The one Dask client of every experiment: a given one, an existing scheduler's, or a new LocalCluster's.

    ``privmarket sweep`` (grid and designs), ``privmarket tournament`` and
    ``benchmarks/bench_experiments.py`` all run through here.  A client it
    opens logs one line ``Dask dashboard: URL`` (standard error under the
    ``privmarket`` command) and is closed on exit, with its LocalCluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); the connection
        waits Dask's ``distributed.comm.timeouts.connect`` (30 s by default).
    n_workers : int, optional
        LocalCluster workers (default: the number of cores), one thread each.
    processes : bool
        LocalCluster workers as processes (default) or threads.
    client : dask.distributed.Client, optional
        Use this client as it is: nothing is started, announced or closed.

    Raises
    ------
    SchedulerError
        ``"scheduler: ..."`` if no scheduler answers at ``scheduler`` (or the address is malformed).
    """
    if client is not None:
        yield client
        return
    cluster = None
    if scheduler is not None:
        try:
            if parse_address(scheduler)[0] != "inproc":  # a malformed address, before the client exists: a
                get_address_host_port(scheduler)        # client failing on it hangs the interpreter's exit
            client = Client(scheduler)
        except (OSError, ValueError) as exc:
            raise SchedulerError(f"scheduler: no Dask scheduler at {scheduler!r} ({reason(exc)})") from None
    else:
        cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=processes, dashboard_address=":0")
        client = Client(cluster)
    try:
        log.info("Dask dashboard: %s", client.dashboard_link or "none")
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
        Show a progress bar on standard error (when it is a terminal).

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
    with progress_bar(len(futures), "run", enabled=progress) as bar:
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
