"""MURBA (paper 002, Algorithm 5): the numpy network, its weights file, the no-PyTorch errors, and training."""

import copy
import os
import subprocess
import sys

import numpy as np
import pytest

from market.cli import main
from market.simulation.model import DataMarket
from market.theory.fl_market.aggregation import aggregate, error_bound
from market.theory.fl_market.auctions import (
    LINEAR,
    QUADRATIC,
    SQRT,
    bid_transformation,
    empirical_regret,
    valuation,
)
from market.theory.fl_market.murba import MURBAModel, TORCH_HINT, load_model, save_model
from scenarios.schema import ScenarioError, load

TORCH_ERROR = 'privmarket: error: MURBA needs PyTorch: pip install "privmarket[learned]"\n'

#: Four owners (linear, quadratic, sqrt, exp valuations) and one buyer with B = 4 per round.
SCENARIO = {
    "name": "murba_small",
    "rounds": 6,
    "seed": 3,
    "population": {"owners": 4, "initial_action": 1.0, "types": [{
        "sensitivity": {"dist": "uniform", "low": 0.5, "high": 1.5},
        "valuation": {"dist": "choice", "values": [0, 1, 2, 3]},
        "eps_bar": {"dist": "uniform", "low": 0.5, "high": 2.0}}]},
    "mechanism": {"name": "fl_market", "auction": "murba", "aggregation": "var_opt", "M": 5,
                  "round_budget": 4.0},
    "decision": {"rule": "hedge", "learning_rate": 0.2},
    "buyers": {"initial": 1, "budget": 1000.0, "stay": 1000.0},
}


def _scenario(weights):
    raw = copy.deepcopy(SCENARIO)
    raw["mechanism"]["weights"] = str(weights)
    return raw


def _random_model(n=4, M=5, hidden=8, seed=0):
    """An untrained MBR network with random weights (numpy only)."""
    rng = np.random.default_rng(seed)
    d = n * (M + 1) + 1

    def layers(n_out):
        sizes = [d, hidden, hidden, n_out]
        return tuple((rng.normal(0, 1 / np.sqrt(a), (b, a)).astype(np.float32),
                      rng.normal(0, 0.1, b).astype(np.float32)) for a, b in zip(sizes, sizes[1:]))

    return MURBAModel(n=n, M=M, feature_mean=rng.normal(0, 0.3, d), feature_scale=rng.uniform(0.5, 2.0, d),
                      allocation=layers(n * (M + 1)), payment=layers(n), info={"note": "random"})


# --------------------------------------------------------------------- numpy network, no PyTorch
def test_softmax_payments_exhaust_the_budget_exactly_g10():
    # docs/models/fl_market.md#g10: p = softmax(s) B, so sum p = B and every owner is paid something
    model = _random_model()
    rng = np.random.default_rng(1)
    kind = rng.integers(0, 4, (500, 4))
    rate, eps_bar = rng.uniform(0.5, 1.5, (500, 4)), rng.uniform(0.5, 5.0, (500, 4))
    budget = rng.uniform(0.1, 50.0, 500)
    alloc = model(kind, rate, eps_bar, budget)
    np.testing.assert_allclose(alloc.payment.sum(axis=1), budget, rtol=1e-13)
    assert alloc.payment.min() > 0
    # every owner sells something, never more than she reported (Algorithm 5 step 3)
    assert alloc.epsilon.min() > 0
    assert np.all(alloc.epsilon < eps_bar)


