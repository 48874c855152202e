"""Round throughput of the simulator against per-agent Mesa and bare numpy (issue: scale and speed).

Run on demand (not part of the tests)::

    python benchmarks/bench_throughput.py            # full table, 10^3 .. 10^6 owners
    python benchmarks/bench_throughput.py --quick    # 10^3 .. 10^5
    python benchmarks/bench_throughput.py --sizes 100000 1000000 --rounds 4 --no-baselines

For each population size it measures owner-rounds per second of

* ``simulator``: ``DataMarket`` on the posted-price scenario (synchronous best
  response, per-round model output, no owner output), and on every other
  mechanism listed in ``MECHANISM_SCENARIOS`` that is installed;
* ``mesa per-agent``: the same posted-price round written the straightforward
  Mesa way, each owner an ``Agent`` with a ``step`` called through
  ``AgentSet.shuffle_do``;
* ``numpy``: the same round as bare numpy, the practical ceiling.

and prints a Markdown table (paste it into ``benchmarks/README.md``) plus the
fitted exponent of cost against owners, then a second table: each mechanism's
owner-rounds per second beside the posted-price round's and how many times
slower it is, with the machine's load average at each size (other processes
share the cores: the ratios, measured in the same process minutes apart, are
the robust figure).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import mesa
import numpy as np

from market.simulation.model import DataMarket
from market.simulation.recorder import Recorder

PRICE = np.array([0.0, 0.5, 1.0])
COST = np.array([0.0, 0.4, 1.0])
VALUE = np.array([0.0, 0.8, 1.5])
#: Synchronous revision, no churn (the population stays at n owners), the per-round deviation measures
#: only in the last round (they cost their own per-round time: benchmarks/bench_measures_overhead.py).
BASE = ['decision.revision="synchronous"', "churn.leave_rate=0.0", "churn.join_rate=0.0",
        "output.measures_every=1000000000"]
NO_BUYERS = ["buyers.initial=0", "buyers.arrival_rate=0.0"]


def fair_payment(n: int) -> dict:
    """Paper 000's fair payments (federated mean estimation, 3 levels) over two data sizes.

    Owners of equal level and data size are one type, so the fair values are
    computed over six types whatever ``n`` (the stratified estimator beyond
    the exact limit); alpha is fixed (no platform re-solve).
    """
    types = [{"share": 0.5, "sensitivity": {"dist": "uniform", "low": 0.0, "high": 8.0}, "data_size": d}
             for d in (10.0, 100.0)]
    return {"name": "bench_fair_payment", "seed": 1,
            "population": {"owners": n, "initial_action": 0, "types": types},
            "mechanism": {"name": "fair_payment", "utility": "federated_mean", "s2": 0.1, "r2": 100.0,
                          "privacy_cost": [0.0, 0.08, 1.0], "alpha": 0.5, "resolve_every": 0},
            "decision": {"rule": "best_response"}, "output": {"owner_every": 0}}


#: mechanism label -> (scenario name or builder of a scenario dict, extra overrides).
MECHANISM_SCENARIOS = {
    "posted price": ("quickstart", NO_BUYERS),
    "fair payment": (fair_payment, []),
    "value shaping": ("p001_value_shaping", NO_BUYERS),
    # one buyer who spends n per round (one unit of budget per owner), Hedge bidders
    "auction": ("p002_share_low_m20", ["buyers.initial=1", "buyers.arrival_rate=0.0", "buyers.budget=1e15",
                                       "buyers.stay=1e9", "mechanism.round_budget={n}.0"]),
}


def rounds_for(n: int) -> int:
    """Enough rounds for a stable measurement, few enough to stay quick."""
    return max(5, min(200, 2_000_000 // n))


def bench_simulator(n: int, scenario, extra: list[str], rounds: int | None = None) -> float:
    """Owner-rounds per second of ``DataMarket`` (one warm-up round outside the timing)."""
    rounds = rounds or rounds_for(n)
    source = scenario(n) if callable(scenario) else scenario
    overrides = [f"population.owners={n}", f"rounds={rounds}", *BASE, *(e.format(n=n) for e in extra)]
    model = DataMarket(source, overrides=overrides, recorder=Recorder(None, owner_every=0), collect=False)
    model.simulator.run_until(1.0)
    start = time.perf_counter()
    model.run()
    return n * (rounds - 1) / (time.perf_counter() - start)


def build(n: int, scenario, extra: list[str], rounds: int) -> DataMarket:
    """A ``DataMarket`` of ``n`` owners for ``rounds`` rounds, its first round played (warm-up)."""
    source = scenario(n) if callable(scenario) else scenario
    overrides = [f"population.owners={n}", f"rounds={rounds + 1}", *BASE, *(e.format(n=n) for e in extra)]
    model = DataMarket(source, overrides=overrides, recorder=Recorder(None, owner_every=0), collect=False)
    model.simulator.run_until(1.0)
    return model


def round_seconds(model: DataMarket) -> float:
    """Wall time of the model's next round."""
    start = time.perf_counter()
    model.simulator.run_until(float(model.steps + 1))
    return time.perf_counter() - start


