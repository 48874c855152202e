"""Tournaments: ranking with a known winner, significance, mixed populations, failures, outputs."""

import copy
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dask.distributed import Client, LocalCluster

from market.registry import RULES
from market.rules.mixed import MixedRules
from analysis.distributed import run_tasks
from market.simulation.provenance import read_provenance
from analysis.tournament import holm, paired_p, tournament
from market.core.mechanism import ActionSpace
from market.runner import Interrupted, resume, run
from market.simulation.model import DataMarket
from market.core.population import OwnerArrays
from scenarios.schema import load


@pytest.fixture(scope="module")
def client():
    """One in-process Dask cluster (a single thread) for every test of the module."""
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture
def posted(tiny):
    """A posted-price market at its equilibrium under best response: owners revise every round, no churn."""
    tiny["decision"] = {"rule": "best_response", "revision": "synchronous"}
    tiny["population"]["initial_action"] = 0
    tiny["rounds"] = 8
    return tiny


def test_holm_adjustment_by_hand():
    # sorted p 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    assert np.allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    assert np.allclose(holm(np.array([0.5, 0.9])), [1.0, 1.0])


def test_paired_p_identical_and_constant_differences():
    x = np.array([1.0, 2.0, 3.0])
    assert paired_p(x, x, "t") == 1.0
    assert paired_p(x + 1, x, "t") == 0.0
    assert paired_p(np.array([1.0, 2.1, 2.9, 4.2]), np.array([1.0, 2.0, 3.0, 4.0]), "t") > 0.2


def test_random_rule_draws_uniformly():
    space = ActionSpace(np.array([0.0, 1.0, 2.0]))
    rule = RULES["random"](RULES["random"].Params(), space)
    rows = np.arange(30_000)
    actions = rule.choose(rows, None, None, None, np.random.default_rng(0))
    assert np.allclose(np.bincount(actions.astype(int)) / rows.size, 1 / 3, atol=0.01)


@pytest.mark.slow  # the runs take under 1 s; drawing the 6 heatmaps twice (PNG, PDF, SVG) takes the rest
def test_best_response_beats_random_at_the_posted_price_equilibrium(posted, client, tmp_path):
    result = tournament(tmp_path / "t", rules=["best_response", "random"], scenarios=[posted], replicates=5,
                        client=client)
    assert result.failures == [] and result.computed == 10
    cells = result.cells.set_index("rule")
    assert cells.loc["best_response", "rank"] == 1 and cells.loc["random", "rank"] == 2
    # best response sits at the equilibrium (no owner gains by deviating); random play does not
    assert cells.loc["best_response", "exploitability"] == pytest.approx(0.0, abs=1e-12)
    assert cells.loc["random", "exploitability"] > 0.05
    assert cells.loc["best_response", "owner_welfare_ci_low"] > cells.loc["random", "owner_welfare_ci_high"]
    test = result.tests.iloc[0]
    assert (test["rule_a"], test["rule_b"]) == ("best_response", "random")
    assert test["difference"] > 0 and test["p_holm"] < 0.05 and bool(test["significant"])
    assert "significantly ahead of random" in result.statements[0]
    assert np.isnan(cells.loc["random", "free_riding"])  # posted prices: not a shared good
    out = tmp_path / "t"
    for name in ("ranking.parquet", "ranking.csv", "rules.csv", "tests.csv", "tournament.md",
                 "figures/heatmap_owner_welfare.png", "figures/heatmap_exploitability.svg"):
        assert (out / name).is_file(), name
    parts = pd.read_parquet(out / "parts")  # one call reads every run's row
    assert len(parts) == 10 and set(parts["seed"]) == {7, 8, 9, 10, 11}
    meta = read_provenance(pq.read_schema(next((out / "parts").glob("*.parquet"))))
    assert len(meta["scenario_hash"]) == 64 and meta["columns"]["owner_welfare"]["unit"] == "money per owner per round"
    again = tournament(tmp_path / "t", rules=["best_response", "random"], scenarios=[posted], replicates=5,
                       client=client)
    assert again.computed == 0  # resumed: nothing rerun
    assert again.cells["owner_welfare"].tolist() == result.cells["owner_welfare"].tolist()