def test_privacy_parameter_is_the_expected_grid_item_g9():
    model = _random_model()
    kind, rate, eps_bar, budget = np.array([LINEAR, QUADRATIC, SQRT, 3]), np.ones(4), np.array([2.0, 1, 3, 0.5]), 4.0
    items, values = bid_transformation(kind, rate, eps_bar, model.M)
    np.testing.assert_allclose(items[0, :4], [2.0, 1.0, 2 / 3, 0.5])
    z, share = model.forward(model.features(values, eps_bar, budget))
    np.testing.assert_allclose(z.sum(axis=-1), 1.0, rtol=1e-14)
    alloc = model(kind, rate, eps_bar, budget)
    np.testing.assert_allclose(alloc.epsilon, (z[:, 1:] * items).sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(alloc.payment, 4.0 * share, rtol=1e-14)


def test_weights_file_round_trip_gives_identical_outputs(tmp_path):
    model = _random_model()
    path = save_model(model, tmp_path / "w.npz")
    assert path == tmp_path / "w.npz"  # no second ".npz" appended
    loaded = load_model(path)
    assert (loaded.n, loaded.M, loaded.info) == (4, 5, {"note": "random"})
    rng = np.random.default_rng(2)
    bids = rng.integers(0, 4, (50, 4)), rng.uniform(0.5, 1.5, (50, 4)), rng.uniform(0.5, 2.0, (50, 4)), 4.0
    a, b = model(*bids), loaded(*bids)
    np.testing.assert_array_equal(a.epsilon, b.epsilon)
    np.testing.assert_array_equal(a.payment, b.payment)
    # the file holds no pickled objects
    with np.load(path, allow_pickle=False) as data:
        assert "architecture" in data.files and "allocation.2.weight" in data.files


def test_bad_weights_files_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="weights: no such file 'absent.npz'"):
        load_model("absent.npz")
    junk = tmp_path / "junk.npz"
    np.savez(junk, x=np.zeros(3))
    with pytest.raises(ValueError, match="is not a MURBA weights file"):
        load_model(junk)
    with pytest.raises(ValueError, match="trained for 4 owners, the auction has 3"):
        _random_model()(np.zeros((2, 3), int), np.ones((2, 3)), np.ones((2, 3)), 1.0)


def test_a_scenario_runs_murba_from_weights_without_torch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    path = save_model(_random_model(), tmp_path / "w.npz")
    model = DataMarket(_scenario(path))
    model.run()
    frame = model.model_frame()
    assert len(frame) == 6
    # BF by construction: the buyer pays exactly B = 4 every round; every owner wins something
    np.testing.assert_allclose(frame["buyer_spend"], 4.0, rtol=1e-12)
    np.testing.assert_allclose(frame["winners"], 4.0)
    assert np.all(np.isfinite(frame["error_bound"]))
    # owners' deviations re-run the network: the truthful-report gap is measured, not assumed
    assert "truthfulness_gap" in frame and np.all(np.isfinite(frame["truthfulness_gap"]))


def test_shipped_network_of_the_builtin_scenario():
    model = load_model("p002_murba_low.npz")  # found among the built-in scenarios' files
    assert (model.n, model.M, model.info["aggregation"], model.info["budget"]) == (10, 20, "var_opt", 10.0)
    assert model.info["test"]["regret_mean"] < 0.01 and model.info["test"]["ir_mean"] < 1e-4
    market = DataMarket("p002_murba_low", rounds=8)
    market.run()
    frame = market.model_frame()
    np.testing.assert_allclose(frame["budget_used"], 1.0, rtol=1e-12)  # sum p = B in every auction
    np.testing.assert_allclose(frame["winners"], 10.0)
    # much of the budget is rent (0.47 of B in round 1, owners truthful): every owner is paid, and the
    # regret penalty keeps every eps_i small
    rent_share = frame["information_rent_total"] / frame["buyer_spend"]
    assert 0.4 < rent_share.iloc[0] < 0.6 and np.all(rent_share > 0.2)
    assert np.all(frame["mean_epsilon"] < 0.5)


def test_untrained_network_is_not_truthful_on_the_shading_grid():
    # a random network pays for misreports: the regret measure is not trivially zero
    model = _random_model()
    rng = np.random.default_rng(4)
    kind, rate, eps_bar = rng.integers(0, 4, (40, 4)), rng.uniform(0.5, 1.5, (40, 4)), rng.uniform(0.5, 2.0, (40, 4))
    regret = empirical_regret(model, kind, rate, eps_bar, 4.0, [0.1, 0.5, 0.9, 1.1, 2.0, 5.0])
    assert regret.max > 1e-3
    assert 0 < regret.share <= 1


