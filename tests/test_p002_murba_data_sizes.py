"""MURBA (paper 002) with the owners' data sizes as network inputs, and training continued from a network.

docs/models/fl_market.md#murba-data-sizes: the sizes are n more inputs whose first-layer
weights start at zero, so with every size 1 the network trains exactly as one without them.
"""

import copy
import dataclasses

import numpy as np
import pytest

from market.cli import main
from market.theory.fl_market.aggregation import aggregate, error_bound
from market.simulation.model import DataMarket
from market.theory.fl_market.murba import load_model, save_model

torch = pytest.importorskip("torch", reason="MURBA training needs PyTorch (pip install \"privmarket[learned]\")")

from market.training.murba import (  # noqa: E402  (after the skip: training needs torch)
    TrainingConfig,
    TrainingMarket,
    error_bound_torch,
    evaluate,
    train,
    training_scenario,
)
from tests.test_p002_murba import SCENARIO  # noqa: E402

SMALL = TrainingConfig(steps=40, batch=64, profiles=1280, misreport_steps=5, hidden=(32, 32), test_profiles=60,
                       test_misreport_steps=5)


def _sized_scenario(low: float = 10.0, high: float = 100.0) -> dict:
    raw = copy.deepcopy(SCENARIO)
    raw["population"]["types"][0]["data_size"] = {"dist": "uniform", "low": low, "high": high}
    return raw


def test_data_size_inputs_change_nothing_when_every_size_is_one():
    scenario = training_scenario(SCENARIO)          # data_size = 1 for every owner
    plain = train(scenario, seed=1, config=SMALL)
    sized = train(scenario, seed=1, config=dataclasses.replace(SMALL, data_size_inputs=True))
    assert sized.model.data_size_inputs and not plain.model.data_size_inputs
    assert sized.model.n_inputs == plain.model.n_inputs + 4
    kind, rate, eps_bar = TrainingMarket.from_scenario(scenario).sample(np.random.default_rng(0), 200)
    a, b = plain.model(kind, rate, eps_bar, 4.0), sized.model(kind, rate, eps_bar, 4.0, np.ones(4))
    np.testing.assert_array_equal(a.payment, b.payment)
    np.testing.assert_array_equal(a.epsilon, b.epsilon)
    assert sized.trained == plain.trained
    # the size columns never moved from zero: their inputs are log 1 = 0
    for name in ("allocation", "payment"):
        np.testing.assert_array_equal(getattr(sized.model, name)[0][0][:, -4:], 0.0)


@pytest.fixture(scope="module")
def sized():
    return train(training_scenario(_sized_scenario()), seed=2,
                 config=dataclasses.replace(SMALL, data_size_inputs=True))


def test_data_sizes_are_inputs_when_owners_differ(sized, tmp_path):
    model = sized.model
    assert np.abs(model.allocation[0][0][:, -4:]).max() > 1e-3      # trained on the sizes
    market = TrainingMarket.from_scenario(training_scenario(_sized_scenario()))
    kind, rate, eps_bar, size = market.sample_sizes(np.random.default_rng(0), 100)
    assert size.min() >= 10.0 and size.max() <= 100.0 and size.std() > 10.0
    base = model(kind, rate, eps_bar, 4.0, size)
    other = model(kind, rate, eps_bar, 4.0, size[::-1])
    assert np.abs(base.epsilon - other.epsilon).max() > 1e-4     # the allocation depends on the sizes
    np.testing.assert_allclose(other.payment.sum(axis=1), 4.0, rtol=1e-12)   # still budget feasible
    assert sized.trained.budget_excess <= 1e-12 and np.isfinite(sized.trained.error_bound)
    loaded = load_model(save_model(model, tmp_path / "sized.npz"))
    assert loaded.data_size_inputs
    np.testing.assert_array_equal(loaded(kind, rate, eps_bar, 4.0, size).payment, base.payment)
    with pytest.raises(ValueError, match="data_size: owners' data sizes must be positive"):
        model(kind, rate, eps_bar, 4.0, np.zeros(4))


def test_the_market_feeds_the_owners_sizes_to_the_network(sized, tmp_path):
    raw = _sized_scenario()
    raw["mechanism"]["weights"] = str(save_model(sized.model, tmp_path / "sized.npz"))
    market = DataMarket(raw)
    market.run()
    frame = market.model_frame()
    np.testing.assert_allclose(frame["buyer_spend"], 4.0, rtol=1e-12)
    owners = market.owners
    assert owners.data_size.std() > 1.0
    options = market.mechanism._auction_options(owners)
    np.testing.assert_array_equal(options["data_size"], owners.data_size)
    # the market's allocation is the network's on the owners' true sizes, not on equal ones
    kind, rate, eps_bar = market.mechanism._bids(owners)
    alloc = market.mechanism._run(np.ones(len(owners)), owners, np.array([4.0]))
    np.testing.assert_allclose(alloc.epsilon[0], sized.model(kind, rate, eps_bar, 4.0, owners.data_size).epsilon)
    assert np.abs(alloc.epsilon[0] - sized.model(kind, rate, eps_bar, 4.0).epsilon).max() > 1e-6


