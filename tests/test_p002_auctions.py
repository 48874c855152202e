"""FL-Market (paper 002): All-in, the proportional-share mechanism and empirical regret (docs/models/fl_market.md#g6 to #g12)."""

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from market.theory.fl_market.auctions import (
    AUCTIONS,
    COMBINATIONS,
    EXP,
    LINEAR,
    QUADRATIC,
    SQRT,
    STEP,
    all_in,
    bid_transformation,
    clearing_price,
    empirical_regret,
    menu_choice,
    owner_utility,
    proportional_share,
    synthetic_bids,
    trade,
    valuation,
)

FACTORS = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 1.5, 2.0, 3.0])


def test_g6_all_in_worked_example():
    for loop in ("skip", "prefix"):
        out = all_in([2.0, 6.0, 9.0], [2.0, 3.0, 1.0], 10.0, loop=loop)
        np.testing.assert_allclose(out.epsilon, [2, 3, 0])
        np.testing.assert_allclose(out.payment, [4, 6, 0])
        assert out.payment.sum() == pytest.approx(10.0)
        np.testing.assert_allclose(out.payment - np.where(out.epsilon > 0, [2, 6, 9], 0), [2, 0, 0])


def test_g7_all_in_edge_cases():
    none = all_in([5.0, 6.0], [1.0, 1.0], 4.0)
    assert np.all(none.epsilon == 0) and np.all(none.payment == 0)
    for budget, pay in ((4.0, 2.0), (8.0, 4.0)):
        out = all_in([1.0, 1.0], [1.0, 1.0], budget)
        np.testing.assert_allclose(out.epsilon, [1, 1])
        np.testing.assert_allclose(out.payment, [pay, pay])
    skip = all_in([10.5, 3.0], [5.0, 1.0], 10.0, loop="skip")
    np.testing.assert_allclose(skip.epsilon, [0, 1])
    np.testing.assert_allclose(skip.payment, [0, 10])
    prefix = all_in([10.5, 3.0], [5.0, 1.0], 10.0, loop="prefix")
    assert np.all(prefix.epsilon == 0) and np.all(prefix.payment == 0)


def test_g8_all_in_is_not_truthful_regression():
    # Proposition 5.1 claims truthfulness; docs/models/fl_market.md#g8 gives a counterexample (both loop readings)
    for loop in ("skip", "prefix"):
        truthful = all_in([6.0, 3.2], [2.0, 1.0], 8.0, loop=loop)
        np.testing.assert_allclose(truthful.payment, [8, 0])
        lie = all_in([6.0, 0.5], [2.0, 1.0], 8.0, loop=loop)
        np.testing.assert_allclose(lie.epsilon, [0, 1])
        np.testing.assert_allclose(lie.payment, [0, 8])
        assert lie.payment[1] - 3.2 == pytest.approx(4.8)
        regret = empirical_regret("all_in", [STEP, STEP], [6.0, 3.2], [2.0, 1.0], 8.0,
                                  factors=[0.5 / 3.2, 1.0, 2.0], loop=loop)
        np.testing.assert_allclose(regret.gain, [0.0, 4.8])
        assert regret.best_factor[1] == pytest.approx(0.5 / 3.2)


def test_all_in_regret_on_the_paper_distribution():
    # docs/models/fl_market.md#alg-4: 2.8-10.7 % of (profile, owner) pairs have a profitable V-misreport,
    # largest gain about 3.2; IR and BF hold in every profile (docs/models/fl_market.md#g8: 0 violations in 1,500)
    rng = np.random.default_rng(11)
    kind, rate, eps_bar = synthetic_bids(10, 5.0, rng, (300,))
    regret = empirical_regret("all_in", kind, rate, eps_bar, 10.0, factors=FACTORS)
    assert 0.02 <= regret.share <= 0.15
    assert 0.0 < regret.max <= 5.0
    kind, rate, eps_bar = synthetic_bids(10, 2.0, rng, (1500,))
    budget = rng.choice([2.0, 5.0, 10.0, 20.0], size=1500)
    out = AUCTIONS["all_in"](kind, rate, eps_bar, budget)
    assert np.all(out.payment.sum(axis=1) <= budget * (1 + 1e-12))
    assert np.all(owner_utility(kind, rate, eps_bar, out) >= -1e-9)


