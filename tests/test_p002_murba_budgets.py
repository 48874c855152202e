"""MURBA (paper 002) trained over a budget range, with the dummy payment node and raw inputs.

One network serves every budget of its training range because the budget is a
network input (docs/models/fl_market.md#murba); these tests train small networks
for a few hundred steps (the shipped ones are trained offline, see the docs).
"""

import copy

import numpy as np
import pytest

from market.theory.fl_market.aggregation import aggregate, error_bound, error_optimal_weights
from market.cli import main
from market.theory.fl_market.murba import load_model, save_model

torch = pytest.importorskip("torch", reason="MURBA training needs PyTorch (pip install \"privmarket[learned]\")")

from market.training.murba import (  # noqa: E402  (after the skip: training needs torch)
    TrainingConfig,
    TrainingMarket,
    _build_network,
    error_bound_torch,
    evaluate_budgets,
    export_model,
    train,
    training_scenario,
)
from tests.test_p002_murba import SCENARIO  # noqa: E402

BUDGETS = np.array([2.0, 4.5, 7.0, 9.5, 12.0])
SMALL = dict(batch=64, profiles=1280, misreport_steps=5, hidden=(32, 32), test_profiles=100,
             test_misreport_steps=15)


@pytest.fixture(scope="module")
def networks():
    """The same small network trained over budgets U[2, 12] and at the scenario's one budget B = 4 (seed 3)."""
    scenario = training_scenario(SCENARIO)
    market = TrainingMarket.from_scenario(scenario)
    config = TrainingConfig(steps=500, budget_range=(2.0, 12.0), **SMALL)
    over_range = train(scenario, seed=3, config=config).model
    one_budget = train(scenario, seed=3, config=TrainingConfig(steps=500, **SMALL)).model
    evaluate = {name: evaluate_budgets(model, market, BUDGETS, profiles=100, config=config, seed=11)
                for name, model in (("range", over_range), ("one", one_budget))}
    return over_range, market, config, evaluate


def test_one_network_serves_every_budget_of_its_range(networks):
    model, _, _, evaluation = networks
    assert model.info["budget_range"] == [2.0, 12.0]
    trained = evaluation["range"]
    assert sorted(trained) == list(BUDGETS)
    # measured (seed 3, 500 steps): regret 0.021-0.040, IR violation 0.0007-0.042, budget excess <= 4e-15
    for budget, ev in trained.items():
        assert ev.budget_excess <= 1e-9 * budget
        assert ev.regret_mean < 0.06, (budget, ev)
        assert ev.ir_mean < 0.06, (budget, ev)
    # the budget is used: the error bound falls from 14.8 at B = 2 to 4.3 at B = 12
    errors = [trained[b].error_bound for b in BUDGETS]
    assert all(a > b for a, b in zip(errors, errors[1:]))


def test_a_network_trained_at_one_budget_misbehaves_at_others(networks):
    # the network trained at B = 4 only: regret 0.63 at B = 12 (the range network: 0.04), and its error
    # bound does not fall with the budget (8.4 -> 9.3)
    one, rng = networks[3]["one"], networks[3]["range"]
    assert one[12.0].regret_mean > 5 * rng[12.0].regret_mean
    assert one[12.0].error_bound > one[2.0].error_bound


def test_range_training_beats_the_untrained_network_at_each_budget(networks):
    model, market, config, evaluation = networks
    torch.manual_seed(3)
    untrained = export_model(_build_network(torch, market.n, market.M, config.hidden), model)
    bad = evaluate_budgets(untrained, market, BUDGETS, profiles=100, config=config, seed=11)
    for b in BUDGETS:   # measured: untrained regret 0.24-0.36
        assert evaluation["range"][b].regret_mean < 0.3 * bad[b].regret_mean, b


def test_dummy_payment_node_need_not_spend_the_budget(tmp_path):
    scenario = training_scenario(SCENARIO)
    config = TrainingConfig(steps=40, dummy_payment=True, normalise=False, **SMALL)
    result = train(scenario, seed=1, config=config)
    model = result.model
    assert model.dummy_payment and model.payment[-1][0].shape[0] == model.n + 1
    np.testing.assert_array_equal(model.feature_mean, 0.0)
    np.testing.assert_array_equal(model.feature_scale, 1.0)
    rng = np.random.default_rng(0)
    market = TrainingMarket.from_scenario(scenario)
    kind, rate, eps_bar = market.sample(rng, 200)
    alloc = model(kind, rate, eps_bar, market.budget)
    spent = alloc.payment.sum(axis=-1)
    assert np.all(spent <= market.budget * (1 + 1e-9)) and np.all(spent < market.budget * (1 - 1e-6))
    loaded = load_model(save_model(model, tmp_path / "dummy.npz"))
    assert loaded.dummy_payment
    np.testing.assert_allclose(loaded(kind, rate, eps_bar, market.budget).payment, alloc.payment)


