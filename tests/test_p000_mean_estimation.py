"""Paper 000, utilities: docs/models/fair_value.md#g1, #g9, #g10 and the structural facts of docs/models/fair_value.md#fl-structure."""

from __future__ import annotations

import numpy as np
import pytest

from market.theory.fair_value.fair_values import fair_values_with_platform, shapley_by_type, shapley_exact
from market.theory.fair_value.mean_estimation import (
    DPMeanEstimation,
    FederatedMeanEstimation,
    OwnerTypes,
    UTILITIES,
    UnanimityUtility,
    make_utility,
)
from market.theory.fair_value.privacy_game import SymmetricBinaryGame

# Fig. 5 configuration (docs/models/fair_value.md#g10): 4 direct, 5 federating, 1 out
FIG5_RHO = np.array([2, 2, 2, 2, 1, 1, 1, 1, 1, 0])
FIG5_N = np.array([100, 100, 10, 10, 100, 100, 10, 10, 10, 10.0])


# ---- golden test 1: DP utility table ------------------------------------------------------------
def test_dp_bayes_risks_and_utility_table():
    dp = DPMeanEstimation()
    np.testing.assert_allclose(dp.risk([0, 1, 2]), [1 / 12, 1 / 18, 1 / 24], atol=1e-12)
    U = np.array([[dp(np.array([a, b])) for b in (0, 1)] for a in (0, 1)])
    np.testing.assert_allclose(U, [[0, 2 / 3], [2 / 3, 1]], atol=1e-12)


@pytest.mark.parametrize(
    "eps, one, two",
    [(1.0, 2 / 27, 1 / 4), (2.0, 2 / 9, 4 / 7), (2 * np.sqrt(3), 2 / 5, 4 / 5)],
)
def test_dp_finite_epsilon(eps, one, two):
    dp = DPMeanEstimation(eps)
    assert dp(np.array([1, 0])) == pytest.approx(one, abs=1e-12)
    assert dp(np.array([1, 1])) == pytest.approx(two, abs=1e-12)
    assert dp.utility_of_count(1) == pytest.approx(2 / (3 + 24 / eps**2), abs=1e-12)
    assert dp.utility_of_count(2) == pytest.approx(1 / (1 + 3 / eps**2), abs=1e-12)
    assert dp.weight(1) == pytest.approx(eps**2 / (3 * (eps**2 + 8)), abs=1e-12)
    assert dp.weight(2) == pytest.approx(eps**2 / (4 * (eps**2 + 3)), abs=1e-12)


def test_dp_risk_matches_simulated_estimator():
    """Empirical MSE of w* X_1 + Laplace(w*/eps') approaches r([eps', 0]) = (1 - w*)/12."""
    eps = 2.0
    dp = DPMeanEstimation(eps)
    w = float(dp.weight(1))
    rng = np.random.default_rng(3)
    m = 400_000
    mu = rng.uniform(-0.5, 0.5, m)
    x = np.where(rng.random(m) < mu + 0.5, 0.5, -0.5)
    est = w * x + rng.laplace(0.0, w / eps, m)
    err = (est - mu) ** 2
    assert abs(err.mean() - float(dp.risk(1))) < 4 * err.std() / np.sqrt(m)


# ---- golden test 9: federated estimator and utility ----------------------------------------------
def test_closed_form_weights_equal_qp_optimum():
    rng = np.random.default_rng(11)
    worst = 0.0
    checked = 0
    while checked < 40:
        N = int(rng.integers(2, 9))
        n = rng.integers(1, 200, N).astype(float)
        fl = FederatedMeanEstimation(float(rng.uniform(0.01, 20)), float(rng.uniform(0.1, 20)))
        rho = rng.integers(0, 3, N)
        if (rho == 1).sum() < 1 or (rho == 2).sum() < 1:
            continue
        checked += 1
        emse = fl.emse(rho, n)
        for i in range(N):
            w0, w = fl.optimal_weights(i, rho, n)
            q = fl.qp_weights(i, rho, n)
            worst = max(worst, float(np.max(np.abs(np.r_[w0, w] - q))))
            assert fl.emse_of_weights(i, rho, n, q) == pytest.approx(emse[i], rel=1e-10)
    assert worst < 1e-12