def test_training_continues_from_a_network():
    scenario = training_scenario(SCENARIO)
    first = train(scenario, seed=1, config=SMALL)
    more = train(scenario, seed=4, config=dataclasses.replace(SMALL, steps=20, hidden=(8,)), init=first.model)
    info = more.model.info
    assert info["total_steps"] == 60 and info["init"]["total_steps"] == 40 and info["init"]["seed"] == 1
    assert tuple(info["config"]["hidden"]) == (32, 32)                   # the network's own layers are kept
    np.testing.assert_array_equal(more.model.feature_mean, first.model.feature_mean)
    # the continued network starts where the first ended: its "untrained" figures are the first network's
    market = TrainingMarket.from_scenario(scenario)
    rng = np.random.default_rng(4)
    market.sample(rng, SMALL.profiles)
    test = market.sample(rng, SMALL.test_profiles)
    assert more.untrained == evaluate(first.model, market, *test, config=SMALL, seed=4)
    kind, rate, eps_bar = test
    assert np.abs(more.model(kind, rate, eps_bar, 4.0).payment - first.model(kind, rate, eps_bar, 4.0).payment).max() \
        > 1e-4
    bigger = copy.deepcopy(SCENARIO)
    bigger["population"]["owners"] = 5
    with pytest.raises(ValueError, match="init: the network was trained for 4 owners"):
        train(training_scenario(bigger), config=SMALL, init=first.model)


@pytest.mark.slow
def test_train_auction_continues_a_weights_file(tmp_path, capsys):
    # each command evaluates on 1,000 held-out profiles (about 10 s in all)
    first = train(training_scenario(SCENARIO), seed=1, config=SMALL)
    path = save_model(first.model, tmp_path / "first.npz")
    raw = copy.deepcopy(SCENARIO)
    raw["mechanism"]["auction"] = "proportional_share"
    import tomli_w

    (tmp_path / "s.toml").write_text(tomli_w.dumps(raw))
    assert main(["train-auction", str(tmp_path / "s.toml"), "--out", str(tmp_path / "w.npz"), "--steps", "3",
                 "--init", str(path)]) == 0
    assert "3 steps" in capsys.readouterr().out and load_model(tmp_path / "w.npz").info["total_steps"] == 43
    assert main(["train-auction", str(tmp_path / "s.toml"), "--out", str(tmp_path / "x.npz"),
                 "--init", str(tmp_path / "missing.npz")]) == 2
    assert "weights: no such file" in capsys.readouterr().err
    sized = _sized_scenario()
    sized["mechanism"]["auction"] = "proportional_share"
    (tmp_path / "sized.toml").write_text(tomli_w.dumps(sized))
    assert main(["train-auction", str(tmp_path / "sized.toml"), "--out", str(tmp_path / "d.npz"), "--steps", "3",
                 "--data-size-inputs"]) == 0
    assert load_model(tmp_path / "d.npz").data_size_inputs


def test_torch_error_bound_with_data_sizes_matches_numpy_and_its_gradient():
    rng = np.random.default_rng(8)
    eps, sizes = rng.uniform(0.1, 3.0, (50, 5)), rng.uniform(5.0, 80.0, (50, 5))
    for rule in ("var_opt", "bias_opt", "data_size", "error_opt"):
        expected = error_bound(aggregate(rule, eps, 1.0, 2, sizes), eps, 1.0, 2, sizes)
        got = error_bound_torch(torch.as_tensor(eps), rule, 1.0, 2, torch.as_tensor(sizes)).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    # the envelope theorem holds with a size-weighted target too: central differences of the optimum
    e, w = eps[0], sizes[0]
    x = torch.tensor(e, requires_grad=True)
    (grad,) = torch.autograd.grad(error_bound_torch(x, "error_opt", 1.0, 2, torch.as_tensor(w)), x)

    def optimum(v: np.ndarray) -> float:
        return float(error_bound(aggregate("error_opt", v, 1.0, 2, w), v, 1.0, 2, w))

    h = 1e-6
    numeric = [(optimum(e + h * np.eye(5)[j]) - optimum(e - h * np.eye(5)[j])) / (2 * h) for j in range(5)]
    np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-5, atol=1e-8)
