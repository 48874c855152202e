"""Paper 004: the epsilon-strategy profile is a NE of R(N, eps) (Theorem 2, docs/models/value_of_privacy.md#gt4); pooling equilibria and
the collapse of repeated best response at N = 11 but not at N = 50 (docs/models/value_of_privacy.md#gt10)."""

import math

import numpy as np
import pytest

from market.theory.value_of_privacy.peer_prediction import (
    CostFunction,
    equilibrium_check,
    equilibrium_payment,
    is_uninformative,
    mechanism_parameters,
    payment_coefficients,
    payment_scale,
    pooling_equilibria,
    profile_payment_tables,
    strategy_payment,
    symmetric_best_response,
)
from market.theory.value_of_privacy.randomized_response import ABSTAIN, Strategy

THETA, PRIOR1 = 0.8, 0.7
LINEAR = CostFunction("linear")


@pytest.mark.parametrize("n", [2, 3, 11, 50])
@pytest.mark.parametrize("eps", [0.5, 1.0, 2.0])
def test_epsilon_profile_is_a_nash_equilibrium(n, eps):
    check = equilibrium_check(Strategy.randomized_response(np.full(n, eps)), eps, THETA, PRIOR1, LINEAR)
    assert check.is_nash(1e-9)
    assert np.all(check.best.label == "rr")
    np.testing.assert_allclose(check.best.xi, eps, atol=1e-6)
    np.testing.assert_allclose(check.payment, float(equilibrium_payment(n, eps, THETA, PRIOR1, LINEAR)), rtol=1e-10)


@pytest.mark.parametrize("eps, margin", [(1.0, 0.175201), (0.5, 0.021095), (2.0, 1.626860)])
def test_gt4_informative_margin_over_best_constant(eps, margin):
    """f(eps) - max(always 1, always 0) = g'(eps) sinh(eps) - g(eps)."""
    n = 11
    check = equilibrium_check(Strategy.randomized_response(np.full(n, eps)), eps, THETA, PRIOR1, LINEAR)
    table = profile_payment_tables(Strategy.randomized_response(np.full(n, eps)), eps, THETA, PRIOR1)[0]
    k1, k0, l1, l0 = payment_coefficients(table * float(payment_scale(eps, LINEAR)), THETA, PRIOR1)
    assert check.utility[0] - max(k1 + k0, l1 + l0) == pytest.approx(margin, abs=1e-6)
    assert margin == pytest.approx(math.sinh(eps) - eps, abs=1e-6)


def test_gt4_random_general_strategies_never_beat_the_epsilon_strategy():
    """N = 50: best random (p1, p0, q1, q0) stays below 4.697840."""
    n, eps = 50, 1.0
    check = equilibrium_check(Strategy.randomized_response(np.full(n, eps)), eps, THETA, PRIOR1, LINEAR)
    assert check.utility[0] == pytest.approx(4.697840, abs=1e-6)
    table = profile_payment_tables(Strategy.randomized_response(np.full(n, eps)), eps, THETA, PRIOR1)[0]
    table = table * float(payment_scale(eps, LINEAR))
    rng = np.random.default_rng(0)
    raw = rng.dirichlet(np.ones(3), size=(20_000, 2))  # rows: s = 1, s = 0 over (1, 0, bot)
    general = Strategy(p1=raw[:, 0, 0], q1=raw[:, 0, 1], p0=raw[:, 1, 0], q0=raw[:, 1, 1])
    utility = strategy_payment(table, general, THETA, PRIOR1) - LINEAR(general.privacy_level())
    assert utility.max() < 4.697840


def test_heterogeneous_costs_keep_the_epsilon_profile_a_nash_equilibrium():
    """Section 4.3: kappa_i from g_i' makes eps everyone's best response."""
    n, eps = 20, 1.0
    costs = [CostFunction("linear", np.linspace(0.3, 3.0, n)),
             CostFunction("power", np.linspace(0.5, 2.0, n), 2.0),
             CostFunction("exponential", np.linspace(0.2, 1.0, n))]
    for cost in costs:
        check = equilibrium_check(Strategy.randomized_response(np.full(n, eps)), eps, THETA, PRIOR1, cost)
        assert check.is_nash(1e-9)
        np.testing.assert_allclose(check.best.xi, eps, atol=1e-6)
        # payments scale with g_i'(eps)
        np.testing.assert_allclose(check.payment / cost.derivative(eps), check.payment[0] / cost.derivative(eps)[0])


def test_a_non_equilibrium_profile_shows_a_positive_gain():
    check = equilibrium_check(Strategy.randomized_response(np.full(11, 0.95)), 1.0, THETA, PRIOR1, LINEAR)
    assert check.gain.max() > 1e-4
    assert not check.is_nash()


