"""Reproduction of paper 001 (free-riding and value shaping, Karimireddy, Guo & Jordan 2022).

:func:`checks` compares every golden number of docs/models/data_contribution.md#golden (G1-G4,
G6, G7, G9, G10, and the Fig. 4 analogue, #fig4) with the simulator's value,
computed through :mod:`market.theory.data_contribution.value_functions`, :mod:`market.theory.data_contribution.equilibrium` and the
mechanisms of :mod:`market.mechanisms.value_shaping`.  :func:`figures` writes
the analogues of Fig. 2, Fig. 4 and Fig. 7 (with the ERM-bound value, the
plausible default of docs/models/data_contribution.md#value-functions, ``a_opt = 0.95``) and a dynamics figure of the
simulator itself.

Fig. 7's proportional-data panels use the *maximum-data* type-symmetric PD
equilibrium at the best exponent ``p`` (App. C.2.3), found by
:func:`pd_two_type_max_data`: a scan over the low types' level with the high
types' symmetric best response (or opt-out to training alone) and a global
deviation check for the low types.  With this value function both types have
``m* > 0`` and value shaping collects at most about 1.4 times PD's total
(fraction of low-cost agents 0.6), not the paper's "up to 50x"; the paper's
other Fig. 7 claim is reproduced: under PD the high-cost agents opt out
(contribute 0) once most agents have the low cost.

The Fig. 6 comparison of PD / PV / PS across ``p`` (identical agents with
``m* = 0``, ERM-bound value, ``c = 0.1``, ``n = 10^4``) uses the maximum-data
symmetric equilibrium of :func:`fairness_max_data`; PD is checked against the
totals of docs/models/data_contribution.md#fig6 and :func:`tables` prints all three rules beside
value shaping.  As docs/models/data_contribution.md#nr-fig6 records, PD's total *rises* with ``p`` up to the
value-shaping total at ``p = 1``, where the agents' utility is 0 (IR binds),
rather than peaking inside ``(0, 1)`` as the paper's Fig. 6 shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.reproduce import Check
from market.core.families import make_value
from market.core.mechanism import RoundContext
from market.core.population import OwnerArrays
from market.registry import MECHANISMS
from market.theory.data_contribution.equilibrium import (
    max_contribution,
    minimum_viable_n,
    naive_equilibrium,
    symmetric_equilibria,
    value_shaping_equilibrium,
    value_shaping_totals,
)
from market.theory.data_contribution.fairness import mean_field_shapley, symmetric_deviation_utility
from market.theory.data_contribution.value_functions import (
    ValueFunction,
    bisect,
    standalone_optimum,
    standalone_utility,
)

SQRT = make_value("sqrt", 0.95, 1.0)
COSTS = np.array([0.01, 0.02, 0.05])
#: Fig. 6 setting: identical agents with m* = 0 (docs/models/data_contribution.md#fig6).
FIG6_VALUE, FIG6_N, FIG6_COST = make_value("erm_bound", 0.95, 1.0), 10000, 0.1


def _owners(costs: np.ndarray) -> OwnerArrays:
    o = OwnerArrays.empty()
    o.append(np.arange(costs.size), {"sensitivity": costs, "data_size": np.ones(costs.size)},
             np.zeros(costs.size), 0)
    return o


def _dynamics(name: str, costs: np.ndarray, start: np.ndarray, rounds: int,
              damping: float = 0.0, **params) -> np.ndarray:
    """Synchronous (optionally damped) best response; the path of profiles."""
    cls = MECHANISMS[name]
    mech = cls(cls.Params(**params))
    owners = _owners(np.asarray(costs, dtype=float))
    a = np.asarray(start, dtype=float)
    path = [a]
    for r in range(rounds):
        ctx = RoundContext(round=r + 1, time=float(r + 1), rng=np.random.default_rng(0))
        a = damping * a + (1 - damping) * mech.best_response(a, owners, ctx)
        path.append(a)
    return np.array(path)


def checks() -> list[Check]:
    """Every golden number of docs/models/data_contribution.md#golden that applies, beside the simulator's value."""
    out: list[Check] = []
    add = lambda name, paper, sim, tol, src: out.append(Check(name, paper, float(sim), tol, src))  # noqa: E731
    # G1
    add("m*(c=0.01)", 13.572088, standalone_optimum(SQRT, 0.01), 1e-4 * 13.57, "docs/models/data_contribution.md#g1 / eq. 4")
    add("u*(c=0.01)", 0.542837, standalone_utility(SQRT, 0.01), 1e-5, "docs/models/data_contribution.md#g1")
    add("m*(c=0.1)", 2.924018, standalone_optimum(SQRT, 0.1), 1e-4 * 2.92, "docs/models/data_contribution.md#g1")
    add("u*(c=0.1)", 0.072795, standalone_utility(SQRT, 0.1), 1e-5, "docs/models/data_contribution.md#g1")
    add("m*(c=0.13)", 0.0, standalone_optimum(SQRT, 0.13), 1e-12, "docs/models/data_contribution.md#g1")
    c = np.geomspace(1e-3, 0.1, 5)
    slope = np.polyfit(np.log(c), np.log(standalone_optimum(SQRT, c)), 1)[0]
    add("d log m*/d log c", -2 / 3, slope, 1e-6, "docs/models/data_contribution.md#g1 / paper L103")
    c_max = bisect(lambda c_: np.where(standalone_optimum(SQRT, c_) > 0, 1.0, -1.0), np.array(0.1), np.array(0.2))
    add("viability cutoff c_max = a^3/(6.75k)", 0.1270185, c_max, 1e-4 * 0.127, "docs/models/data_contribution.md#g1")
    add("m* just below c_max = 2.25k/a^2", 2.493075, standalone_optimum(SQRT, c_max * (1 - 1e-9)), 1e-3,
        "docs/models/data_contribution.md#g1 (jump to 0 above)")
    c = np.linspace(0.001, 0.3, 300)
    add("m*, u* non-increasing in c (1=yes)", 1.0, float(np.all(np.diff(standalone_optimum(SQRT, c)) <= 0)
                                                          and np.all(np.diff(standalone_utility(SQRT, c)) <= 1e-15)),
        0.0, "docs/models/data_contribution.md#g1 / Thm I")
    # G2
    eq = naive_equilibrium(SQRT, COSTS)
    add("naive eq. m_1 (Thm III)", 13.572088, eq[0], 1e-3, "docs/models/data_contribution.md#g2 / eq. 9")
    add("naive eq. m_2 + m_3 (free-riders)", 0.0, eq[1:].sum(), 1e-12, "docs/models/data_contribution.md#g2 / eq. 9")
    add("naive eq. total", 13.572088, eq.sum(), 1e-3, "docs/models/data_contribution.md#g2")
    add("stand-alone sum", 26.763557, standalone_optimum(SQRT, COSTS).sum(), 1e-3, "docs/models/data_contribution.md#g2")
    seq = _owners(COSTS)
    mech = MECHANISMS["naive_fl"](MECHANISMS["naive_fl"].Params())
    a = np.full(3, 20.0)
    ctx = RoundContext(round=1, time=1.0, rng=np.random.default_rng(0))
    for _ in range(4):
        for i in range(3):
            a[i] = mech.best_response(a, seq, ctx)[i]
    add("sequential BR total, 4 sweeps", 13.572088, a.sum(), 1e-3, "docs/models/data_contribution.md#g2")
    add("Remark 1: 5 agents c=0.2", 0.0, naive_equilibrium(SQRT, np.full(5, 0.2)).sum(), 1e-12, "docs/models/data_contribution.md#g2")
    # G3
    add("M(n=1, c=0.2)", 0.0, value_shaping_totals(SQRT, np.full(1, 0.2))[-1], 1e-12, "docs/models/data_contribution.md#g3")
    add("M(n=2, c=0.2)", 5.050104, value_shaping_totals(SQRT, np.full(2, 0.2))[-1], 5e-4, "docs/models/data_contribution.md#g3")
    roots = value_shaping_totals(SQRT, np.full(10, 0.2))
    add("M(n=10, c=0.2)", 39.549397, roots[-1], 4e-3, "docs/models/data_contribution.md#g3 / Remark 3")
    add("unstable root (n=10)", 1.16442, roots[1], 1e-4, "docs/models/data_contribution.md#g3")
    add("n_min = ceil(6.75ck/a^3)", 2.0, np.ceil(minimum_viable_n(SQRT, 0.2)), 0.0, "docs/models/data_contribution.md#g3")
    add("M/n at n=1e5 -> a/c", 0.95 / 0.2, value_shaping_totals(SQRT, np.full(100000, 0.2))[-1] / 1e5,
        0.01 * 4.75, "docs/models/data_contribution.md#g3 / Fig. 4(a, b)")
    # G4
    vs = value_shaping_equilibrium(SQRT, COSTS)
    for i, ref in enumerate([27.581214, 19.082114, 11.297756]):
        add(f"m^max_{i + 1} (Thm IV)", ref, vs[i], 1e-4 * ref, "docs/models/data_contribution.md#g4 / eq. 11")
    add("value-shaping total", 57.961084, vs.sum(), 6e-3, "docs/models/data_contribution.md#g4")
    for i, ref in enumerate([0.542837, 0.437007, 0.253762]):
        add(f"utility_{i + 1} = stand-alone (Thm V)", ref, SQRT(vs.sum()) - COSTS[i] * vs[i], 1e-5, "docs/models/data_contribution.md#g4")
    m_star = standalone_optimum(SQRT, COSTS)
    add("min_i m^max_i - m*_i >= 0 (1=yes)", 1.0, float(np.all(vs >= m_star)), 0.0, "docs/models/data_contribution.md#g4 / Thm IV")
    add("bound sum m* + (a - v(m*))/c", 80.29, np.sum(m_star + (0.95 - SQRT(m_star)) / COSTS), 0.005, "docs/models/data_contribution.md#g4")
    add("M <= bound and M > naive total (1=yes)", 1.0,
        float(np.sum(m_star + (0.95 - SQRT(m_star)) / COSTS) >= vs.sum() > eq.sum()), 0.0, "docs/models/data_contribution.md#g4")
    climb = _dynamics("value_shaping", COSTS, np.zeros(3), 80)[-1]
    add("value-shaping BR dynamics total", 57.961084, climb.sum(), 6e-3, "docs/models/data_contribution.md#g4 (brute force)")
    # G6
    for alpha, ref in ((0.95, 223.9), (0.095, 1618.0)):
        gpt = make_value("power_law", 1e9, 5.4e13, alpha)
        add(f"GPT-3 n_min (alpha={alpha})", ref, minimum_viable_n(gpt, 1e-3), 0.05, "docs/models/data_contribution.md#g6 / App. C.1")
    gpt = make_value("power_law", 1e9, 5.4e13, 0.95)
    for n, ref in ((224, 4.99e11), (1000, 9.33e11), (10000, 9.93e11)):
        add(f"GPT-3 M/n (n={n})", ref, value_shaping_totals(gpt, np.full(n, 1e-3))[-1] / n,
            0.005 * ref, "docs/models/data_contribution.md#g6")
    # G7
    f = symmetric_deviation_utility("pd", SQRT, 10, 0.01, 0.5)
    levels = np.array([1.357209, 0.678604, 2.0, 6.299605])
    is_eq, util = symmetric_equilibria(levels, f, np.concatenate([np.linspace(0, 100, 20001), levels]), 1e-7)
    add("PD m*/n is NE (1=yes)", 1.0, is_eq[0], 0.0, "docs/models/data_contribution.md#g7 / Thm VI")
    add("PD utility at m*/n", 0.664990, util[0], 1e-5, "docs/models/data_contribution.md#g7")
    add("PD m=0.678604 is NE (0=no)", 0.0, is_eq[1], 0.0, "docs/models/data_contribution.md#g7")
    add("PD utility at m=2.0 (NE)", 0.706390, util[2] if is_eq[2] else np.nan, 1e-5, "docs/models/data_contribution.md#g7")
    add("PD utility at m=6.2996 (NE)", 0.761012, util[3] if is_eq[3] else np.nan, 1e-5,
        "docs/models/data_contribution.md#g7 (contradicts Thm VI's max-utility claim)")
    add("PD total at m*/n", 13.572, 10 * levels[0], 1e-3, "docs/models/data_contribution.md#g7")
    # G9
    tied = np.array([0.01, 0.01])
    cyc = _dynamics("naive_fl", tied, np.zeros(2), 4)
    add("tied costs, simultaneous: round-1 level", 13.5721, cyc[1, 0], 1e-4, "docs/models/data_contribution.md#g9")
    add("tied costs, simultaneous: round-2 level", 0.0, cyc[2, 0], 1e-12, "docs/models/data_contribution.md#g9")
    seq = _owners(tied)
    a = np.zeros(2)
    for _ in range(3):
        for i in range(2):
            a[i] = mech.best_response(a, seq, ctx)[i]
    add("tied costs, sequential: m_1", 13.5721, a[0], 1e-4, "docs/models/data_contribution.md#g9")
    add("tied costs, sequential: m_2", 0.0, a[1], 1e-12, "docs/models/data_contribution.md#g9")
    damped = _dynamics("naive_fl", tied, np.zeros(2), 60, damping=0.5)[-1]
    add("tied costs, damped 0.5", 6.786, damped[0], 1e-3, "docs/models/data_contribution.md#g9")
    add("tied costs, damped: total at the fixed point", 13.5721, damped.sum(), 1e-4, "docs/models/data_contribution.md#g9")
    # G10
    n10 = np.full(10, 0.2)
    add("tipping: start 0.05 -> total", 0.0,
        _dynamics("value_shaping", n10, np.full(10, 0.05), 30)[-1].sum(), 1e-9, "docs/models/data_contribution.md#g10")
    climb = _dynamics("value_shaping", n10, np.full(10, 0.1), 30).sum(axis=1)
    add("tipping: start 0.1 -> total", 39.5494, climb[-1], 1e-3, "docs/models/data_contribution.md#g10")
    add("tipping: rounds to settle (about 11)", 11, np.argmax(np.abs(climb - climb[-1]) < 1e-9 * climb[-1]), 2,
        "docs/models/data_contribution.md#g10")
    threshold = bisect(lambda d: np.where(max_contribution(SQRT, np.array(0.2), np.array(0.0), d) > 0, -1.0, 1.0),
                       np.array(0.0), np.array(5.0))
    add("others' data before a c=0.2 owner joins", 0.78, threshold, 0.01, "docs/models/data_contribution.md#g10")
    add("seed 0.5 for 5 rounds -> total", 0.0, _dynamics(
        "value_shaping", n10, np.zeros(10), 30, seed_data=0.5, seed_rounds=5)[-1].sum(), 1e-9, "docs/models/data_contribution.md#g10")
    add("seed 1.0 for 5 rounds -> total", 39.5494, _dynamics(
        "value_shaping", n10, np.zeros(10), 40, seed_data=1.0, seed_rounds=5)[-1].sum(), 1e-3, "docs/models/data_contribution.md#g10")
    add("Shapley efficiency, n=5, m=3", 0.691801, 5 * mean_field_shapley(SQRT, np.array(3.0), np.array(3.0), 5),
        1e-6, "docs/models/data_contribution.md#g10")
    add("k = 1..n as printed (not efficient)", 0.341648, sum(SQRT((k + 1) * 3.0) - SQRT(k * 3.0) for k in range(1, 6)),
        1e-6, "docs/models/data_contribution.md#g10 / #corr-shapley-range")
    # Sec. 5.11: Fig. 6 analogue, PD's maximum-data symmetric equilibrium across p
    vs_total = value_shaping_totals(FIG6_VALUE, np.full(FIG6_N, FIG6_COST))[-1]
    for p, ref in ((0.0, 0.0), (0.1, 8500), (0.5, 45300), (0.9, 82600), (1.0, 91900)):
        add(f"Fig. 6 PD total (p={p})", ref, fairness_max_data("pd", p)[0], 100.0 if p else 0.0,
            "docs/models/data_contribution.md#fig6 (100-point grid)")
    add("Fig. 6 PD(p=1) <= value shaping (1=yes)", 1.0, float(fairness_max_data("pd", 1.0)[0] <= vs_total), 0.0,
        "docs/models/data_contribution.md#fig6")
    # Sec. 3.4: Fig. 4 analogue with the ERM-bound value
    for k, total, n_min in ((1, 91972, 47.1), (10, 88655, 175.5), (100, 78735, 1083.3)):
        erm = make_value("erm_bound", 0.95, k)
        add(f"Fig. 4 M(n=1e4, c=0.1, k={k})", total, value_shaping_totals(erm, np.full(10000, 0.1))[-1], 1.0,
            "docs/models/data_contribution.md#fig4")
        add(f"Fig. 4 n_min(c=0.1, k={k})", n_min, minimum_viable_n(erm, 0.1), 0.1, "docs/models/data_contribution.md#fig4")
    return out


