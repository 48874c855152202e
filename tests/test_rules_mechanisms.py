"""Every decision rule runs against every registered mechanism (a few owners, a few rounds).

Smoke and sanity: the run finishes, actions stay in the mechanism's action
space (a finite set of levels, or the interval of a continuous grid),
payments, utilities and every metric are finite, a learning rule's state has
one row per owner, a second run with the same seed repeats it exactly, and a
global best reply is at least as good as every candidate of the grid.  Rules
never choose a candidate a mechanism rules out (deviation utility ``-inf``).
"""

import numpy as np
import pandas as pd
import pytest

from market.core.mechanism import RoundContext
from market.core.population import OwnerArrays
from market.registry import MECHANISMS, RULES
from market.rules.learning import LearningRule
from market.simulation.model import DataMarket

#: The model.parquet columns every mechanism fills (market/simulation/metrics.py).
STANDARD = ("n_owners", "mean_action", "total_payments", "total_cost", "mean_utility", "information_rent_total",
            "information_rent_mean", "nash_conv", "exploitability", "platform_utility", "buyer_spend")
#: Rules that can also learn from local information (market/rules/local.py).
LOCAL = ("best_response", "logit", "fictitious_play", "regret_matching", "hedge")
VARIANTS = [(rule, "global") for rule in sorted(RULES)] + [(rule, "local") for rule in LOCAL]


def scenario(mechanism, rule, information):
    sensitivity = {"dist": "uniform", "low": 0.1, "high": 2.0}
    if mechanism == "two_type":  # its screening menu needs every cost to be c_low or c_high
        sensitivity = {"dist": "choice", "values": [0.01, 0.02]}
    decision = {"rule": rule, "revision": "synchronous"}
    if rule in LOCAL:
        decision["information"] = information
    return {"name": f"{mechanism}_{rule}", "rounds": 4, "seed": 3,
            "population": {"owners": 6, "types": [{"sensitivity": sensitivity,
                                                   "data_size": {"dist": "uniform", "low": 1.0, "high": 3.0}}]},
            "mechanism": {"name": mechanism}, "decision": decision,
            "network": {"kind": "watts_strogatz", "k": 2, "rewire": 0.0}, "output": {"owner_every": 0}}


def test_every_mechanism_and_rule_is_covered():
    assert len(MECHANISMS) >= 11 and len(RULES) == 9
    assert set(LOCAL) < set(RULES)


@pytest.mark.parametrize("mechanism", sorted(MECHANISMS))
@pytest.mark.parametrize("rule,information", VARIANTS, ids=[f"{r}-{i}" for r, i in VARIANTS])
def test_rule_runs_with_mechanism(mechanism, rule, information):
    models = []
    for _ in range(2):
        model = DataMarket(scenario(mechanism, rule, information))
        model.run()
        models.append(model)
    model = models[0]
    o, space = model.owners, model.mechanism.action_space
    assert model.steps == 4 and len(o) == 6
    if space.kind == "levels":
        assert np.all(np.isin(o.action, space.values))
    else:
        assert np.all((o.action >= space.values[0] - 1e-9) & (o.action <= space.values[-1] + 1e-9))
    for column in (o.payment, o.cost, o.utility):
        assert np.all(np.isfinite(column))
    frame = model.model_frame()
    assert len(frame) == 4 and np.all(np.isfinite(frame[list(STANDARD)].to_numpy(dtype=float)))
    if isinstance(model.rule, LearningRule):
        for name, state in model.rule.state.items():
            assert state.shape[0] == 6, name
            if name != "estimate":  # local estimates are NaN for unobserved candidates
                # -inf marks a candidate the mechanism ruled out (deviation utility -inf), never NaN or +inf
                assert not np.isnan(state).any() and not np.isposinf(state).any(), name
    pd.testing.assert_frame_equal(frame, models[1].model_frame())
    np.testing.assert_array_equal(o.action, models[1].owners.action)


@pytest.mark.parametrize("mechanism", sorted(MECHANISMS))
def test_global_best_reply_beats_every_grid_candidate(mechanism):
    """Owner i's utility at BR_i(a_-i) is at least the grid maximum.

    On a finite set of levels the reply is a grid candidate: its deviation
    utility is the row's maximum (settling would give a realised, possibly
    random payoff, e.g. peer prediction's).  A continuous reply may lie off
    the grid: the profile with a_i replaced is settled.
    """
    model = DataMarket(scenario(mechanism, "best_response", "global"))
    model.run()
    o, mech, ctx = model.owners, model.mechanism, model.context()
    action = o.action.copy()
    grid = mech.deviation_utilities(action, o, ctx)
    reply = model.rule.choose(np.arange(len(o)), mech, o, ctx, np.random.default_rng(0))
    levels = mech.action_space.kind == "levels"
    column = mech.action_space.index_of(reply) if levels else None
    for i in range(len(o)):
        if levels:
            got = grid[i, column[i]]
        else:
            profile = action.copy()
            profile[i] = reply[i]
            got = mech.settle(profile, o, ctx).utility[i]
        assert got >= grid[i].max() - 1e-6 * max(1.0, abs(grid[i].max())), (i, got, grid[i].max())


class RuledOut(MECHANISMS["posted_price"]):
    """Posted prices where the top level is ruled out for everyone (deviation utility -inf), as
    budget_balanced does for contributions above an owner's capacity."""

    name = "ruled_out_test"

    def deviation_utilities(self, action, owners, ctx):
        util = super().deviation_utilities(action, owners, ctx)
        util[:, -1] = -np.inf
        return util


@pytest.mark.parametrize("rule", ["regret_matching", "hedge", "fictitious_play", "logit", "best_response"])
def test_ruled_out_candidates_are_never_chosen_and_do_not_stall_learning(rule):
    mech = RuledOut(RuledOut.Params())
    n = 200
    owners = OwnerArrays.empty()
    owners.append(np.arange(1, n + 1), {"sensitivity": np.full(n, 0.2), "data_size": np.ones(n)}, np.zeros(n), 0)
    cls = RULES[rule]
    params = {"learning_rate": 5.0} if rule == "hedge" else {"temperature": 0.01} if rule == "logit" else {}
    rule_obj = cls(cls.Params(**params), mech.action_space)
    rng = np.random.default_rng(0)
    rows = np.arange(n)
    for t in range(1, 41):
        ctx = RoundContext(round=t, time=float(t), rng=rng)
        owners.action[rows] = rule_obj.choose(rows, mech, owners, ctx, rng)
        out = mech.settle(owners.action, owners, ctx)
        owners.payment, owners.cost, owners.utility = out.payment, out.cost, out.utility
        rule_obj.observe(mech, owners, ctx)
        assert t == 1 or not np.any(owners.action == 2.0)  # Hedge's first draw is uniform, before any feedback
    # Level 1 (utility 0.42) is the best allowed level; regret matching's learnt payoff bound used to
    # become infinite on the -inf column, which froze every owner at level 0.
    assert np.mean(owners.action == 1.0) > 0.9
