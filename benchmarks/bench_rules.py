"""Throughput of every decision rule at 100,000 owners (owner-rounds per second).

On demand, not part of the test run::

    python benchmarks/bench_rules.py [--owners 100000] [--rounds 20] [--rules hedge exp3]

Each rule runs a posted-price market (3 privacy levels) with synchronous
revision in a full :class:`market.DataMarket` (churn off, no owner output),
so the figure includes settlement, learning updates and metrics; imitation
and the local-information variants run on a Watts-Strogatz graph (k = 6).
Reports owner-rounds per second after one warm-up round.
"""

from __future__ import annotations

import argparse
import time

from market.registry import RULES
from market.simulation.model import DataMarket

PARAMS = {"exp3": {"exploration": 0.1}, "q_learning": {"epsilon": 0.1}}


#: Rules that can learn from local information (``information = "local"``, market/rules/local.py).
LOCAL = ("best_response", "logit", "fictitious_play", "regret_matching", "hedge")


def scenario(rule: str, owners: int, rounds: int, local: bool = False) -> dict:
    """The benchmark scenario for ``rule`` (``local``: neighbours' information on the graph)."""
    out = {
        "name": f"bench_{rule}", "rounds": rounds + 1, "seed": 1,
        "population": {"owners": owners, "initial_action": 0,
                       "types": [{"sensitivity": {"dist": "uniform", "low": 0.0, "high": 2.0},
                                  "data_size": {"dist": "lognormal", "mean": 0.0, "sigma": 0.5}}]},
        "mechanism": {"name": "posted_price"},
        "decision": {"rule": rule, **PARAMS.get(rule, {}), **({"information": "local"} if local else {})},
        "output": {"owner_every": 0},
    }
    if rule == "imitation" or local:
        out["network"] = {"kind": "watts_strogatz", "k": 6, "rewire": 0.1}
    return out


def bench(rule: str, owners: int, rounds: int, local: bool = False) -> tuple[float, float]:
    """(seconds to build the model, owner-rounds per second) for one rule."""
    start = time.perf_counter()
    model = DataMarket(scenario(rule, owners, rounds, local), collect=False)
    built = time.perf_counter() - start
    model.simulator.run_until(1.0)  # warm-up round
    start = time.perf_counter()
    model.run()
    return built, owners * rounds / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rules", nargs="*", default=sorted(RULES))
    args = parser.parse_args()
    print(f"{'rule':<24} {'build s':>8} {'owner-rounds/s':>15}")
    for rule in args.rules:
        built, rate = bench(rule, args.owners, args.rounds)
        print(f"{rule:<24} {built:8.2f} {rate:15,.0f}")
    for rule in (r for r in args.rules if r in LOCAL):
        built, rate = bench(rule, args.owners, args.rounds, local=True)
        print(f"{rule + ' (local)':<24} {built:8.2f} {rate:15,.0f}")


if __name__ == "__main__":
    main()