def fairness_max_data(rule: str, p: float, value: ValueFunction = FIG6_VALUE, n: int = FIG6_N,
                      c: float = FIG6_COST, nodes: int = 2000, levels: int = 950,
                      candidates: int = 2001) -> tuple[float, float]:
    """Maximum-data symmetric equilibrium of a fairness baseline (eqs. 12-14; Fig. 6).

    Scans ``levels`` symmetric levels ``d`` on ``(0, v_max/c]`` with
    :func:`market.theory.data_contribution.equilibrium.symmetric_equilibria` (global deviation check
    on ``candidates`` points over ``[0, 2 v_max/c]`` plus the levels
    themselves), keeps the levels that are equilibria and individually
    rational (utility at least the stand-alone ``u*``), and refines the
    largest one on a 50 times finer grid up to the next level.  PS sums over
    coalition sizes use ``nodes`` midpoint blocks.

    Returns
    -------
    total, utility : float
        Total data ``n d`` and each agent's utility (0 and NaN when only the
        empty profile qualifies).
    """
    f = symmetric_deviation_utility(rule, value, n, c, p, nodes)
    top = value.v_max / c
    cand = np.linspace(0.0, 2.0 * top, candidates)
    u_star = float(standalone_utility(value, c))

    def best(levels: np.ndarray) -> tuple[float, float]:
        is_eq, util = symmetric_equilibria(levels, f, np.concatenate([cand, levels]), 1e-9)
        ok = is_eq & (util >= u_star)
        i = int(np.flatnonzero(ok)[-1]) if ok.any() else -1
        return (float(levels[i]), float(util[i])) if i >= 0 else (0.0, np.nan)

    coarse = np.linspace(0.0, top, levels + 1)[1:]
    d, u = best(coarse)
    if d > 0:
        d, u = best(np.linspace(d, d + coarse[0], 51))
    return n * d, u


