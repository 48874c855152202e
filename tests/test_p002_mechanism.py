"""FL-Market (paper 002) as a simulator mechanism: ``fl_market``."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from market.core.mechanism import RoundContext
from market.core.population import OwnerArrays
from market.registry import MECHANISMS
from market.theory.fl_market.auctions import STEP, synthetic_bids

FLMarket = MECHANISMS["fl_market"]


def owners_from(kind, rate, eps_bar, data_size=None) -> OwnerArrays:
    n = len(rate)
    o = OwnerArrays.empty(("valuation", "eps_bar"))
    o.append(np.arange(n), {"sensitivity": np.asarray(rate, float),
                            "data_size": np.ones(n) if data_size is None else np.asarray(data_size, float),
                            "valuation": np.asarray(kind, float), "eps_bar": np.asarray(eps_bar, float)},
             np.ones(n), 0)
    return o


def ctx_with(budgets) -> RoundContext:
    b = np.asarray(budgets, float)
    return RoundContext(round=1, time=1.0, rng=np.random.default_rng(0), buyer_budgets=b,
                        buyer_valuations=np.ones(b.size))


def test_validation_messages():
    with pytest.raises(ValueError, match=r"weights: MURBA needs the file of a trained network.*privmarket\[learned\]"):
        FLMarket(FLMarket.Params(auction="murba"))
    with pytest.raises(ValueError, match=r"unknown auction 'vcg' \(known: all_in, proportional_share, fair_query, murba\)"):
        FLMarket(FLMarket.Params(auction="vcg"))
    with pytest.raises(ValueError, match="shading"):
        FLMarket(FLMarket.Params(shading=(0.5, 2.0)))
    with pytest.raises(ValueError, match="commission"):
        FLMarket(FLMarket.Params(commission=1.0))
    with pytest.raises(ValueError, match="error_measure"):
        FLMarket(FLMarket.Params(error_measure="rmse"))


def test_g8_counterexample_inside_the_market():
    # owners A (V = 6, eps_bar = 2) and C (V = 3.2, eps_bar = 1), single-minded; B = 8
    mech = FLMarket(FLMarket.Params(auction="all_in", round_budget=8.0))
    owners = owners_from([STEP, STEP], [6.0, 3.2], [2.0, 1.0])
    ctx = ctx_with([20.0])
    truthful = mech.settle(np.ones(2), owners, ctx)
    np.testing.assert_allclose(truthful.payment, [8, 0])
    assert truthful.buyer_payments[0] == pytest.approx(8.0)
    assert truthful.metrics["regret_share"] == pytest.approx(0.5)
    best = mech.best_response(np.ones(2), owners, ctx)
    assert best[0] == 1.0 and best[1] < 0.5 / 3.2 + 1e-12
    lie = mech.settle(best, owners, ctx)
    assert lie.utility[1] == pytest.approx(4.8)
    assert lie.metrics["truthfulness_gap"] == pytest.approx(4.8 / 2)


def test_proportional_share_best_response_is_truthful():
    kind, rate, eps_bar = synthetic_bids(10, 5.0, np.random.default_rng(4))
    owners = owners_from(kind, rate, eps_bar)
    for M in (0, 20):
        mech = FLMarket(FLMarket.Params(auction="proportional_share", M=M, aggregation="error_opt"))
        ctx = ctx_with([5.0, 30.0, 100.0])
        out = mech.settle(np.ones(10), owners, ctx)
        assert out.metrics["regret_share"] == 0.0
        np.testing.assert_allclose(mech.best_response(np.ones(10), owners, ctx), 1.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["all_in", "proportional_share"]),
       st.sampled_from(["bias_opt", "var_opt", "data_size", "error_opt"]), st.floats(0.0, 0.5))
def test_settle_budget_feasible_ir_and_consistent_with_deviations(seed, auction, aggregation, commission):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    kind, rate, eps_bar = synthetic_bids(n, 5.0, rng)
    kind[rng.random(n) < 0.2] = STEP
    owners = owners_from(kind, rate, eps_bar, rng.uniform(0.5, 2.0, n))
    mech = FLMarket(FLMarket.Params(auction=auction, aggregation=aggregation, commission=commission,
                                    round_budget=float(rng.uniform(1, 30))))
    budgets = rng.uniform(0.0, 40.0, int(rng.integers(1, 4)))
    ctx = ctx_with(budgets)
    action = rng.choice(mech.action_space.values, n)
    out = mech.settle(action, owners, ctx)
    # buyers never pay more than their budget; owners get (1 - commission) of it
    assert np.all(out.buyer_payments <= np.minimum(budgets, mech.params.round_budget) + 1e-9)
    assert out.payment.sum() == pytest.approx(out.buyer_payments.sum() * (1 - commission), abs=1e-9)
    assert out.platform_utility >= -1e-9
    # individually rational for truthful owners
    truthful = mech.settle(np.ones(n), owners, ctx)
    assert np.all(truthful.utility >= -1e-9)
    # deviation_utilities agrees with settling the deviation
    dev = mech.deviation_utilities(action, owners, ctx)
    i, k = int(rng.integers(n)), int(rng.integers(mech.action_space.size))
    moved = action.copy()
    moved[i] = mech.action_space.values[k]
    assert mech.settle(moved, owners, ctx).utility[i] == pytest.approx(dev[i, k], abs=1e-9)


def test_no_buyer_no_trade():
    mech = FLMarket(FLMarket.Params())
    owners = owners_from([0, 1], [1.0, 1.0], [1.0, 2.0])
    out = mech.settle(np.ones(2), owners, ctx_with([]))
    assert np.all(out.payment == 0) and out.buyer_payments.size == 0
    assert math.isnan(out.metrics["error_bound"]) and out.metrics["auctions"] == 0
    starved = mech.settle(np.ones(2), owners, ctx_with([0.5]))  # nobody affordable: V > B
    assert math.isinf(starved.metrics["error_bound"]) and starved.metrics["no_winner_share"] == 1.0
