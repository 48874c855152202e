"""Cost per round of a learning platform against a fixed one, side by side in one process.

On demand, not part of the test run::

    python benchmarks/bench_platform.py [--owners 100000] [--rounds 40] [--repeats 5]

The same posted-price market (3 privacy levels, best-responding owners,
synchronous revision, no owner output) runs with the price of level 2 fixed at
each grid price, and learnt by each algorithm over that grid (``regret = false``:
the regret's counterfactual markets, one full run per grid price, are a
separate, documented cost).  Models are built first and timed in interleaved
repeats; the figures are the fastest repeat's seconds per round (the least
disturbed by other processes on a shared machine).  A round's cost depends on
the posted price itself (the owners' argmax over levels is faster when most
owners choose the same level: about 5 ms at price 1.4 against 10-11 ms at
0.2-1.0 for 10^5 owners), so a learner, which visits every grid price, is
compared with the mean over the fixed grid prices; and, to attribute any
difference, the learning platform's own work per round is timed alone
(propose, post through ``Mechanism.set_params``, observe, learn and the
recorded columns) on the same mechanism.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from market.simulation.model import DataMarket

GRID = [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4]
PLATFORMS = {
    **{f"fixed {p:g}": {"fixed": p} for p in GRID},
    "exp3": {"algorithm": "exp3", "grid": GRID},
    "ucb1": {"algorithm": "ucb1", "grid": GRID},
    "thompson": {"algorithm": "thompson", "grid": GRID},
    "epsilon_greedy": {"algorithm": "epsilon_greedy", "grid": GRID},
    "zeroth_order": {"algorithm": "zeroth_order", "low": 0.2, "high": 1.4},
}


def scenario(owners: int, rounds: int, platform: dict) -> dict:
    """The benchmark market; ``{"fixed": p}`` posts the price ``p`` of level 2 throughout."""
    out = {
        "name": "bench_platform", "rounds": rounds, "seed": 1,
        "population": {"owners": owners, "initial_action": 0,
                       "types": [{"sensitivity": {"dist": "uniform", "low": 0.0, "high": 2.0},
                                  "data_size": {"dist": "lognormal", "mean": 0.0, "sigma": 0.5}}]},
        "mechanism": {"name": "posted_price", "price": [0.0, 0.5, 1.0], "value": [0.0, 0.8, 1.5]},
        "decision": {"rule": "best_response"},
        "output": {"owner_every": 0},
    }
    if "fixed" in platform:
        out["mechanism"]["price"] = [0.0, 0.5, platform["fixed"]]
    else:
        out["platform"] = {"learn": "mechanism.price.2", "regret": False, **platform}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=40, help="rounds per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    total = args.rounds * args.repeats + 1
    models = {name: DataMarket(scenario(args.owners, total, p), collect=False) for name, p in PLATFORMS.items()}
    for model in models.values():
        model.simulator.run_until(1.0)  # warm-up round
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.simulator.run_until(float(model.steps + args.rounds))
            times[name].append((time.perf_counter() - start) / args.rounds)
    fixed = sum(min(t) for name, t in times.items() if name.startswith("fixed")) / len(GRID)
    print(f"{args.owners} owners, {args.rounds} rounds x {args.repeats} interleaved repeats (fastest repeat); "
          f"mean over the fixed grid prices {1000 * fixed:.2f} ms/round")
    print(f"{'platform':16s} {'ms/round':>9s} {'vs fixed mean':>14s} {'own work ms/round':>18s} {'own / fixed':>12s}")
    for name, t in times.items():
        own = 0.0 if name.startswith("fixed") else own_work(models[name])
        print(f"{name:16s} {1000 * min(t):9.2f} {100 * (min(t) / fixed - 1):13.1f}% {1000 * own:18.4f} "
              f"{100 * own / fixed:11.2f}%")


def own_work(model: DataMarket, rounds: int = 2000) -> float:
    """Seconds per round of the learning platform's own calls, timed alone on the model's mechanism."""
    platform, rng = model.platform, np.random.default_rng(0)
    utilities = np.random.default_rng(1).normal(100.0, 10.0, rounds)
    start = time.perf_counter()
    for u in utilities:
        if platform.learning.block_starts:
            platform.learning.post(platform.learner.propose(rng), platform.mechanism)
        reward = platform.learning.observe(float(u))
        if reward is not None:
            platform.learner.learn(reward)
        platform.learning.state(float(u))
    return (time.perf_counter() - start) / rounds


if __name__ == "__main__":
    main()