def tables() -> list[str]:
    """The Fig. 6 analogue: maximum-data totals of PD, PV and PS across ``p``, beside value shaping."""
    vs_total = value_shaping_totals(FIG6_VALUE, np.full(FIG6_N, FIG6_COST))[-1]
    lines = ["Fig. 6 analogue: identical agents, ERM-bound value k = 1, c = 0.1, n = 10,000 (m* = 0); "
             "total data at the maximum-data symmetric equilibrium (PS: 32 coalition-size blocks)",
             f"{'p':>5}  {'PD':>9}  {'PV':>9}  {'PS':>9}  {'value shaping':>14}"]
    for p in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
        totals = [fairness_max_data("pd", p)[0], fairness_max_data("pv", p)[0],
                  fairness_max_data("ps", p, nodes=32, levels=190, candidates=801)[0]]
        lines.append(f"{p:>5.2f}  " + "  ".join(f"{t:>9.0f}" for t in totals) + f"  {vs_total:>14.0f}")
    return ["\n".join(lines)]


def pd_two_type_max_data(value: ValueFunction, n_low: int, n_high: int, c_low: float, c_high: float,
                         p: float, levels: int = 160) -> tuple[float, float]:
    """Maximum-data type-symmetric equilibrium of proportional data (eq. 12) with two cost types.

    The top group (low types, or the high types when there are no low
    types) contributes ``d``, the others ``h <= d``.  For each ``d`` on a
    log grid, ``h`` is the high types' symmetric best response (iterated to a
    fixed point), or 0 when training alone (utility ``u*``) beats every
    contribution -- the "opt-out" of Fig. 7(d).  ``d`` is kept when no top
    agent gains by deviating to any amount on a grid over ``[0, 3d]`` and
    its utility is at least its stand-alone utility (IR).

    Returns
    -------
    total, high_data : float
        Total data and the high types' data at the kept ``d`` with most data
        (0, 0 when no level qualifies).
    """
    all_high = n_low == 0
    if all_high:                       # the high types are the top group themselves
        n_low, n_high, c_low = n_high, 0, c_high
    u_low, u_high = standalone_utility(value, np.array([c_low, c_high]))
    d = np.geomspace(1.0, 3.0 * value.v_max / c_low, levels)[:, None]
    frac = np.linspace(0.0, 1.0, 241)[None, :]
    h = np.zeros_like(d) if n_high == 0 else d.copy()
    if n_high:
        for _ in range(30):
            total = n_low * d + n_high * h
            x = frac * d
            util = (x / d) ** p * value(total - h + x) - c_high * x
            best = np.argmax(util, axis=1)
            gain = util[np.arange(d.shape[0]), best] > u_high
            h = np.where(gain, x[np.arange(d.shape[0]), best], 0.0)[:, None]
    total = n_low * d + n_high * h
    x = np.linspace(0.0, 3.0, 601)[None, :] * d
    util = (x / np.maximum(x, d)) ** p * value(total - d + x) - c_low * x
    own = value(total) - c_low * d
    ok = (np.max(util, axis=1) <= own[:, 0] + 1e-9) & (own[:, 0] >= u_low)
    if not np.any(ok):
        return 0.0, 0.0
    best = np.argmax(np.where(ok, total[:, 0], -1.0))
    return float(total[best, 0]), float(total[best, 0] if all_high else n_high * h[best, 0])


