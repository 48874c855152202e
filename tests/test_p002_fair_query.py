"""FL-Market (paper 002): the FairQuery baseline auction and data sizes in All-in.

Both follow the authors' released code (``singleminded.py``); the straightforward
owner-by-owner scans below are the references for the vectorised auctions.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.theory.fl_market.auctions import AUCTIONS, STEP, all_in, fair_query, synthetic_bids, valuation
from market.core.mechanism import RoundContext
from market.registry import MECHANISMS
from market.core.population import OwnerArrays


def fair_query_scan(value, eps_bar, budget):
    """FairQuery owner by owner: the released code's loop (without its index error at k = n)."""
    n = len(value)
    order = sorted(range(n), key=lambda i: value[i])
    eps_max = max(eps_bar)
    k = 0
    for i in range(n):
        j = order[i]
        if n - (k + 1) == 0 or value[j] > budget / (k + 1):
            break
        if min(eps_bar[order[m]] for m in range(i + 1)) < eps_max / (n - (k + 1)):
            break
        k += 1
    eps, pay = np.zeros(n), np.zeros(n)
    if k:
        price = min(budget / k, value[order[k]])
        for m in range(k):
            eps[order[m]], pay[order[m]] = eps_max / (n - k), price
    return eps, pay


def all_in_scan(value, eps_bar, size, budget):
    """All-in with data sizes owner by owner (the released code's ``allin``)."""
    n = len(value)
    unit = [value[i] / eps_bar[i] / size[i] for i in range(n)]
    total, win = 0.0, np.zeros(n, bool)
    for i in sorted(range(n), key=lambda i: unit[i]):
        if (total + eps_bar[i] * size[i]) * unit[i] <= budget:
            win[i] = True
            total += eps_bar[i] * size[i]
    price = budget / total if total > 0 else 0.0
    return np.where(win, eps_bar, 0.0), np.where(win, np.asarray(eps_bar) * size * price, 0.0)


def test_fair_query_worked_example():
    # sorted by V: (1, 2, 3, 8); eps_max = 2.  Position 0 and 1 pass (1 <= 9, 2 <= 4.5;
    # min budget 1 >= 2/3, 1 >= 2/2); position 2 fails the budget check 1 >= 2/1.
    out = fair_query([1.0, 2.0, 3.0, 8.0], [1.0, 1.0, 1.0, 2.0], 9.0)
    np.testing.assert_allclose(out.epsilon, [1, 1, 0, 0])          # eps_max / (n - k) = 2 / 2
    np.testing.assert_allclose(out.payment, [3, 3, 0, 0])          # min(B / k, V_(k)) = min(4.5, 3)
    assert fair_query([1.0], [1.0], 5.0).payment.sum() == 0        # the last owner can never win
    poor = fair_query([4.0, 5.0, 6.0], [1.0, 1.0, 1.0], 3.0)
    assert np.all(poor.epsilon == 0) and np.all(poor.payment == 0)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 7), st.floats(0.1, 30.0), st.integers(0, 2**31 - 1))
def test_fair_query_equals_the_scan(n, budget, seed):
    rng = np.random.default_rng(seed)
    value = rng.choice([0.5, 1.0, 2.0, 3.5], n) * rng.integers(1, 3, n)   # ties on purpose
    eps_bar = rng.choice([0.5, 1.0, 2.0], n)
    out = fair_query(value, eps_bar, budget)
    eps, pay = fair_query_scan(list(value), list(eps_bar), budget)
    np.testing.assert_allclose(out.epsilon, eps, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.payment, pay, rtol=0, atol=1e-12)


def test_fair_query_budget_feasible_and_individually_rational():
    rng = np.random.default_rng(4)
    kind, rate, eps_bar = synthetic_bids(8, 4.0, rng, (4000,))
    budget = rng.uniform(0.5, 30.0, 4000)
    out = AUCTIONS["fair_query"](kind, rate, eps_bar, budget)
    assert np.all(out.payment.sum(axis=-1) <= budget * (1 + 1e-12))
    assert np.all(out.epsilon <= eps_bar + 1e-12)
    utility = out.payment - valuation(kind, rate, out.epsilon)
    assert utility.min() >= -1e-12
    won = out.epsilon > 0
    assert 0.2 < won.any(axis=-1).mean() < 1.0                     # the check is not vacuous
    # every winner of an auction sells the same epsilon at the same price
    eps_w = np.where(won, out.epsilon, np.nan)
    some = won.any(-1)
    assert np.nanmax(eps_w[some], axis=-1) == pytest.approx(np.nanmin(eps_w[some], axis=-1))


