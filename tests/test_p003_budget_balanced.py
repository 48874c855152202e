"""Paper 003: the budget-balanced mechanism M_beta, beta*, Theorem 4.1 and Table 1 (docs/models/contribution_game.md#g2 to #g4, G8-G10)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from market.theory.contribution_game.game import (
    ContributionGame,
    best_response_dynamics,
    budget_balanced_payments,
    fedavg,
    fedbr,
    fedbr_bg,
    gradient_dynamics,
    optimal_beta,
    welfare_maximum,
)
from market.theory.contribution_game.payoffs import ConvexCost, Logarithmic, PowerLaw
from market.theory.contribution_game.welfare import p_mean_welfare

costs = st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=2, max_size=40)


# ---------------------------------------------------------------- beta* (G2, G3, Lemma 1)
@pytest.mark.parametrize(("slopes", "expected"), [
    ([5.0, 4.0], 4 / 9),
    ([1.0, 1.0], 0.5),
    ([0.005] * 10, 0.9),
    ([0.005] * 100, 0.99),
    ([1.0, 2.0, 3.0], 0.433085),
    ([1.0, 2.0], 1 / 3),
    ([1.0, 10.0], 1 / 11),
    ([1.0, 2.0, 3.0, 4.0, 5.0], 0.495872),
    ([1.0, 1.0, 1.0, 100.0], 0.029126),
])
def test_beta_star_golden_values(slopes: list[float], expected: float) -> None:
    assert optimal_beta(slopes) == pytest.approx(expected, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(costs)
def test_beta_star_solves_eq6_within_lemma1_bounds(slopes: list[float]) -> None:
    c = np.array(slopes)
    n = c.size
    beta = optimal_beta(c)
    assert 0.0 <= beta <= 1 - 1 / n + 1e-12
    a, total = 1 / np.sum(1 / c), c.sum()
    residual = total * beta**2 - (a * n * (n - 2) + total) * beta + a * (n - 1) ** 2
    scale = total + a * n * n + a * (n - 1) ** 2
    assert abs(residual) <= 1e-9 * scale
    if n == 2:
        assert beta == pytest.approx(c.min() / c.sum(), rel=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=1e-4, max_value=1e4), st.integers(min_value=2, max_value=500))
def test_beta_star_identical_costs(cost: float, n: int) -> None:
    assert optimal_beta(np.full(n, cost)) == pytest.approx(1 - 1 / n, abs=1e-12)


def test_beta_star_rejects_bad_costs() -> None:
    with pytest.raises(ValueError, match="slopes:"):
        optimal_beta([1.0])
    with pytest.raises(ValueError, match="slopes:"):
        optimal_beta([1.0, 0.0])


# ---------------------------------------------------------------- budget balance (G4)
@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=2, max_value=30), st.floats(min_value=0.0, max_value=1.0),
       st.integers(min_value=0, max_value=2**32 - 1))
def test_payments_sum_to_zero(n: int, beta: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cost = ConvexCost(rng.lognormal(0, 1, n), curvature=rng.uniform(0, 1, n), offset=rng.normal(0, 1, n))
    game = ContributionGame(Logarithmic(n), cost, rng.uniform(1, 10, n), beta=beta)
    s = rng.uniform(0, 1, n) * game.tau
    pay = game.payments(s)
    assert abs(pay.sum()) <= 1e-12 * max(1.0, np.abs(cost(s)).sum())
    np.testing.assert_allclose(game.utility(s), game.payoff(s) - cost(s) + pay)


def test_example1_payments_at_beta_star() -> None:
    game = ContributionGame(PowerLaw(2, alpha=1.0, exponent=1.0, offset=8.0), ConvexCost([5.0, 4.0]),
                            [1.6, 2.0])
    mech = game.with_beta(optimal_beta([5.0, 4.0]))
    run = best_response_dynamics(mech, [0.3, 0.3])
    np.testing.assert_allclose(run.final, [0.0, 1 / np.sqrt(20 / 9)], atol=1e-7)
    np.testing.assert_allclose(mech.payments(run.final), [-1.192570, 1.192570], atol=1e-6)
    np.testing.assert_allclose(budget_balanced_payments(np.array([1.0, 3.0]), 0.5), [-1.0, 1.0])


# ---------------------------------------------------------------- Theorem 4.1, identical costs (G8)
def test_theorem_4_1_identical_costs_ne_maximises_every_p_mean() -> None:
    game = ContributionGame(Logarithmic(3), ConvexCost(1.0, n=3), 10.0, budget=5.0)
    beta = optimal_beta(game.cost.slope)
    assert beta == pytest.approx(2 / 3)
    mech = game.with_beta(beta)
    rng = np.random.default_rng(7)
    for s0, expected in ((np.ones(3), [2 / 3] * 3), (np.zeros(3), [2 / 3] * 3),
                         (np.array([3.0, 0.0, 0.5]), [2.0, 0.0, 0.0])):
        run = gradient_dynamics(mech, s0, step=0.5, iterations=2000, tol=1e-12)
        np.testing.assert_allclose(run.final, expected, atol=1e-9)
        np.testing.assert_allclose(run.utilities[-1], 5 + np.log(3) - 2 / 3, atol=1e-9)
        assert abs(run.payments[-1].sum()) < 1e-12
    ne = np.full(3, 2 / 3)
    assert mech.is_nash_equilibrium(ne)
    assert p_mean_welfare(mech.utility(ne), 1) == pytest.approx(16.29584, abs=1e-5)
    for p in (1.0, 0.5, 0.0, -1.0):
        best, _ = welfare_maximum(mech, p, rng)
        at_ne = p_mean_welfare(mech.utility(ne), p)
        assert at_ne == pytest.approx(best, rel=1e-7)
        assert at_ne >= best * (1 - 1e-9)


# ---------------------------------------------------------------- Theorem 4.1 known limit (G10, docs/models/contribution_game.md#corr-thm-4-1)
def test_theorem_4_1_fails_for_heterogeneous_costs_known_limit() -> None:
    """docs/models/contribution_game.md#corr-thm-4-1: the paper's Theorem 4.1 does NOT hold for heterogeneous costs.

    c = w = (1, 2, 3): the all-positive NE of M_beta* has W_1 = 16.8774 while
    s -> (5, 0+, 0+) attains 20.7506; the same gap appears for p = 0.5, 0, -1.
    """
    c = np.array([1.0, 2.0, 3.0])
    game = ContributionGame(Logarithmic(3, weight=c), ConvexCost(c), 10.0, budget=5.0)
    beta = optimal_beta(c)
    assert beta == pytest.approx(0.433085, abs=1e-6)
    mech = game.with_beta(beta)
    total = 1 / (1 - beta) - 1
    assert total == pytest.approx(0.76394, abs=1e-5)
    ne = np.full(3, total / 3)
    assert np.all(ne > 0) and mech.is_nash_equilibrium(ne, tol=1e-12)
    assert abs(mech.payments(ne).sum()) < 1e-12
    assert p_mean_welfare(mech.utility(ne), 1) == pytest.approx(16.8774, abs=1e-4)
    assert p_mean_welfare(mech.utility(np.array([5.0, 0.0, 0.0])), 1) == pytest.approx(20.7506, abs=1e-4)
    rng = np.random.default_rng(11)
    for p in (1.0, 0.5, 0.0, -1.0):
        best, where = welfare_maximum(mech, p, rng)
        assert np.all(where > 0)
        assert best > 1.1 * p_mean_welfare(mech.utility(ne), p)
    assert welfare_maximum(mech, 1.0, rng)[0] == pytest.approx(20.7506, abs=1e-3)


# ---------------------------------------------------------------- Table 1 analogue (G9, G11)
def test_table1_ordering_fedbr_bg_fedbr_fedavg() -> None:
    n = 10
    game = ContributionGame(PowerLaw(n, alpha=1.0, exponent=0.5, offset=1.0), ConvexCost(0.005, n=n), 100.0)
    s0 = np.arange(10.0, 101.0, 10.0)
    br = fedbr(game, s0, steps=1500, step_size=500.0)
    bg = fedbr_bg(game, s0, steps=1500, step_size=500.0)
    avg = fedavg(game)
    assert bg.beta == pytest.approx(0.9)
    assert br.final.sum() == pytest.approx(100 ** (2 / 3), abs=1e-4)
    np.testing.assert_allclose(br.final[-2:], [5.772, 15.772], atol=1e-3)
    np.testing.assert_allclose(bg.final, [0] * 6 + [10, 20, 30, 40], atol=1e-6)
    np.testing.assert_allclose(bg.utilities[-1], 0.85, atol=1e-9)
    np.testing.assert_allclose(np.abs(bg.payments.sum(axis=1)), 0.0, atol=1e-12)
    expected = {
        "FedAvg": [46837.72, 148.114, 21.740, 8.329, 4.684],
        "FedBR": [77346.65, 244.617, 35.909, 13.759, 7.738],
        "FedBR-BG": [85000.0, 268.794, 39.454, 15.115, 8.5],
    }
    for k, p in enumerate((0.2, 0.4, 0.6, 0.8, 1.0)):
        got = {"FedAvg": avg.welfare(p)[-1], "FedBR": br.welfare(p)[-1], "FedBR-BG": bg.welfare(p)[-1]}
        for name, values in expected.items():
            assert got[name] == pytest.approx(values[k], rel=2e-4)
        assert got["FedBR-BG"] > got["FedBR"] > got["FedAvg"]
