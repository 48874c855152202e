"""Paper 000, the game and the platform's design problem: docs/models/fair_value.md#g4 to #g8, Theorem 3, Figs. 6-8."""

from __future__ import annotations

import numpy as np
import pytest

from market.theory.fair_value.mean_estimation import DPMeanEstimation, FederatedMeanEstimation
from market.theory.fair_value.privacy_game import (
    OwnerClasses,
    PrivacyGame,
    SymmetricBinaryGame,
    bimatrix_equilibria,
    two_group_optimal_alpha,
    two_group_payoffs,
)

DP = DPMeanEstimation()
SYM = SymmetricBinaryGame(DP, 2)


# ---- golden test 4: gamma(p), U(p) from the fair values --------------------------------------
def test_gamma_and_expected_utility():
    p = np.linspace(0, 1, 11)
    np.testing.assert_allclose(SYM.gamma(p), 0.5 + p / 6, atol=1e-12)
    np.testing.assert_allclose(SYM.expected_utility(p), 1 - 2 * p / 3 - p**2 / 3, atol=1e-12)
    assert SYM.gamma_min == pytest.approx(0.5, abs=1e-12)
    assert SYM.gamma_max == pytest.approx(2 / 3, abs=1e-12)
    assert SYM.expected_utility(0.5) == pytest.approx(7 / 12, abs=1e-12)
    np.testing.assert_allclose(SYM.share_values, [2 / 3, 1 / 2], atol=1e-12)  # not hard-coded: fair values
    np.testing.assert_allclose(SYM.private_values, [0.0, 0.0], atol=1e-12)


def test_assumption_2_depends_on_epsilon():
    """gamma is increasing only for eps' > 2 sqrt(3) (docs/models/fair_value.md#example-n2); eq. 88 then does not apply."""
    assert SymmetricBinaryGame(DPMeanEstimation(4.0), 2).satisfies_assumption_2()
    weak = SymmetricBinaryGame(DPMeanEstimation(2.0), 2)
    np.testing.assert_allclose(weak.gamma(np.array([0.0, 1.0])), [2 / 7, 2 / 7 - 4 / 63], atol=1e-12)
    assert not weak.satisfies_assumption_2()
    with pytest.raises(ValueError, match="Assumption 2"):
        weak.p_star(0.5, 0.1)


# ---- golden test 5: symmetric NE p*(alpha) -----------------------------------------------------
@pytest.mark.parametrize(
    "c, alpha, p",
    [(0.3, 0.3, 1.0), (0.3, 0.5, 0.6), (0.3, 0.55, 3 / 11), (0.3, 0.61, 0.0), (0.5, 0.8, 0.75), (0.5, 0.9, 1 / 3)],
)
def test_symmetric_ne(c, alpha, p):
    assert float(SYM.p_star(alpha, c)) == pytest.approx(p, abs=1e-9)
    grid = np.linspace(0, 1, 100_001)
    cheng = SYM.cheng_objective(grid, alpha, c)  # eq. 76, brute force
    assert abs(grid[np.argmin(cheng)] - p) <= 1e-5
    assert float(SYM.cheng_objective(p, alpha, c)) == pytest.approx(0.0, abs=1e-18)


# ---- golden test 6: alpha*(c) under the symmetric mixed NE -----------------------------------
@pytest.mark.parametrize(
    "c, alpha, payoff, U, p",
    [
        (0.1, 0.2, 0.8, 1.0, 0.0),
        (0.3, 0.6, 0.4, 1.0, 0.0),
        (0.4, 0.75, 0.21333333, 0.85333333, 0.2),
        (0.5, 6 / 7, 1 / 12, 7 / 12, 0.5),
        (0.6, 18 / 19, 0.01333333, 0.25333333, 0.8),
        (0.7, 0.0, 0.0, 0.0, 1.0),
        (0.9, 0.0, 0.0, 0.0, 1.0),
        (1.0, 0.0, 0.0, 0.0, 1.0),
    ],
)
def test_optimal_alpha_table(c, alpha, payoff, U, p):
    res = SYM.optimal_alpha(c, "symmetric_mixed")
    assert res.alpha == pytest.approx(alpha, abs=1e-5)
    assert res.platform_payoff == pytest.approx(payoff, abs=1e-6)
    assert res.utility == pytest.approx(U, abs=1e-5)
    assert res.strategy == pytest.approx(p, abs=1e-5)


