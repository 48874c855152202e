"""A long, large run from the command line: wall time and peak memory (issue: scale and speed).

On demand, not part of the test run::

    python benchmarks/bench_long_run.py                       # 10^6 owners x 1,000 rounds
    python benchmarks/bench_long_run.py --owners 100000 --rounds 200

Runs ``privmarket run quickstart`` (posted prices, asynchronous best
response, buyers and churn) with the given population and horizon, per-round
model output and no owner output, in a child process, and reports the wall
time, the simulation's own wall time (``summary.json``) and the child's peak
resident memory (``getrusage(RUSAGE_CHILDREN).ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1_000)
    parser.add_argument("--scenario", default="quickstart")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="scenario overrides passed on to privmarket run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = [sys.executable, "-m", "market.cli", "run", args.scenario, "--rounds", str(args.rounds),
                   "--set", f"population.owners={args.owners}", "--owner-every", "0", "--out", str(out),
                   *(arg for kv in args.set for arg in ("--set", kv))]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        summary = json.loads((out / "summary.json").read_text())
        rows = len(pd.read_parquet(out / "model.parquet"))
    print(f"{args.scenario} {' '.join(args.set)}: {args.owners:,} owners x {args.rounds:,} rounds "
          f"({rows:,} model rows)")
    print(f"wall time {wall:.1f} s (simulation {summary['wall_time_s']:.1f} s), peak memory {peak_mb:,.0f} MB")
    print(f"owner-rounds per second: {args.owners * args.rounds / summary['wall_time_s']:.3g}")


if __name__ == "__main__":
    main()
