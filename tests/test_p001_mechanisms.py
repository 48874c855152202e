"""Paper 001 mechanisms and best-response dynamics (docs/models/data_contribution.md#g2, #g4, G7, G9, G10; Theorems III-VIII)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from market.core.families import make_value
from market.core.mechanism import RoundContext
from market.core.population import OwnerArrays
from market.registry import MECHANISMS
from market.theory.data_contribution.equilibrium import (
    deviation_gain,
    is_nash,
    max_contribution,
    naive_equilibrium,
    symmetric_equilibria,
    value_shaping_equilibrium,
    value_shaping_totals,
)
from market.theory.data_contribution.fairness import mean_field_shapley, symmetric_deviation_utility
from market.theory.data_contribution.value_functions import standalone_optimum, standalone_utility

V = make_value("sqrt", 0.95, 1.0)
COSTS = np.array([0.01, 0.02, 0.05])


def owners(costs, **extra):
    costs = np.asarray(costs, dtype=float)
    o = OwnerArrays.empty(tuple(extra))
    attrs = {"sensitivity": costs, "data_size": np.ones(costs.size)}
    attrs.update({k: np.full(costs.size, float(v)) for k, v in extra.items()})
    o.append(np.arange(costs.size), attrs, np.zeros(costs.size), 0)
    return o


def ctx(round_=1):
    return RoundContext(round=round_, time=float(round_), rng=np.random.default_rng(0))


def mech(name, **params):
    cls = MECHANISMS[name]
    return cls(cls.Params(**params))


def jacobi(m, o, start, rounds, damping=0.0, seed_from=1):
    """Synchronous best response over rounds; returns the path of profiles (rounds+1, n)."""
    a = np.asarray(start, dtype=float)
    path = [a]
    for r in range(rounds):
        br = m.best_response(a, o, ctx(r + seed_from))
        a = damping * a + (1 - damping) * br
        path.append(a)
    return np.array(path)


def sweeps(m, o, start, n_sweeps):
    a = np.asarray(start, dtype=float).copy()
    for _ in range(n_sweeps):
        for i in range(a.size):
            a[i] = m.best_response(a, o, ctx())[i]
    return a


# --- naive FL: Theorem III, Remark 1, G9 --------------------------------------------------------

def test_g2_sequential_best_response_reaches_theorem_iii():
    m, o = mech("naive_fl"), owners(COSTS)
    a = sweeps(m, o, [20.0, 20.0, 20.0], 4)
    assert a == pytest.approx(naive_equilibrium(V, COSTS), rel=1e-9, abs=1e-12)
    assert a == pytest.approx([13.572088, 0, 0], rel=1e-4)
    out = m.settle(a, o, ctx())
    assert out.metrics["free_riders"] == 2 and out.metrics["free_rider_share"] == pytest.approx(2 / 3)
    assert out.metrics["under_contributors"] == 2 and out.metrics["under_contributor_share"] == pytest.approx(2 / 3)
    assert out.metrics["total_data"] == pytest.approx(13.572088, rel=1e-4)
    # synchronous updates from the stand-alone optima also settle on it
    path = jacobi(m, o, standalone_optimum(V, COSTS), 20)
    assert path[-1] == pytest.approx([13.572088, 0, 0], rel=1e-6)


def test_remark1_collapse_when_every_optimum_is_zero():
    m, o = mech("naive_fl"), owners(np.full(5, 0.2))
    path = jacobi(m, o, np.full(5, 3.0), 5)
    assert np.all(path[-1] == 0.0)
    assert m.settle(path[-1], o, ctx()).metrics["total_data"] == 0.0


def test_g9_tied_costs_cycle_sequential_and_damped():
    m, o = mech("naive_fl"), owners([0.01, 0.01])
    path = jacobi(m, o, [0.0, 0.0], 8)
    assert path[1::2] == pytest.approx(np.full((4, 2), 13.572088), rel=1e-4)   # (0,0) <-> (13.57,13.57)
    assert np.all(path[2::2] == 0.0)
    assert sweeps(m, o, [0.0, 0.0], 3) == pytest.approx([13.572088, 0.0], rel=1e-4)
    damped = jacobi(m, o, [0.0, 0.0], 60, damping=0.5)[-1]
    assert damped == pytest.approx([6.786044, 6.786044], rel=1e-4)
    assert damped.sum() == pytest.approx(13.5721, rel=1e-4)
    assert is_nash(damped, lambda p, x: m.deviation_utilities_at(p, o, ctx(), x),
                   np.linspace(0, 40, 4001), tol=1e-9)


# --- value shaping: Theorems IV, V; G3, G4, G10 -------------------------------------------------

def test_g4_value_shaping_climbs_monotonically_to_largest_equilibrium():
    m, o = mech("value_shaping"), owners(COSTS)
    path = jacobi(m, o, [0.0, 0.0, 0.0], 80)
    assert np.all(np.diff(path, axis=0) >= -1e-9)                       # Lemma 8: monotone climb
    final = path[-1]
    assert final == pytest.approx([27.581214, 19.082114, 11.297756], rel=1e-4)
    assert final == pytest.approx(value_shaping_equilibrium(V, COSTS, eps=1e-8), rel=1e-6)
    out = m.settle(final, o, ctx())
    assert out.utility == pytest.approx(standalone_utility(V, COSTS), abs=1e-6)   # Theorem V
    assert out.payment == pytest.approx(np.full(3, V(final.sum())), rel=1e-9)     # Remark 2
    assert out.metrics["surplus_over_standalone"] == pytest.approx(0.0, abs=1e-6)
    assert out.metrics["under_contributor_share"] == 0.0
    # from the upper corner the dynamics fall to the same (largest) equilibrium
    top = jacobi(m, o, standalone_optimum(V, COSTS) + 0.95 / COSTS, 80)[-1]
    assert top == pytest.approx(final, rel=1e-6)


def test_g4_equilibrium_passes_global_nash_check():
    m, o = mech("value_shaping"), owners(COSTS)
    eq = value_shaping_equilibrium(V, COSTS, eps=1e-8)
    dev = lambda p, x: m.deviation_utilities_at(p, o, ctx(), x)  # noqa: E731
    extra = np.stack([standalone_optimum(V, COSTS), eq * 0.999, eq * 1.001], axis=1)
    assert is_nash(eq, dev, np.linspace(0, 100, 20001), tol=1e-7, extra=extra)
    # on [m_i*, m_i^max] utility rises only with slope eps (Theorem V), so the check
    # needs an owner below its stand-alone optimum to find a real gain
    below = eq.copy()
    below[0] = 5.0
    assert not is_nash(below, dev, np.linspace(0, 100, 20001), tol=1e-3)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.005, 0.3), min_size=2, max_size=5),
       st.lists(st.floats(0.0, 40.0), min_size=5, max_size=5))
def test_value_shaping_is_feasible_and_ir(costs, amounts):
    """Def. A (value <= pooled value) and Def. B (value >= v(m_i)) at every profile and deviation."""
    m, o = mech("value_shaping"), owners(costs)
    a = np.array(amounts[: len(costs)])
    grid = np.broadcast_to(np.linspace(0, 100, 501), (a.size, 501))
    val = m.values_at(a, o, ctx(), grid)
    pooled = V(grid + (a.sum() - a)[:, None])
    assert np.all(val <= pooled + 1e-12)
    assert np.all(val >= V(grid) - 1e-12)


def test_g3_g10_tipping_point_depends_on_start():
    m, o = mech("value_shaping"), owners(np.full(10, 0.2))
    low = jacobi(m, o, np.full(10, 0.05), 30)
    assert low[-1].sum() == 0.0
    high = jacobi(m, o, np.full(10, 0.1), 30)
    assert high[-1].sum() == pytest.approx(39.549397, rel=1e-4)
    settled = np.abs(high.sum(axis=1) - high[-1].sum()) < 1e-9 * high[-1].sum()
    assert 9 <= np.argmax(settled) <= 13                                   # "about 11 iterations"
    assert np.all(np.diff(high.sum(axis=1)) >= -1e-9)
    assert value_shaping_totals(V, np.full(10, 0.2)) == pytest.approx([0, 1.16442, 39.549397], rel=1e-4)
    # 0 is an equilibrium too (Remark 3)
    dev = lambda p, x: m.deviation_utilities_at(p, o, ctx(), x)  # noqa: E731
    assert is_nash(np.zeros(10), dev, np.linspace(0, 50, 5001), tol=1e-9)


def test_g10_platform_seeding_tips_the_market():
    o = owners(np.full(10, 0.2))
    small = mech("value_shaping", seed_data=0.5, seed_rounds=5)
    assert jacobi(small, o, np.zeros(10), 30)[-1].sum() == 0.0
    large = mech("value_shaping", seed_data=1.0, seed_rounds=5)
    path = jacobi(large, o, np.zeros(10), 40)
    assert path[5].sum() > 0                                               # seeded rounds start the climb
    assert path[-1].sum() == pytest.approx(39.549397, rel=1e-4)            # and it stays after withdrawal
    out = large.settle(path[-1], o, ctx(40))
    assert out.metrics["seeded_data"] == 0.0 and large.settle(path[-1], o, ctx(2)).metrics["seeded_data"] == 1.0


# --- fairness baselines: Theorem VI (G7), Shapley efficiency (G10) ------------------------------

def test_g7_pd_many_symmetric_equilibria():
    n, c, p = 10, 0.01, 0.5
    m_star = float(standalone_optimum(V, c))
    assert m_star == pytest.approx(13.572088, rel=1e-4)
    f = symmetric_deviation_utility("pd", V, n, c, p)
    levels = np.array([m_star / n, 0.678604, 2.0, 6.299605])
    cand = np.concatenate([np.linspace(0, 100, 20001), levels])
    is_eq, util = symmetric_equilibria(levels, f, cand, tol=1e-7)
    assert list(is_eq) == [True, False, True, True]
    assert util == pytest.approx([0.664990, util[1], 0.706390, 0.761012], rel=1e-4)
    assert util[0] >= float(standalone_utility(V, c))                       # IR at m*/n
    assert util[3] > util[0]       # the paper's "m*/n has maximum utility" is false (docs/models/data_contribution.md#fairness-baselines)
    assert n * levels[0] == pytest.approx(13.572, rel=1e-4)
    # the same through the mechanism's own deviation utilities
    m, o = mech("fairness_baseline", rule="pd", p=p), owners(np.full(n, c))
    dev = lambda prof, x: m.deviation_utilities_at(prof, o, ctx(), x)  # noqa: E731
    grid = np.linspace(0, 100, 20001)
    assert is_nash(np.full(n, m_star / n), dev, grid, tol=1e-7)
    assert not is_nash(np.full(n, 0.678604), dev, grid, tol=1e-7)
    assert m.settle(np.full(n, m_star / n), o, ctx()).utility == pytest.approx(np.full(n, 0.664990), rel=1e-4)


def test_p_zero_is_naive_and_ps_symmetric_matches_scan():
    o = owners(np.full(4, 0.05))
    a = np.array([1.0, 2.0, 3.0, 4.0])
    naive = mech("naive_fl").settle(a, o, ctx()).payment
    for rule in ("pd", "pv", "ps"):
        assert mech("fairness_baseline", rule=rule, p=0.0).settle(a, o, ctx()).payment == pytest.approx(naive)
    m, o = mech("fairness_baseline", rule="ps", p=0.7), owners(np.full(6, 0.05))
    f = symmetric_deviation_utility("ps", V, 6, 0.05, 0.7)
    d, x = 2.0, np.array([0.5, 2.0, 3.5])
    via_mech = m.deviation_utilities_at(np.full(6, d), o, ctx(), np.broadcast_to(x, (6, 3)))[0]
    exact = f(np.full(3, d), x)
    assert via_mech[1:] == pytest.approx(exact[1:], rel=1e-12)   # deviator is (one of) the largest: exact
    assert via_mech[0] == pytest.approx(exact[0], rel=2e-2)      # others' Shapley value is mean-field


def test_g10_shapley_efficiency_needs_k_from_zero():
    n, m = 5, 3.0
    phi = mean_field_shapley(V, np.array(m), np.array(m), n)
    assert n * phi == pytest.approx(float(V(15.0)), rel=1e-12)
    assert n * phi == pytest.approx(0.691801, rel=1e-5)
    wrong = sum(V((k + 1) * m) - V(k * m) for k in range(1, n + 1))        # k = 1..n as printed
    assert wrong == pytest.approx(0.341648, rel=1e-5)


# --- hidden costs: Theorems VII, VIII -----------------------------------------------------------

def test_two_type_rent_and_incentive_compatibility():
    costs = np.array([0.01, 0.02, 0.01, 0.02])
    for p_low in (0.2, 0.5, 0.8):
        m, o = mech("two_type", c_low=0.01, c_high=0.02), owners(costs, p_low=p_low)
        a = jacobi(m, o, np.full(4, 10.0), 60)[-1]
        out = m.settle(a, o, ctx())
        u_star = standalone_utility(V, costs)
        high = costs == 0.02
        assert out.utility[high] == pytest.approx(u_star[high], abs=1e-6)            # Theorem VIII
        assert np.all(out.utility[~high] >= u_star[~high] - 1e-9)
        assert out.metrics["low_type_rent"] >= -1e-9
        assert np.all(out.payment <= V(a.sum()) + 1e-12)                              # feasible
        dev = lambda p, x: m.deviation_utilities_at(p, o, ctx(), x)  # noqa: E731
        assert np.all(deviation_gain(a, dev, np.linspace(0, 100, 2001)) <= 1e-6)     # Theorem VII


def test_two_type_direct_maximisation_beats_paper_eq21():
    """docs/models/data_contribution.md#corr-eq-21: eq. (21) is not the maximiser of (22); the default maximises (22) directly."""
    others = np.array([20.0])
    best_gain = 0.0
    for p_low in np.linspace(0.05, 0.45, 9):
        p = np.array([p_low])
        vals = []
        for rule in ("maximise", "paper_eq21"):
            m = mech("two_type", c_low=0.01, c_high=0.02, m_down_rule=rule)
            up, down = m.menu(others, p)
            vals.append(float((1 - p_low) * up[0] + p_low * down[0]))
        assert vals[0] >= vals[1] - 1e-9
        best_gain = max(best_gain, vals[0] - vals[1])
    assert best_gain > 1e-3


