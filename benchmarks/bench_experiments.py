"""Throughput of the experiment path: tournament cells per second with 1 and 2 Dask workers.

On demand, not part of the test run::

    python benchmarks/bench_experiments.py [--workers 1 2] [--replicates 4] [--rounds 100] [--owners 500] [--repeats 1]

Every run is one tournament cell (:func:`analysis.tournament._run_cell`: a
full :class:`market.DataMarket` run and its outcomes, nothing written) of the
built-in ``quickstart`` market under each of the registered decision rules,
``replicates`` seeds each, mapped over a LocalCluster of single-threaded
worker processes by :func:`analysis.distributed.run_tasks` -- the path
``privmarket tournament`` and ``privmarket sweep --design`` take.  The
cluster is started and every worker has run one warm-up cell before the
clock starts, so the figure is the steady rate, not the start-up.  Parallel
efficiency with ``w`` workers is ``rate(w) / (w * rate(1))``.
"""

from __future__ import annotations

import argparse
import os
import time

from market.registry import RULES
from analysis.distributed import dask_client, run_tasks
from analysis.tournament import _run_cell, _Run, tournament_scenario


def tasks(replicates: int, rounds: int, owners: int) -> list[_Run]:
    """One task per rule and replicate of the quickstart market (nothing written)."""
    out = []
    for rule in sorted(RULES):
        scenario = tournament_scenario("quickstart", rule, rounds=rounds, owners=owners)
        out += [_Run(scenario, "quickstart", rule, r, None) for r in range(replicates)]
    return out


def rate(workers: int, work: list[_Run]) -> float:
    """Cells per second on a LocalCluster of ``workers`` processes, after one warm-up cell per worker."""
    with dask_client(n_workers=workers) as client:
        run_tasks(client, _run_cell, work[:workers], [f"w{k}" for k in range(workers)])
        start = time.perf_counter()
        results, failures = run_tasks(client, _run_cell, work, [t.key for t in work])
        elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} cells failed: {failures[0]}")
    return len(results) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--replicates", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--owners", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure the worker counts this many times, alternating; the best rate of each is kept")
    args = parser.parse_args()
    work = tasks(args.replicates, args.rounds, args.owners)
    print(f"{len(work)} cells (quickstart, {len(RULES)} rules x {args.replicates} seeds, {args.rounds} rounds, "
          f"{args.owners} owners); load average before: {os.getloadavg()[0]:.2f}")
    rates: dict[int, list[float]] = {w: [] for w in args.workers}
    for repeat in range(args.repeats):
        for w in args.workers:
            rates[w].append(rate(w, work))
            print(f"repeat {repeat + 1}, workers {w}: {rates[w][-1]:.2f} cells/s "
                  f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    best = {w: max(r) for w, r in rates.items()}
    for w in args.workers:
        efficiency = best[w] / (w * best[1]) if 1 in best else float("nan")
        print(f"workers {w}: best {best[w]:.2f} cells/s, parallel efficiency {efficiency:.2f}")


if __name__ == "__main__":
    main()