bid_profiles = st.integers(1, 8).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 4), min_size=n, max_size=n),
    st.lists(st.floats(0.05, 3.0), min_size=n, max_size=n),
    st.lists(st.floats(0.1, 5.0), min_size=n, max_size=n),
    st.floats(0.0, 60.0),
))


@settings(max_examples=80, deadline=None)
@given(bid_profiles, st.sampled_from(["skip", "prefix"]))
def test_all_in_budget_feasible_and_individually_rational(profile, loop):
    kind, rate, eps_bar, budget = (np.asarray(x) for x in profile)
    out = AUCTIONS["all_in"](kind, rate, eps_bar, budget, loop=loop)
    won = out.epsilon > 0
    assert np.all((out.epsilon == 0) | np.isclose(out.epsilon, eps_bar))
    assert out.payment.sum() <= budget * (1 + 1e-12)
    if won.any():
        assert out.payment.sum() == pytest.approx(float(budget))
    assert np.all(owner_utility(kind, rate, eps_bar, out) >= -1e-9)


@settings(max_examples=60, deadline=None)
@given(bid_profiles, st.sampled_from([0, 1, 5, 20]))
def test_proportional_share_truthful_budget_feasible_ir(profile, M):
    kind, rate, eps_bar, budget = (np.asarray(x) for x in profile)
    out = proportional_share(kind, rate, eps_bar, budget, M=M)
    assert out.payment.sum() <= budget * (1 + 1e-12)
    assert np.all(out.epsilon <= eps_bar + 1e-12)
    assert np.all(owner_utility(kind, rate, eps_bar, out) >= -1e-9)
    # no owner gains by misreporting her valuation (any M), nor her budget (continuous menu)
    eps_factors = [0.3, 0.6, 0.9, 1.0, 1.2, 1.5] if M == 0 else [1.0]
    regret = empirical_regret("proportional_share", kind, rate, eps_bar, budget,
                              factors=FACTORS, eps_factors=eps_factors, tol=1e-9, M=M)
    assert regret.share == 0.0
    assert regret.max <= 1e-9


def _sequential_proportional_share(kind, rate, eps_bar, budget, M):
    """Step 3 of proportional_share read literally: each group's owners served one by one in index order."""
    n = rate.size
    side = np.arange(n) % 2 == 1
    eps, pay, cap = np.zeros(n), np.zeros(n), np.zeros(n)
    for g in (False, True):
        members = side == g
        share = budget * members.sum() / n
        pi = float(proportional_share(kind, rate, eps_bar, budget, M=M).price[members][0]) if members.any() else 0.0
        left = share
        for i in np.flatnonzero(members):
            if pi <= 0:
                continue
            cap[i] = left / pi
            eps[i] = menu_choice(kind[i:i + 1], rate[i:i + 1], np.array([pi]), np.array([cap[i]]),
                                 eps_bar[i:i + 1], M)[0]
            pay[i] = min(pi * eps[i], left)
            left = max(left - pay[i], 0.0)
    return eps, pay, cap


