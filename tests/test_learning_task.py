"""The real learning task behind the market (market.theory.learning.task, fl_market_task)."""

from __future__ import annotations

import numpy as np
import pytest

from market.runner import run
from market.theory.fl_market.aggregation import data_size_weights, var_opt, variance_bound
from market.theory.learning.task import (
    FederatedTask,
    LocalData,
    fit_centralized,
    load_dataset,
    make_classifier,
    partition,
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def iid_local(digits):
    rng = np.random.default_rng(3)
    sizes = rng.integers(30, 71, size=20)
    local = LocalData.from_blocks(partition(digits.y_train, sizes, rng))
    assert local.counts.tolist() == sizes.tolist()
    return local


@pytest.mark.parametrize("name", ["logistic", "mlp"])
def test_gradient_matches_finite_differences(digits, name):
    rng = np.random.default_rng(0)
    model = make_classifier(name, digits.n_features, digits.n_classes, l2=0.01, hidden=5)
    theta = 0.3 * rng.standard_normal(model.n_params)
    X, y = digits.X_train[:40], digits.y_train[:40]
    grad = model.gradient(theta, X, y)
    coords = rng.choice(model.n_params, size=25, replace=False)
    h = 1e-6
    for j in coords:
        e = np.zeros(model.n_params)
        e[j] = h
        fd = (model.loss(theta + e, X, y) - model.loss(theta - e, X, y)) / (2 * h)
        assert grad[j] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_owner_gradients_are_each_owners_own_gradient(digits, iid_local):
    model = make_classifier("logistic", digits.n_features, digits.n_classes, l2=0.01)
    task = FederatedTask(digits, model)
    theta = 0.05 * np.random.default_rng(1).standard_normal(model.n_params)
    grads = task.owner_gradients(theta, iid_local)
    blocks = np.split(iid_local.index, np.cumsum(iid_local.counts)[:-1])
    for i in (0, 7, 19):
        rows = blocks[i]
        np.testing.assert_allclose(grads[i], model.gradient(theta, digits.X_train[rows], digits.y_train[rows]),
                                   rtol=1e-10, atol=1e-12)


def test_clipping_bounds_every_owners_gradient(digits, iid_local):
    model = make_classifier("logistic", digits.n_features, digits.n_classes)
    L = 2.0
    task = FederatedTask(digits, model, L=L, perturbation="none")
    theta = np.random.default_rng(2).standard_normal(model.n_params)
    raw = task.owner_gradients(theta, iid_local)
    assert np.all(np.abs(raw).sum(axis=1) > L)            # the bound is active for everyone
    clipped = task.perturb(raw, np.ones(raw.shape[0]), np.random.default_rng(0))
    norms = np.abs(clipped).sum(axis=1)
    assert np.all(norms <= L * (1 + 1e-12))
    np.testing.assert_allclose(norms, L, rtol=1e-12)
    # direction kept: the clipped gradient is a positive multiple of the raw one
    ratio = clipped / raw
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-10)


@pytest.mark.parametrize("perturbation", ["laplace", "gaussian"])
@pytest.mark.parametrize("rule", ["var_opt", "data_size"])
def test_aggregate_variance_matches_the_bound(digits, iid_local, perturbation, rule):
    model = make_classifier("logistic", digits.n_features, digits.n_classes)
    L = 1.0
    task = FederatedTask(digits, model, L=L, perturbation=perturbation)
    grads = task.owner_gradients(model.init(np.random.default_rng(0)), iid_local)
    n = grads.shape[0]
    eps = np.linspace(0.5, 4.0, n)
    eps[:3] = 0.0                                            # three owners sell nothing
    weights = var_opt(eps) if rule == "var_opt" else data_size_weights(eps, iid_local.counts)
    rng = np.random.default_rng(5)
    reps = 1500
    agg = np.array([weights @ task.perturb(grads, eps, rng) for _ in range(reps)])
    var = agg.var(axis=0, ddof=1).mean()                     # per coordinate, averaged over 650 coordinates
    sold = weights > 0
    expected = float(np.sum(weights[sold] ** 2 * task.noise_variance(eps[sold])))
    if perturbation == "laplace":
        assert expected == pytest.approx(float(variance_bound(weights, eps, L)), rel=1e-12)
    # ~975k samples of a sum of Laplace/Gaussian terms: relative s.e. of the variance < 0.3%
    assert var == pytest.approx(expected, rel=0.02)