def test_all_in_with_data_sizes_worked_example():
    # unit V / (eps_bar |D|) = (1, 2, 0.9): owner 2 first with quantity 10 (0.9 <= 10 / 10);
    # owner 0 then fails (1 > 10 / 12), owner 1 too (2 > 10 / 13)
    out = all_in([2.0, 6.0, 9.0], [2.0, 3.0, 1.0], 10.0, data_size=[1.0, 1.0, 10.0])
    np.testing.assert_allclose(out.epsilon, [0, 0, 1])
    np.testing.assert_allclose(out.payment, [0, 0, 10])
    # without sizes the same bids give the paper's worked example
    np.testing.assert_allclose(all_in([2.0, 6.0, 9.0], [2.0, 3.0, 1.0], 10.0).payment, [4, 6, 0])


def test_all_in_unit_sizes_change_nothing():
    rng = np.random.default_rng(7)
    kind, rate, eps_bar = synthetic_bids(10, 5.0, rng, (500,))
    value = valuation(kind, rate, eps_bar)
    plain = all_in(value, eps_bar, 12.0)
    ones = all_in(value, eps_bar, 12.0, data_size=np.ones(10))
    assert np.array_equal(plain.epsilon, ones.epsilon) and np.array_equal(plain.payment, ones.payment)
    scaled = all_in(value, eps_bar, 12.0, data_size=np.full(10, 3.0))
    np.testing.assert_array_equal(scaled.epsilon, plain.epsilon)
    np.testing.assert_allclose(scaled.payment, plain.payment, rtol=1e-12)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 7), st.floats(0.5, 40.0), st.integers(0, 2**31 - 1))
def test_all_in_with_sizes_equals_the_scan(n, budget, seed):
    rng = np.random.default_rng(seed)
    value, eps_bar = rng.uniform(0.1, 8.0, n), rng.uniform(0.5, 3.0, n)
    size = rng.integers(1, 6, n).astype(float)
    out = all_in(value, eps_bar, budget, data_size=size)
    eps, pay = all_in_scan(value, eps_bar, size, budget)
    np.testing.assert_allclose(out.epsilon, eps, atol=1e-12)
    np.testing.assert_allclose(out.payment, pay, atol=1e-9)
    assert out.payment.sum() <= budget * (1 + 1e-12)


def _owners(kind, rate, eps_bar, data_size):
    n = len(rate)
    o = OwnerArrays.empty(("valuation", "eps_bar"))
    o.append(np.arange(n), {"sensitivity": np.asarray(rate, float), "data_size": np.asarray(data_size, float),
                            "valuation": np.asarray(kind, float), "eps_bar": np.asarray(eps_bar, float)},
             np.ones(n), 0)
    return o


def test_market_prices_data_sizes_and_runs_fair_query():
    FLMarket = MECHANISMS["fl_market"]
    ctx = RoundContext(round=1, time=1.0, rng=np.random.default_rng(0), buyer_budgets=np.array([10.0]),
                       buyer_valuations=np.ones(1))
    owners = _owners([STEP] * 3, [2.0, 6.0, 9.0], [2.0, 3.0, 1.0], [1.0, 1.0, 10.0])
    sized = FLMarket(FLMarket.Params(auction="all_in", round_budget=10.0)).settle(np.ones(3), owners, ctx)
    np.testing.assert_allclose(sized.payment, [0, 0, 10])
    fq = FLMarket(FLMarket.Params(auction="fair_query", round_budget=10.0))
    out = fq.settle(np.ones(3), owners, ctx)
    ref = fair_query([2.0, 6.0, 9.0], [2.0, 3.0, 1.0], 10.0)
    np.testing.assert_allclose(out.payment, ref.payment)
    assert out.utility.min() >= 0 and out.buyer_payments.sum() <= 10.0
    dev = fq.deviation_utilities(np.ones(3), owners, ctx)
    assert dev.shape == (3, fq.action_space.size) and np.all(np.isfinite(dev) | (dev == -np.inf))
