"""Every decision rule, run in the DataMarket, converges to a strictly dominant action; runs repeat by seed.

Posted prices are a game with a strictly dominant action per owner (owners do
not interact): with price (0, 0.5, 1) and privacy cost (0, 0.4, 1) per level,
sensitivity 0.2 makes level 2 dominant (utilities 0, 0.42, 0.8) and
sensitivity 3 makes level 0 dominant (0, -0.7, -2).
"""

import numpy as np
import pandas as pd
import pytest

from market.registry import RULES
from market.simulation.model import DataMarket

PRICE, COST = np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.4, 1.0])

#: Parameters per rule for the convergence runs (scenario [decision] tables).
SETTINGS = {
    "best_response": {},
    "logit": {"temperature": 0.01},
    "fictitious_play": {},
    "regret_matching": {},
    "hedge": {"learning_rate": 1.0},
    "exp3": {"learning_rate": 0.2, "exploration": 0.06},
    "q_learning": {"learning_rate": 0.3, "epsilon": 0.3, "epsilon_decay": 0.05, "initial_q": 1.0},
    "imitation": {"protocol": "fermi", "noise": 0.05},
}


def dominant_scenario(rule: str) -> dict:
    homogeneous = rule == "imitation"  # imitation copies others: a dominant action common to all owners
    types = [{"share": 1.0, "sensitivity": 0.2, "data_size": 1.0}] if homogeneous else [
        {"share": 0.5, "sensitivity": 0.2, "data_size": 1.0},
        {"share": 0.5, "sensitivity": 3.0, "data_size": 1.0},
    ]
    return {
        "name": f"dominant_{rule}", "rounds": 600 if rule == "exp3" else 300, "seed": 11,
        "population": {"owners": 200, "types": types,
                       "initial_action": {"dist": "choice", "values": [0.0, 1.0, 2.0]}},
        "mechanism": {"name": "posted_price", "price": PRICE.tolist(), "privacy_cost": COST.tolist()},
        "decision": {"rule": rule, **SETTINGS[rule]},
    }


#: Registered rules with no convergence guarantee: the uniformly random baseline of the tournaments
#: (tests/test_tournament.py checks it plays uniformly).
BASELINES = {"random"}


def test_every_registered_rule_is_covered():
    assert set(SETTINGS) == set(RULES) - BASELINES


@pytest.mark.parametrize("rule", sorted(SETTINGS))
def test_rule_converges_to_strictly_dominant_action(rule):
    model = DataMarket(dominant_scenario(rule))
    model.run()
    o = model.owners
    dominant = np.argmax(o.data_size[:, None] * PRICE - o.sensitivity[:, None] * COST, axis=1)
    if rule == "exp3":
        # EXP3 keeps exploring with weight gamma: converged = the exploration mixture on the dominant action.
        gamma, k = SETTINGS[rule]["exploration"], PRICE.size
        p = model.rule.mixed_strategy()[np.arange(len(o)), dominant]
        np.testing.assert_allclose(p, 1 - gamma + gamma / k, atol=1e-3)
        assert np.mean(o.action == dominant) >= 1 - gamma - 0.05
    elif rule == "q_learning":
        np.testing.assert_array_equal(np.argmax(model.rule.state["q"], axis=1), dominant)
        assert np.mean(o.action == dominant) >= 1 - model.rule.epsilon(np.arange(len(o))).max() - 0.03
    else:
        np.testing.assert_array_equal(o.action, dominant)


@pytest.mark.parametrize("rule", sorted(SETTINGS))
def test_runs_are_reproducible_by_seed(rule):
    scenario = dominant_scenario(rule)
    scenario.update(rounds=25, churn={"leave_rate": 0.02, "join_rate": 2.0})
    scenario["decision"]["revision"] = "asynchronous"
    scenario["decision"]["clock_rate"] = 0.5
    if rule == "imitation":
        scenario["network"] = {"kind": "watts_strogatz", "k": 4, "rewire": 0.2}
    frames = []
    for seed in (5, 5, 6):
        model = DataMarket(scenario, seed=seed)
        model.run()
        frames.append((model.model_frame(), model.owners.action.copy()))
    pd.testing.assert_frame_equal(frames[0][0], frames[1][0])
    np.testing.assert_array_equal(frames[0][1], frames[1][1])
    assert not (frames[0][0].equals(frames[2][0]) and np.array_equal(frames[0][1], frames[2][1]))


@pytest.mark.parametrize("revision,extra,expected", [
    ("synchronous", {}, 1.0),
    ("synchronous", {"inertia": 0.3}, 0.7),
    ("asynchronous", {"clock_rate": 0.5}, 1 - np.exp(-0.5)),                  # P(a rate-0.5 clock rings in a round)
    ("asynchronous", {"clock_rate": 2.0, "inertia": 0.5}, 0.5 * (1 - np.exp(-2.0))),
])
def test_revision_protocols_revise_the_expected_share(revision, extra, expected):
    scenario = dominant_scenario("best_response")
    scenario["population"]["owners"] = 20000
    scenario["decision"].update(revision=revision, **extra)
    model = DataMarket(scenario)
    groups = model.revising_rows(np.random.default_rng(0))
    assert len(groups) == 1
    share = groups[0].size / 20000
    assert share == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / 20000) + 1e-12)
    assert np.unique(groups[0]).size == groups[0].size


def test_sequential_revision_is_one_owner_at_a_time():
    scenario = dominant_scenario("best_response")
    scenario["decision"].update(revision="sequential", revisions_per_round=7)
    groups = DataMarket(scenario).revising_rows(np.random.default_rng(0))
    assert [g.size for g in groups] == [1] * 7 and len({int(g[0]) for g in groups}) == 7


@pytest.mark.parametrize("revision,extra,rounds", [
    ("sequential", {"revisions_per_round": 20}, 120),  # each owner drawn w.p. 0.1 per round
    ("asynchronous", {"clock_rate": 0.3}, 60),
    ("synchronous", {"inertia": 0.8}, 60),
])
def test_best_response_converges_under_every_revision_protocol(revision, extra, rounds):
    scenario = dominant_scenario("best_response")
    scenario["rounds"] = rounds
    scenario["decision"].update(revision=revision, **extra)
    model = DataMarket(scenario)
    model.run()
    o = model.owners
    dominant = np.argmax(o.data_size[:, None] * PRICE - o.sensitivity[:, None] * COST, axis=1)
    np.testing.assert_array_equal(o.action, dominant)
