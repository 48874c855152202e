"""Paper 000, fair values (Theorems 1-2): docs/models/fair_value.md#g2 and #g3, axioms, exact vs by-type vs Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from market.theory.fair_value.fair_values import (
    fair_values_with_platform,
    shapley_by_type,
    shapley_by_type_monte_carlo,
    shapley_exact,
    shapley_monte_carlo,
)
from market.theory.fair_value.mean_estimation import DPMeanEstimation, FederatedMeanEstimation, OwnerTypes

DP = DPMeanEstimation()  # eps' = inf: U = [[0, 2/3], [2/3, 1]]


def table_utility(table: np.ndarray, n_owners: int, n_levels: int):
    """A utility given by an arbitrary table over all profiles (base-L index), U(0) = 0."""
    powers = n_levels ** np.arange(n_owners)

    def U(rho: np.ndarray) -> np.ndarray:
        return table[np.asarray(rho, dtype=np.int64) @ powers]

    return U


# ---- golden test 2: Theorem 1 (eqs. 5-6, 11) ------------------------------------------------
def test_theorem1_values_dp_example():
    phi_p, phi = fair_values_with_platform(np.array([1, 1]), DP)
    assert phi_p == pytest.approx(5 / 9, abs=1e-9)
    np.testing.assert_allclose(phi, [2 / 9, 2 / 9], atol=1e-9)
    phi_p, phi = fair_values_with_platform(np.array([1, 0]), DP)
    assert phi_p == pytest.approx(1 / 3, abs=1e-9)
    np.testing.assert_allclose(phi, [1 / 3, 0.0], atol=1e-9)
    phi_p, phi = fair_values_with_platform(np.array([1, 1]), DP, z=0)
    assert phi_p == 0.0 and np.all(phi == 0.0)
    phi_p, phi = fair_values_with_platform(np.array([1, 1]), DPMeanEstimation(2.0))
    assert phi_p == pytest.approx(50 / 189, abs=1e-9)
    np.testing.assert_allclose(phi, [29 / 189, 29 / 189], atol=1e-9)


def test_theorem1_matrices_are_not_transposed():
    """Regression, eq. 11: the printed Phi_1 has user 1 paid 1/3 when rho_1 = 0 (null player violated)."""
    phi1 = np.array([[fair_values_with_platform(np.array([a, b]), DP)[1][0] for b in (0, 1)] for a in (0, 1)])
    printed_phi1 = np.array([[0, 1 / 3], [0, 2 / 9]])
    np.testing.assert_allclose(phi1, [[0, 0], [1 / 3, 2 / 9]], atol=1e-9)
    assert not np.allclose(phi1, printed_phi1)
    np.testing.assert_allclose(phi1[0], 0.0)  # rho_1 = 0 -> phi_1 = 0


# ---- golden test 3: Theorem 2 (eq. 7, 12/92 corrected) -----------------------------------------
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_theorem2_values_dp_example(alpha):
    assert shapley_exact(np.array([1, 0]), DP, alpha)[0] == pytest.approx(2 * alpha / 3, abs=1e-9)
    assert shapley_exact(np.array([1, 1]), DP, alpha)[0] == pytest.approx(alpha / 2, abs=1e-9)
    assert shapley_exact(np.array([0, 1]), DP, alpha)[0] == 0.0
    phi1 = np.array([[shapley_exact(np.array([a, b]), DP, alpha)[0] for b in (0, 1)] for a in (0, 1)])
    phi2 = np.array([[shapley_exact(np.array([a, b]), DP, alpha)[1] for b in (0, 1)] for a in (0, 1)])
    # eqs. 12/92 print these swapped; the corrected orientation has Phi_2 = Phi_1^T
    np.testing.assert_allclose(phi1, alpha * np.array([[0, 0], [2 / 3, 1 / 2]]), atol=1e-9)
    np.testing.assert_allclose(phi2, phi1.T, atol=1e-12)


def test_alpha_out_of_range_rejected():
    with pytest.raises(ValueError, match="alpha"):
        shapley_exact(np.array([1, 1]), DP, 1.5)


# ---- axioms on random small instances ----------------------------------------------------------
@st.composite
def random_games(draw):
    N = draw(st.integers(2, 5))
    L = draw(st.integers(2, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    table = rng.normal(size=L**N)
    table[0] = 0.0
    rho = rng.integers(0, L, size=N)
    alpha = float(rng.uniform(0, 1))
    return N, L, table, rho, alpha


@settings(max_examples=40, deadline=None)
@given(random_games())
def test_efficiency_and_null_level(game):
    N, L, table, rho, alpha = game
    U = table_utility(table, N, L)
    phi = shapley_exact(rho, U, alpha)
    assert phi.sum() == pytest.approx(alpha * U(rho), abs=1e-9)  # B.ii
    np.testing.assert_allclose(phi[rho == 0], 0.0, atol=1e-12)  # level 0 is a null player
    phi_p, phi1 = fair_values_with_platform(rho, U)
    assert phi_p + phi1.sum() == pytest.approx(U(rho), abs=1e-9)  # A.ii


@settings(max_examples=30, deadline=None)
@given(random_games())
def test_null_player_ignored_owner(game):
    """An owner the utility ignores gets 0 under both theorems (A.i / B.i)."""
    N, L, table, rho, alpha = game
    base = table_utility(table, N, L)

    def U(r):
        r = np.array(r, copy=True)
        r[..., 0] = 0
        return base(r)

    rho = rho.copy()
    rho[0] = L - 1
    assert shapley_exact(rho, U, alpha)[0] == pytest.approx(0.0, abs=1e-12)
    assert fair_values_with_platform(rho, U)[1][0] == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_symmetry_and_type_aggregation_match_exact(seed):
    """Interchangeable owners (equal level, data size, importance) get equal values; by-type = exact."""
    rng = np.random.default_rng(seed)
    N = int(rng.integers(2, 8))
    n = rng.choice([5.0, 50.0], size=N)
    a = rng.choice([1.0, 3.0], size=N)
    rho = rng.integers(0, 3, size=N)
    fl = FederatedMeanEstimation(float(rng.uniform(0.1, 10)), float(rng.uniform(0.1, 10)))
    exact = shapley_exact(rho, lambda r: fl(r, n, a), 0.7)
    types, owner_type = OwnerTypes.from_owners(rho, n, a)
    by_type = shapley_by_type(types.count, lambda K: fl.coalition_utility(K, types), 0.7, null=types.null)
    np.testing.assert_allclose(by_type[owner_type], exact, atol=1e-9 * (1 + np.abs(exact).max()))
    for t in range(types.size):
        members = exact[owner_type == t]
        np.testing.assert_allclose(members, members[0], atol=1e-9 * (1 + np.abs(exact).max()))
    phi_p, phi = shapley_by_type(types.count, lambda K: fl.coalition_utility(K, types), null=types.null,
                                 platform=True)
    ex_p, ex = fair_values_with_platform(rho, lambda r: fl(r, n, a))
    assert phi_p == pytest.approx(ex_p, abs=1e-9 * (1 + abs(ex_p)))
    np.testing.assert_allclose(phi[owner_type], ex, atol=1e-9 * (1 + np.abs(ex).max()))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(random_games())
def test_monte_carlo_agrees_with_exact_on_random_games(game):
    """Permutation estimates of random table games lie within 4 of their standard errors of eq. 7."""
    N, L, table, rho, alpha = game
    U = table_utility(table, N, L)
    exact = shapley_exact(rho, U, alpha)
    rng = np.random.default_rng(int(table.size * 1000 + rho @ np.arange(1, N + 1)))
    mc, se = shapley_monte_carlo(rho, U, rng, alpha=alpha, n_permutations=400)
    assert np.all(np.abs(mc - exact) <= 4 * se + 1e-9)
    assert mc.sum() == pytest.approx(alpha * U(rho), abs=1e-9)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(0, 2**31 - 1))
def test_exact_type_and_monte_carlo_agree_on_random_federated_games(seed):
    """Exact enumeration = exact by type; both Monte Carlo estimators within 4 standard errors."""
    rng = np.random.default_rng(seed)
    N = int(rng.integers(2, 9))
    n = rng.choice([5.0, 50.0], size=N)
    a = rng.choice([1.0, 3.0], size=N)
    rho = rng.integers(0, 3, size=N)
    fl = FederatedMeanEstimation(float(rng.uniform(0.1, 10)), float(rng.uniform(0.1, 10)))
    U = lambda r: fl(r, n, a)  # noqa: E731
    exact = shapley_exact(rho, U, 0.6)
    types, owner_type = OwnerTypes.from_owners(rho, n, a)
    G = lambda K: fl.coalition_utility(K, types)  # noqa: E731
    by_type = shapley_by_type(types.count, G, 0.6, null=types.null)
    tol = 1e-9 * (1 + np.abs(exact).max())
    np.testing.assert_allclose(by_type[owner_type], exact, atol=tol)
    mc, se = shapley_monte_carlo(rho, U, rng, alpha=0.6, n_permutations=400)
    assert np.all(np.abs(mc - exact) <= 4 * se + tol)
    mct, set_ = shapley_by_type_monte_carlo(types.count, G, rng, alpha=0.6, null=types.null, n_samples=400)
    assert np.all(np.abs(mct - by_type) <= 4 * set_ + tol)


def test_monte_carlo_within_four_standard_errors():
    n = np.array([100, 100, 10, 10, 100, 100, 10, 10, 10, 10.0])
    rho = np.array([2, 2, 2, 2, 1, 1, 1, 1, 1, 0])
    fl = FederatedMeanEstimation(1.0, 10.0)
    U = lambda r: fl(r, n)  # noqa: E731
    exact = shapley_exact(rho, U, 0.8)
    rng = np.random.default_rng(7)
    mc, se = shapley_monte_carlo(rho, U, rng, alpha=0.8, n_permutations=1500)
    assert mc.sum() == pytest.approx(0.8 * U(rho), abs=1e-9)  # each permutation is efficient
    active = rho > 0
    assert np.all(se[active] > 0)
    assert np.all(np.abs(mc - exact)[active] <= 4 * se[active])
    types, owner_type = OwnerTypes.from_owners(rho, n, np.ones(10))
    G = lambda K: fl.coalition_utility(K, types)  # noqa: E731
    mct, set_ = shapley_by_type_monte_carlo(types.count, G, rng, alpha=0.8, null=types.null, n_samples=1500)
    live = ~types.null
    assert np.all(np.abs(mct - shapley_by_type(types.count, G, 0.8, null=types.null))[live] <= 4 * set_[live])


def test_type_aggregation_large_population_is_polynomial():
    """1,000 owners in one sharing type and 1,000 private: no 2^N enumeration; efficiency holds."""
    types = OwnerTypes([0, 1], [1000, 1000], [1.0, 1.0], [1.0, 1.0])
    G = lambda K: DP.coalition_utility(K, types)  # noqa: E731
    phi = shapley_by_type(types.count, G, 0.5, null=types.null)
    assert phi[0] == 0.0
    assert 1000 * phi[1] == pytest.approx(0.5 * DP.utility_of_count(1000), rel=1e-12)


def test_exact_enumeration_refuses_huge_populations():
    with pytest.raises(ValueError, match="rho"):
        shapley_exact(np.ones(30, dtype=int), DP)