def test_alpha_star_closed_form_and_fig8_shape():
    cs = np.linspace(0.02, 1.0, 50)
    res = [SYM.optimal_alpha(c) for c in cs]
    alpha = np.array([r.alpha for r in res])
    expected = np.where(cs <= 1 / 3, 2 * cs, np.where(cs <= 2 / 3, 6 * cs / (3 * cs + 2), 0.0))
    np.testing.assert_allclose(alpha, expected, atol=1e-5)
    pay = np.array([r.platform_payoff for r in res])
    U = np.array([r.utility for r in res])
    below = cs < 2 / 3
    assert np.all(np.diff(alpha[below]) > 0)  # increasing on [0, 2/3)
    assert np.all(np.diff(pay) <= 1e-12)  # platform payoff non-increasing
    assert np.all(np.abs(U[cs < 1 / 3] - 1.0) <= 1e-9)
    mid = (cs > 1 / 3) & below
    assert np.all(np.diff(U[mid]) < 0)
    np.testing.assert_allclose(pay[mid], (2 - 3 * cs[mid]) ** 2 / 3, atol=1e-6)


def test_thresholds_of_theorem3():
    assert SYM.gamma_max == pytest.approx(2 / 3, abs=1e-12)
    assert SYM.sensitivity_threshold(step=1e-3) == pytest.approx(1 / 3, abs=1e-3)  # eq. 24 scan


def test_equilibrium_selection_matters_at_c_045():
    mixed = SYM.optimal_alpha(0.45, "symmetric_mixed")
    favourite = SYM.optimal_alpha(0.45, "platform_favourite")
    assert mixed.platform_payoff == pytest.approx((2 - 3 * 0.45) ** 2 / 3, abs=1e-6)
    assert mixed.platform_payoff == pytest.approx(0.1408, abs=1e-4)
    assert favourite.platform_payoff == pytest.approx(2 / 3 - 0.45, abs=1e-9)
    assert favourite.platform_payoff == pytest.approx(0.2167, abs=1e-4)
    assert favourite.alpha == pytest.approx(1.5 * 0.45, abs=1e-9)
    assert favourite.strategy == 0.5  # one of the two owners shares
    with pytest.raises(ValueError, match="selection"):
        SYM.optimal_alpha(0.45, "bogus")


# ---- golden test 8: two sensitivities, platform's favourite pure NE ----------------------------
@pytest.mark.parametrize(
    "c, alpha, payoff, shares",
    [
        ((0.1, 0.1), 0.2, 0.8, (1, 1)),
        ((0.3, 0.3), 0.6, 0.4, (1, 1)),
        ((0.2, 0.05), 0.075, 0.6166667, (0, 1)),
        ((0.5, 0.4), 0.6, 0.2666667, (0, 1)),
        ((0.4, 0.5), 0.6, 0.2666667, (1, 0)),
        ((0.7, 0.7), 0.0, 0.0, (0, 0)),
    ],
)
def test_two_groups(c, alpha, payoff, shares):
    res = two_group_optimal_alpha(DP, c, include_mixed=False)
    assert res.alpha == pytest.approx(alpha, abs=1e-6)
    assert res.platform_payoff == pytest.approx(payoff, abs=1e-6)
    s1, s2 = res.strategy
    assert (s1[1], s2[1]) == shares
    if c == (0.5, 0.4):
        A, B = two_group_payoffs(DP, c, res.alpha)
        assert res.alpha * SYM.share_values[0] == pytest.approx(0.4, abs=1e-6)  # payment to user 2 = c2
        assert B[0, 1] == pytest.approx(0.0, abs=1e-6)  # user 2 exactly compensated


def test_two_group_mixed_equilibria_do_not_change_golden_cells():
    for c, payoff in (((0.1, 0.1), 0.8), ((0.5, 0.4), 0.2666667)):
        assert two_group_optimal_alpha(DP, c, grid=51).platform_payoff == pytest.approx(payoff, abs=1e-6)


def test_two_group_knife_edge_mixed_equilibrium_beats_pure():
    """docs/models/fair_value.md#two-groups: at (c1, c2) = (0.275, 0.3) the mixed NE pays the platform up to 0.4091 as alpha -> 2 c1.

    With user 2 sharing, user 1 mixes at p = 3 c2 / c1 - 3 = 3/11 and the platform keeps
    (1 - 2 c1)(1 - p/3) = 0.40909, above the best pure NE (both share at alpha = 0.6: 0.4).  The
    alpha grid alone stops at 0.4036; the refinement must reach the supremum.
    """
    c1, c2 = 0.275, 0.3
    p = 3 * c2 / c1 - 3
    pure = two_group_optimal_alpha(DP, (c1, c2), include_mixed=False)
    assert pure.platform_payoff == pytest.approx(0.4, abs=1e-9)
    res = two_group_optimal_alpha(DP, (c1, c2))
    assert res.platform_payoff == pytest.approx((1 - 2 * c1) * (1 - p / 3), abs=1e-6)
    assert res.platform_payoff == pytest.approx(0.4091, abs=1e-4)
    assert res.alpha == pytest.approx(2 * c1, abs=1e-6)
    s1, s2 = res.strategy
    assert s1[0] == pytest.approx(p, abs=1e-5) and s2[1] == pytest.approx(1.0, abs=1e-5)