def against_posted_price(n: int, label: str, rounds: int) -> tuple[float, float]:
    """Owner-rounds per second of ``label`` and of the posted-price round, their rounds interleaved.

    One round of the mechanism, then one posted-price round, ``rounds``
    times; each gets its fastest round.  A change of machine load hits both
    alike, so their ratio is robust on a shared machine.
    """
    mech = build(n, *MECHANISM_SCENARIOS[label], rounds)
    posted = build(n, *MECHANISM_SCENARIOS["posted price"], rounds)
    t_mech, t_posted = np.inf, np.inf
    for _ in range(rounds):
        t_mech = min(t_mech, round_seconds(mech))
        t_posted = min(t_posted, round_seconds(posted))
    return n / t_mech, n / t_posted


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


def exponent(x: np.ndarray, seconds: np.ndarray) -> float:
    """Slope of log(seconds) against log(x): 1 means cost linear in x."""
    return float(np.polyfit(np.log(x), np.log(seconds), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only 10^3 .. 10^5 owners")
    parser.add_argument("--mechanisms", nargs="*", default=list(MECHANISM_SCENARIOS),
                        help="mechanism labels to measure (default: all)")
    parser.add_argument("--sizes", type=int, nargs="*", help="population sizes (default: 10^3 .. 10^6)")
    parser.add_argument("--rounds", type=int, help="rounds per measurement, one of them a warm-up (default: by size)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the numpy and per-agent Mesa columns")
    parser.add_argument("--interleaved", action="store_true",
                        help="only the mechanisms against the posted-price round, their rounds interleaved "
                             "(--rounds timed rounds each, default 3)")
    args = parser.parse_args()
    if args.interleaved:
        interleaved_table(args.sizes or [10**5, 10**6], [k for k in args.mechanisms if k != "posted price"],
                          args.rounds or 3)
        return
    sizes = args.sizes or [10**3, 10**4, 10**5] + ([] if args.quick else [10**6])
    rows, loads = [], {}
    for n in sizes:
        loads[n] = os.getloadavg()[0]
        row = {"owners": n} if args.no_baselines else {"owners": n, "numpy": bench_numpy(n),
                                                       "mesa per-agent": bench_mesa(n)}
        for label in args.mechanisms:
            row[label] = bench_simulator(n, *MECHANISM_SCENARIOS[label], rounds=args.rounds)
        rows.append(row)
        print(f"{n:>9} owners: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items() if k != "owners"),
              flush=True)
    print(f"\nmachine: {platform.machine()}, {platform.processor() or 'unknown CPU'}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, numpy {np.__version__}, mesa {mesa.__version__}\n")
    labels = [k for k in rows[0] if k != "owners"]
    mechanisms = [k for k in args.mechanisms if k != "posted price"]
    if "posted price" in labels and mechanisms:
        print("| owners | load | posted price | " + " | ".join(f"{k} | x slower" for k in mechanisms) + " |")
        print("|---" * (3 + 2 * len(mechanisms)) + "|")
        for row in rows:
            print(f"| {row['owners']:,} | {loads[row['owners']]:.1f} | {row['posted price']:.3g} | " + " | ".join(
                f"{row[k]:.3g} | {row['posted price'] / row[k]:.1f}x" for k in mechanisms) + " |")
        print()
    if args.no_baselines:
        return
    print("| owners | " + " | ".join(f"{k} (owner-rounds/s)" for k in labels)
          + " | posted price / numpy | posted price / per-agent Mesa |")
    print("|---" * (len(labels) + 3) + "|")
    for row in rows:
        sim = row.get("posted price", float("nan"))
        print(f"| {row['owners']:,} | " + " | ".join(f"{row[k]:.3g}" for k in labels)
              + f" | {sim / row['numpy']:.2f} | {sim / row['mesa per-agent']:.0f}x |")
    owners = np.array([r["owners"] for r in rows], dtype=float)
    big = owners >= 1e4
    print("\nfitted exponent of round time against owners (10^4 and up): " + ", ".join(
        f"{k} {exponent(owners[big], owners[big] / np.array([r[k] for r in rows])[big]):.3f}" for k in labels))
    if "posted price" in labels:
        n = 10**5
        rounds = np.array([50, 100, 200, 400])
        seconds = np.array([n * (r - 1) / bench_simulator(n, *MECHANISM_SCENARIOS["posted price"], rounds=r)
                            for r in rounds])
        print(f"fitted exponent of run time against rounds (posted price, 10^5 owners, 50..400 rounds): "
              f"{exponent(rounds - 1.0, seconds):.3f}")


def interleaved_table(sizes: list[int], labels: list[str], rounds: int) -> None:
    """Print each mechanism's owner-rounds/s beside the posted-price round's, measured interleaved."""
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"numpy {np.__version__}, mesa {mesa.__version__}; fastest of {rounds} interleaved rounds\n")
    print("| owners | mechanism | owner-rounds/s | posted price (owner-rounds/s) | x slower | load before, after |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        for label in labels:
            load = os.getloadavg()[0]
            mech, posted = against_posted_price(n, label, rounds)
            print(f"| {n:,} | {label} | {mech:.3g} | {posted:.3g} | {posted / mech:.1f}x | "
                  f"{load:.1f}, {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