def test_scenario_errors_name_the_weights_and_the_extra(tmp_path, capsys):
    raw = copy.deepcopy(SCENARIO)
    with pytest.raises(ScenarioError, match=r"mechanism: weights: MURBA needs the file of a trained network.*"
                                            r'pip install "privmarket\[learned\]"'):
        load(raw)
    with pytest.raises(ScenarioError, match=r"weights: no such file"):
        load(_scenario(tmp_path / "absent.npz"))
    with pytest.raises(ScenarioError, match=r"M: the MURBA weights .* were trained with M = 5, not 7"):
        load(_scenario(save_model(_random_model(), tmp_path / "w.npz")), ["mechanism.M=7"])
    with pytest.raises(ScenarioError, match=r"weights: only used by auction = \"murba\""):
        load(_scenario(tmp_path / "w.npz"), ['mechanism.auction="all_in"'])
    weights = save_model(_random_model(), tmp_path / "w4.npz")
    with pytest.raises(ScenarioError, match=r"mechanism: weights: .* was trained for 4 owners, the population has 5"):
        load(_scenario(weights), ["population.owners=5"])
    with pytest.raises(ScenarioError, match=r"mechanism: weights: MURBA serves a fixed number of owners"):
        load(_scenario(weights), ["churn.join_rate=0.5"])
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\n[population]\nowners = 4\n[[population.types]]\nsensitivity = 1.0\n'
                    '[mechanism]\nname = "fl_market"\nauction = "murba"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"privmarket: error: {path}: mechanism: weights: ")
    assert err.rstrip().endswith(TORCH_HINT)


def test_train_auction_without_torch_is_one_line_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    assert main(["train-auction", "p002_share_low_m20", "--out", str(tmp_path / "w.npz")]) == 2
    assert capsys.readouterr().err == TORCH_ERROR
    assert not (tmp_path / "w.npz").exists()


def test_train_auction_without_torch_through_the_command_line(tmp_path):
    # a fresh interpreter in which `import torch` fails, as in an install without the extra
    hide = tmp_path / "hide" / "torch"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'torch\'")\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hide.parent), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "market.cli", "train-auction", "p002_share_low_m20",
                           "--out", str(tmp_path / "w.npz")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == TORCH_ERROR
    assert done.stdout == ""


# ------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def trained():
    pytest.importorskip("torch", reason="MURBA training needs PyTorch (pip install \"privmarket[learned]\")")
    from market.training.murba import TrainingConfig, train, training_scenario

    config = TrainingConfig(steps=600, batch=64, profiles=1280, misreport_steps=5, hidden=(32, 32),
                            test_profiles=300, test_misreport_steps=25)
    return train(training_scenario(SCENARIO), seed=5, config=config)


def test_training_lowers_regret_and_keeps_budget_and_ir(trained):
    good, bad = trained.trained, trained.untrained
    assert good.profiles == bad.profiles == 300
    # budget feasible by construction (rounding only)
    assert good.budget_excess <= 1e-12 and bad.budget_excess <= 1e-12
    # the augmented Lagrangian drives the measured regret and IR violation down (seed 5: regret 0.31 -> 0.03,
    # IR violation 0.18 -> 0.003, shading regret 0.08 -> 0.03), and the error bound with them (9.0 -> 7.9)
    assert bad.regret_mean > 0.2 and bad.ir_mean > 0.1
    assert good.regret_mean < 0.25 * bad.regret_mean
    assert good.ir_mean < 0.01
    assert good.shading_regret_mean < 0.75 * bad.shading_regret_mean
    assert good.error_bound < bad.error_bound
    history = trained.history
    assert history["loss"].shape == (600,) and np.all(np.isfinite(history["loss"]))
    assert history["regret"][-50:].mean() < 0.25 * history["regret"][:50].mean()