def figures(out_dir: Path) -> list[Path]:
    """Fig. 2, Fig. 4 and Fig. 7 analogues plus the simulator's dynamics, as PNG."""
    import matplotlib  # lazy: heavy, figures only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    out_dir = Path(out_dir)
    paths: list[Path] = []
    ks = (1, 10, 100)

    # Fig. 2: m* vs c, log-log, per difficulty k (the paper's caption says "number of agents"; L100 says k)
    fig, ax = plt.subplots(figsize=(5, 4))
    c = np.geomspace(1e-5, 1e-1, 300)
    for k, color in zip(ks, sns.color_palette(n_colors=3)):
        v = make_value("erm_bound", 0.95, k)
        m = standalone_optimum(v, c)
        ax.loglog(c[m > 0], m[m > 0], color=color, label=f"k={k}")
        ax.axvline(c[m > 0].max(), color=color, ls=":")
    ax.set(xlabel="marginal cost $c_i$", ylabel="stand-alone optimum $m_i^*$",
           title="Fig. 2 analogue (ERM-bound value)")
    ax.legend()
    paths.append(out_dir / "p001_fig2.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    # Fig. 4: value-shaping totals vs n, vs c; minimum viable n vs c
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    ns = np.unique(np.geomspace(10, 10000, 25).astype(int))
    cs = np.geomspace(0.02, 0.5, 20)
    for k in ks:
        v = make_value("erm_bound", 0.95, k)
        axes[0].plot(ns, [value_shaping_totals(v, np.full(n, 0.1))[-1] for n in ns], label=f"k={k}")
        axes[1].loglog(cs, [value_shaping_totals(v, np.full(10000, c_))[-1] for c_ in cs], label=f"k={k}")
        axes[2].plot(cs, [np.ceil(minimum_viable_n(v, c_)) for c_ in cs], label=f"k={k}")
    axes[0].set(xlabel="agents n", ylabel="total data", title="(a) c = 0.1")
    axes[1].set(xlabel="cost c", ylabel="total data", title="(b) n = 10,000")
    axes[1].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes[1].set_xticks([0.02, 0.05, 0.1, 0.2, 0.5], labels=["0.02", "0.05", "0.1", "0.2", "0.5"])
    axes[2].set(xlabel="cost c", ylabel="minimum viable n", title="(c)")
    for ax in axes:
        ax.legend()
    fig.suptitle("Fig. 4 analogue: value shaping, identical agents with m* = 0")
    paths.append(out_dir / "p001_fig4.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    # Fig. 7: two cost types, value shaping vs proportional data at its best p
    v = make_value("erm_bound", 0.95, 1.0)
    n, c_low, c_high = 10000, 1e-4, 2e-4
    shares = np.linspace(0.0, 1.0, 11)
    vs_total, vs_high, pd_total, pd_high = [], [], [], []
    for s in shares:
        n_low = int(round(s * n))
        costs = np.concatenate([np.full(n_low, c_low), np.full(n - n_low, c_high)])
        m = value_shaping_equilibrium(v, costs)
        vs_total.append(m.sum())
        vs_high.append(m[n_low:].sum())
        best = max((pd_two_type_max_data(v, n_low, n - n_low, c_low, c_high, p)
                    for p in np.linspace(0.1, 1.0, 10)), key=lambda t: t[0])
        pd_total.append(best[0])
        pd_high.append(best[1])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(shares, vs_total, "o-", label="value shaping")
    axes[0].plot(shares, pd_total, "s-", label="proportional data (best p)")
    axes[0].set(xlabel="fraction of low-cost agents", ylabel="total data", yscale="log",
                title="(a, c) total data")
    axes[1].plot(shares, vs_high, "o-", label="value shaping")
    axes[1].plot(shares, pd_high, "s-", label="proportional data (best p)")
    axes[1].set(xlabel="fraction of low-cost agents", ylabel="data from high-cost agents",
                title="(b, d) high-cost agents")
    for ax in axes:
        ax.legend()
    fig.suptitle("Fig. 7 analogue: n = 10,000, costs 1e-4 / 2e-4")
    paths.append(out_dir / "p001_fig7.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    # Dynamics: naive free-riding vs value shaping, and the tipping point
    rng = np.random.default_rng(1)
    costs = rng.uniform(0.01, 0.1, 50)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    naive = _dynamics("naive_fl", costs, standalone_optimum(SQRT, costs), 40, damping=0.5)
    shaped = _dynamics("value_shaping", costs, np.zeros(50), 40, m_max=500.0)
    axes[0].plot(naive.sum(axis=1), label="naive FL (damped BR)")
    axes[0].plot(shaped.sum(axis=1), label="value shaping (BR)")
    axes[0].axhline(standalone_optimum(SQRT, costs).sum(), color="grey", ls=":", label="stand-alone total")
    axes[0].set(xlabel="round", ylabel="total data", yscale="log", title="50 owners, c ~ U(0.01, 0.1)")
    n10 = np.full(10, 0.2)
    for label, start, params in (("start 0.05", 0.05, {}), ("start 0.1", 0.1, {}),
                                 ("seed 1.0 for 5 rounds", 0.0, {"seed_data": 1.0, "seed_rounds": 5}),
                                 ("seed 0.5 for 5 rounds", 0.0, {"seed_data": 0.5, "seed_rounds": 5})):
        axes[1].plot(_dynamics("value_shaping", n10, np.full(10, start), 25, **params).sum(axis=1), label=label)
    axes[1].set(xlabel="round", ylabel="total data", title="tipping point: 10 owners, c = 0.2 (m* = 0)")
    for ax in axes:
        ax.legend()
    paths.append(out_dir / "p001_dynamics.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