def test_train_auction_budget_range_flags(tmp_path, capsys):
    import tomli_w

    raw = copy.deepcopy(SCENARIO)
    raw["mechanism"]["auction"] = "proportional_share"
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(raw))
    code = main(["train-auction", str(path), "--out", str(tmp_path / "w.npz"), "--steps", "3",
                 "--budget-range", "2:12", "--dummy-payment"])
    out = capsys.readouterr().out
    assert code == 0 and "B in [2, 12]" in out
    assert load_model(tmp_path / "w.npz").dummy_payment
    assert main(["train-auction", str(path), "--out", str(tmp_path / "x.npz"), "--budget-range", "5:1"]) == 2
    assert "--budget-range: expected LOW:HIGH" in capsys.readouterr().err


def test_error_optimal_bound_gradient_is_the_optimal_value_gradient():
    # the envelope theorem (implicit differentiation of the KKT system): d ERR*/d eps equals the
    # partial derivative at the optimal weights; checked against central differences of the optimum
    def optimum(e: np.ndarray) -> float:
        return float(error_bound(error_optimal_weights(e, 1.0, 3), e, 1.0, 3))

    rng = np.random.default_rng(2)
    for _ in range(5):
        e = rng.uniform(0.2, 3.0, 6)
        x = torch.tensor(e, dtype=torch.float64, requires_grad=True)
        value = error_bound_torch(x, "error_opt", 1.0, 3)
        (grad,) = torch.autograd.grad(value, x)
        assert value.item() == pytest.approx(optimum(e), rel=1e-9)
        h = 1e-5
        numeric = [(optimum(e + h * np.eye(6)[j]) - optimum(e - h * np.eye(6)[j])) / (2 * h) for j in range(6)]
        np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-4, atol=1e-7)
        # the error-optimal bound is no worse than VarOpt's
        assert value.item() <= error_bound_torch(x, "var_opt", 1.0, 3).item() + 1e-12


def test_murba_trains_against_error_optimal_aggregation():
    raw = copy.deepcopy(SCENARIO)
    raw["mechanism"]["aggregation"] = "error_opt"
    scenario = training_scenario(raw)
    config = TrainingConfig(steps=30, **SMALL)
    result = train(scenario, seed=2, config=config)
    assert result.model.info["aggregation"] == "error_opt"
    assert result.trained.budget_excess <= 1e-12
    history = result.history["error_bound"]
    assert np.all(np.isfinite(history))
    # measured: the error-optimal bound of the trained network is below VarOpt's on the same profiles
    market = TrainingMarket.from_scenario(scenario)
    rng = np.random.default_rng(0)
    kind, rate, eps_bar = market.sample(rng, 200)
    eps = result.model(kind, rate, eps_bar, market.budget).epsilon
    opt = error_bound(aggregate("error_opt", eps), eps)
    var = error_bound(aggregate("var_opt", eps), eps)
    assert np.all(opt <= var + 1e-9) and np.mean(opt) < np.mean(var)


SHIPPED_BUDGETS = np.array([2.0, 6.5, 11.0, 15.5, 20.0])


@pytest.mark.slow
@pytest.mark.parametrize("weights, owners, aggregation", [("p002_murba_n8.npz", 8, "var_opt"),
                                                           ("p002_murba_n8_error_opt.npz", 8, "error_opt"),
                                                           ("p002_murba_n16.npz", 16, "var_opt")])
def test_shipped_network_stays_within_its_bounds_at_five_budgets(weights, owners, aggregation):
    # the shipped networks over their training range B in [2, 20], 100 fresh held-out profiles
    # (docs/models/fl_market.md#murba-shipped), measured: regret means 0.0057-0.0094 (n = 8, VarOpt),
    # 0.0074-0.0141 (n = 8, ErrorOpt), 0.0010-0.0054 (n = 16); IR violation 0.011 at B = 2 for all three,
    # at most 0.0007 from B = 6.5 on; budget excess <= 7e-15
    scenario = training_scenario("p002_murba_low", [f"population.owners={owners}", "mechanism.M=10",
                                                    f"mechanism.aggregation={aggregation}"])
    market = TrainingMarket.from_scenario(scenario)
    evaluation = evaluate_budgets(load_model(weights), market, SHIPPED_BUDGETS, profiles=100, seed=5)
    for budget, ev in evaluation.items():
        assert ev.budget_excess <= 1e-12 * budget
        assert ev.regret_mean <= 0.0537, (budget, ev)          # Table 1's largest regret mean
        assert ev.ir_mean <= (0.015 if budget == 2.0 else 0.0040), (budget, ev)   # Table 1: IR means <= 0.0040
    errors = [evaluation[b].error_bound for b in SHIPPED_BUDGETS]
    assert all(a > b for a, b in zip(errors, errors[1:]))       # more budget, smaller error bound