def test_trained_weights_round_trip_and_match_torch(trained, tmp_path):
    import torch

    from market.training.murba import forward, torch_network

    model = trained.model
    assert model.info["n"] == 4 and model.info["test"]["regret_mean"] == trained.trained.regret_mean
    loaded = load_model(save_model(model, tmp_path / "w.npz"))
    rng = np.random.default_rng(6)
    kind, rate, eps_bar = rng.integers(0, 4, (64, 4)), rng.uniform(0.5, 1.5, (64, 4)), rng.uniform(0.5, 2.0, (64, 4))
    a, b = model(kind, rate, eps_bar, 4.0), loaded(kind, rate, eps_bar, 4.0)
    np.testing.assert_array_equal(a.payment, b.payment)
    np.testing.assert_array_equal(a.epsilon, b.epsilon)
    # numpy inference reproduces the torch network
    _, values = bid_transformation(kind, rate, eps_bar, model.M)
    x = model.features(values, eps_bar, np.full(64, 4.0))
    z_t, share_t = forward(torch_network(loaded, torch.float64), torch.as_tensor(x), model.n, model.M)
    z, share = model.forward(x)
    np.testing.assert_allclose(z_t.detach().numpy(), z, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(share_t.detach().numpy(), share, rtol=1e-10, atol=1e-14)


def test_torch_error_bound_matches_numpy():
    pytest.importorskip("torch", reason="MURBA training needs PyTorch (pip install \"privmarket[learned]\")")
    import torch

    from market.training.murba import error_bound_torch

    eps = np.random.default_rng(7).uniform(0.05, 3.0, (100, 5))
    for rule in ("var_opt", "bias_opt", "data_size", "error_opt"):
        for d_var in (1, 10):
            expected = error_bound(aggregate(rule, eps, 1.5, d_var), eps, 1.5, d_var)
            got = error_bound_torch(torch.as_tensor(eps), rule, 1.5, d_var).numpy()
            np.testing.assert_allclose(got, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="MURBA is trained for var_opt, bias_opt, data_size, error_opt"):
        error_bound_torch(torch.as_tensor(eps), "median", 1.0, 1)


def test_torch_valuations_match_numpy():
    pytest.importorskip("torch", reason="MURBA training needs PyTorch (pip install \"privmarket[learned]\")")
    import torch

    from market.training.murba import _valuation_t

    rng = np.random.default_rng(8)
    kind, rate, eps = rng.integers(0, 5, 200), rng.uniform(0.5, 1.5, 200), rng.uniform(0.01, 5.0, 200)
    got = _valuation_t(torch, torch.as_tensor(kind), torch.as_tensor(rate), torch.as_tensor(eps)).numpy()
    np.testing.assert_allclose(got, valuation(kind, rate, eps), rtol=1e-14)


def test_the_scenario_runs_with_trained_weights(trained, tmp_path):
    path = save_model(trained.model, tmp_path / "w.npz")
    model = DataMarket(_scenario(path))
    model.run()
    frame = model.model_frame()
    np.testing.assert_allclose(frame["buyer_spend"], 4.0, rtol=1e-12)
    np.testing.assert_allclose(frame["winners"], 4.0)
    assert frame["information_rent_total"].iloc[0] > 0  # round 1, truthful owners: IR


def test_train_auction_command(tmp_path, capsys):
    pytest.importorskip("torch", reason="MURBA training needs PyTorch (pip install \"privmarket[learned]\")")
    import tomli_w

    scenario = tmp_path / "small.toml"
    scenario.write_text(tomli_w.dumps(_scenario(tmp_path / "w.npz")))  # the weights do not exist yet
    code = main(["train-auction", str(scenario), "--out", str(tmp_path / "w.npz"), "--steps", "5", "--seed", "1",
                 "--set", "mechanism.M=3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "MURBA for murba_small: 4 owners, M = 3, B = 4, var_opt; 5 steps" in out
    for label in ("regret, mean over owners", "IR violation, max over owners", "budget: max sum(p) - B"):
        assert label in out
    assert load_model(tmp_path / "w.npz").M == 3
    assert main(["run", str(scenario), "--set", "mechanism.M=3", "--rounds", "2", "--out", str(tmp_path / "o")]) == 0
    assert main(["train-auction", str(scenario), "--out", str(tmp_path / "x.npz"),
                 "--set", "churn.leave_rate=0.1"]) == 2
    assert "churn: MURBA is trained for a fixed number of owners" in capsys.readouterr().err
