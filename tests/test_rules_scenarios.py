"""The built-in scenarios of learning owners, heterogeneous populations, networks and churn run."""

import json

import numpy as np
import pytest
from scipy import stats

from market.registry import RULES
from market.runner import run
from market.simulation.model import DataMarket
from scenarios.schema import builtin_names, load

RULE_SCENARIOS = [n for n in builtin_names() if n.startswith("rules_")]


def test_rule_comparison_is_the_same_market_under_each_rule():
    assert sorted(n.removeprefix("rules_") for n in RULE_SCENARIOS) == sorted(RULES)
    tables = [load(n).to_dict() for n in RULE_SCENARIOS]
    for table in tables:
        assert table["decision"]["rule"] == table["name"].removeprefix("rules_")
        for key in ("population", "mechanism", "rounds", "seed", "churn", "buyers", "network", "drift"):
            assert table[key] == tables[0][key], (table["name"], key)


@pytest.mark.parametrize("name", RULE_SCENARIOS)
def test_rule_comparison_scenarios_run(name):
    result = run(name, rounds=5, overrides=["population.owners=60"])
    assert len(result.model) == 5 and np.isfinite(result.model["mean_utility"]).all()
    assert result.summary["decision_rule"] == name.removeprefix("rules_")


def test_heavy_tailed_population_is_heavy_tailed_and_correlated():
    model = DataMarket("population_heavy_tailed", rounds=2)
    s, d = model.owners.sensitivity, model.owners.data_size
    assert len(s) == 10_000 and np.max(s) > 50 * np.median(s)  # Pareto tails
    assert stats.spearmanr(s, d).statistic > 0.3                  # copula rho = 0.5 within each type
    model.run()
    assert np.isfinite(model.model_frame()["information_rent_total"]).all()


def test_networked_imitation_scenario_reports_its_graph(tmp_path):
    run("network_imitation", rounds=5, overrides=["population.owners=300"], out=tmp_path)
    graph = json.loads((tmp_path / "summary.json").read_text())["network"]
    assert graph["kind"] == "watts_strogatz"
    assert graph["mean_degree"] == pytest.approx(6, abs=0.2)  # k = 6 ring, rewired; a few newcomers link
    assert 0.3 < graph["clustering"] < 0.6                      # small world: 3(k-2)/(4(k-1)) = 0.6 before rewiring
    assert graph["components"] >= 1 and 0 < graph["largest_component_share"] <= 1


def test_churn_scenario_runs_ten_thousand_rounds():
    """churn_long at its full length (10,000 rounds) with a smaller population to keep the test short."""
    result = run("churn_long", overrides=["population.owners=100", "churn.join_rate=0.2", "output.owner_every=0"])
    assert len(result.model) == 10_000 and result.model["round"].iloc[-1] == 10_000
    joins, leaves = (int((result.events.kind == k).sum()) for k in ("owner_join", "owner_leave"))
    assert joins == pytest.approx(0.2 * 10_000, rel=0.1)          # Poisson arrivals, rate 0.2 per round
    assert leaves > 1500 and 50 < result.summary["final"]["n_owners"] < 200
    assert result.model["n_owners"].min() > 0
