"""Error-optimal aggregation (paper 002, ``error_optimal_weights``) against cvxpy + Clarabel.

Run on demand (not part of the tests; needs the ``bench`` extra for cvxpy)::

    python benchmarks/bench_aggregation.py              # n = 50, 200, 1000
    python benchmarks/bench_aggregation.py --sizes 50 100

For each n it draws random privacy profiles (exponential epsilons, a fifth of
the owners selling nothing) and times, in the same process and one profile at a
time (best of ``--repeat`` medians):

* ``kkt``: :func:`market.theory.fl_market.aggregation.error_optimal_weights`, the exact KKT solve;
* ``cvxpy same``: the same convex program (bias target :math:`w_i = 1/n` over all
  owners) written in cvxpy and solved by Clarabel, the thin general-solver route;
* ``cvxpy FL-Market``: FL-Market's own formulation, the bias target renormalised
  over the winners (:math:`1/|W|`), also cvxpy + Clarabel;
* ``cvxpy FL-Market, built per call``: the same, with the cvxpy problem built
  for every profile (as a one-off call builds it), not compiled once;

then prints the largest weight difference and the relative error-bound gap
between ``kkt`` and ``cvxpy same``, and a Markdown table of the times and ratios.
It also times the batch form (``--batch`` profiles in one call) against a loop
of single calls.
"""

from __future__ import annotations

import argparse
import os
import time

import cvxpy as cp
import numpy as np

from market.theory.fl_market.aggregation import error_bound, error_optimal_weights


def cvxpy_problem(n: int, L: float, d_var: int, renormalise: bool):
    """A parametrised cvxpy problem (compiled once per n, re-solved per profile)."""
    lam = cp.Variable(n, nonneg=True)
    scale = cp.Parameter(n, nonneg=True)      # sqrt(8 d L^2) / eps_i for winners, 0 for losers
    target = cp.Parameter(n, nonneg=True)     # bias target per owner
    loser = cp.Parameter(n, nonneg=True)      # 1 for owners with eps = 0
    outside = cp.Parameter(nonneg=True)       # target weight of the losers (0 when renormalised)
    bias = L * (cp.sum(cp.abs(lam - target)) + outside)
    objective = cp.Minimize(cp.sum_squares(cp.multiply(scale, lam)) + cp.square(bias))
    problem = cp.Problem(objective, [cp.sum(lam) == 1, cp.multiply(loser, lam) == 0])

    def solve(eps: np.ndarray) -> np.ndarray:
        win = eps > 0
        scale.value = np.where(win, np.sqrt(8.0 * d_var) * L / np.where(win, eps, 1.0), 0.0)
        if renormalise:
            target.value = np.where(win, 1.0 / win.sum(), 0.0)
            outside.value = 0.0
        else:
            target.value = np.where(win, 1.0 / n, 0.0)
            outside.value = float((~win).sum()) / n
        loser.value = (~win).astype(float)
        problem.solve(solver=cp.CLARABEL)
        return np.where(win, np.clip(lam.value, 0.0, None), 0.0)

    return solve


def timed(funcs: list, profiles: np.ndarray, repeat: int) -> tuple[list[float], list[list[np.ndarray]]]:
    """Median over profiles of the best-of-``repeat`` time of each function, calls interleaved.

    The functions run one after another on each profile, so a change of machine
    load hits all of them alike and their ratios stay meaningful.
    """
    best = np.full((len(funcs), len(profiles)), np.inf)
    out: list[list[np.ndarray]] = [[None] * len(profiles) for _ in funcs]
    for _ in range(repeat):
        for p, eps in enumerate(profiles):
            for f, func in enumerate(funcs):
                start = time.perf_counter()
                out[f][p] = func(eps)
                best[f, p] = min(best[f, p], time.perf_counter() - start)
    return [float(np.median(b)) for b in best], out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[50, 200, 1000])
    parser.add_argument("--profiles", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--d-var", type=int, default=10)
    args = parser.parse_args()
    L, d = 1.0, args.d_var
    rng = np.random.default_rng(0)
    print(f"load: {os.getloadavg()}")
    rows = []
    for n in args.sizes:
        profiles = rng.exponential(1.0, (args.profiles, n)) * (rng.random((args.profiles, n)) < 0.8)
        same, peer = cvxpy_problem(n, L, d, False), cvxpy_problem(n, L, d, True)
        same(profiles[0]), peer(profiles[0])  # compile outside the timing
        (t_kkt, t_same, t_peer, t_fresh), (w_kkt, w_same, w_peer, _) = timed(
            [lambda e: error_optimal_weights(e, L, d), same, peer,
             lambda e: cvxpy_problem(n, L, d, True)(e)], profiles, args.repeat)
        diff = max(np.abs(a - b).max() for a, b in zip(w_kkt, w_same))
        gap = max(float((error_bound(b, e, L, d) - error_bound(a, e, L, d)) / error_bound(a, e, L, d))
                  for a, b, e in zip(w_kkt, w_same, profiles))
        peer_gap = max(float((error_bound(b, e, L, d) - error_bound(a, e, L, d)) / error_bound(a, e, L, d))
                       for a, b, e in zip(w_kkt, w_peer, profiles))
        rows.append((n, t_kkt, t_same, t_peer, t_fresh, diff, gap, peer_gap))
        print(f"n={n}: kkt {t_kkt * 1e3:.3f} ms, cvxpy same {t_same * 1e3:.2f} ms, cvxpy FL-Market "
              f"{t_peer * 1e3:.2f} ms, max |dw| {diff:.1e}, ERR(cvxpy)/ERR(kkt)-1 {gap:.1e}, "
              f"FL-Market's ERR above the optimum by up to {peer_gap:.1%}", flush=True)
    print(f"load: {os.getloadavg()}\n")
    print("| n | KKT (ms) | cvxpy + Clarabel, same problem (ms) | ratio | cvxpy + Clarabel, FL-Market's "
          "formulation (ms) | ratio | same, built per call (ms) | ratio | max weight difference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, t_kkt, t_same, t_peer, t_fresh, diff, _, _ in rows:
        print(f"| {n} | {t_kkt * 1e3:.3f} | {t_same * 1e3:.2f} | {t_same / t_kkt:.0f}x | {t_peer * 1e3:.2f} | "
              f"{t_peer / t_kkt:.0f}x | {t_fresh * 1e3:.1f} | {t_fresh / t_kkt:.0f}x | {diff:.1e} |")
    n = 20
    batch = rng.exponential(1.0, (args.batch, n)) * (rng.random((args.batch, n)) < 0.8)
    start = time.perf_counter()
    error_optimal_weights(batch, L, d)
    t_batch = time.perf_counter() - start
    start = time.perf_counter()
    for eps in batch:
        error_optimal_weights(eps, L, d)
    t_loop = time.perf_counter() - start
    print(f"\nbatch of {args.batch} profiles (n = {n}): one call {t_batch * 1e3:.1f} ms, "
          f"loop of single calls {t_loop * 1e3:.1f} ms ({t_loop / t_batch:.0f}x)")


if __name__ == "__main__":
    main()