def test_eq26_printed_objective_is_the_payment():
    """Regression: eq. 26 as printed maximises alpha E[U] (the payments), which pushes alpha to 1."""
    game = PrivacyGame(DP, OwnerClasses([1, 1], [[0, 0.1], [0, 0.1]]))
    printed = []
    for X in game.profiles():
        iv = game.equilibrium_interval(X)
        if iv is not None:
            printed.append((iv[1] * game.total_utility(X), iv[1]))
    best_printed = max(printed)
    assert best_printed[1] == pytest.approx(1.0)  # printed objective: pay everything
    corrected = two_group_optimal_alpha(DP, (0.1, 0.1), include_mixed=False)
    assert corrected.alpha == pytest.approx(0.2) and corrected.platform_payoff == pytest.approx(0.8)


def _table_entry(c1, c2, alpha):
    g_min, g_max = 0.5, 2 / 3

    def region(c):
        return 0 if alpha < c / g_max else (2 if alpha > c / g_min else 1)

    r1, r2 = region(c1), region(c2)
    if r1 == 1 and r2 == 1:
        mixed = (float(SYM.p_star(alpha, c2)), float(SYM.p_star(alpha, c1)))  # corrected App. E entry
        return {(1.0, 0.0), (0.0, 1.0), mixed}
    table = {(0, 0): (1, 1), (1, 0): (0, 1), (2, 0): (0, 1), (0, 1): (1, 0), (2, 1): (0, 1),
             (0, 2): (1, 0), (1, 2): (1, 0), (2, 2): (0, 0)}
    return {tuple(float(x) for x in table[(r1, r2)])}


def test_appendix_e_equilibrium_table():
    rng = np.random.default_rng(2)
    seen = set()
    for _ in range(150):
        c1, c2 = rng.uniform(0.05, 0.6, 2)
        alpha = rng.uniform(0.05, 1.0)
        bounds = np.array([c1, c2])[:, None] / np.array([0.5, 2 / 3])[None, :]
        if np.min(np.abs(bounds - alpha)) < 1e-3:
            continue
        expected = _table_entry(c1, c2, alpha)
        A, B = two_group_payoffs(DP, (c1, c2), alpha)
        equilibria = bimatrix_equilibria(A, B)
        for s1, s2 in equilibria:  # brute-force best-response check of every equilibrium found
            assert s1 @ A @ s2 >= np.max(A @ s2) - 1e-12 and s1 @ B @ s2 >= np.max(s1 @ B) - 1e-12
        found = {(round(s1[0], 9), round(s2[0], 9)) for s1, s2 in equilibria}
        assert found == {(round(p, 9), round(q, 9)) for p, q in expected}
        seen.add(len(expected))
        vertex = {(round(s1[0], 9), round(s2[0], 9)) for s1, s2 in bimatrix_equilibria(A, B, "vertex")}
        assert vertex == found
    assert seen == {1, 3}


# ---- Fig. 6: the Fig. 5a-left configuration is a NE -----------------------------------------
FIG6_CLASSES = OwnerClasses(
    size=[2, 2, 2, 3, 1],
    cost=np.outer([1.0, 2.0, 6.0, 4.2, 8.0], [0.0, 0.08, 1.0]),
    data_size=[100, 10, 100, 10, 10],
)
FIG6_PROFILE = np.array([[0, 0, 2], [0, 0, 2], [0, 2, 0], [0, 3, 0], [1, 0, 0]])


def test_fig6_configuration_is_nash_equilibrium():
    game = PrivacyGame(FederatedMeanEstimation(100.0, 1.0), FIG6_CLASSES)
    assert game.is_equilibrium(FIG6_PROFILE, 0.5)
    lo, hi = game.equilibrium_interval(FIG6_PROFILE)
    assert lo < 0.5 < hi
    br = game.best_response(FIG6_PROFILE, 0.5)
    occupied = FIG6_PROFILE > 0
    assert np.all(br[occupied] == np.nonzero(occupied)[1])
    assert not game.is_equilibrium(FIG6_PROFILE, 0.2)  # too little pay: direct sharers defect


def test_pure_ne_and_platform_optimum_small_fl_game():
    """Eqs. 18-19 on a small FL game: the optimum's profile is a NE at alpha* and beats every grid point."""
    fl = FederatedMeanEstimation(100.0, 1.0)
    classes = OwnerClasses(size=[2, 1, 1], cost=np.outer([1.0, 3.0, 9.0], [0.0, 0.1, 1.0]),
                           data_size=[100, 10, 10])
    game = PrivacyGame(fl, classes)
    best = game.platform_optimum()
    assert game.is_equilibrium(best.strategy, best.alpha)
    assert best.platform_payoff == pytest.approx((1 - best.alpha) * game.total_utility(best.strategy))
    grid = np.linspace(0, 1, 101)
    land = game.landscape(grid)
    assert np.nanmax(land) <= best.platform_payoff + 1e-9
    ne = game.pure_equilibria(best.alpha)
    assert any(np.array_equal(X, best.strategy) for X in ne)
