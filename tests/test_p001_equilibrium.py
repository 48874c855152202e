"""Paper 001: value functions, stand-alone optimum and equilibrium solvers (docs/models/data_contribution.md#g1 to #g4, G6)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from market.core.families import make_value
from market.theory.data_contribution.equilibrium import (
    max_contribution,
    minimum_viable_n,
    naive_equilibrium,
    value_shaping_equilibrium,
    value_shaping_totals,
)
from market.theory.data_contribution.value_functions import standalone_optimum, standalone_utility

REL = 1e-4
V = make_value("sqrt", a=0.95, k=1.0)
COSTS = np.array([0.01, 0.02, 0.05])


# --- G1: Theorem I -----------------------------------------------------------------------------

@pytest.mark.parametrize("c, m_star, u_star", [
    (0.001, 62.996052, 0.761012), (0.01, 13.572088, 0.542837), (0.02, 8.549880, 0.437007),
    (0.05, 4.641589, 0.253762), (0.1, 2.924018, 0.072795), (0.12, 2.589360, 0.017830),
    (0.13, 0.0, 0.0), (0.2, 0.0, 0.0),
])
def test_g1_standalone_optimum_table(c, m_star, u_star):
    assert standalone_optimum(V, c) == pytest.approx(m_star, rel=REL, abs=1e-9)
    assert standalone_utility(V, c) == pytest.approx(u_star, rel=REL, abs=1e-9)


def test_g1_viability_cutoff_and_constants():
    c_max = 0.95**3 / 6.75
    assert c_max == pytest.approx(0.1270185, rel=REL)
    assert standalone_optimum(V, c_max * (1 - 1e-6)) == pytest.approx(2.493075, rel=1e-3)
    assert standalone_optimum(V, c_max * (1 + 1e-6)) == 0.0       # discontinuous jump to 0
    assert V.m0 == pytest.approx(1.108033, rel=REL)
    assert V.db_m0 == pytest.approx(0.4286875, rel=REL)           # high-cost cutoff a^3/(2k)


def test_g1_slope_minus_two_thirds_and_monotone():
    c = np.geomspace(1e-4, 0.12, 50)
    m = standalone_optimum(V, c)
    slope = np.diff(np.log(m)) / np.diff(np.log(c))
    assert np.allclose(slope, -2 / 3, atol=1e-9)
    c = np.linspace(0.001, 0.3, 400)
    assert np.all(np.diff(standalone_optimum(V, c)) <= 0)
    assert np.all(np.diff(standalone_utility(V, c)) <= 1e-15)


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-3, 0.5), st.sampled_from(["sqrt", "erm_bound"]))
def test_g1_optimum_is_global(c, name):
    """The closed-form/bisection optimum beats a fine grid over the whole box [0, v_max/c]."""
    v = make_value(name, 0.95, 1.0)
    grid = np.linspace(0.0, v.v_max / c, 20001)
    best = np.max(v(grid) - c * grid)
    assert standalone_utility(v, c) >= best - 1e-9


def test_bad_cost_is_value_error():
    with pytest.raises(ValueError, match="sensitivity"):
        standalone_optimum(V, np.array([0.1, 0.0]))
    with pytest.raises(ValueError, match="value"):
        make_value("cubic", 0.95, 1.0)


# --- G2: Theorem III -----------------------------------------------------------------------------

def test_g2_naive_equilibrium_closed_form():
    assert naive_equilibrium(V, COSTS) == pytest.approx([13.572088, 0, 0], rel=REL)
    m_star = standalone_optimum(V, COSTS)
    assert m_star == pytest.approx([13.5721, 8.5499, 4.6416], rel=1e-4)
    assert m_star.sum() == pytest.approx(26.763557, rel=REL)
    assert naive_equilibrium(V, np.full(5, 0.2)).sum() == 0.0      # Remark 1


# --- G3: Remark 3 ---------------------------------------------------------------------------------

def test_g3_identical_agents_largest_root():
    assert value_shaping_totals(V, np.full(1, 0.2))[-1] == 0.0
    assert value_shaping_totals(V, np.full(2, 0.2))[-1] == pytest.approx(5.050104, rel=REL)
    roots = value_shaping_totals(V, np.full(10, 0.2))
    assert roots == pytest.approx([0.0, 1.16442, 39.549397], rel=REL)
    assert np.ceil(minimum_viable_n(V, 0.2)) == 2
    assert minimum_viable_n(V, 0.2) == pytest.approx(6.75 * 0.2 / 0.95**3, rel=1e-6)
    per_agent = [value_shaping_totals(V, np.full(n, 0.2))[-1] / n for n in (10, 100, 1000, 10000)]
    assert np.all(np.diff(per_agent) > 0) and per_agent[-1] == pytest.approx(0.95 / 0.2, rel=1e-2)


# --- G4: Theorems IV, V ---------------------------------------------------------------------------

def test_g4_value_shaping_heterogeneous():
    m = value_shaping_equilibrium(V, COSTS)
    assert m == pytest.approx([27.581214, 19.082114, 11.297756], rel=REL)
    assert m.sum() == pytest.approx(57.961084, rel=REL)
    m_star = standalone_optimum(V, COSTS)
    assert np.all(m >= m_star)
    assert V(m.sum()) - COSTS * m == pytest.approx(standalone_utility(V, COSTS), rel=REL)
    cap = np.sum(m_star + (0.95 - V(m_star)) / COSTS)
    assert cap == pytest.approx(80.29, abs=0.01) and m.sum() <= cap
    assert m.sum() > naive_equilibrium(V, COSTS).sum()
    # every agent sits on its own intersection point (fixed point of the best response)
    assert max_contribution(V, COSTS, m_star, m.sum() - m) == pytest.approx(m, rel=1e-9)


# --- G6: GPT-3 example ---------------------------------------------------------------------------

def test_g6_gpt3_minimum_viable_n():
    printed = make_value("power_law", a=1e9, k=5.4e13, alpha=0.95)
    kaplan = make_value("power_law", a=1e9, k=5.4e13, alpha=0.095)
    assert standalone_optimum(printed, 1e-3) == 0.0
    assert minimum_viable_n(printed, 1e-3) == pytest.approx(223.9, abs=0.05)
    assert minimum_viable_n(kaplan, 1e-3) == pytest.approx(1618.0, abs=0.05)
    per_agent = [value_shaping_totals(printed, np.full(n, 1e-3))[-1] / n for n in (224, 1000, 10000)]
    assert per_agent == pytest.approx([4.99e11, 9.33e11, 9.93e11], rel=2e-3)
    assert np.all(np.diff(per_agent) > 0)


def test_erm_bound_fig4_numbers():
    """docs/models/data_contribution.md#fig4 (the third-party ERM form): Fig. 4 analogue totals and n_min."""
    for k, m_1e4, n_min in [(1, 91972, 47.1), (10, 88655, 175.5), (100, 78735, 1083.3)]:
        v = make_value("erm_bound", 0.95, k)
        assert standalone_optimum(v, 0.1) == 0.0
        assert value_shaping_totals(v, np.full(10000, 0.1))[-1] == pytest.approx(m_1e4, abs=1)
        assert minimum_viable_n(v, 0.1) == pytest.approx(n_min, abs=0.1)