def test_profile_tables_equal_the_leave_one_out_sums():
    """The prefix/suffix convolutions give every owner the table of conditional_payments over the others,
    for mixed profiles of abstainers, constant reporters and several eps-levels (and with random abstention)."""
    from market.mechanisms.peer_prediction import action_strategies
    from market.theory.value_of_privacy.peer_prediction import conditional_payments

    rng = np.random.default_rng(5)
    profiles = [action_strategies(rng.choice([-3.0, -2.0, -1.0, 0.5, 1.0, 1.3, 2.0], size=n)) for n in (2, 5, 17, 40)]
    profiles += [action_strategies(np.array([1.0, -3.0])), action_strategies(np.full(4, -3.0)),
                 Strategy.concatenate([Strategy.randomized_response(np.full(6, 1.0)),
                                       Strategy(p1=np.full(3, 0.5), p0=np.full(3, 0.2), q1=np.full(3, 0.3),
                                                q0=np.full(3, 0.6))])]
    for profile in profiles:
        n = profile.shape[0]
        brute = np.stack([conditional_payments(profile[np.arange(n) != i], 1.0, THETA, PRIOR1) for i in range(n)])
        np.testing.assert_allclose(profile_payment_tables(profile, 1.0, THETA, PRIOR1), brute, rtol=1e-12, atol=1e-13)
    # a lone participant among abstainers is paid nothing; an abstainer deviating faces n = 2
    tables = profile_payment_tables(action_strategies(np.array([1.0, -3.0, -3.0])), 1.0, THETA, PRIOR1)
    np.testing.assert_array_equal(tables[0], 0.0)
    par = mechanism_parameters(2, 1.0, THETA, PRIOR1)
    a = par.alpha  # the other participant's report equals W with probability alpha = 0.638635
    np.testing.assert_allclose(tables[1], [[a * par.a00, (1 - a) * par.a00], [(1 - a) * par.a11, a * par.a11]],
                               rtol=1e-12)
    np.testing.assert_allclose(tables[1, 1, 1], 0.638635 * 12.724560, rtol=1e-6)


# -- GT10: pooling equilibria ----------------------------------------------------------------
def test_gt10_pooling_equilibria_pay_more_than_the_informative_one():
    found = {eq.label: eq for eq in pooling_equilibria(50, 1.0, THETA, PRIOR1, LINEAR)}
    assert set(found) == {"always 0", "always 1", "abstain"}
    kappa = float(payment_scale(1.0, LINEAR))
    par = mechanism_parameters(50, 1.0, THETA, PRIOR1)
    assert found["always 0"].utility == pytest.approx(14.621, abs=1e-3)
    assert found["always 0"].utility == pytest.approx(kappa * float(par.a00), rel=1e-12)
    assert found["always 1"].utility == pytest.approx(6.548, abs=1e-3)
    assert found["always 1"].utility == pytest.approx(kappa * float(par.a11), rel=1e-12)
    assert found["abstain"].utility == 0.0
    informative = equilibrium_check(Strategy.randomized_response(np.full(50, 1.0)), 1.0, THETA, PRIOR1, LINEAR)
    assert informative.utility[0] == pytest.approx(4.698, abs=1e-3)
    assert min(found["always 0"].utility, found["always 1"].utility) > informative.utility[0]
    for report in (0, 1, ABSTAIN):
        assert is_uninformative(Strategy.constant(report, 50))
    assert not is_uninformative(Strategy.randomized_response(np.full(50, 1.0)))


def iterate_symmetric_best_response(start_xi: float, n: int, rounds: int = 25) -> list:
    """Plain loop: everyone plays the previous round's best response to the others."""
    strategy = Strategy.randomized_response(start_xi)
    path = []
    for _ in range(rounds):
        best = symmetric_best_response(strategy, n, 1.0, THETA, PRIOR1, LINEAR)
        path.append((str(best.label[0]), float(best.xi[0])))
        strategy = best.strategy
    return path


def test_gt10_collapse_at_n11():
    down = iterate_symmetric_best_response(0.95, 11)
    assert down[0][0] == "rr" and down[0][1] == pytest.approx(0.8925, abs=1e-4)
    assert down[1][0] == "always 0" and down[-1][0] == "always 0"
    up = iterate_symmetric_best_response(1.05, 11)
    assert [x for _, x in up[:3]] == pytest.approx([1.090, 1.153, 1.238], abs=1e-3)
    assert up[3][0] == "always 1" and up[-1][0] == "always 1"


@pytest.mark.parametrize("n", [50, 100])
@pytest.mark.parametrize("start", [0.95, 1.05, 3.0])
def test_gt10_no_collapse_at_larger_n(n, start):
    path = iterate_symmetric_best_response(start, n)
    assert all(label == "rr" for label, _ in path)
    assert path[-1][1] == pytest.approx(1.0, abs=1e-3)


def test_gt10_basin_of_the_informative_equilibrium():
    """RR is a best response for N = 11 only when eps' in (0.9487, 1.1565); N = 50 lower edge ~ 0.8188."""
    def is_rr(eps_prime, n):
        return symmetric_best_response(Strategy.randomized_response(eps_prime), n, 1.0, THETA, PRIOR1,
                                       LINEAR).label[0] == "rr"
    assert not is_rr(0.945, 11) and is_rr(0.952, 11) and is_rr(1.153, 11) and not is_rr(1.16, 11)
    assert not is_rr(0.815, 50) and is_rr(0.822, 50) and is_rr(6.0, 50)
    assert not is_rr(0.648, 100) and is_rr(0.656, 100)
