"""Heterogeneous populations: empirical distributions, copula correlation, drift, shifted newcomers."""

import numpy as np
import pytest
from scipy import stats

from market.core.population import couple, draw, drift, sample_owners
from market.simulation.model import DataMarket
from scenarios.schema import ScenarioError, load


def test_empirical_distribution_resamples_the_csv_column(tmp_path):
    path = tmp_path / "owners.csv"
    path.write_text("id,sens\n1,0.5\n2,1.5\n3,4.0\n")
    values = draw({"dist": "empirical", "file": str(path), "column": "sens"}, 30000, np.random.default_rng(0))
    assert set(np.unique(values)) == {0.5, 1.5, 4.0}
    np.testing.assert_allclose(np.bincount(np.searchsorted([0.5, 1.5, 4.0], values)) / 30000, 1 / 3, atol=0.015)


def test_copula_keeps_marginals_and_gives_the_rank_correlation():
    rng = np.random.default_rng(1)
    x, y = rng.pareto(2.5, 20000), rng.lognormal(0, 1, 20000)
    for rho in (-0.6, 0.3, 0.9):
        cx, cy = couple(x, y, rho, np.random.default_rng(2))
        np.testing.assert_array_equal(np.sort(cx), np.sort(x))
        np.testing.assert_array_equal(np.sort(cy), np.sort(y))
        spearman = stats.spearmanr(cx, cy).statistic
        assert spearman == pytest.approx(6 / np.pi * np.arcsin(rho / 2), abs=0.02)  # Kruskal 1958


def test_correlated_type_in_a_scenario(tiny):
    tiny["population"] = {"owners": 4000, "types": [{
        "sensitivity": {"dist": "lognormal", "mean": 0.0, "sigma": 0.5},
        "data_size": {"dist": "pareto", "shape": 2.0, "scale": 1.0}, "correlation": 0.8}]}
    tiny["rounds"] = 1
    model = DataMarket(tiny)
    spearman = stats.spearmanr(model.owners.sensitivity, model.owners.data_size).statistic
    assert spearman == pytest.approx(6 / np.pi * np.arcsin(0.4), abs=0.04)
    attrs, _ = sample_owners(load(tiny).population["types"], 10, np.random.default_rng(0),
                             ("sensitivity", "data_size"))
    assert attrs["sensitivity"].shape == (10,)


def test_drift_schedule_and_random_walk():
    s = np.array([0.0, 1.0, 2.0])
    spec = {"schedule": [[5, 2.0], [9, 0.5]], "random_walk_sd": 0.0}
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(drift(s, 4, spec, rng), s)
    np.testing.assert_array_equal(drift(s, 5, spec, rng), 2 * s)
    walk = np.full(50000, 3.0)
    for _ in range(4):
        walk = drift(walk, 1, {"schedule": [], "random_walk_sd": 0.25}, rng)
    assert walk.std() == pytest.approx(0.25 * 2, rel=0.03)  # sd * sqrt(rounds), far from the reflecting 0
    assert walk.min() >= 0


def test_drift_in_the_model_is_a_regime_shift(tiny):
    tiny["drift"] = {"schedule": [[10, 3.0]]}
    model = DataMarket(tiny)
    before = model.owners.sensitivity.copy()
    model.run()
    np.testing.assert_allclose(model.owners.sensitivity, 3.0 * before)
    share0 = model.model_frame()["share_0"]
    assert share0.iloc[-1] > share0.iloc[8]  # owners withdraw once sharing costs more


def test_newcomers_come_from_the_shifted_distribution(tiny):
    tiny.update(rounds=40, churn={"join_rate": 5.0, "newcomers": [{"sensitivity": 9.0, "data_size": 2.0}]})
    model = DataMarket(tiny)
    model.run()
    new = model.owners.joined > 0
    assert new.sum() > 100
    assert np.all(model.owners.sensitivity[new] == 9.0) and np.all(model.owners.data_size[new] == 2.0)
    assert np.all(model.owners.sensitivity[~new] <= 3.0)


@pytest.mark.parametrize("patch,message", [
    ({"drift": {"random_walk_sd": -1}}, "drift.random_walk_sd: must be >= 0"),
    ({"drift": {"schedule": [[0, 2.0]]}}, r"drift.schedule\[0\]: must be >= 1"),
    ({"drift": {"schedule": [3]}}, r"drift.schedule\[0\]: expected \[round, factor\]"),
    ({"drift": {"speed": 1}}, "drift.speed: unknown key"),
    ({"churn": {"newcomers": [{"sensitivity": -1.0}]}}, r"churn.newcomers\[0\].sensitivity: negative sensitivity"),
    ({"churn": {"newcomers": [{"share": 0.5, "sensitivity": 1.0}, {"share": 0.2}]}},
     "churn.newcomers.share: probabilities sum to 0.7"),
])
def test_new_table_errors_are_one_line_with_the_key(tiny, patch, message):
    tiny.update(patch)
    with pytest.raises(ScenarioError, match=message) as info:
        load(tiny)
    assert "\n" not in str(info.value)