# --- value functions: b', its inverse, the flat region ------------------------------------------

@pytest.mark.parametrize("name, a, k", [("sqrt", 0.95, 1.0), ("erm_bound", 0.95, 10.0),
                                        ("power_law", 1e9, 5.4e13)])
def test_value_derivative_inverse_and_flat_region(name, a, k):
    v = make_value(name, a, k)
    assert float(v.b(np.array(v.m0))) == pytest.approx(0.0, abs=1e-9 * a)       # m0 is b's zero crossing
    assert np.all(v(np.linspace(0.0, v.m0, 50)) == 0.0) and np.all(v.dv(v.m0 * np.array([0.1, 0.9])) == 0.0)
    m = v.m0 * np.geomspace(1.01, 1e4, 40)
    h = 1e-6 * m
    assert v.db(m) == pytest.approx((v.b(m + h) - v.b(m - h)) / (2 * h), rel=1e-5)
    assert v.db_inv(v.db(m)) == pytest.approx(m, rel=1e-9)
    assert np.all(np.diff(v.db(m)) < 0)                                            # concave above m0
    assert v.db_inv(np.array([0.0, 2 * v.db_m0])) == pytest.approx([np.inf, v.m0])


def test_sqrt_closed_forms():
    assert V.db(np.array(4.0)) == pytest.approx(0.5 * 4.0**-1.5, rel=1e-12)
    assert V.db_inv(np.array(0.01)) == pytest.approx((1 / 0.02) ** (2 / 3), rel=1e-12)   # = m*(0.01)
    assert standalone_utility(V, 0.05) == pytest.approx(0.95 - 1.5 * (2 * 0.05) ** (1 / 3), rel=1e-12)


# --- m^max of value shaping (eq. 11) ------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.floats(0.005, 0.4), st.floats(0.0, 200.0), st.sampled_from([0.0, 1e-6]))
def test_max_contribution_is_largest_root_of_the_cubic(c, others, eps):
    """sqrt value: with s = sqrt(x + D) the intersection is a root of (c+eps) s^3 - B s + 1 = 0."""
    m_star = float(standalone_optimum(V, c))
    x = float(max_contribution(V, np.array([c]), np.array([m_star]), np.array([others]), eps)[0])
    slope = c + eps
    roots = np.roots([slope, 0.0, -(0.95 - float(V(m_star)) + slope * (m_star + others)), 1.0])
    real = roots[np.abs(roots.imag) < 1e-9].real
    cands = real[(real > 0) & (real**2 - others >= m_star - 1e-9) & (real**2 >= V.m0)] ** 2 - others
    expected = cands.max() if cands.size else m_star
    if others > 0 or m_star > 0:
        assert x == pytest.approx(max(expected, m_star), rel=1e-7, abs=1e-9)
    else:
        assert x == 0.0


def test_max_contribution_tangency_and_entry_threshold():
    # nobody else contributes: the line is tangent to v at m*, so m^max = m* exactly
    m_star = standalone_optimum(V, COSTS)
    assert max_contribution(V, COSTS, m_star, np.zeros(3)) == pytest.approx(m_star, rel=1e-12)
    # c = 0.2 (m* = 0): an owner joins only once the others hold D* = (T^-1/2 + cT - a)/c, T = b'^-1(c)
    t = (1 / 0.4) ** (2 / 3)
    d_star = (t**-0.5 + 0.2 * t - 0.95) / 0.2
    assert d_star == pytest.approx(0.776, abs=1e-3)                               # docs/models/data_contribution.md#g10: "about 0.78"
    c = np.full(2, 0.2)
    below, above = max_contribution(V, c, np.zeros(2), np.array([d_star * (1 - 1e-6), d_star * (1 + 1e-6)]))
    assert below == 0.0 and above == pytest.approx(t - d_star, rel=1e-2)