def test_emse_matches_monte_carlo():
    """Eq. 56 against a simulation with Gaussian theta and uniform sigma^2 (docs/models/fair_value.md#g9)."""
    s2, r2 = 2.0, 3.0
    n = np.array([5.0, 20.0, 8.0, 12.0, 3.0])
    rho = np.array([2, 1, 1, 2, 0])
    fl = FederatedMeanEstimation(s2, r2)
    rng = np.random.default_rng(5)
    m = 200_000
    theta = rng.normal(0.0, np.sqrt(s2), (m, 5))
    sigma2 = rng.uniform(0.0, 2 * r2, (m, 5))
    local = theta + rng.normal(size=(m, 5)) * np.sqrt(sigma2 / n)
    fed = local[:, rho == 1].mean(axis=1)
    direct = local[:, rho == 2]
    emse = fl.emse(rho, n)
    for i in range(5):
        w0, w = fl.optimal_weights(i, rho, n)
        err = (w0 * fed + direct @ w - theta[:, i]) ** 2
        assert abs(err.mean() - emse[i]) < 4 * err.std() / np.sqrt(m)


def test_single_sharer_utility():
    fl = FederatedMeanEstimation(100.0, 1.0)
    rho = np.zeros(10, dtype=int)
    rho[0] = 2
    U = fl(rho, np.full(10, 100.0))
    assert U == pytest.approx(np.log(201 / 0.01) + 9 * np.log(201 / 200.01), abs=1e-9)
    assert U == pytest.approx(9.95291, abs=1e-5)


def test_lone_federator_and_zero_profile():
    fl = FederatedMeanEstimation(100.0, 1.0)
    n = FIG5_N
    one = np.zeros(10, dtype=int)
    one[0] = 1
    two = np.zeros(10, dtype=int)
    two[0] = 2
    assert fl(one, n) == pytest.approx(fl(two, n), abs=1e-12)
    assert fl(one, n) == pytest.approx(9.953, abs=1e-3)
    assert fl(np.array([2, 1] + [0] * 8), n) == pytest.approx(fl(np.array([2, 2] + [0] * 8), n), abs=1e-12)
    assert fl(np.array([2, 2] + [0] * 8), n) == pytest.approx(22.158, abs=1e-3)
    assert fl(np.zeros(10, dtype=int), n) == 0.0
    np.testing.assert_allclose(fl.emse(np.zeros(10, dtype=int), n), 1.0 + 200.0)


def test_federated_utility_not_monotone_and_negative_fair_values():
    """docs/models/fair_value.md#fl-structure: a second federating owner lowers U; a starred federating owner makes others' values negative."""
    fl = FederatedMeanEstimation(100.0, 1.0)
    n = FIG5_N
    assert fl(np.array([1, 1] + [0] * 8), n) == pytest.approx(5.123, abs=1e-3)
    assert fl(np.array([1, 1] + [0] * 8), n) < fl(np.array([1] + [0] * 9), n)
    a = np.ones(10)
    a[4] = 100.0  # the starred owner: level 1, n = 100
    phi = shapley_exact(FIG5_RHO, lambda r: fl(r, n, a))
    U = fl(FIG5_RHO, n, a)
    assert U == pytest.approx(131.4, abs=0.05)
    assert phi[4] == pytest.approx(247.4, abs=0.05)
    np.testing.assert_allclose(phi[5], -42.0, atol=0.05)
    assert np.all(phi[5:9] < 0)
    assert phi.sum() == pytest.approx(U, abs=1e-9)


# ---- golden test 10 and Fig. 5 orderings ---------------------------------------------------------
def _fig5(s2, r2, importance=None):
    fl = FederatedMeanEstimation(s2, r2)
    a = np.ones(10) if importance is None else importance
    U = fl(FIG5_RHO, FIG5_N, a)
    return shapley_exact(FIG5_RHO, lambda r: fl(r, FIG5_N, a)), U


def test_fig5a_heterogeneous_privacy_level_drives_payment():
    phi, U = _fig5(100.0, 1.0)
    assert phi.sum() == pytest.approx(U, abs=1e-9) and phi[9] == 0.0
    assert np.all(phi[FIG5_RHO == 2] > U / 10) and np.all(phi[FIG5_RHO == 1] < U / 10)
    np.testing.assert_allclose(phi[[0, 2, 4, 6]] - U / 10, [5.95, 3.65, -2.69, -3.27], atol=0.01)
    assert U == pytest.approx(40.23, abs=0.01)