def test_federated_without_noise_reaches_centralized_accuracy(digits, iid_local):
    model = make_classifier("logistic", digits.n_features, digits.n_classes, l2=1e-3)
    X, y = digits.X_train[iid_local.index], digits.y_train[iid_local.index]
    central = model.accuracy(fit_centralized(model, X, y), digits.X_test, digits.y_test)
    task = FederatedTask(digits, model, L=1.0, perturbation="none", learning_rate=5.0)
    n = iid_local.counts.size
    _, history = task.train(iid_local, np.ones(n), 250, np.random.default_rng(0), aggregation="data_size")
    assert central > 0.9
    assert history[-1, 0] == pytest.approx(central, abs=0.025)


def test_accuracy_falls_as_epsilon_falls(digits, iid_local):
    model = make_classifier("logistic", digits.n_features, digits.n_classes, l2=1e-3)
    task = FederatedTask(digits, model, L=1.0, perturbation="laplace", learning_rate=2.0)
    n = iid_local.counts.size
    accuracy = []
    for eps in (200.0, 40.0, 10.0, 2.0):
        _, history = task.train(iid_local, np.full(n, eps), 120, np.random.default_rng(7), aggregation="var_opt")
        accuracy.append(history[-20:, 0].mean())
    assert np.all(np.diff(accuracy) < 0.01), accuracy
    assert accuracy[0] - accuracy[-1] > 0.5, accuracy


def test_dirichlet_partition_is_disjoint_and_skewed(digits):
    sizes = np.full(20, 40)
    skew = []
    for alpha in (0.1, 100.0):
        blocks = partition(digits.y_train, sizes, np.random.default_rng(0), "dirichlet", alpha)
        rows = np.concatenate(blocks)
        assert [b.size for b in blocks] == sizes.tolist()
        assert np.unique(rows).size == rows.size                  # disjoint
        top = [np.bincount(digits.y_train[b], minlength=10).max() / b.size for b in blocks]
        skew.append(np.mean(top))
    # Dir(0.1) over 10 classes: E[max q] ~ 0.66, diluted as popular classes run out of free rows;
    # 40 IID draws: the top class holds ~0.2
    assert skew[0] > 0.45 and skew[1] < 0.3


def test_bad_inputs_raise_value_errors(digits):
    with pytest.raises(ValueError, match="dataset"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="data_size"):
        partition(digits.y_train, np.full(10, 200), np.random.default_rng(0))
    model = make_classifier("logistic", digits.n_features, digits.n_classes)
    with pytest.raises(ValueError, match="perturbation"):
        FederatedTask(digits, model, perturbation="rr")
    with pytest.raises(ValueError, match="model"):
        make_classifier("cnn", 4, 2)


def test_fl_market_task_records_accuracy_in_model_table():
    result = run("task_fl_market_digits", rounds=60)
    m = result.model
    for column in ("test_accuracy", "test_loss", "model_steps", "winners", "error_bound"):
        assert column in m.columns
    assert np.all(np.isfinite(m.test_accuracy)) and np.all(np.isfinite(m.test_loss))
    assert m.model_steps.iloc[-1] == 60
    assert m.test_accuracy.iloc[0] < 0.2                      # one step from the zero model
    assert m.test_accuracy.iloc[-5:].mean() > m.test_accuracy.iloc[0] + 0.4


def test_fl_market_task_accuracy_rises_with_the_buyers_budget():
    accuracy, bound = [], []
    for budget in (5.0, 20.0, 100.0):
        m = run("task_fl_market_digits", rounds=40, overrides=[f"mechanism.round_budget={budget}"]).model
        accuracy.append(m.test_accuracy.iloc[-10:].mean())
        bound.append(m.error_bound.iloc[-1])
    assert np.all(np.diff(accuracy) > 0.1), accuracy          # more budget: more privacy bought, less noise
    assert np.all(np.diff(bound) < 0), bound                   # and a smaller error bound
