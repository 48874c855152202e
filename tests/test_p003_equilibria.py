"""Paper 003: payoffs, welfare, Nash equilibria and best-response dynamics (docs/models/contribution_game.md#g1, #g5, G6, G8)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from market.core.families import PAYOFFS, make_payoff
from market.theory.contribution_game.game import (
    ContributionGame,
    Theorem32,
    best_response_dynamics,
    contraction_condition,
    gradient_dynamics,
    measured_theorem_3_2,
    observed_rate,
)
from market.theory.contribution_game.payoffs import (
    CallablePayoff,
    ConvexCost,
    ExponentialSaturation,
    GeneralizationBound,
    LinearDiscovery,
    Logarithmic,
    PowerLaw,
    RampCycle,
    RandomCoverage,
)
from market.theory.contribution_game.welfare import p_mean_welfare


def example1() -> ContributionGame:
    """Example 1: a(s) = 8 - 1/(s1 + s2), c = (5 s1, 4 s2), tau = (1.6, 2)."""
    return ContributionGame(PowerLaw(2, alpha=1.0, exponent=1.0, offset=8.0), ConvexCost([5.0, 4.0]),
                            [1.6, 2.0])


# ---------------------------------------------------------------- welfare
def test_welfare_special_cases() -> None:
    u = np.array([6.0, 4.0])
    assert p_mean_welfare(u, 1) == pytest.approx(10.0)
    assert p_mean_welfare(u, 1, normalized=True) == pytest.approx(5.0)
    assert p_mean_welfare(u, 0) == pytest.approx(24.0)
    assert p_mean_welfare(u, 0, normalized=True) == pytest.approx(math.sqrt(24.0))
    assert p_mean_welfare(u, -np.inf) == pytest.approx(4.0)
    assert p_mean_welfare(u, 0.5) == pytest.approx((math.sqrt(6) + 2) ** 2)
    assert p_mean_welfare(u, -1) == pytest.approx(1 / (1 / 6 + 1 / 4))
    # the normalised mean tends to the geometric mean as p -> 0
    assert p_mean_welfare(u, 1e-7, normalized=True) == pytest.approx(math.sqrt(24.0), rel=1e-6)
    # rows = rounds
    np.testing.assert_allclose(p_mean_welfare(np.array([[6.0, 4.0], [1.0, 1.0]]), 1), [10.0, 2.0])


def test_welfare_domain_errors() -> None:
    with pytest.raises(ValueError, match="p:"):
        p_mean_welfare([1.0, 2.0], 1.5)
    with pytest.raises(ValueError, match="utility:"):
        p_mean_welfare([1.0, -2.0], 0.5)
    with pytest.raises(ValueError, match="utility:"):
        p_mean_welfare([1.0, 0.0], -1)
    assert p_mean_welfare([1.0, -2.0], 1) == pytest.approx(-1.0)


# ---------------------------------------------------------------- payoffs
def _payoff_zoo(rng: np.random.Generator) -> list:
    q = rng.dirichlet(np.ones(6), size=4) * 0.9 + 0.1 / 6
    return [
        PowerLaw(4, alpha=[1.0, 2.0, 0.5, 1.0], exponent=[0.5, 1.0, 0.3, 0.8], offset=2.0),
        GeneralizationBound(4, a0=1.0, k=2.0, weight=[1.0, 2.0, 0.5, 1.0]),
        ExponentialSaturation(4, scale=3.0, weight=[1.0, 2.0, 0.5, 1.0]),
        Logarithmic(4, weight=[1.0, 2.0, 3.0, 4.0]),
        LinearDiscovery(4, q=q),
        RandomCoverage(4, q=q),
    ]


def test_payoff_derivatives_match_finite_differences() -> None:
    rng = np.random.default_rng(3)
    s = np.array([40.0, 25.0, 60.0, 35.0]) / 10
    big = np.array([400.0, 250.0, 600.0, 350.0])
    for payoff in _payoff_zoo(rng):
        point = big if isinstance(payoff, GeneralizationBound) else s
        generic = CallablePayoff(payoff, 4, fd_step=1e-4)
        np.testing.assert_allclose(payoff.own_gradient(point), generic.own_gradient(point),
                                   rtol=1e-5, atol=1e-9, err_msg=type(payoff).__name__)
        np.testing.assert_allclose(payoff.jacobian(point), generic.jacobian(point),
                                   rtol=1e-3, atol=1e-7, err_msg=type(payoff).__name__)
        x = np.linspace(0.1, 5.0, 4)[None, :] + point[:, None]
        np.testing.assert_allclose(payoff.deviation(point, x), generic.deviation(point, x), rtol=1e-12)


def test_payoff_families_by_name_and_errors() -> None:
    assert set(PAYOFFS) >= {"linear", "random_coverage", "generalization_bound", "power_law"}
    a = make_payoff("power_law", 2, {"alpha": 1.0, "exponent": 1.0, "offset": 8.0})
    assert a(np.array([0.2, 0.3]))[0] == pytest.approx(6.0)
    with pytest.raises(ValueError, match="payoff:"):
        make_payoff("quadratic", 2)
    with pytest.raises(ValueError, match="payoff_params:"):
        make_payoff("power_law", 2, {"gamma": 1.0})
    with pytest.raises(ValueError, match="exponent:"):
        make_payoff("power_law", 2, {"exponent": 1.5})
    with pytest.raises(ValueError, match="alpha:"):
        PowerLaw(3, alpha=[1.0, 2.0])
    with pytest.raises(ValueError, match="q:"):
        RandomCoverage(2, q=[[0.5, 0.4], [0.5, 0.5]])
    # eq. (2): zero below its positive range, increasing and concave above it (k = 10: root near 195)
    gb = GeneralizationBound(1, a0=1.0, k=10.0)
    assert gb(np.array([100.0]))[0] == 0.0
    assert 0 < gb(np.array([300.0]))[0] < gb(np.array([400.0]))[0]
    assert gb.curvature(np.array([300.0]))[0] < 0
    # eq. (1) is a payoff in [1/2, 1], increasing in every contribution
    rc = _payoff_zoo(np.random.default_rng(0))[-1]
    assert np.all(rc(np.zeros(4)) == pytest.approx(0.5))
    assert np.all(rc(np.full(4, 50.0)) > rc(np.full(4, 1.0)))


# ---------------------------------------------------------------- Example 1 (G1)
def test_example1_free_riding_equilibrium() -> None:
    game = example1()
    for revision in ("sequential", "synchronous"):
        run = best_response_dynamics(game, [0.3, 0.3], revision=revision)
        assert run.converged and run.cycle is None
        np.testing.assert_allclose(run.final, [0.0, 0.5], atol=1e-7)
    run = gradient_dynamics(game, [0.3, 0.3], step=0.02, iterations=5000, tol=1e-10)
    np.testing.assert_allclose(run.final, [0.0, 0.5], atol=1e-8)
    ne = np.array([0.0, 0.5])
    np.testing.assert_allclose(game.utility(ne), [6.0, 4.0], atol=1e-12)
    assert p_mean_welfare(game.utility(ne), 0) == pytest.approx(24.0, abs=1e-9)
    other = np.array([0.2, 0.4])
    np.testing.assert_allclose(game.utility(other), [16 / 3, 71 / 15], atol=1e-12)
    assert p_mean_welfare(game.utility(other), 0) == pytest.approx(25.2444, abs=1e-4)
    assert game.is_nash_equilibrium(ne)
    assert not game.is_nash_equilibrium(other)


# ---------------------------------------------------------------- Theorem A.2 (G5)
def test_theorem_a2_no_equilibrium_and_cycle() -> None:
    game = ContributionGame(RampCycle(3, eps=0.05), ConvexCost(0.25, n=3), 1.0)
    for s3 in (0.0, 0.3, 0.5, 0.525):
        s = np.array([0.2, 0.0, s3])
        br = game.best_response(s)[0]
        assert br == pytest.approx(0.55, abs=1e-7)
        assert game.utility(np.array([br, 0.0, s3]))[0] == pytest.approx(7 / 8 - 0.05 / 4, abs=1e-7)
    for s3 in (0.54, 0.55, 1.0):
        assert game.best_response(np.array([0.2, 0.0, s3]))[0] == 0.0
    for profile in itertools.product([0.0, 0.55], repeat=3):
        assert not game.is_nash_equilibrium(np.array(profile))
    run = best_response_dynamics(game, np.zeros(3), revision="sequential")
    assert not run.converged and run.cycle is not None
    assert run.cycle.period == 2
    np.testing.assert_allclose(run.cycle.states, [[0.55, 0.0, 0.55], [0.0, 0.55, 0.0]], atol=1e-7)
    run = best_response_dynamics(game, np.zeros(3), revision="synchronous")
    assert run.cycle is not None and run.cycle.period == 2
    np.testing.assert_allclose(run.cycle.states, [[0.0] * 3, [0.55] * 3], atol=1e-7)


# ---------------------------------------------------------------- Theorem 3.2 (G6)
def test_theorem_3_2_rate_bound_every_step() -> None:
    game = ContributionGame(ExponentialSaturation(5), ConvexCost([0.1, 0.2, 0.3, 0.4, 0.5], curvature=0.5),
                            10.0)
    theorem = Theorem32(lam=0.5, lipschitz=1.5, n=5)
    assert theorem.step == pytest.approx(0.0088889, abs=1e-7)
    for s0 in (np.zeros(5), np.full(5, 3.0), np.array([10.0, 0.0, 5.0, 1.0, 2.0])):
        run = gradient_dynamics(game, s0, theorem.step, iterations=7000, tol=1e-7)
        t = np.arange(run.g_norm.size)
        assert np.all(run.g_norm <= theorem.bound(t, run.g_norm[0]) * (1 + 1e-12))
        assert run.converged
        assert run.final.sum() == pytest.approx(1.002271, abs=1e-5)
        np.testing.assert_allclose(run.final, [0.53409, 0.33409, 0.13409, 0.0, 0.0], atol=1e-5)
        measured = measured_theorem_3_2(game, run.states)
        assert measured.lam >= 0.5 - 1e-9 and measured.lipschitz <= 1.5
        assert observed_rate(run.g_norm) <= theorem.contraction
        if not s0.any():
            assert math.ceil(theorem.iterations(run.g_norm[0], 1e-6)) == 6428
    assert game.is_nash_equilibrium(run.final, tol=1e-10)


def test_contraction_condition_fails_with_linear_costs() -> None:
    game = ContributionGame(ExponentialSaturation(3), ConvexCost([0.1, 0.2, 0.3]), 10.0)
    lam, lipschitz = contraction_condition(game, np.ones(3))
    assert lam == pytest.approx(0.0, abs=1e-12) and lipschitz > 0
    with pytest.raises(ValueError, match="lam:"):
        measured_theorem_3_2(game, np.ones((2, 3)))


# ---------------------------------------------------------------- collapse without a mechanism (G8)
def test_public_good_collapse_without_mechanism() -> None:
    game = ContributionGame(Logarithmic(3), ConvexCost(1.0, n=3), 10.0, budget=5.0)
    for s0 in (np.ones(3), np.zeros(3), np.array([3.0, 0.0, 0.5])):
        run = best_response_dynamics(game, s0)
        assert run.converged
        np.testing.assert_allclose(run.final, 0.0, atol=1e-9)
        assert run.welfare(1)[-1] == pytest.approx(15.0)


def test_linear_discovery_best_response_is_bang_bang() -> None:
    w = np.array([[0.6, 0.2], [0.2, 0.3]])
    game = ContributionGame(LinearDiscovery(2, weights=w), ConvexCost([0.5, 0.5]), [4.0, 3.0])
    np.testing.assert_allclose(game.best_response(np.array([1.0, 1.0])), [4.0, 0.0])
