"""The standard deviation-based columns (docs/measures.md): information rent, nash_conv, exploitability, free-riding.

Every registered mechanism is checked against its own deviation utilities and
its stated outside option; paper 001's screening menu against the closed form
of Theorem VIII; exploitability against the known equilibria of papers 001
and 003 and the cycle of paper 003's Theorem A.2.
"""

import dataclasses

import numpy as np
import pytest

from market.core.families import make_value
from market.core.mechanism import RoundContext
from market.core.population import OwnerArrays
from market.registry import MECHANISMS
from market.simulation.deviation_measures import deviation_measures, private_context
from market.simulation.model import DataMarket
from market.theory.data_contribution.equilibrium import max_contribution, naive_equilibrium
from market.theory.data_contribution.value_functions import standalone_optimum, standalone_utility

#: One small built-in scenario per registered mechanism, and the outside option the docs state for it.
SCENARIOS = {
    "posted_price": ("quickstart", "level 0"),
    "fair_payment": ("p000_fig5", "level 0"),
    "naive_fl": ("p001_naive_free_riding", "stand-alone"),
    "value_shaping": ("p001_value_shaping", "stand-alone"),
    "fairness_baseline": ("p001_fairness_pd", "stand-alone"),
    "two_type": ("p001_hidden_costs", "stand-alone"),
    "fl_market": ("p002_share_low_m10", "zero"),
    "fl_market_task": ("task_fl_market_digits", "zero"),
    "contribution_game": ("p003_example1", "level 0"),
    "budget_balanced": ("p003_heterogeneous", "level 0"),
    "peer_prediction": ("p004_heterogeneous_costs", "abstain"),
}


