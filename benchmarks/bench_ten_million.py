"""Ten million owners for a thousand rounds: wall time and peak memory (issue: every mechanism fast).

On demand, not part of the test run (about a quarter of an hour)::

    python benchmarks/bench_ten_million.py                            # 10^7 owners x 1,000 rounds
    python benchmarks/bench_ten_million.py --owners 1000000 --rounds 100

Runs ``privmarket run quickstart --set population.owners=N --rounds R
--owner-every 0 --out DIR`` (posted prices, asynchronous best response,
buyers and churn; per-round model output written as the run goes, no owner
output) in a child process and reports its wall time, the simulation's own
wall time (``summary.json``), the child's CPU time and peak resident memory
(``getrusage(RUSAGE_CHILDREN)``) and the machine's load average
before and after (other processes share the cores; the figures are only
comparable at equal load).  Targets: under 20 minutes and 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=1_000)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = [sys.executable, "-m", "market.cli", "run", "quickstart", "--rounds", str(args.rounds),
                   "--set", f"population.owners={args.owners}", "--owner-every", "0", "--out", str(out)]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak, cpu = usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime
        summary = json.loads((out / "summary.json").read_text())
    load_after = os.getloadavg()
    print(f"quickstart: {args.owners:,} owners x {args.rounds:,} rounds")
    print(f"wall time {wall:.0f} s ({wall / 60:.1f} min; simulation {summary['wall_time_s']:.0f} s), "
          f"peak memory {peak / 2**30:.2f} GiB ({peak / args.owners:.0f} B/owner)")
    print(f"CPU time {cpu:.0f} s ({cpu / 60:.1f} min): what the run takes with a core to itself")
    print(f"owner-rounds per second: {args.owners * args.rounds / summary['wall_time_s']:.3g}")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