def test_two_type_m_down_meets_corrected_first_order_condition():
    """docs/models/data_contribution.md#corr-eq-21: the maximiser of (22) solves v'(m_down + D) = c_lo - p/(1-p) (c_hi - c_lo)."""
    c_lo, c_hi = 0.01, 0.02
    m = mech("two_type", c_low=c_lo, c_high=c_hi)
    for others, p_low in ((2.0, 0.1), (2.0, 0.2), (2.0, 0.3), (20.0, 0.45)):    # interior optima
        _, down = m.menu(np.array([others]), np.array([p_low]))
        target = c_lo - p_low / (1 - p_low) * (c_hi - c_lo)
        assert float(V.dv(down + others)[0]) == pytest.approx(target, rel=1e-4)
    # corrected Remark 5: from p = c_lo / c_hi on, m_down is the low type's own intersection m_lo^max
    others = np.array([20.0])
    m_lo_max = max_contribution(V, np.array([c_lo]), standalone_optimum(V, np.array([c_lo])), others, 1e-8)
    assert m.menu(others, np.array([0.55]))[1] == pytest.approx(m_lo_max, rel=1e-6)
    assert m.menu(others, np.array([0.45]))[1][0] < m_lo_max[0] * (1 - 1e-3)


@pytest.mark.parametrize("name, params, match", [
    ("value_shaping", {"eps": -1.0}, "eps"),
    ("value_shaping", {"value": "cubic"}, "value"),
    ("fairness_baseline", {"p": 1.5}, "p"),
    ("fairness_baseline", {"rule": "gini"}, "rule"),
    ("two_type", {"c_low": 0.03, "c_high": 0.02}, "c_low"),
    ("naive_fl", {"m_max": 0.0}, "m_max"),
])
def test_bad_parameters(name, params, match):
    with pytest.raises(ValueError, match=match):
        mech(name, **params)


def test_two_type_rejects_third_cost():
    m, o = mech("two_type", c_low=0.01, c_high=0.02), owners([0.01, 0.03], p_low=0.5)
    with pytest.raises(ValueError, match="sensitivity"):
        m.best_response(np.zeros(2), o, ctx())
