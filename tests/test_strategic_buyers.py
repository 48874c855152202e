"""Strategic buyers: each chooses its per-round spend with an owners' decision rule (FL-Market)."""

import numpy as np
import pytest

from market.runner import Interrupted, resume, run
from market.simulation.model import DataMarket
from scenarios.schema import ScenarioError, load

SCENARIO = "platform_strategic_buyers"


def test_buyer_deviation_utilities_are_what_settlement_gives():
    """Entry [b, k]: buyer b's value minus payment when it alone spends spend[k] (settle re-run per entry)."""
    model = DataMarket(SCENARIO, rounds=5)
    model.run()
    game, buyers = model.buyer_game, model.buyer_state
    ctx = model.context()
    ctx.buyer_spend = buyers.action.copy()
    game.bind(model.owners)
    matrix = game.deviation_utilities(buyers.action, buyers, ctx)
    assert matrix.shape == (len(model.buyers), game.action_space.size)
    for b in range(len(model.buyers)):
        for k, s in enumerate(game.action_space.values):
            spend = ctx.buyer_spend.copy()
            spend[b] = s
            ctx_b = model.context()
            ctx_b.buyer_spend = spend
            out = model.mechanism.settle(model.owners.action, model.owners, ctx_b)
            value = ctx_b.buyer_valuations[b] * out.buyer_accuracy[b] - out.buyer_payments[b]
            assert matrix[b, k] == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert np.all(matrix[:, 0] == 0.0)  # spending nothing buys nothing and costs nothing


def test_learning_buyers_gain_over_mechanical_spending():
    """Hedge buyers end with more surplus per buyer-round than buyers who always spend the round budget."""
    strategic = run(SCENARIO, rounds=80).model
    mechanical = run(SCENARIO, rounds=80, overrides=["buyers.strategy={}"]).model
    half = slice(40, None)
    per_buyer = lambda m: (m["buyer_surplus"][half] / m["n_buyers"][half]).mean()  # noqa: E731
    assert per_buyer(strategic) > per_buyer(mechanical) + 0.5, (per_buyer(strategic), per_buyer(mechanical))
    assert strategic["buyer_mean_spend"][half].mean() < 10.0 and "buyer_mean_spend" not in mechanical


def test_buyer_surplus_of_mechanical_buyers_is_valuation_minus_spend(tiny):
    tiny["buyers"] = {"initial": 3, "valuation": 2.5, "budget": 100.0}
    tiny["mechanism"]["sale_price"] = 1.5
    model = run(tiny).model
    np.testing.assert_allclose(model["buyer_surplus"], model["n_buyers"] * 2.5 - model["buyer_spend"])


@pytest.mark.parametrize("override,message", [
    (["buyers.strategy.rule=\"imitation\""], "buyers.strategy.rule: unknown or unsuitable buyer rule 'imitation'"),
    (["buyers.strategy.spend=[0, 4, 2]"], "buyers.strategy.spend: must be strictly increasing"),
    (["buyers.strategy.initial_spend=3"], "buyers.strategy.initial_spend: must be one of the spends"),
    (["buyers.strategy.learning_rat=3"], "buyers.strategy.learning_rat: unknown key"),
])
def test_bad_strategy_names_the_key(override, message):
    with pytest.raises(ScenarioError) as info:
        load(SCENARIO, override[-1:])
    assert message in str(info.value)


def test_strategy_needs_a_mechanism_whose_buyers_choose(tiny):
    tiny["buyers"] = {"strategy": {"rule": "hedge", "spend": [0.0, 1.0]}}
    with pytest.raises(ScenarioError, match="tiny.toml: buyers.strategy: the posted_price mechanism does not let "
                       "buyers choose their spend"):
        load(tiny)


def test_resume_with_strategic_buyers_is_byte_identical(tmp_path):
    overrides = ["buyers.arrival_rate=0.4", "buyers.stay={dist=\"exponential\", scale=8.0}",
                 "buyers.strategy.rule=\"exp3\"", "buyers.strategy.exploration=0.2"]
    run(SCENARIO, rounds=30, overrides=overrides, out=tmp_path / "ref")
    calls = {"n": 0}

    def stop_at_13():
        calls["n"] += 1
        return calls["n"] == 13

    with pytest.raises(Interrupted):
        run(SCENARIO, rounds=30, overrides=overrides, out=tmp_path / "cut", stop=stop_at_13)
    resume(tmp_path / "cut")
    for name in ("model", "owners", "events"):
        assert (tmp_path / "cut" / f"{name}.parquet").read_bytes() == \
            (tmp_path / "ref" / f"{name}.parquet").read_bytes(), name