def test_mixed_rules_apply_each_rule_to_its_own_owners(posted):
    posted["population"]["types"][0]["rule"] = "random"
    scenario = load(posted)
    model = DataMarket(scenario)
    assert isinstance(model.rule, MixedRules) and model.rule.names == ("best_response", "random")
    for _ in range(3):
        model.simulator.run_until(model.steps + 1)
    o = model.owners
    group = o.extra["rule_group"]
    best = model.mechanism.best_response(o.action, o, model.context())
    assert set(np.unique(group)) == {0.0, 1.0}
    assert np.array_equal(o.action[group == 0], best[group == 0])
    assert np.mean(o.action[group == 1] != best[group == 1]) > 0.3
    assert DataMarket(load(scenario.to_dict())).rule.names == ("best_response", "random")  # round trip


def test_mixed_tournament_ranks_rules_by_their_owners_payoff(posted, client, tmp_path):
    result = tournament(tmp_path / "m", rules=["random", "best_response"], scenarios=[posted], replicates=4,
                        mixed=True, client=client)
    assert result.computed == 4 and len(result.results) == 8
    cells = result.cells.set_index("rule")
    assert cells.loc["best_response", "rank"] == 1
    assert cells.loc["best_response", "owner_payoff"] > cells.loc["random", "owner_payoff"]
    assert (result.results.groupby("replicate")["owners"].sum() == 50).all()


def test_type_rule_must_be_registered(posted):
    posted["population"]["types"][1]["rule"] = "nosuch"
    with pytest.raises(ValueError, match=r"population.types\[1\].rule: unknown decision rule 'nosuch'"):
        load(posted)


def _explode(x: int) -> int:
    if x == 2:
        raise RuntimeError("boom at two\nsecond line")
    return x * 10


def test_failed_tasks_are_recorded_with_one_line_and_cleared_on_success(client, tmp_path):
    results, failures = run_tasks(client, _explode, [1, 2, 3], ["a", "b", "c"], tmp_path)
    assert sorted(results) == [10, 30]
    assert [(f.key, f.reason) for f in failures] == [("b", "RuntimeError: boom at two")]
    assert (tmp_path / "b.txt").read_text() == "RuntimeError: boom at two\n"
    run_tasks(client, _explode, [4], ["b"], tmp_path)
    assert not (tmp_path / "b.txt").exists()


def test_cli_tournament_user_errors(capsys):
    from market.cli import main

    assert main(["tournament", "--out", "/tmp/never", "--rules", "best_response,nosuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("privmarket: error: rules: unknown decision rule 'nosuch'")
    assert main(["tournament", "--out", "/tmp/never", "--mechanisms", "fl_market"]) == 2
    assert "no default scenario for 'fl_market'" in capsys.readouterr().err


def test_mixed_population_checkpoint_resumes_to_the_same_run(posted, tmp_path):
    """Each group's learning state is saved and restored: a stopped and resumed run equals an uninterrupted one."""
    posted["population"]["types"][0]["rule"] = "hedge"
    posted["decision"]["rule"] = "exp3"
    posted["rounds"] = 6
    whole = run(posted, out=tmp_path / "whole")
    asked = []

    def stop_after_three_rounds() -> bool:
        asked.append(1)
        return len(asked) == 3

    with pytest.raises(Interrupted):
        run(posted, out=tmp_path / "cut", stop=stop_after_three_rounds)
    resumed = resume(tmp_path / "cut")
    pd.testing.assert_frame_equal(resumed.model, whole.model)
    np.testing.assert_array_equal(resumed.owners["action"], whole.owners["action"])
