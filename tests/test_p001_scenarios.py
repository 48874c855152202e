"""Paper 001 built-in scenarios run through DataMarket (round-by-round dynamics and metrics)."""

import numpy as np
import pytest

from market.core.families import make_value
from market.simulation.model import DataMarket
from market.theory.data_contribution.equilibrium import naive_equilibrium, value_shaping_equilibrium
from market.theory.data_contribution.value_functions import standalone_utility
from scenarios.schema import builtin_names

V = make_value("sqrt", 0.95, 1.0)
P001 = [name for name in builtin_names() if name.startswith("p001_")]


def test_all_p001_scenarios_are_listed_and_run():
    assert {"p001_naive_free_riding", "p001_collapse", "p001_value_shaping", "p001_tipping_below",
            "p001_tipping_above", "p001_tipping_seeded", "p001_fairness_pd", "p001_fairness_pv",
            "p001_fairness_ps", "p001_hidden_costs", "p001_fig4", "p001_fig7"} <= set(P001)
    for name in P001:
        model = DataMarket(name, rounds=1)
        model.run()
        row = model.model_frame().iloc[-1]
        for column in ("total_data", "free_riders", "free_rider_share", "under_contributor_share",
                       "surplus_over_standalone", "information_rent_total", "information_rent_mean",
                       "nash_conv", "exploitability", "free_riding_share", "seeded_data"):
            assert np.isfinite(row[column])


def test_naive_free_riding_reaches_theorem_iii():
    model = DataMarket("p001_naive_free_riding")
    model.run()
    frame = model.model_frame()
    costs = model.owners.sensitivity
    eq = naive_equilibrium(V, costs)
    assert frame["total_data"].iloc[-1] == pytest.approx(eq.sum(), rel=1e-9)
    assert model.owners.action == pytest.approx(eq, abs=1e-9)
    assert frame["free_riders"].iloc[-1] == costs.size - 1
    assert frame["total_data"].iloc[-1] < frame["total_data"].iloc[0]


def test_collapse_when_no_owner_is_viable():
    model = DataMarket("p001_collapse")
    model.run()
    assert model.model_frame()["total_data"].iloc[-1] == 0.0


def test_value_shaping_scenario_climbs_to_largest_equilibrium():
    model = DataMarket("p001_value_shaping")
    model.run()
    frame = model.model_frame()
    costs = model.owners.sensitivity
    eq = value_shaping_equilibrium(V, costs, eps=1e-8)
    assert np.all(np.diff(frame["total_data"]) >= -1e-9)
    assert frame["total_data"].iloc[-1] == pytest.approx(eq.sum(), rel=1e-6)
    assert model.owners.utility == pytest.approx(standalone_utility(V, costs), abs=1e-6)   # Theorem V
    assert frame["surplus_over_standalone"].iloc[-1] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name, total", [
    ("p001_tipping_below", 0.0), ("p001_tipping_above", 39.549397), ("p001_tipping_seeded", 39.549397),
])
def test_tipping_point_scenarios(name, total):
    model = DataMarket(name)
    model.run()
    frame = model.model_frame()
    assert frame["total_data"].iloc[-1] == pytest.approx(total, rel=1e-4, abs=1e-12)
    if name == "p001_tipping_seeded":
        assert frame["seeded_data"].iloc[0] == 1.0 and frame["seeded_data"].iloc[-1] == 0.0


def test_hidden_costs_pay_information_rent_to_low_types_only():
    model = DataMarket("p001_hidden_costs", rounds=15)
    model.run()
    frame = model.model_frame()
    costs = model.owners.sensitivity
    rent = model.owners.utility - standalone_utility(V, costs)
    high = costs == 0.02
    assert rent[high] == pytest.approx(np.zeros(high.sum()), abs=1e-6)
    assert np.all(rent[~high] > 0)
    assert frame["low_type_rent"].iloc[-1] == pytest.approx(rent[~high].sum(), rel=1e-9)
    # the standard column: every owner's utility above training alone (high types' rent is 0)
    assert frame["information_rent_total"].iloc[-1] == pytest.approx(rent.sum(), rel=1e-9)


def _tied(rounds, *decision):
    """Two owners with the same cost 0.01 under naive FL, starting at 0 (docs/models/data_contribution.md#g9), run by DataMarket."""
    model = DataMarket("p001_naive_free_riding", rounds=rounds, overrides=[
        "population.owners=2", "population.types.0.sensitivity=0.01", "population.initial_action=0.0",
        *decision])
    model.run()
    return model


def test_g9_tied_costs_through_the_simulator_dynamics():
    # synchronous revision: (0,0) -> (13.57,13.57) -> (0,0) -> ... for ever
    totals = _tied(8, "decision.revision=synchronous").model_frame()["total_data"].to_numpy()
    assert totals[0::2] == pytest.approx(np.full(4, 2 * 13.572088), rel=1e-6)
    assert np.all(totals[1::2] == 0.0)
    # sequential revision (both owners, one after the other, each round): one owner carries m*
    model = _tied(5, "decision.revision=sequential", "decision.revisions_per_round=2")
    assert np.sort(model.owners.action) == pytest.approx([0.0, 13.572088], rel=1e-6, abs=1e-12)
    # damped best response (a <- a/2 + BR/2): both settle at m*/2, total m*
    model = _tied(60, "decision.revision=synchronous", "decision.damping=0.5")
    assert model.owners.action == pytest.approx([6.786044, 6.786044], rel=1e-6)
    assert model.model_frame()["free_riders"].iloc[-1] == 0.0
    assert model.model_frame()["under_contributors"].iloc[-1] == 2.0
    # probabilistic inertia also breaks the cycle: the total settles at m* (any split is an equilibrium)
    model = _tied(60, "decision.revision=synchronous", "decision.inertia=0.5")
    assert model.owners.action.sum() == pytest.approx(13.572088, rel=1e-6)


def test_fairness_scenarios_free_ride_at_p_zero_and_collect_more_with_p():
    naive = DataMarket("p001_fairness_pd", overrides=["mechanism.p=0.0"])
    naive.run()
    shaped = DataMarket("p001_fairness_pd")
    shaped.run()
    assert naive.model_frame()["total_data"].iloc[-1] == pytest.approx(13.572088, rel=1e-4)   # p = 0: naive
    assert shaped.model_frame()["total_data"].iloc[-1] > 10 * 13.572088
    assert shaped.owners.action == pytest.approx(np.full(20, shaped.owners.action[0]), rel=1e-9)


@pytest.mark.parametrize("name, value, total", [
    ("p001_fig4", make_value("erm_bound", 0.95, 1.0), 91972.0),   # docs/models/data_contribution.md#fig4, n = 10^4, c = 0.1, k = 1
    ("p001_fig7", make_value("erm_bound", 0.95, 1.0), None),
])
def test_fig4_fig7_scenarios_settle_on_the_largest_equilibrium(name, value, total):
    model = DataMarket(name, rounds=6)
    model.run()
    eq = value_shaping_equilibrium(value, model.owners.sensitivity, eps=1e-8)
    assert len(model.owners) == 10000
    assert model.model_frame()["total_data"].iloc[-1] == pytest.approx(eq.sum(), rel=1e-9)
    if total is not None:
        assert eq.sum() == pytest.approx(total, abs=1.0)