def test_fig5a_homogeneous_data_size_drives_payment():
    phi, U = _fig5(0.1, 100.0)
    big = (FIG5_N == 100) & (FIG5_RHO > 0)
    small = (FIG5_N == 10) & (FIG5_RHO > 0)
    assert np.all(phi[big] > U / 10) and np.all(phi[small] < U / 10)
    # at equal n, rho = 2 is still paid more than rho = 1
    assert phi[0] > phi[4] and phi[2] > phi[6]
    assert U == pytest.approx(54.36, abs=0.01)


def test_fig5a_intermediate_favours_data_slightly():
    phi, U = _fig5(1.0, 10.0)
    assert phi[0] > U / 10 and phi[4] > U / 10  # n = 100 users above average
    assert phi[6] < U / 10  # small federating users below
    assert U == pytest.approx(31.18, abs=0.01)


def test_fig5b_starred_user():
    a = np.ones(10)
    a[0] = 100.0  # star on a (rho = 2, n = 100) owner
    phi, U = _fig5(100.0, 1.0, a)
    assert phi[0] / U == pytest.approx(0.93, abs=0.01)
    assert phi[0] == phi.max()
    phi, U = _fig5(0.1, 100.0, a)
    assert phi[0] / U == pytest.approx(0.23, abs=0.01)
    big = FIG5_N == 100
    assert np.all(phi[big & (FIG5_RHO > 0)] > U / 10)  # large-n owners (incl. rho = 1) benefit


# ---- the unanimity utility of eq. 48 and its fair values (eq. 49) ------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_unanimity_fair_values_eq49(seed):
    """alpha/|T| to every member of T = {a_i > 0} when all of T shares, else 0 (the paper prints alpha/T)."""
    rng = np.random.default_rng(seed)
    N = int(rng.integers(2, 8))
    a = rng.choice([0.0, 1.0, 2.5], size=N)
    a[0] = 1.0
    rho = rng.integers(0, 2, size=N)
    rho[a > 0] = 1 if seed % 2 == 0 else rho[a > 0]
    un = UnanimityUtility()
    U = lambda r: un(r, None, a)  # noqa: E731
    phi = shapley_exact(rho, U, 0.7)
    T = a > 0
    held = bool(np.all(rho[T] > 0))
    assert U(rho) == float(held)
    np.testing.assert_allclose(phi, np.where(T & held, 0.7 / T.sum(), 0.0), atol=1e-12)
    types, owner_type = OwnerTypes.from_owners(rho, np.ones(N), a)
    by_type = shapley_by_type(types.count, lambda K: un.coalition_utility(K, types), 0.7, null=types.null)
    np.testing.assert_allclose(by_type[owner_type], phi, atol=1e-12)
    # Theorem 1: the platform is one more member of the unanimity coalition
    phi_p, phi1 = fair_values_with_platform(rho, U)
    assert phi_p == pytest.approx(held / (T.sum() + 1), abs=1e-12)
    np.testing.assert_allclose(phi1, np.where(T & held, 1 / (T.sum() + 1), 0.0), atol=1e-12)


def test_unanimity_choices_are_strategic_complements():
    """gamma(p) = (1 - p)^(N-1) / N decreases: Assumption 2 fails, so eq. 88 is refused."""
    game = SymmetricBinaryGame(UnanimityUtility(), 3)
    p = np.linspace(0, 1, 11)
    np.testing.assert_allclose(game.gamma(p), (1 - p) ** 2 / 3, atol=1e-12)
    assert not game.satisfies_assumption_2()
    with pytest.raises(ValueError, match="Assumption 2"):
        game.p_star(0.5, 0.1)


def test_utilities_selectable_by_name():
    assert set(UTILITIES) == {"dp_mean", "federated_mean", "unanimity"}
    assert isinstance(make_utility("unanimity"), UnanimityUtility)
    fl = make_utility("federated_mean", s2=1.0, r2=10.0)
    assert isinstance(fl, FederatedMeanEstimation) and fl.s2 == 1.0
    with pytest.raises(ValueError, match="utility"):
        make_utility("nope")
    with pytest.raises(ValueError, match="utility_params"):
        make_utility("dp_mean", bogus=1.0)
    with pytest.raises(ValueError, match="r2"):
        FederatedMeanEstimation(1.0, 0.0)
