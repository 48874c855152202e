"""Round throughput of the simulator against per-agent Mesa and bare numpy (issue: scale and speed).

Run on demand (not part of the tests)::

    python benchmarks/bench_throughput.py            # full table, 10^3 .. 10^6 owners
    python benchmarks/bench_throughput.py --quick    # 10^3 .. 10^5

For each population size it measures owner-rounds per second of

* ``simulator``: ``DataMarket`` on the posted-price scenario (synchronous best
  response, per-round model output, no owner output), and on every other
  mechanism listed in ``MECHANISM_SCENARIOS`` that is installed;
* ``mesa per-agent``: the same posted-price round written the straightforward
  Mesa way, each owner an ``Agent`` with a ``step`` called through
  ``AgentSet.shuffle_do``;
* ``numpy``: the same round as bare numpy, the practical ceiling.

and prints a Markdown table (paste it into ``benchmarks/README.md``) plus the
fitted exponent of cost against owners.
"""

from __future__ import annotations

import argparse
import platform
import time

import mesa
import numpy as np

from analysis.export import Recorder
from market import DataMarket

PRICE = np.array([0.0, 0.5, 1.0])
COST = np.array([0.0, 0.4, 1.0])
VALUE = np.array([0.0, 0.8, 1.5])
BASE = ['decision.revision="synchronous"', "churn.leave_rate=0.0", "churn.join_rate=0.0",
        "buyers.initial=0", "buyers.arrival_rate=0.0"]
#: mechanism label -> (scenario, extra overrides); rows whose mechanism is not registered are skipped.
MECHANISM_SCENARIOS = {
    "posted price": ("quickstart", []),
}


def rounds_for(n: int) -> int:
    """Enough rounds for a stable measurement, few enough to stay quick."""
    return max(5, min(200, 2_000_000 // n))


def bench_simulator(n: int, scenario: str, extra: list[str]) -> float:
    rounds = rounds_for(n)
    model = DataMarket(scenario, overrides=[f"population.owners={n}", f"rounds={rounds}", *BASE, *extra],
                       recorder=Recorder(None, owner_every=0), collect=False)
    model.simulator.run_until(1.0)  # first round outside the timing (warm-up)
    start = time.perf_counter()
    model.run()
    return n * (rounds - 1) / (time.perf_counter() - start)


class Owner(mesa.Agent):
    """A posted-price owner written the per-agent way."""

    def __init__(self, model, sensitivity, size):
        super().__init__(model)
        self.sensitivity, self.size, self.level, self.payment = sensitivity, size, 0, 0.0

    def step(self):
        best, best_u = 0, -np.inf
        for level in range(3):
            u = PRICE[level] * self.size - self.sensitivity * COST[level]
            if u > best_u:
                best, best_u = level, u
        self.level = best
        self.payment = PRICE[best] * self.size


class PerAgentMarket(mesa.Model):
    def __init__(self, n, seed=0):
        super().__init__(seed=seed)
        rng = np.random.default_rng(seed)
        for s, d in zip(rng.uniform(0, 2, n).tolist(), rng.lognormal(0, 0.5, n).tolist()):
            Owner(self, s, d)

    def step(self):
        owners = self.agents_by_type[Owner]
        owners.shuffle_do("step")
        self.total_payments = sum(owners.get("payment"))


def bench_mesa(n: int) -> float:
    rounds = max(2, min(20, 200_000 // n))
    model = PerAgentMarket(n)
    start = time.perf_counter()
    for _ in range(rounds):
        model.step()
    return n * rounds / (time.perf_counter() - start)


def bench_numpy(n: int) -> float:
    rng = np.random.default_rng(0)
    sens, size = rng.uniform(0, 2, n), rng.lognormal(0, 0.5, n)
    rounds = rounds_for(n)
    start = time.perf_counter()
    for _ in range(rounds):
        level = np.argmax(size[:, None] * PRICE - sens[:, None] * COST, axis=1)
        payment = PRICE[level] * size
        cost = sens * COST[level]
        _ = (np.bincount(level, minlength=3), payment.sum(), cost.sum(), (payment - cost).mean(),
             VALUE[level] @ size)
    return n * rounds / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only 10^3 .. 10^5 owners")
    args = parser.parse_args()
    sizes = [10**3, 10**4, 10**5] + ([] if args.quick else [10**6])
    from market.mechanisms import MECHANISMS
    from scenarios.schema import load

    rows = []
    for n in sizes:
        row = {"owners": n, "numpy": bench_numpy(n), "mesa per-agent": bench_mesa(n)}
        for label, (scenario, extra) in MECHANISM_SCENARIOS.items():
            try:
                load(scenario, extra)
            except Exception:  # scenario of a mechanism that is not installed in this build
                continue
            row[label] = bench_simulator(n, scenario, extra)
        rows.append(row)
        print(f"{n:>9} owners: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items() if k != "owners"),
              flush=True)
    print(f"\nmachine: {platform.machine()}, {platform.processor() or 'unknown CPU'}, "
          f"python {platform.python_version()}, numpy {np.__version__}, mesa {mesa.__version__}\n")
    labels = [k for k in rows[0] if k != "owners"]
    print("| owners | " + " | ".join(f"{k} (owner-rounds/s)" for k in labels)
          + " | simulator / numpy | simulator / per-agent Mesa |")
    print("|---" * (len(labels) + 3) + "|")
    for row in rows:
        sim = row["posted price"]
        print(f"| {row['owners']:,} | " + " | ".join(f"{row[k]:.3g}" for k in labels)
              + f" | {sim / row['numpy']:.2f} | {sim / row['mesa per-agent']:.0f}x |")
    sizes_arr = np.array([r["owners"] for r in rows], dtype=float)
    seconds = sizes_arr / np.array([r["posted price"] for r in rows])
    big = sizes_arr >= 1e4
    slope = np.polyfit(np.log(sizes_arr[big]), np.log(seconds[big]), 1)[0]
    print(f"\nfitted exponent of round time against owners (10^4 and up): {slope:.3f}")


if __name__ == "__main__":
    main()