def test_every_registered_mechanism_is_covered():
    assert set(SCENARIOS) == set(MECHANISMS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rent_and_exploitability_follow_the_deviation_utilities(name):
    """r_i = u_i(a_i, a_-i) - u_i(o_i, a_-i) and the best-deviation gains, from deviation_utilities alone."""
    scenario, outside = SCENARIOS[name]
    model = DataMarket(scenario, rounds=3)
    model.run()
    mech, owners = model.mechanism, model.owners
    assert mech.name == name
    ctx = private_context(model.context())
    out = mech.settle(owners.action, owners, dataclasses.replace(ctx))
    measured = deviation_measures(mech, owners, model.context(), out.utility)
    dev = mech.deviation_utilities(owners.action, owners, ctx)
    values = mech.action_space.values
    idx = np.abs(values[None, :] - owners.action[:, None]).argmin(axis=1)
    on_grid = np.isclose(values[idx], owners.action, rtol=0, atol=1e-12)
    own = np.where(on_grid, dev[np.arange(len(owners)), idx], out.utility)
    if name != "peer_prediction":   # a random settlement: its realised utility is not the expectation
        np.testing.assert_allclose(own, out.utility, rtol=1e-9, atol=1e-9)
    if outside == "level 0":
        expected_outside = dev[:, 0]
    elif outside == "zero":
        expected_outside = np.zeros(len(owners))
    elif outside == "abstain":
        assert mech.action_space.labels[0] == "abstain"
        np.testing.assert_allclose(dev[:, 0], 0.0, atol=1e-12)   # abstaining: nothing paid, nothing revealed
        expected_outside = np.zeros(len(owners))
    else:
        expected_outside = standalone_utility(mech.v, owners.sensitivity)
    rent = own - expected_outside
    gain = np.maximum(dev.max(axis=1) - own, 0.0)
    assert measured["information_rent_total"] == pytest.approx(rent.sum(), rel=1e-9, abs=1e-9)
    assert measured["information_rent_mean"] == pytest.approx(rent.mean(), rel=1e-9, abs=1e-9)
    assert measured["nash_conv"] == pytest.approx(gain.sum(), rel=1e-9, abs=1e-9)
    assert measured["exploitability"] == pytest.approx(gain.mean(), rel=1e-9, abs=1e-9)
    assert ("free_riding_share" in measured) == bool(mech.shared_good)
    assert ("free_riding_share" in model.row) == bool(mech.shared_good)


def test_posted_price_rent_is_payments_minus_cost_every_round():
    model = DataMarket("quickstart", rounds=30)
    model.run()
    f = model.model_frame()
    np.testing.assert_allclose(f["information_rent_total"], f["total_payments"] - f["total_cost"], rtol=1e-12)
    np.testing.assert_allclose(f["information_rent_mean"], f["information_rent_total"] / f["n_owners"], rtol=1e-12)
    np.testing.assert_allclose(f["exploitability"], f["nash_conv"] / f["n_owners"], rtol=1e-12)
    assert "free_riding_share" not in f


def test_two_type_low_type_rent_equals_theorem_viii_closed_form():
    """Low type: c_lo (m_lo^max - m_down) - v(m_lo^max + D) + v(m_down + D); high type: 0 (paper 001 App. D)."""
    v = make_value("sqrt", 0.95, 1.0)
    cls = MECHANISMS["two_type"]
    mech = cls(cls.Params(c_low=0.01, c_high=0.02, eps=0.0))
    costs = np.array([0.01, 0.02, 0.01, 0.02, 0.01])
    owners = OwnerArrays.empty(("p_low",))
    owners.append(np.arange(costs.size), {"sensitivity": costs, "data_size": np.ones(costs.size),
                                          "p_low": np.full(costs.size, 0.2)}, np.full(costs.size, 10.0), 0)
    ctx = RoundContext(round=1, time=1.0, rng=np.random.default_rng(0))
    for _ in range(80):                                     # best response to the menu's equilibrium (Theorem VII)
        owners.action[:] = mech.best_response(owners.action, owners, ctx)
    low = costs == 0.01
    others = owners.action.sum() - owners.action
    m_down = owners.action[low]
    m_star_low = standalone_optimum(v, np.array([0.01]))[0]
    m_max = max_contribution(v, np.full(low.sum(), 0.01), np.full(low.sum(), m_star_low), others[low], 0.0)
    closed = 0.01 * (m_max - m_down) - v(m_max + others[low]) + v(m_down + others[low])
    assert np.all(closed > 1e-4)                           # p_low = 0.2 < c_low / c_high: m_down < m_lo^max
    out = mech.settle(owners.action, owners, ctx)
    measured = deviation_measures(mech, owners, ctx, out.utility)
    assert measured["information_rent_total"] == pytest.approx(closed.sum(), rel=1e-6)
    assert measured["exploitability"] == pytest.approx(0.0, abs=1e-6)
    rent = out.utility - mech.outside_utility(None, owners)
    np.testing.assert_allclose(rent[low], closed, rtol=1e-6)
    np.testing.assert_allclose(rent[~low], 0.0, atol=1e-9)


def test_exploitability_vanishes_at_paper_001_and_003_equilibria():
    model = DataMarket("p001_naive_free_riding")      # Theorem III: only the cheapest owner contributes
    model.run()
    assert model.owners.action == pytest.approx(naive_equilibrium(model.mechanism.v, model.owners.sensitivity),
                                                abs=1e-9)
    f = model.model_frame()
    assert f["exploitability"].iloc[0] > 0.1 and f["exploitability"].iloc[-1] == pytest.approx(0.0, abs=1e-9)
    assert f["free_riding_share"].iloc[-1] == pytest.approx(1 - 1 / len(model.owners))  # all but one free-ride
    model = DataMarket("p003_example1")               # Example 1: the free-riding NE (0, 0.5)
    model.run()
    np.testing.assert_allclose(model.owners.action, [0.0, 0.5], atol=1e-7)
    f = model.model_frame()
    assert f["exploitability"].iloc[0] > 0.01 and f["exploitability"].iloc[-1] == pytest.approx(0.0, abs=1e-9)
    assert f["free_riding_share"].iloc[-1] == 0.5
    assert np.isfinite(f["exploitability"]).all()


def test_exploitability_stays_positive_on_the_theorem_a2_cycle():
    """p003_nonexistence: no Nash equilibrium, best responses cycle 0 <-> 0.55; someone can always gain."""
    model = DataMarket("p003_nonexistence")
    model.run()
    f = model.model_frame()
    assert (f["cycle_period"].iloc[4:] == 2).all()
    assert f["exploitability"].min() > 0.1
    assert f["nash_conv"].min() > 0.3


def test_measures_every_leaves_unmeasured_rounds_null():
    model = DataMarket("quickstart", rounds=25, overrides=["output.measures_every=10"])
    model.run()
    f = model.model_frame()
    measured = f["exploitability"].notna()
    assert f.loc[measured, "round"].tolist() == [10, 20, 25]      # every 10th round and the last
    assert f.loc[~measured, "information_rent_total"].isna().all()
