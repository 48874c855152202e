"""Paper 004: V_LB (Theorem 1), the genie mechanism, R(N, eps) (Theorem 2) and payment vs accuracy (Theorem 3).

Golden numbers from docs/models/value_of_privacy.md#golden (theta = 0.8, P_W(1) = 0.7, g(eps) = eps unless stated).
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from market.theory.value_of_privacy.peer_prediction import (
    CostFunction,
    best_deviation,
    best_homogeneous_payment,
    best_ratio_epsilon,
    chernoff_information,
    convergence_rate,
    equilibrium_payment,
    equilibrium_payment_gap,
    equilibrium_payment_table,
    error_bound,
    genie_payment_table,
    genie_payments,
    log_equilibrium_payment_gap,
    mechanism_parameters,
    mechanism_payments,
    monte_carlo_payment,
    payment_accuracy,
    payment_coefficients,
    payment_excess_function,
    payment_scale,
    strategy_payment,
    theorem2_upper_bound,
    value_lower_bound,
)
from market.theory.value_of_privacy.randomized_response import (
    ABSTAIN,
    Strategy,
    map_error_iid,
    report_quality,
    sample_reports,
    sample_signals,
    sample_state,
)

THETA, PRIOR1 = 0.8, 0.7
LINEAR = CostFunction("linear")
SQUARE = CostFunction("power", 1.0, 2.0)


def eq5(eps, theta, gprime):
    """Eq. (5) typed from the paper."""
    e = math.exp(eps)
    return gprime * (e + 1) / e * (theta / (2 * theta - 1) * (e + 1) - 1)


# -- cost functions ---------------------------------------------------------------------------
@pytest.mark.parametrize("cost", [LINEAR, SQUARE, CostFunction("power", 0.7, 1.5), CostFunction("exponential", 2.0)])
def test_cost_functions_are_proper_convex_with_matching_derivatives(cost):
    x = np.linspace(0.0, 5.0, 501)
    g = cost(x)
    assert g[0] == 0.0 and np.all(g[1:] > 0) and np.all(np.diff(g) >= 0)
    assert np.all(np.diff(g, 2) >= -1e-12)
    h = 1e-6
    num = (cost(x[1:] + h) - cost(x[1:] - h)) / (2 * h)
    np.testing.assert_allclose(cost.derivative(x[1:]), num, rtol=1e-6)
    np.testing.assert_allclose(cost(-x), g)  # privacy level |xi|


def test_cost_function_validation():
    with pytest.raises(ValueError, match="cost_form"):
        CostFunction("cubic")
    with pytest.raises(ValueError, match="scale"):
        CostFunction("linear", np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="cost_exponent"):
        CostFunction("power", 1.0, 0.5)
    with pytest.raises(ValueError, match="epsilon"):
        value_lower_bound(0.0, THETA, LINEAR)


# -- GT1: Theorem 1 -------------------------------------------------------------------------
def test_gt1_vlb_golden_values():
    assert value_lower_bound(1.0, THETA, LINEAR) == pytest.approx(5.413669, rel=1e-6)
    assert value_lower_bound(2.0, THETA, LINEAR) == pytest.approx(11.563853, rel=1e-6)
    assert value_lower_bound(0.5, THETA, LINEAR) == pytest.approx(4.067139, rel=1e-6)
    assert value_lower_bound(1e-9, THETA, LINEAR) == pytest.approx(3.333333, rel=1e-6)
    assert value_lower_bound(1.0, THETA, SQUARE) == pytest.approx(10.827338, rel=1e-6)
    assert value_lower_bound(0.1, THETA, SQUARE) == pytest.approx(0.688368, rel=1e-6)


@pytest.mark.parametrize("cost", [LINEAR, SQUARE, CostFunction("exponential", 0.5)])
def test_vlb_matches_eq5_and_its_simplified_form_on_a_grid(cost):
    for theta in (0.55, 0.6, 0.7, 0.8, 0.9, 0.95):
        for eps in (0.05, 0.3, 1.0, 1.7, 3.0, 6.0):
            gp = float(cost.derivative(eps))
            got = float(value_lower_bound(eps, theta, cost))
            assert got == pytest.approx(eq5(eps, theta, gp), rel=1e-12)
            alpha = float(report_quality(eps, theta))
            e = math.exp(eps)
            assert got == pytest.approx(gp * (e + 1) ** 2 * alpha / (e * (2 * theta - 1)), rel=1e-12)
            # information rent: payment strictly exceeds the privacy cost
            assert got > gp * (e + 1) > float(cost(eps))


def test_heterogeneous_costs_scale_the_bound_per_owner():
    scales = np.array([0.5, 1.0, 3.0])
    got = value_lower_bound(1.0, THETA, CostFunction("linear", scales))
    np.testing.assert_allclose(got, scales * 5.413669, rtol=1e-6)


# -- GT2: the genie-aided mechanism ------------------------------------------------------------
@pytest.mark.parametrize("prior1", [0.1, 0.5, 0.7, 0.95])
def test_gt2_genie_attains_vlb_and_eps_is_the_best_response(prior1):
    for eps in (0.5, 1.0, 2.0):
        table = genie_payment_table(eps, THETA, prior1, LINEAR)
        pay = strategy_payment(table, Strategy.randomized_response(eps), THETA, prior1)
        assert pay == pytest.approx(float(value_lower_bound(eps, THETA, LINEAR)), rel=1e-12)
        k1, k0, l1, l0 = payment_coefficients(table, THETA, prior1)
        assert (k1 - l1) - (k0 - l0) == pytest.approx(2 * float(payment_scale(eps, LINEAR)), rel=1e-12)
        best = best_deviation(payment_coefficients(table, THETA, prior1)[None], LINEAR)
        assert best.label[0] == "rr"
        assert best.xi[0] == pytest.approx(eps, abs=1e-6)
    table = genie_payment_table(1.0, THETA, prior1, LINEAR)
    k1, k0, l1, l0 = payment_coefficients(table, THETA, prior1)
    assert (k1 - l1) - (k0 - l0) == pytest.approx(5.086161, rel=1e-6)
    best = best_deviation(payment_coefficients(table, THETA, prior1)[None], LINEAR)
    assert best.utility[0] == pytest.approx(4.413669, rel=1e-6)


def test_genie_realised_payments_average_to_vlb():
    rng = np.random.default_rng(2)
    trials, n = 200_000, 3
    profile = Strategy.randomized_response(np.full(n, 1.0))
    state = sample_state(PRIOR1, rng, trials)
    reports = sample_reports(profile, sample_signals(state, THETA, n, rng), rng)
    pay = genie_payments(reports, state, 1.0, THETA, PRIOR1, LINEAR).mean(axis=1)
    assert np.all(pay >= 0)
    assert pay.mean() == pytest.approx(5.413669, abs=4 * pay.std() / math.sqrt(trials))


# -- GT3: the mechanism R(N, eps) ---------------------------------------------------------------
@pytest.mark.parametrize("n, beta, gamma, a11, a00, pay", [
    (2, 0.638635, 1.0, 12.724560, 15.899163, 19.149462),
    (11, 0.726050, 0.835034, 5.904410, 6.957274, 9.297480),
    (3, 0.407855, 0.538439, 19.330351, 9.293372, 17.135722),
    (50, 0.976706, 1.0, 2.574859, 5.749462, 5.697840),
    (51, 0.969108, 0.984803, 2.638110, 5.686210, 5.757962),
])
def test_gt3_mechanism_parameters_and_equilibrium_payment(n, beta, gamma, a11, a00, pay):
    par = mechanism_parameters(n, 1.0, THETA, PRIOR1)
    assert par.alpha == pytest.approx(0.638635, abs=1e-6)
    assert float(par.beta) == pytest.approx(beta, abs=1e-6)
    assert float(par.gamma) == pytest.approx(gamma, abs=1e-6)
    assert float(par.a11) == pytest.approx(a11, rel=1e-6)
    assert float(par.a00) == pytest.approx(a00, rel=1e-6)
    assert float(equilibrium_payment(n, 1.0, THETA, PRIOR1, LINEAR)) == pytest.approx(pay, rel=1e-6)


def test_gt3_payment_at_n100_and_limits():
    assert float(equilibrium_payment(100, 1.0, THETA, PRIOR1, LINEAR)) == pytest.approx(5.441778, rel=1e-6)
    par = mechanism_parameters(4000, 1.0, THETA, PRIOR1)
    assert float(par.a11) == pytest.approx(1 / (0.6 * 0.7), rel=1e-9)
    assert float(par.a00) == pytest.approx(1 / (0.6 * 0.3), rel=1e-9)
    # prior dependence at finite N (docs/models/value_of_privacy.md#gt3): even N symmetric in the prior, odd N not
    assert float(equilibrium_payment(20, 1.0, THETA, 0.3, LINEAR)) == pytest.approx(6.9384, abs=1e-4)
    assert float(equilibrium_payment(20, 1.0, THETA, 0.5, LINEAR)) == pytest.approx(6.5510, abs=1e-4)
    assert float(equilibrium_payment(11, 1.0, THETA, 0.3, LINEAR)) == pytest.approx(7.9657, abs=1e-4)
    # small eps blows up payments at small N
    assert float(equilibrium_payment(3, 0.05, THETA, PRIOR1, LINEAR)) == pytest.approx(200.2, abs=0.1)


def test_exact_payment_equals_the_direct_binomial_sum():
    """E[R] from Section 4.2.2 typed out, against the cancellation-free form."""
    for n in (2, 3, 7, 10, 11, 30):
        for eps in (0.4, 1.0, 2.5):
            par = mechanism_parameters(n, eps, THETA, PRIOR1)
            a, b, g = par.alpha, float(par.beta), float(par.gamma)
            direct = PRIOR1 * (a * b * par.a11 + (1 - a) * (1 - b) * par.a00) \
                + (1 - PRIOR1) * ((1 - a) * (g - b) * par.a11 + a * (1 - g + b) * par.a00)
            direct *= float(payment_scale(eps, LINEAR))
            assert float(equilibrium_payment(n, eps, THETA, PRIOR1, LINEAR)) == pytest.approx(float(direct), rel=1e-10)


@pytest.mark.parametrize("n, eps, trials, golden", [(11, 1.0, 200_000, 9.297480), (50, 2.0, 60_000, 11.5711),
                                                    (4, 0.5, 100_000, None)])
def test_exact_and_monte_carlo_payments_agree_within_4_se(n, eps, trials, golden):
    rng = np.random.default_rng(n)
    mean, se = monte_carlo_payment(n, eps, THETA, PRIOR1, LINEAR, trials, rng)
    exact = float(equilibrium_payment(n, eps, THETA, PRIOR1, LINEAR))
    assert abs(mean - exact) <= 4 * se
    if golden is not None:
        assert exact == pytest.approx(golden, rel=1e-5)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 25), eps=st.floats(0.05, 5.0), prior1=st.floats(0.05, 0.95),
       seed=st.integers(0, 2**31), abstain=st.floats(0.0, 0.5))
def test_payments_are_never_negative(n, eps, prior1, seed, abstain):
    rng = np.random.default_rng(seed)
    reports = rng.choice([0, 1, ABSTAIN], size=(50, n), p=[(1 - abstain) / 2, (1 - abstain) / 2, abstain])
    pay = mechanism_payments(reports, eps, THETA, prior1, CostFunction("linear", rng.uniform(0.1, 3, n)))
    assert np.all(np.isfinite(pay)) and np.all(pay >= 0)
    assert np.all(pay[reports == ABSTAIN] == 0)
    lone = (reports != ABSTAIN).sum(axis=1) == 1
    assert np.all(pay[lone] == 0)
    state = rng.integers(0, 2, 50)
    assert np.all(genie_payments(reports, state, eps, THETA, prior1, LINEAR) >= 0)


def test_mechanism_pays_only_agreement_with_the_strict_peer_majority():
    kappa = float(payment_scale(1.0, LINEAR))
    par5 = mechanism_parameters(5, 1.0, THETA, PRIOR1)
    # n = 5: a 0-reporter sees others 1,1,0,0 -> tie -> M = 0 (paid); a 1-reporter sees 1,0,0,0 -> M = 0
    pay = mechanism_payments(np.array([1, 1, 0, 0, 0]), 1.0, THETA, PRIOR1, LINEAR)
    np.testing.assert_allclose(pay, kappa * np.array([0, 0, par5.a00, par5.a00, par5.a00]))
    # a 0-reporter among 1,1,1,0 faces M = 1 and is not paid; 1-reporters see 1,1,0,0 -> tie -> M = 0
    pay = mechanism_payments(np.array([1, 1, 1, 0, 0]), 1.0, THETA, PRIOR1, LINEAR)
    np.testing.assert_allclose(pay, np.zeros(5))
    # abstention changes n (A uses the realised n = 4)
    par4 = mechanism_parameters(4, 1.0, THETA, PRIOR1)
    pay = mechanism_payments(np.array([1, 1, 1, 0, ABSTAIN]), 1.0, THETA, PRIOR1, LINEAR)
    np.testing.assert_allclose(pay, kappa * np.array([par4.a11, par4.a11, par4.a11, 0, 0]))


# -- GT5 / GT6: Theorem 2 --------------------------------------------------------------------
def test_gt5_payment_exceeds_vlb_and_gap_times_exp_nd_is_bounded():
    vlb = float(value_lower_bound(1.0, THETA, LINEAR))
    sizes = np.arange(2, 401)
    pay = equilibrium_payment(sizes, 1.0, THETA, PRIOR1, LINEAR)
    assert np.all(pay > vlb)
    d = float(convergence_rate(1.0, THETA))
    assert d == pytest.approx(0.039997, abs=1e-6)
    gap = equilibrium_payment_gap(np.array([2, 100, 400, 800, 1600]), 1.0, THETA, PRIOR1, LINEAR)
    np.testing.assert_allclose(gap * np.exp(np.array([2, 100, 400, 800, 1600]) * d),
                               [14.88, 1.53, 0.818, 0.587, 0.418], rtol=5e-3)
    assert float(equilibrium_payment_gap(100, 1.0, THETA, PRIOR1, LINEAR)) == pytest.approx(0.02811, rel=1e-3)
    assert float(equilibrium_payment_gap(800, 1.0, THETA, PRIOR1, LINEAR)) == pytest.approx(7.45e-15, rel=5e-3)


@pytest.mark.parametrize("eps", [0.5, 1.0, 2.0])
def test_gap_shrinks_exponentially_at_rate_d(eps):
    """Fit log(gap) against N (even N, no ties): the slope is -d(eps) up to the N^{-1/2} prefactor."""
    sizes = np.arange(200, 1001, 50)
    gap = equilibrium_payment_gap(sizes, eps, THETA, PRIOR1, LINEAR)
    assert np.all(np.diff(gap) < 0)
    d = float(convergence_rate(eps, THETA))
    slope = np.polyfit(sizes, np.log(gap), 1)[0]
    assert slope == pytest.approx(-d, rel=0.1)
    assert np.polyfit(sizes, np.log(gap * np.sqrt(sizes)), 1)[0] == pytest.approx(-d, rel=0.02)


@pytest.mark.parametrize("n, eps, log_gap", [
    (100, 1.0, -3.5716512190767955), (1600, 1.0, -64.868257078296726), (20000, 1.0, -802.0760057079154),
    (20001, 1.0, -801.90093072096448), (6000, 3.0, -1049.1688701547303), (100000, 2.0, -11713.613491377225),
])
def test_log_gap_matches_mpmath_where_the_gap_underflows(n, eps, log_gap):
    """ln(E[R] - V_LB), reference by mpmath at 60 digits (binomial tails summed term by term).

    The gap itself is 4.6e-349 at N = 20000, eps = 1 and 2.2e-456 at N = 6000, eps = 3 (below float64).
    """
    got = float(log_equilibrium_payment_gap(n, eps, THETA, PRIOR1, LINEAR))
    assert got == pytest.approx(log_gap, rel=1e-12)
    gap = float(equilibrium_payment_gap(n, eps, THETA, PRIOR1, LINEAR))
    if log_gap > -700:
        assert gap == pytest.approx(math.exp(log_gap), rel=1e-10)
    else:
        assert gap == 0.0  # underflow: only the log resolves it


@pytest.mark.parametrize("eps", [0.5, 1.0, 2.0, 3.0])
def test_log_gap_rate_at_large_n_is_d(eps):
    """Theorem 2 rate in log space, N = 2000..20000: slope of ln gap is -d within 0.6 %, and -d to 1e-4
    once the N^{-1/2} prefactor is removed (e.g. eps = 1: 0.040053 and 0.039997 against d = 0.039997)."""
    sizes = np.arange(2000, 20001, 1000)
    log_gap = log_equilibrium_payment_gap(sizes, eps, THETA, PRIOR1, LINEAR)
    assert np.all(np.isfinite(log_gap)) and np.all(np.diff(log_gap) < 0)
    d = float(convergence_rate(eps, THETA))
    assert -np.polyfit(sizes, log_gap, 1)[0] == pytest.approx(d, rel=6e-3)
    assert -np.polyfit(sizes, log_gap + 0.5 * np.log(sizes), 1)[0] == pytest.approx(d, rel=1e-4)


def test_theorem2_upper_bound_holds_and_approaches_vlb():
    vlb = float(value_lower_bound(1.0, THETA, LINEAR))
    d = float(convergence_rate(1.0, THETA))
    for n in (60, 61, 100, 200, 400, 401):
        bound = theorem2_upper_bound(n, 1.0, THETA, PRIOR1, LINEAR)
        assert float(equilibrium_payment(n, 1.0, THETA, PRIOR1, LINEAR)) <= bound
        assert (bound - vlb) * math.exp(n * d) < 100.0
    assert theorem2_upper_bound(11, 1.0, THETA, PRIOR1, LINEAR) == math.inf


def test_gt6_lemmas_of_the_theorem2_proof():
    d = float(convergence_rate(1.0, THETA))
    assert d == pytest.approx(float(chernoff_information(1.0, THETA)), rel=1e-12)
    alpha = float(report_quality(1.0, THETA))
    assert d == pytest.approx(0.5 * math.log(1 / (4 * alpha * (1 - alpha))), rel=1e-12)
    for n in range(2, 300):
        par = mechanism_parameters(n, 1.0, THETA, PRIOR1)
        assert float(par.beta) >= float(par.gamma) - math.exp(-(n - 1) * d) - 1e-15
        if n >= 3:
            # E[R] = VLB + kappa (h(beta) - 2 theta / (2 theta - 1))
            h = float(payment_excess_function(par.beta, float(par.gamma), THETA, PRIOR1))
            via_h = float(value_lower_bound(1.0, THETA, LINEAR)) + float(payment_scale(1.0, LINEAR)) * (h - 8 / 3)
            if n < 60:
                assert via_h == pytest.approx(float(equilibrium_payment(n, 1.0, THETA, PRIOR1, LINEAR)), rel=1e-10)
    assert float(payment_excess_function(1.0, 1.0, THETA, PRIOR1)) == pytest.approx(2.666667, rel=1e-6)
    for gamma in (1.0, 0.835034, 0.6):
        beta = np.linspace(gamma / 2 + 1e-3, gamma, 400)
        assert np.all(np.diff(payment_excess_function(beta, gamma, THETA, PRIOR1)) <= 1e-12)


def test_equilibrium_payment_table_identities_gt4():
    """K1 - L1 = kappa, K0 - L0 = -kappa, K1 + K0 = L1 + L0 (8.122279 at N = 11)."""
    for n in (2, 3, 11, 50):
        for eps in (0.5, 1.0, 2.0):
            kappa = float(payment_scale(eps, LINEAR))
            k1, k0, l1, l0 = payment_coefficients(equilibrium_payment_table(n, eps, THETA, PRIOR1) * kappa,
                                                  THETA, PRIOR1)
            assert min(k1, k0, l1, l0) > 0
            assert k1 - l1 == pytest.approx(kappa, rel=1e-10)
            assert k0 - l0 == pytest.approx(-kappa, rel=1e-10)
            assert k1 + k0 == pytest.approx(l1 + l0, rel=1e-10)
    kappa = float(payment_scale(1.0, LINEAR))
    assert kappa == pytest.approx(2.543081, rel=1e-6)
    k1, k0, _, _ = payment_coefficients(equilibrium_payment_table(11, 1.0, THETA, PRIOR1) * kappa, THETA, PRIOR1)
    assert k1 + k0 == pytest.approx(8.122279, rel=1e-6)


# -- GT7 / GT8 / GT9: Theorem 3 ----------------------------------------------------------------
def test_gt7_best_ratio_epsilon():
    eps = best_ratio_epsilon(THETA, LINEAR)
    assert eps == pytest.approx(1.730778, abs=1e-6)
    ratio = float(chernoff_information(eps, THETA) / value_lower_bound(eps, THETA, LINEAR))
    assert ratio == pytest.approx(0.0104553, rel=1e-5)
    assert float(chernoff_information(eps, THETA)) == pytest.approx(0.096737, rel=1e-5)
    assert float(value_lower_bound(eps, THETA, LINEAR)) == pytest.approx(9.252439, rel=1e-6)
    for theta, golden in ((0.6, 1.725732), (0.7, 1.713803), (0.9, 1.794105), (0.95, 1.861503)):
        assert best_ratio_epsilon(theta, LINEAR) == pytest.approx(golden, abs=1e-6)
    assert best_ratio_epsilon(THETA, CostFunction("power", 0.5, 2.0)) == pytest.approx(1.090591, abs=1e-6)


@pytest.mark.parametrize("tau, n, lower, upper, total", [
    (0.4, 10, 83.2719, 92.5244, 111.1211),
    (0.3, 13, 111.0293, 120.2817, 143.3972),
    (0.2, 17, 148.0390, 157.2915, 175.1708),
    (0.1, 24, 212.8061, 222.0585, 229.3825),
    (0.05, 31, 277.5732, 286.8256, 293.1140),
    (0.01, 48, 434.8646, 444.1171, 445.1695),
    (0.005, 55, 499.6317, 508.8841, 509.7235),
    (0.001, 72, 656.9231, 666.1756, 666.3049),
])
def test_gt7_theorem3_bounds(tau, n, lower, upper, total):
    res = payment_accuracy(tau, THETA, PRIOR1, LINEAR)
    assert res.n_owners == n
    assert res.lower == pytest.approx(lower, abs=1e-3)
    assert res.upper == pytest.approx(upper, abs=1e-3)
    assert res.mechanism_total == pytest.approx(total, abs=1e-3)
    assert res.n_owners * float(chernoff_information(res.epsilon, THETA)) >= math.log(1 / tau)
    assert res.lower <= res.upper <= res.mechanism_total


def test_gt8_lemma4_best_homogeneous_profile():
    """docs/models/value_of_privacy.md#gt8 gives 87.853 at eps ~ 1.797 from a grid search; the exact infimum is 87.8157 at 1.7962."""
    total, eps, n = best_homogeneous_payment(0.4, THETA, LINEAR)
    assert n == 9
    assert eps == pytest.approx(1.797, abs=1e-3)
    assert total == pytest.approx(87.853, abs=0.05)
    assert 83.2719 < total < 92.5244
    # random heterogeneous feasible profiles never beat (N~ - 1) VLB(eps~)
    rng = np.random.default_rng(8)
    for _ in range(300):
        eps_i = rng.uniform(0.2, 6.0, rng.integers(3, 40))
        need = math.log(1 / 0.4)
        scale_up = chernoff_information(eps_i, THETA).sum()
        if scale_up < need:
            continue
        assert value_lower_bound(eps_i, THETA, LINEAR).sum() >= 83.2719


def test_gt9_error_at_the_payment_accuracy_solution():
    eps = best_ratio_epsilon(THETA, LINEAR)
    exact = map_error_iid(72, eps, THETA, PRIOR1)
    assert exact == pytest.approx(8.2e-5, rel=0.02)
    assert error_bound(np.full(72, eps), THETA) == pytest.approx(9.44e-4, rel=2e-3)
    assert exact <= error_bound(np.full(72, eps), THETA)
