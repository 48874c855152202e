"""Bytes of live state per owner (issue: ten million owners in memory).

Run on demand (not part of the tests)::

    python benchmarks/bench_memory.py                 # quickstart, 10^6 owners
    python benchmarks/bench_memory.py --owners 100000 --scenario p001_value_shaping

Builds a ``DataMarket`` (no owner recording, no in-memory model table), runs a
few rounds, and reports with :mod:`tracemalloc` (numpy registers its buffers
with it): the memory that stays allocated after the rounds (the model's live
state: owner arrays, rule and mechanism state, agents), divided by the number
of owners, and the peak during the rounds (live state plus a round's
temporaries).  It also reports the growth of resident memory over the same
span.  Point ``PYTHONPATH`` at another checkout to measure it side by side.
"""

from __future__ import annotations

import argparse
import gc
import os
import tracemalloc

from market.simulation.model import DataMarket
from market.simulation.recorder import Recorder


def rss() -> int:
    """Current resident set size in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=1_000_000)
    parser.add_argument("--scenario", default="quickstart")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.owners
    gc.collect()
    rss0 = rss()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    model = DataMarket(args.scenario, overrides=[f"population.owners={n}", f"rounds={args.rounds + 1}"],
                       recorder=Recorder(None, owner_every=0), collect=False)
    built = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.reset_peak()
    for _ in range(args.rounds):
        model.simulator.run_until(float(model.steps + 1))
    gc.collect()
    live, peak = (m - base for m in tracemalloc.get_traced_memory())
    tracemalloc.stop()
    owners = len(model.owners)
    print(f"{args.scenario}, {owners:,} owners, load {os.getloadavg()[0]:.1f}: "
          f"built {built / owners:.0f} B/owner, live after {args.rounds} rounds {live / owners:.0f} B/owner, "
          f"peak during the rounds {peak / owners:.0f} B/owner, resident growth {(rss() - rss0) / owners:.0f} B/owner")


if __name__ == "__main__":
    main()