def test_population_errors_for_correlation_and_empirical(tiny, tmp_path):
    tiny["population"]["types"][0]["correlation"] = 1.5
    with pytest.raises(ScenarioError, match=r"population.types\[0\].correlation: must be <= 1"):
        load(tiny)
    del tiny["population"]["types"][0]["correlation"]
    path = tmp_path / "s.csv"
    path.write_text("sens,bad\n-1.0,x\n2.0,y\n")
    cases = [({"dist": "empirical", "file": str(path), "column": "nope"}, "column 'nope' not in"),
             ({"dist": "empirical", "file": str(path), "column": "bad"}, "must hold finite numbers"),
             ({"dist": "empirical", "file": str(path), "column": "sens"}, "has negative values"),
             ({"dist": "empirical", "file": str(tmp_path / "x.csv"), "column": "s"}, "cannot read CSV"),
             ({"dist": "empirical", "file": 3, "column": "s"}, "file: expected a string")]
    for spec, message in cases:
        tiny["population"]["types"][0]["sensitivity"] = spec
        with pytest.raises(ScenarioError, match=rf"population.types\[0\].sensitivity.*{message}"):
            load(tiny)


@pytest.mark.parametrize("spec,mean,var", [
    ({"dist": "lognormal", "mean": 0.2, "sigma": 0.5}, np.exp(0.2 + 0.125), (np.exp(0.25) - 1) * np.exp(0.4 + 0.25)),
    ({"dist": "pareto", "shape": 6.0, "scale": 2.0}, 6 * 2 / 5, 4 * 6 / (25 * 4)),  # a x_m/(a-1), x_m^2 a/((a-1)^2 (a-2))
    ({"dist": "beta", "a": 2.0, "b": 5.0}, 2 / 7, 10 / (49 * 8)),
    ({"dist": "uniform", "low": 1.0, "high": 4.0}, 2.5, 9 / 12),
])
def test_named_distributions_have_their_textbook_moments(spec, mean, var):
    x = draw(spec, 200_000, np.random.default_rng(4))
    assert x.mean() == pytest.approx(mean, rel=0.01)
    assert x.var() == pytest.approx(var, rel=0.05)
    if spec["dist"] == "pareto":
        assert x.min() >= spec["scale"]  # classical Pareto: support [scale, inf)


def test_owner_valuations_and_budgets_come_from_named_distributions(tiny):
    """Mechanism attributes (FL-Market's valuation, the contribution game's budget) are drawn like sensitivities."""
    tiny["rounds"] = 1
    tiny["population"] = {"owners": 3000, "types": [
        {"share": 0.5, "valuation": {"dist": "beta", "a": 2.0, "b": 2.0}},
        {"share": 0.5, "valuation": {"dist": "pareto", "shape": 3.0, "scale": 1.0}}]}
    tiny["mechanism"] = {"name": "fl_market"}
    model = DataMarket(tiny)
    valuation = model.owners.extra["valuation"]
    assert np.sum(valuation < 1) == pytest.approx(1500, abs=150) and valuation[valuation >= 1].mean() == \
        pytest.approx(1.5, rel=0.08)  # beta(2, 2) lies in (0, 1); Pareto(3, 1) has mean 3/2
    tiny["population"] = {"owners": 2000, "types": [{"budget": {"dist": "lognormal", "mean": 1.0, "sigma": 0.3}}]}
    tiny["mechanism"] = {"name": "contribution_game"}
    budget = DataMarket(tiny).owners.extra["budget"]
    assert np.median(budget) == pytest.approx(np.e, rel=0.03)


def test_buyer_budgets_and_valuations_come_from_named_distributions(tiny):
    tiny["buyers"] = {"initial": 4000, "budget": {"dist": "pareto", "shape": 2.5, "scale": 10.0},
                      "valuation": {"dist": "uniform", "low": 1.0, "high": 3.0}}
    model = DataMarket(tiny)
    budgets = np.array([b.budget for b in model.buyers])
    valuations = np.array([b.valuation for b in model.buyers])
    assert budgets.min() >= 10.0 and np.median(budgets) == pytest.approx(10 * 2 ** (1 / 2.5), rel=0.05)
    assert valuations.min() >= 1.0 and valuations.max() <= 3.0 and valuations.mean() == pytest.approx(2.0, rel=0.03)