@settings(max_examples=60, deadline=None)
@given(bid_profiles, st.sampled_from([0, 1, 5, 20]), st.floats(0.05, 3.0))
def test_vectorised_rationing_equals_serving_owners_one_by_one(profile, M, scale):
    kind, rate, eps_bar, budget = (np.asarray(x) for x in profile)
    budget = budget * scale                                   # small budgets: many owners capped or left out
    out = proportional_share(kind, rate, eps_bar, budget, M=M)
    eps, pay, cap = _sequential_proportional_share(kind, rate, eps_bar, float(budget), M)
    np.testing.assert_allclose(out.epsilon, eps, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out.payment, pay, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out.cap, cap, rtol=1e-9, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(bid_profiles, st.sampled_from([1, 3, 20]), st.floats(0.01, 100.0))
# B/S equal to the jump up to an ulp: the price was quoted at the jump, where the owner's own valuation
# said "do not sell" (spend 0); now a margin above it
@example(([4], [1.924854], [1.924854], 0.0), 1, 1.924854)
def test_grid_clearing_price_is_the_infimum_of_prices_that_exhaust_the_budget(profile, M, budget):
    kind, rate, eps_bar, _ = (np.asarray(x) for x in profile)
    members = np.ones(rate.size, dtype=bool)
    price = float(clearing_price(kind, rate, eps_bar, np.asarray(budget), members, M))

    def spend(pi):
        return pi * menu_choice(kind, rate, np.full(rate.size, pi), np.full(rate.size, np.inf), eps_bar, M).sum()

    assert price > 0                                          # every owner sells her whole budget at a high price
    assert spend(price) >= budget * (1 - 1e-12)
    assert spend(price * (1 - 1e-9)) < budget                # nothing cheaper exhausts the budget


def _literal_all_in_winners(value, eps_bar, budget, loop):
    """Algorithm 4's scan, owner by owner (the printed pseudo-code; "prefix" stops at the first failure)."""
    total, won = 0.0, np.zeros(value.size, dtype=bool)
    for k in np.argsort(value / eps_bar, kind="stable"):
        if value[k] / eps_bar[k] <= budget / (total + eps_bar[k]):
            won[k], total = True, total + eps_bar[k]
        elif loop == "prefix":
            break
    return won


@settings(max_examples=150, deadline=None)
@given(bid_profiles, st.sampled_from(["skip", "prefix"]), st.floats(0.01, 2.0))
def test_all_in_vectorised_scan_equals_the_literal_scan(profile, loop, scale):
    kind, rate, eps_bar, budget = (np.asarray(x) for x in profile)
    value = valuation(kind, rate, eps_bar)
    out = all_in(value, eps_bar, budget * scale, loop=loop)
    np.testing.assert_array_equal(out.epsilon > 0, _literal_all_in_winners(value, eps_bar, budget * scale, loop))


def test_g9_bid_transformation():
    items, values = bid_transformation(LINEAR, 1.0, 2.0, 4)
    np.testing.assert_allclose(items, [2, 1, 2 / 3, 0.5])
    np.testing.assert_allclose(values, [4, 2, 4 / 3, 1])
    z = np.array([0.5, 0.1, 0.1, 0.1])  # z_0 = 0.2 is the dummy "lose" node
    assert z @ items == pytest.approx(1.2167, abs=1e-4)


def test_g11_valuation_families():
    assert np.all(valuation(np.arange(5), 1.0, 0.0) == 0.0)
    assert valuation(LINEAR, 1.0, 1.0) == pytest.approx(2.0)
    assert valuation(QUADRATIC, 1.0, 2.0) == pytest.approx(4.0)
    assert valuation(SQRT, 1.0, 4.0) == pytest.approx(4.0)
    assert valuation(EXP, 1.0, 1.0) == pytest.approx(np.e - 1, abs=1e-4)
    kind, rate, eps_bar = synthetic_bids(10, 2.0, np.random.default_rng(0), (500,))
    assert set(np.unique(kind)) == {LINEAR, QUADRATIC, SQRT, EXP}
    assert rate.min() >= 0.5 and rate.max() <= 1.5 and eps_bar.min() >= 0.5 and eps_bar.max() <= 2.0
    with pytest.raises(ValueError, match="kind"):
        valuation(7, 1.0, 1.0)


@pytest.mark.parametrize("kind, rate, price, eps_bar, expected", [
    (LINEAR, 1.0, 2.5, 3.0, 3.0), (LINEAR, 1.0, 1.5, 3.0, 0.0),
    (QUADRATIC, 1.0, 2.0, 3.0, 1.0), (QUADRATIC, 0.5, 4.0, 3.0, 3.0),
    (SQRT, 1.0, 1.5, 4.0, 4.0), (SQRT, 1.0, 1.5, 1.0, 0.0),
    (EXP, 1.0, 3.0, 3.0, np.log(3.0)),
])
def test_g12_posted_price_best_responses(kind, rate, price, eps_bar, expected):
    assert menu_choice(kind, rate, price, np.inf, eps_bar) == pytest.approx(expected, abs=1e-9)


def test_every_combination_runs_and_all_in_exhausts_the_budget():
    kind, rate, eps_bar = synthetic_bids(10, 5.0, np.random.default_rng(3), (20,))
    for auction, aggregation in COMBINATIONS:
        out = trade(auction, aggregation, kind, rate, eps_bar, 10.0)
        sold = (out.allocation.epsilon > 0).any(axis=1)
        np.testing.assert_allclose(out.weights[sold].sum(axis=1), 1.0)
        assert np.all(np.isfinite(out.error[sold])) and np.all(np.isinf(out.error[~sold]))
        if auction == "all_in":
            np.testing.assert_allclose(out.allocation.payment[sold].sum(axis=1), 10.0)
    with pytest.raises(ValueError, match="auction"):
        trade("murba", "var_opt", kind, rate, eps_bar, 10.0)
