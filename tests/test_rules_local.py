"""Local information: owners learn only from their neighbours' actions and payoffs."""

import networkx as nx
import numpy as np
import pytest

from market.core.mechanism import RoundContext
from market.core.network import SocialNetwork
from market.core.population import OwnerArrays
from market.registry import MECHANISMS, RULES
from market.rules.local import logit_observed, neighbourhood_payoffs
from market.simulation.model import DataMarket
from scenarios.schema import ScenarioError, load

LOCAL = ("best_response", "logit", "fictitious_play", "regret_matching", "hedge")
SETTINGS = {"best_response": {}, "logit": {"temperature": 0.01}, "fictitious_play": {},
            "regret_matching": {}, "hedge": {"learning_rate": 5.0}}


def test_neighbourhood_payoffs_match_a_brute_force_count():
    net = SocialNetwork.build({"kind": "erdos_renyi", "p": 0.15}, 40, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    played, utility = rng.integers(0, 4, 40), rng.normal(size=40)
    mean, count = neighbourhood_payoffs(played, utility, 4, net)
    graph = net.to_networkx()
    for i in range(40):
        closed = [i, *graph[i]]
        for k in range(4):
            who = [j for j in closed if played[j] == k]
            assert count[i, k] == len(who)
            if who:
                assert mean[i, k] == pytest.approx(np.mean(utility[who]))
            else:
                assert np.isnan(mean[i, k])
    everyone, _ = neighbourhood_payoffs(played, utility, 5, None)  # complete graph: one row for all
    expected = [utility[played == k].mean() if np.any(played == k) else np.nan for k in range(5)]
    np.testing.assert_allclose(everyone, np.broadcast_to(expected, (40, 5)))


def test_logit_over_observed_candidates():
    estimate = np.array([[0.0, np.nan, 1.0], [np.nan, np.nan, np.nan], [2.0, 2.0, np.nan]])
    current = np.array([1, 1, 2])
    prob = logit_observed(estimate, 0.5, current)
    e = np.exp(2.0)  # exp((1 - 0) / 0.5)
    np.testing.assert_allclose(prob, [[1 / (1 + e), 0, e / (1 + e)], [0, 1, 0], [0.5, 0.5, 0]])
    np.testing.assert_array_equal(logit_observed(estimate, 0.0, current), [[0, 0, 1], [0, 1, 0], [1, 0, 0]])


class Blind(MECHANISMS["posted_price"]):
    """Posted prices that refuse to tell anyone a counterfactual payoff."""

    name = "blind_test"

    def deviation_utilities(self, action, owners, ctx):
        raise AssertionError("a rule with local information asked for deviation utilities")

    def best_response(self, action, owners, ctx):
        raise AssertionError("a rule with local information asked for a best response")


@pytest.mark.parametrize("rule", LOCAL)
def test_local_rules_use_only_realised_payoffs(rule):
    mech = Blind(Blind.Params())
    n = 30
    owners = OwnerArrays.empty()
    owners.append(np.arange(1, n + 1), {"sensitivity": np.full(n, 0.2), "data_size": np.ones(n)},
                  np.arange(n) % 3.0, 0)
    net = SocialNetwork.build({"kind": "watts_strogatz", "k": 4, "rewire": 0.0}, n, np.random.default_rng(0))
    cls = RULES[rule]
    learner = cls(cls.Params(information="local", **SETTINGS[rule]), mech.action_space)
    rng = np.random.default_rng(0)
    for t in range(1, 6):
        ctx = RoundContext(round=t, time=float(t), rng=rng, network=net)
        owners.action[:] = learner.choose(np.arange(n), mech, owners, ctx, rng)
        out = mech.settle(owners.action, owners, ctx)
        owners.payment, owners.cost, owners.utility = out.payment, out.cost, out.utility
        learner.observe(mech, owners, ctx)
    assert np.all(np.isin(owners.action, [0.0, 1.0, 2.0]))


def homogeneous(rule, initial, network, owners=300, rounds=60):
    return {"name": f"local_{rule}", "rounds": rounds, "seed": 3,
            "population": {"owners": owners, "types": [{"sensitivity": 0.2, "data_size": 1.0}],
                           "initial_action": initial},
            "mechanism": {"name": "posted_price"},  # sensitivity 0.2: level 2 is strictly dominant (0, 0.42, 0.8)
            "decision": {"rule": rule, "information": "local", **SETTINGS[rule]}, "network": network}


@pytest.mark.parametrize("rule", LOCAL)
def test_local_rules_converge_to_a_dominant_action_someone_plays(rule):
    initial = {"dist": "choice", "values": [0.0, 1.0, 2.0], "p": [0.6, 0.3, 0.1]}
    rounds = 200 if rule == "regret_matching" else 60  # switching probabilities shrink like 1/t
    model = DataMarket(homogeneous(rule, initial, {"kind": "watts_strogatz", "k": 4, "rewire": 0.1}, rounds=rounds))
    model.run()
    assert np.mean(model.owners.action == 2.0) >= 0.97


@pytest.mark.parametrize("rule", ["best_response", "logit", "fictitious_play", "regret_matching"])
def test_an_action_nobody_nearby_plays_is_never_learnt(rule, tmp_path):
    """Two separate cliques: only the first has owners at the dominant level 2.

    With local information the second clique settles on the best level it can see (1); with global
    information (deviation utilities) every owner finds level 2.
    """
    graph = nx.disjoint_union(nx.complete_graph(20), nx.complete_graph(20))
    nx.write_edgelist(graph, tmp_path / "two.edgelist", data=False)
    network = {"kind": "file", "file": str(tmp_path / "two.edgelist")}
    scenario = homogeneous(rule, 0.0, network, owners=40, rounds=200 if rule == "regret_matching" else 40)
    del scenario["population"]["owners"], scenario["population"]["types"]
    scenario["population"]["owner"] = [{"sensitivity": 0.2, "count": 1}] * 40
    model = DataMarket(scenario)
    model.owners.action[:] = np.r_[np.tile([0.0, 1.0, 2.0, 0.0], 5), np.tile([0.0, 1.0], 10)]
    model.run()
    np.testing.assert_array_equal(model.owners.action, np.r_[np.full(20, 2.0), np.full(20, 1.0)])
    scenario["decision"]["information"] = "global"
    model = DataMarket(scenario)
    model.owners.action[:] = np.r_[np.tile([0.0, 1.0, 2.0, 0.0], 5), np.tile([0.0, 1.0], 10)]
    model.run()
    assert np.all(model.owners.action == 2.0)


def test_information_is_validated(tiny):
    tiny["decision"] = {"rule": "hedge", "information": "psychic"}
    with pytest.raises(ScenarioError, match="decision: information: must be one of global, local"):
        load(tiny)
    tiny["decision"] = {"rule": "exp3", "information": "local"}  # bandit rules see only their own payoff
    with pytest.raises(ScenarioError, match="decision.information: unknown key"):
        load(tiny)
    tiny["decision"] = {"rule": "fictitious_play", "information": "local"}
    assert load(tiny).to_dict()["decision"]["information"] == "local"
