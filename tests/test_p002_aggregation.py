"""FL-Market (paper 002): Laplace mechanism, error bound and aggregation rules (docs/models/fl_market.md#g1 to #g5)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import minimize

from market.theory.fl_market.aggregation import (
    AGGREGATIONS,
    aggregate,
    bias_bound,
    bias_opt,
    error_bound,
    error_optimal_weights,
    var_opt,
    variance_bound,
)
from market.theory.fl_market.auctions import all_in_multi_minded, synthetic_bids
from market.theory.fl_market.ldp import (
    clip_gradient,
    gaussian_mechanism,
    gaussian_sigma,
    laplace_mechanism,
    laplace_variance,
)


def test_g1_laplace_noise_variance():
    rng = np.random.default_rng(1)
    noisy = laplace_mechanism(np.zeros((1, 400_000)), np.array([2.0]), 1.0, rng)
    # sample variance of Lap(1): SE = sigma^2 sqrt((kurtosis - 1)/N) = 2 sqrt(5/4e5) = 0.007
    assert noisy.var() == pytest.approx(2.0, abs=0.03)
    assert laplace_variance(np.array([2.0]), 1.0)[0] == pytest.approx(2.0)


def test_laplace_skips_owners_who_sold_nothing_and_clips():
    rng = np.random.default_rng(2)
    g = rng.normal(size=(3, 20)) * 5
    out = laplace_mechanism(g, np.array([0.0, 1.0, 3.0]), 1.0, rng)
    assert np.all(out[0] == 0.0)
    assert np.all(np.abs(clip_gradient(g, 1.0)).sum(axis=1) <= 1.0 + 1e-12)
    with pytest.raises(ValueError, match="epsilon"):
        laplace_mechanism(g, np.array([1.0, -1.0, 1.0]), 1.0, rng)
    with pytest.raises(ValueError, match="L"):
        laplace_mechanism(g, np.ones(3), 0.0, rng)


def test_gaussian_mechanism_meets_its_privacy_curve():
    # analytic Gaussian: delta(sigma) equals the target at the returned sigma;
    # for eps < 1 it is below the classical sigma = 2L sqrt(2 ln(1.25/delta))/eps
    sigma = gaussian_sigma(np.array([0.5, 2.0, 0.0]), 1e-5, 1.0)
    classical = 2.0 * np.sqrt(2 * np.log(1.25 / 1e-5)) / 0.5
    assert sigma[0] < classical and sigma[1] < sigma[0] and np.isinf(sigma[2])
    noisy = gaussian_mechanism(np.zeros((2, 100_000)), np.array([2.0, 0.0]), 1e-5, 1.0,
                               np.random.default_rng(3))
    assert noisy[0].std() == pytest.approx(sigma[1], rel=0.02)
    assert np.all(noisy[1] == 0.0)


def test_g2_bias_opt_weights_and_bounds():
    eps = np.array([0.0, 0.5, 1.0, 2.0, 0.0])
    lam = bias_opt(eps)
    np.testing.assert_allclose(lam, [0, 0.2, 0.2, 0.6, 0], atol=1e-12)
    assert bias_bound(lam) == pytest.approx(0.8, abs=1e-12)
    assert variance_bound(lam, eps) == pytest.approx(2.32, abs=1e-12)


def test_g3_var_opt_all_win():
    eps = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(var_opt(eps), [0.0714, 0.2857, 0.6429], atol=1e-4)
    assert variance_bound(var_opt(eps), eps) == pytest.approx(8 / 14, abs=1e-12)
    res = minimize(lambda x: float(variance_bound(x, eps)), np.full(3, 1 / 3), method="SLSQP",
                   constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}], bounds=[(0, 1)] * 3)
    assert res.fun == pytest.approx(8 / 14, abs=1e-6)
    np.testing.assert_allclose(bias_opt(eps), np.full(3, 1 / 3))
    assert bias_bound(bias_opt(eps)) == pytest.approx(0.0, abs=1e-12)
    assert variance_bound(bias_opt(eps), eps) == pytest.approx(1.2099, abs=1e-4)


def test_g4_var_opt_with_losers():
    eps = np.array([0.0, 0.5, 1.0, 2.0, 0.0])
    lam = var_opt(eps)
    np.testing.assert_allclose(lam, [0, 0.0476, 0.1905, 0.7619, 0], atol=1e-4)
    assert variance_bound(lam, eps) == pytest.approx(1.5238, abs=1e-4)
    assert bias_bound(lam) == pytest.approx(1.1238, abs=1e-4)
    assert error_bound(lam, eps) == pytest.approx(2.7868, abs=1e-4)
    assert error_bound(bias_opt(eps), eps) == pytest.approx(2.96, abs=1e-12)


def test_nothing_bought_gives_zero_weights_and_infinite_error():
    eps = np.zeros(4)
    for name in AGGREGATIONS:
        lam = aggregate(name, eps)
        assert np.all(lam == 0.0)
        assert np.isinf(error_bound(lam, eps))


profiles = st.integers(2, 7).flatmap(lambda n: st.tuples(
    st.lists(st.one_of(st.just(0.0), st.floats(0.05, 5.0)), min_size=n, max_size=n),
    st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n),
    st.floats(0.2, 3.0),
))


@settings(max_examples=150, deadline=None)
@given(profiles)
def test_g5_lemmas_4_1_and_4_2(profile):
    eps, raw, L = (np.asarray(profile[0]), np.asarray(profile[1]), profile[2])
    win = eps > 0
    if not win.any():
        return
    n, k = eps.size, win.sum()
    lam = np.where(win, raw + 1e-3, 0.0)
    lam /= lam.sum()
    bias_min = 2 * (1 - k / n) * L
    var_min = 8 * L**2 / np.sum(eps**2)
    # any weights with zero weight on losers are no better than the lemmas' bounds
    assert bias_bound(lam, L) >= bias_min - 1e-9
    assert variance_bound(lam, eps, L) >= var_min * (1 - 1e-9)
    # BiasOpt and VarOpt attain them (Lemma 4.1: BIAS <= 2(1 - |W|/n)L; Lemma 4.2: VAR <= 8L^2/sum eps^2)
    assert bias_bound(bias_opt(eps), L) <= bias_min + 1e-9
    assert variance_bound(var_opt(eps), eps, L) <= var_min * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(profiles, st.sampled_from([1, 10, 50]))
def test_weights_on_simplex_and_error_optimal_is_best(profile, d_var):
    eps, L = np.asarray(profile[0]), profile[2]
    if not (eps > 0).any():
        return
    errs = {}
    for name in AGGREGATIONS:
        lam = aggregate(name, eps, L, d_var)
        assert np.all(lam >= 0)
        assert lam.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(lam[eps == 0] == 0)
        errs[name] = float(error_bound(lam, eps, L, d_var))
    best = min(errs["bias_opt"], errs["var_opt"], errs["data_size"])
    assert errs["error_opt"] <= best * (1 + 1e-8) + 1e-12


def test_error_optimal_with_unequal_data_sizes():
    eps = np.array([0.5, 1.0, 0.0, 3.0])
    size = np.array([1.0, 4.0, 2.0, 1.0])
    lam = error_optimal_weights(eps, data_size=size)
    for rule in ("bias_opt", "var_opt", "data_size"):
        other = aggregate(rule, eps, data_size=size)
        assert error_bound(lam, eps, data_size=size) <= error_bound(other, eps, data_size=size) + 1e-10
    # Lemma 4.1 with sizes: 2 (1 - sum_W w_j) L
    assert bias_bound(bias_opt(eps, size), data_size=size) == pytest.approx(2 * (1 - 6 / 8))


def test_var_opt_beats_bias_opt_only_in_the_d_scaled_reading():
    # docs/models/fl_market.md#allin-sanity / #err-measure: All-in, E = 5, B = 40, 1000 synthetic profiles
    rng = np.random.default_rng(5)
    kind, rate, eps_bar = synthetic_bids(10, 5.0, rng, (1000,))
    eps = all_in_multi_minded(kind, rate, eps_bar, 40.0).epsilon
    assert (eps > 0).any(axis=1).all()
    mean = {(rule, d): error_bound(aggregate(rule, eps), eps, d_var=d).mean()
            for rule in ("bias_opt", "var_opt") for d in (1, 10)}
    # paper reading (d = 1): BiasOpt is better (docs/models/fl_market.md#allin-sanity: 1.00 vs 1.40)
    assert mean["bias_opt", 1] < mean["var_opt", 1]
    assert mean["bias_opt", 1] == pytest.approx(1.00, abs=0.1)
    assert mean["var_opt", 1] == pytest.approx(1.40, abs=0.1)
    # d-scaled reading (d = 10): VarOpt is better (docs/models/fl_market.md#allin-sanity: 3.12 vs 4.27)
    assert mean["var_opt", 10] < mean["bias_opt", 10]
    assert mean["var_opt", 10] == pytest.approx(3.12, rel=0.1)
    assert mean["bias_opt", 10] == pytest.approx(4.27, rel=0.1)


@pytest.mark.parametrize("rule", ["bias_opt", "var_opt", "error_opt"])
def test_empirical_error_of_aggregated_laplace_gradient_matches_bound(rule):
    # worst-case gradients for the bias (each g_i = +-L e_1 by the sign of lambda_i - 1/n);
    # over many draws the per-coordinate variance matches VAR and the mean squared
    # error matches d VAR + BIAS^2
    rng = np.random.default_rng(7)
    L, d, draws = 1.0, 20, 4000
    eps = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    n = eps.size
    lam = aggregate(rule, eps, L, d_var=d)
    g = np.zeros((n, d))
    g[:, 0] = L * np.where(lam >= 1 / n, 1.0, -1.0)
    agg = np.stack([lam @ laplace_mechanism(g, eps, L, rng) for _ in range(draws)])
    var = float(variance_bound(lam, eps, L))
    coord_var = agg.var(axis=0)
    # per-coordinate sample variances, averaged over d coordinates: SE ~ var sqrt(5/(d draws))
    assert coord_var.mean() == pytest.approx(var, rel=4 * np.sqrt(6 / (d * draws)))
    mse = np.mean(np.sum((agg - g.mean(axis=0)) ** 2, axis=1))
    assert mse == pytest.approx(float(error_bound(lam, eps, L, d_var=d)), rel=0.05)
    assert np.linalg.norm(agg.mean(axis=0) - g.mean(axis=0)) == pytest.approx(
        float(bias_bound(lam, L)), abs=4 * np.sqrt(d * var / draws))
