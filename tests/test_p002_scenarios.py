"""Paper 002 built-in scenarios run in ``DataMarket``."""

import numpy as np
import pytest

from market.simulation.model import DataMarket
from scenarios.schema import builtin_names, load

P002 = [name for name in builtin_names() if name.startswith("p002_")]


def test_every_p002_scenario_loads():
    assert len(P002) >= 7
    for name in P002:
        scenario = load(name)
        assert scenario.mechanism.name in ("fl_market", "fl_market_task")


def test_learning_bidder_discovers_the_all_in_misreport():
    # docs/models/fl_market.md#g8 inside the market: Hedge owner C learns to under-report V and earns 4.8 per auction
    model = DataMarket("p002_allin_counterexample", rounds=60)
    model.run()
    frame = model.model_frame()
    np.testing.assert_allclose(frame["information_rent_total"].iloc[-10:], 4.8)
    assert model.owners.action[1] < 1.0
    assert model.owners.utility[1] == pytest.approx(4.8)
    assert frame["budget_used"].iloc[-1] == pytest.approx(1.0)


def test_truthful_auction_in_the_market():
    model = DataMarket("p002_share_low_m20", rounds=15)
    model.run()
    frame = model.model_frame()
    for column in ("auctions", "winners", "mean_epsilon", "error_bound", "budget_used",
                   "regret_share", "truthfulness_gap", "information_rent_total"):
        assert column in frame
    # nobody's current shading ever beats truthful reporting, and buyers never overspend
    assert (frame["truthfulness_gap"] <= 1e-9).all()
    assert (frame["budget_used"] <= 1.0 + 1e-12).all()
    assert np.isfinite(frame["error_bound"]).any()
