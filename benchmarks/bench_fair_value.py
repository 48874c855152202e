"""Fair values of 10,000 owners in 20 types: time and accuracy of the type-level estimators (issue 12).

On demand, not part of the test run::

    python benchmarks/bench_fair_value.py [--owners 10000] [--types 20] [--repeats 5]

The population alternates levels 1 and 2 over data sizes 10..1000 and importances 1, 2
(``federated_mean``, s2 = 100, r2 = 1).  For the stratified estimator
(:func:`market.theory.fair_value.fair_values.shapley_by_type_stratified`, groups = levels) and the permutation
estimator it prints the median wall time, the largest standard error relative to the mean
absolute fair value, and the efficiency residual against alpha U with its standard error.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from market.theory.fair_value.fair_values import (
    efficiency_residual,
    shapley_by_type_monte_carlo,
    shapley_by_type_stratified,
)
from market.theory.fair_value.mean_estimation import FederatedMeanEstimation, OwnerTypes


def population(owners: int, n_types: int) -> OwnerTypes:
    """``n_types`` equal-sized types alternating levels 1/2."""
    t = np.arange(n_types)
    count = np.full(n_types, owners // n_types)
    count[: owners - count.sum()] += 1
    return OwnerTypes(1 + t % 2, count, np.array([10, 30, 100, 300, 1000.0])[t % 5], 1.0 + (t >= n_types // 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--owners", type=int, default=10_000)
    ap.add_argument("--types", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    types = population(args.owners, args.types)
    fl = FederatedMeanEstimation(100.0, 1.0)
    G = lambda K: fl.coalition_utility(K, types)  # noqa: E731
    U = float(G(types.count[None, :])[0])
    rng = np.random.default_rng(0)
    runs = {
        "stratified (400/type)": lambda: shapley_by_type_stratified(types.count, G, rng, n_samples=400,
                                                                    groups=types.level),
        "stratified (200/type)": lambda: shapley_by_type_stratified(types.count, G, rng, n_samples=200,
                                                                    groups=types.level),
        "permutation (2000/type)": lambda: shapley_by_type_monte_carlo(types.count, G, rng, n_samples=2000),
    }
    print(f"{args.owners} owners, {args.types} types, U = {U:.2f}")
    for name, run in runs.items():
        times, rel, eff = [], [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            phi, se = run()
            times.append(time.perf_counter() - t0)
            rel.append(se.max() / np.abs(phi).mean())
            eff.append(efficiency_residual(types.count, phi, se, U))
        r, r_se = eff[-1]
        print(f"{name:26s} median {np.median(times):.3f} s   max se / mean|phi| = {np.max(rel):.2e}   "
              f"sum(m phi) - U = {r:+.2f} (se {r_se:.2f}, {r / U:+.1e} of U)")


if __name__ == "__main__":
    main()
