"""The value of privacy and the peer-prediction payment mechanism R(N, epsilon) (paper 004).

Owners report private binary signals through randomized response
(:mod:`market.theory.value_of_privacy.randomized_response`); a strategy of privacy level
:math:`\\zeta` costs :math:`g_i(\\zeta)` for a proper convex cost function
:math:`g_i` (:class:`CostFunction`).  This module holds

* the lower bound :math:`V_{LB}(\\varepsilon)` of Theorem 1 (eq. 5) and the
  genie-aided mechanism that attains it (eq. 6);
* the mechanism :math:`R^{(N,\\varepsilon)}` of Section 4.2.1: realised
  payments, the expected equilibrium payment (exact, in a cancellation-free
  form with the binomial tails summed in log space) and its Monte Carlo
  estimate, the rate :math:`d(\\varepsilon)` of eq. 15 and the upper bound of
  Theorem 2;
* the Chernoff information :math:`D(\\varepsilon)` and the payment-accuracy
  problem :math:`F(\\tau)` with the bounds of Theorem 3 (Section 5);
* equilibrium checks: each owner's best deviation over a fine grid of
  strategies, the uninformative pooling equilibria (docs/models/value_of_privacy.md#gt10) and
  the symmetric best response used for the collapse dynamics.

Conditional payment tables
--------------------------
Given the others' strategies, everything an owner needs to know about a
mechanism is its table :math:`\\bar R(x; w) = E[R_i \\mid X_i = x, W = w]`
for :math:`x, w \\in \\{0, 1\\}` (non-participation is paid 0 in every
mechanism here).  Tables are arrays of shape ``(..., 2, 2)`` indexed
``[..., x, w]``.  The expected payment of a strategy
:math:`(p_1, p_0, q_1, q_0)` is then linear (proof of Theorem 2):

.. math::  E[R_i] = K_1 p_1 + K_0 p_0 + L_1 q_1 + L_0 q_0 .
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, signal
from scipy.special import gammaln, logsumexp, xlog1py, xlogy
from scipy.stats import binom

from market.theory.value_of_privacy.randomized_response import (
    ABSTAIN,
    Strategy,
    check_prior,
    check_signal_quality,
    report_quality,
    sample_reports,
    sample_signals,
    sample_state,
)

# ------------------------------------------------------------------------------------------
# cost functions
# ------------------------------------------------------------------------------------------
#: Named forms of the privacy cost :math:`g(\\xi)` (scale ``s``, exponent ``k``).
COST_FORMS = ("linear", "power", "exponential")


@dataclass(frozen=True)
class CostFunction:
    """A proper convex privacy cost :math:`g_i(\\xi)` (Section 3), one per owner.

    Forms (``s`` = ``scale``, ``k`` = ``exponent``; :math:`\\xi \\ge 0` is the privacy level):

    * ``"linear"``:      :math:`g(\\xi) = s\\,\\xi`, :math:`g'(\\xi) = s`;
    * ``"power"``:       :math:`g(\\xi) = s\\,\\xi^k` with :math:`k \\ge 1`, :math:`g' = s k \\xi^{k-1}`;
    * ``"exponential"``: :math:`g(\\xi) = s\\,(e^{\\xi} - 1)`, :math:`g' = s e^{\\xi}`.

    All are proper (:math:`g \\ge 0`, :math:`g(0) = 0`, non-decreasing), convex,
    continuously differentiable and zero only at 0, as the paper assumes.
    Heterogeneous costs :math:`g_i` (Section 4.3) are an array ``scale``;
    negative arguments are read as privacy level :math:`|\\xi|`.

    Attributes
    ----------
    form : str
        One of :data:`COST_FORMS`.
    scale : float or numpy.ndarray
        Positive scale :math:`s_i` (an array for one cost per owner).
    exponent : float
        Exponent :math:`k \\ge 1` of the ``"power"`` form.
    """

    form: str = "linear"
    scale: float | np.ndarray = 1.0
    exponent: float = 2.0

    def __post_init__(self) -> None:
        if self.form not in COST_FORMS:
            raise ValueError(f"cost_form: must be one of {COST_FORMS}, got {self.form!r}")
        scale = np.asarray(self.scale, dtype=float)
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError("scale: the cost scale must be positive and finite (g(x) = 0 only at x = 0)")
        object.__setattr__(self, "scale", scale)
        if self.form == "power" and not self.exponent >= 1.0:
            raise ValueError(f"cost_exponent: must be >= 1 for a convex cost, got {self.exponent}")

    def __call__(self, xi: np.ndarray | float) -> np.ndarray:
        """Privacy cost :math:`g(|\\xi|)`."""
        x = np.abs(np.asarray(xi, dtype=float))
        if self.form == "linear":
            base = x
        elif self.form == "power":
            base = x ** self.exponent
        else:
            base = np.expm1(x)
        return self.scale * base

    def derivative(self, xi: np.ndarray | float) -> np.ndarray:
        """Marginal cost :math:`g'(\\xi)` for :math:`\\xi \\ge 0`."""
        x = np.asarray(xi, dtype=float)
        if np.any(x < 0):
            raise ValueError("epsilon: the marginal cost is defined for privacy levels >= 0")
        if self.form == "linear":
            base = np.ones_like(x)
        elif self.form == "power":
            base = self.exponent * x ** (self.exponent - 1.0)
        else:
            base = np.exp(x)
        return self.scale * base


def _check_epsilon(epsilon: np.ndarray | float) -> np.ndarray:
    eps = np.asarray(epsilon, dtype=float)
    if not np.all(np.isfinite(eps)) or np.any(eps <= 0):
        raise ValueError("epsilon: privacy level must be positive and finite")
    return eps


# ------------------------------------------------------------------------------------------
# Theorem 1 and the genie-aided mechanism
# ------------------------------------------------------------------------------------------
def payment_scale(epsilon: np.ndarray | float, cost: CostFunction) -> np.ndarray:
    """The payment scale :math:`\\kappa(\\varepsilon) = g'(\\varepsilon)(e^\\varepsilon+1)^2/(2e^\\varepsilon)`.

    Computed as :math:`2 g'(\\varepsilon)\\cosh^2(\\varepsilon/2)` (eq. 6 and Section 4.2.1).
    """
    eps = _check_epsilon(epsilon)
    return 2.0 * cost.derivative(eps) * np.cosh(eps / 2.0) ** 2


def value_lower_bound(epsilon: np.ndarray | float, theta: float, cost: CostFunction) -> np.ndarray:
    """Lower bound :math:`V_{LB}(\\varepsilon)` on the value of :math:`\\varepsilon` units of privacy (eq. 5).

    .. math::  V_{LB}(\\varepsilon) = g'(\\varepsilon)\\,\\frac{e^\\varepsilon+1}{e^\\varepsilon}
               \\left(\\frac{\\theta}{2\\theta-1}(e^\\varepsilon+1) - 1\\right)

    Theorem 1: every nonnegative mechanism in which an owner's equilibrium
    strategy has privacy level :math:`\\varepsilon > 0` pays it at least this
    much in expectation.  It does not depend on the prior.  With
    heterogeneous costs (Section 4.3) ``cost.scale`` gives one bound per owner.
    """
    theta = check_signal_quality(theta)
    eps = _check_epsilon(epsilon)
    return cost.derivative(eps) * (1.0 + np.exp(-eps)) * (theta / (2 * theta - 1) * (np.exp(eps) + 1.0) - 1.0)


def genie_payment_table(epsilon: float, theta: float, prior1: float, cost: CostFunction) -> np.ndarray:
    """Payment table of the genie-aided mechanism :math:`\\hat R^{(\\varepsilon)}` (eq. 6).

    .. math::  \\hat R_i(x, w) = \\kappa(\\varepsilon)\\hat A_{x,w}, \\quad
               \\hat A_{1,1} = \\frac{1}{(2\\theta-1)P_W(1)}, \\;
               \\hat A_{0,0} = \\frac{1}{(2\\theta-1)P_W(0)}, \\;
               \\hat A_{0,1} = \\hat A_{1,0} = 0 .

    The genie pays from the true *W*, so the table is the payment itself.
    Non-participation is paid 0 (the paper defines :math:`\\hat A` on {0, 1}
    only; docs/models/value_of_privacy.md#eq-6).  Returns shape ``scale.shape + (2, 2)`` indexed ``[x, w]``.
    """
    theta, prior1 = check_signal_quality(theta), check_prior(prior1)
    kappa = payment_scale(epsilon, cost)
    table = np.zeros(np.shape(kappa) + (2, 2))
    table[..., 1, 1] = kappa / ((2 * theta - 1) * prior1)
    table[..., 0, 0] = kappa / ((2 * theta - 1) * (1 - prior1))
    return table


def genie_payments(reports: np.ndarray, state: np.ndarray, epsilon: float, theta: float, prior1: float,
                   cost: CostFunction) -> np.ndarray:
    """Realised payments of the genie-aided mechanism for reports of shape ``(..., n_owners)``."""
    table = genie_payment_table(epsilon, theta, prior1, cost)
    reports = np.asarray(reports)
    w = np.broadcast_to(np.asarray(state)[..., None], reports.shape)
    index = 2 * np.where(reports == ABSTAIN, 0, reports) + w
    flat = np.broadcast_to(table.reshape(table.shape[:-2] + (4,)), reports.shape + (4,))
    pay = np.take_along_axis(flat, index[..., None], axis=-1)[..., 0]
    return np.where(reports == ABSTAIN, 0.0, pay)


# ------------------------------------------------------------------------------------------
# payments of a strategy against a conditional payment table
# ------------------------------------------------------------------------------------------
def payment_coefficients(table: np.ndarray, theta: float, prior1: float) -> np.ndarray:
    """Coefficients :math:`(K_1, K_0, L_1, L_0)` of the expected payment (proof of Theorem 2).

    .. math::
        K_1 &= \\bar R(1;1) P_W(1)\\theta + \\bar R(1;0) P_W(0)(1-\\theta), &
        K_0 &= \\bar R(1;1) P_W(1)(1-\\theta) + \\bar R(1;0) P_W(0)\\theta, \\\\
        L_1 &= \\bar R(0;1) P_W(1)\\theta + \\bar R(0;0) P_W(0)(1-\\theta), &
        L_0 &= \\bar R(0;1) P_W(1)(1-\\theta) + \\bar R(0;0) P_W(0)\\theta .

    Returns shape ``table.shape[:-2] + (4,)``.
    """
    theta, p = check_signal_quality(theta), check_prior(prior1)
    q = 1 - p
    r = np.asarray(table, dtype=float)
    k1 = r[..., 1, 1] * p * theta + r[..., 1, 0] * q * (1 - theta)
    k0 = r[..., 1, 1] * p * (1 - theta) + r[..., 1, 0] * q * theta
    l1 = r[..., 0, 1] * p * theta + r[..., 0, 0] * q * (1 - theta)
    l0 = r[..., 0, 1] * p * (1 - theta) + r[..., 0, 0] * q * theta
    return np.stack([k1, k0, l1, l0], axis=-1)


def strategy_payment(table: np.ndarray, strategy: Strategy, theta: float, prior1: float) -> np.ndarray:
    """Expected payment :math:`K_1 p_1 + K_0 p_0 + L_1 q_1 + L_0 q_0` of ``strategy`` against ``table``."""
    coef = payment_coefficients(table, theta, prior1)
    return np.sum(coef * strategy.stacked(), axis=-1)


# ------------------------------------------------------------------------------------------
# the mechanism R(N, epsilon)
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MechanismParameters:
    """Parameters of :math:`R^{(N,\\varepsilon)}` for ``n`` participants (Section 4.2.2).

    Attributes
    ----------
    n : numpy.ndarray
        Number of participants (>= 2).
    alpha : float
        Report quality :math:`\\alpha` at the posted :math:`\\varepsilon`.
    miss : numpy.ndarray
        :math:`u = 1 - \\beta(n) = P(M_{-i} = 0 \\mid W = 1)`.
    false_alarm : numpy.ndarray
        :math:`v = \\gamma(n) - \\beta(n) = P(M_{-i} = 1 \\mid W = 0)`.
    beta, gamma : numpy.ndarray
        :math:`\\beta(n) = P(\\text{Bin}(n-1, \\alpha) \\ge \\lfloor (n-1)/2 \\rfloor + 1)` and
        :math:`\\gamma(n)` of eq. (16).
    a11, a00 : numpy.ndarray
        :math:`A_{1,1}` and :math:`A_{0,0}` (:math:`A_{0,1} = A_{1,0} = 0`).
    """

    n: np.ndarray
    alpha: float
    miss: np.ndarray
    false_alarm: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    a11: np.ndarray
    a00: np.ndarray


def mechanism_parameters(n: np.ndarray | int, epsilon: float, theta: float, prior1: float) -> MechanismParameters:
    """:math:`\\beta(n), \\gamma(n), A_{1,1}, A_{0,0}` of Section 4.2.2 with the realised ``n``.

    .. math::
        A_{1,1} = \\frac{P_W(1)(1-\\beta) + P_W(0)(1-(\\gamma-\\beta))}
                       {(2\\beta-\\gamma)(2\\theta-1)P_W(1)P_W(0)},\\quad
        A_{0,0} = \\frac{P_W(1)\\beta + P_W(0)(\\gamma-\\beta)}{(2\\beta-\\gamma)(2\\theta-1)P_W(1)P_W(0)} .

    The small probabilities :math:`u = 1-\\beta` and :math:`v = \\gamma-\\beta` are
    computed directly as binomial tails (``scipy.stats.binom.cdf/sf``), so
    nothing cancels for large ``n``.
    """
    theta, p = check_signal_quality(theta), check_prior(prior1)
    eps = float(_check_epsilon(epsilon))
    n = np.asarray(n, dtype=np.int64)
    if np.any(n < 2):
        raise ValueError("n: R(N, epsilon) needs at least two participants")
    q = 1 - p
    m = n - 1
    alpha = float(report_quality(eps, theta))
    u = binom.cdf(m // 2, m, alpha)            # P(Bin(m, alpha) <= floor(m/2)) = 1 - beta
    v = binom.sf(m // 2, m, 1 - alpha)         # P(Bin(m, 1-alpha) >= floor(m/2)+1) = gamma - beta
    spread = 1 - u - v                         # 2 beta - gamma
    den = spread * (2 * theta - 1) * p * q
    return MechanismParameters(
        n=n, alpha=alpha, miss=u, false_alarm=v, beta=1 - u, gamma=1 - u + v,
        a11=(p * u + q * (1 - v)) / den, a00=(p * (1 - u) + q * v) / den,
    )


def mechanism_payments(reports: np.ndarray, epsilon: float, theta: float, prior1: float,
                       cost: CostFunction) -> np.ndarray:
    """Realised payments of :math:`R^{(N,\\varepsilon)}` (Section 4.2.1), vectorised.

    Non-participants and a lone participant get 0; otherwise participant *i*
    gets :math:`\\kappa_i(\\varepsilon) A_{X_i, M_{-i}}` with the strict majority of
    the other participants

    .. math::  M_{-i} = 1 \\iff \\sum_{j \\ne i,\\, X_j \\ne \\bot} X_j \\ge \\lfloor (n-1)/2 \\rfloor + 1

    (ties go to 0) and :math:`\\kappa_i` from :math:`g_i'` (Section 4.3).

    Parameters
    ----------
    reports : numpy.ndarray
        Reports in {1, 0, :data:`ABSTAIN`}, shape ``(..., n_owners)``.
    epsilon, theta, prior1 : float
        Posted privacy level, signal quality, :math:`P_W(1)`.
    cost : CostFunction
        Owners' costs (``scale`` scalar or shape ``(n_owners,)``).
    """
    reports = np.asarray(reports)
    kappa = payment_scale(epsilon, cost)
    part = reports != ABSTAIN
    n = part.sum(axis=-1)
    ones = (reports == 1).sum(axis=-1)
    others_ones = ones[..., None] - (reports == 1)
    majority = others_ones >= ((n - 1) // 2 + 1)[..., None]
    a11 = np.zeros(n.shape)
    a00 = np.zeros(n.shape)
    valid = n >= 2
    if np.any(valid):
        sizes, inverse = np.unique(n[valid], return_inverse=True)
        par = mechanism_parameters(sizes, epsilon, theta, prior1)
        a11[valid] = par.a11[inverse]
        a00[valid] = par.a00[inverse]
    unit = np.where((reports == 1) & majority, a11[..., None], 0.0) \
        + np.where((reports == 0) & ~majority, a00[..., None], 0.0)
    return kappa * np.where(part, unit, 0.0)


def _log_binomial_cdf(m: np.ndarray, k: np.ndarray, p: float) -> np.ndarray:
    """:math:`\\ln P(\\text{Bin}(m, p) \\le k)` for ``0 <= k <= m``, summed in log space.

    The terms :math:`\\ln P(\\text{Bin}(m, p) = j)`, :math:`j = 0..k`, of all
    sizes are laid out in one flat array and combined per size by a
    log-sum-exp (``numpy.maximum.reduceat`` / ``add.reduceat``), so the result
    is finite where the probability itself underflows float64.
    """
    m, k = np.broadcast_arrays(np.asarray(m, dtype=np.int64), np.asarray(k, dtype=np.int64))
    shape, m, k = m.shape, m.ravel(), k.ravel()
    counts = k + 1
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    j = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    terms = binom.logpmf(j, np.repeat(m, counts), p)
    top = np.maximum.reduceat(terms, starts)
    total = np.add.reduceat(np.exp(terms - np.repeat(top, counts)), starts)
    return (top + np.log(total)).reshape(shape)


def log_equilibrium_payment_gap(n_owners: np.ndarray | int, epsilon: float, theta: float, prior1: float,
                                cost: CostFunction) -> np.ndarray:
    """:math:`\\ln(E[R_i^{(N,\\varepsilon)}] - V_{LB}(\\varepsilon))` in the all-:math:`\\varepsilon` NE, exactly.

    Expanding the expected payment with :math:`u = 1-\\beta(N)`,
    :math:`v = \\gamma(N) - \\beta(N)` (see :class:`MechanismParameters`) gives
    the cancellation-free form [derived from Section 4.2.2; every term is
    positive, hence Theorem 1's strict inequality]

    .. math::  E[R_i] - V_{LB} = \\frac{\\kappa(\\varepsilon)}{(1-u-v)(2\\theta-1)}
               \\left(\\frac{P_W(1)}{P_W(0)} u(1-u) + \\frac{P_W(0)}{P_W(1)} v(1-v) + 2uv\\right).

    Both are lower binomial tails of :math:`\\text{Bin}(N-1, \\alpha)`:
    :math:`u = P(\\cdot \\le \\lfloor (N-1)/2 \\rfloor)` and
    :math:`v = P(\\cdot \\le \\lceil (N-1)/2 \\rceil - 1)`.  They are summed in log
    space and the bracket is combined by ``logsumexp``, so the log gap is
    accurate to about 1e-14 relative for any ``N`` (checked against mpmath up
    to :math:`N = 100{,}000`, gap :math:`10^{-5087}`): the naive difference
    :math:`E[R_i] - V_{LB}` loses all digits beyond :math:`N \\approx 500`
    (docs/models/value_of_privacy.md#gt5) and the gap itself underflows float64 beyond
    :math:`N \\approx 17{,}700` at :math:`\\varepsilon = 1`.  Use it for the rate
    :math:`d(\\varepsilon)` of Theorem 2 at large ``N``.
    """
    theta, p = check_signal_quality(theta), check_prior(prior1)
    eps = float(_check_epsilon(epsilon))
    n = np.asarray(n_owners, dtype=np.int64)
    if np.any(n < 2):
        raise ValueError("n_owners: R(N, epsilon) needs at least two participants")
    q = 1 - p
    m = n - 1
    alpha = float(report_quality(eps, theta))
    log_u = _log_binomial_cdf(m, m // 2, alpha)
    log_v = _log_binomial_cdf(m, (m + 1) // 2 - 1, alpha)
    u, v = np.exp(log_u), np.exp(log_v)
    bracket = logsumexp(np.stack([math.log(p / q) + log_u + np.log1p(-u),
                                  math.log(q / p) + log_v + np.log1p(-v),
                                  math.log(2.0) + log_u + log_v]), axis=0)
    return np.log(payment_scale(eps, cost)) - math.log(2 * theta - 1) - np.log1p(-(u + v)) + bracket


def equilibrium_payment_gap(n_owners: np.ndarray | int, epsilon: float, theta: float, prior1: float,
                            cost: CostFunction) -> np.ndarray:
    """Exact excess :math:`E[R_i^{(N,\\varepsilon)}] - V_{LB}(\\varepsilon) > 0` in the all-:math:`\\varepsilon` NE.

    ``exp`` of :func:`log_equilibrium_payment_gap`: relative accuracy near
    float64 rounding for every ``N`` until the gap underflows (then 0; use
    the log).
    """
    return np.exp(log_equilibrium_payment_gap(n_owners, epsilon, theta, prior1, cost))


def equilibrium_payment(n_owners: np.ndarray | int, epsilon: float, theta: float, prior1: float,
                        cost: CostFunction) -> np.ndarray:
    """Exact expected payment per owner of :math:`R^{(N,\\varepsilon)}` when all play the :math:`\\varepsilon`-strategy.

    .. math::  E[R_i] = P_W(1)\\,\\kappa[\\alpha\\beta A_{11} + (1-\\alpha)(1-\\beta)A_{00}]
                      + P_W(0)\\,\\kappa[(1-\\alpha)(\\gamma-\\beta)A_{11} + \\alpha(1-\\gamma+\\beta)A_{00}]
                    = V_{LB}(\\varepsilon) + \\text{gap},

    evaluated as :func:`value_lower_bound` plus :func:`equilibrium_payment_gap`.
    """
    return value_lower_bound(epsilon, theta, cost) + equilibrium_payment_gap(n_owners, epsilon, theta, prior1, cost)


def monte_carlo_payment(n_owners: int, epsilon: float, theta: float, prior1: float, cost: CostFunction,
                        trials: int, rng: np.random.Generator,
                        strategy: Strategy | None = None) -> tuple[float, float]:
    """Monte Carlo estimate of the mean payment per owner of :math:`R^{(N,\\varepsilon)}`.

    Each trial draws *W*, the signals and the reports (all owners at the
    :math:`\\varepsilon`-strategy unless ``strategy`` gives the profile) and pays
    by :func:`mechanism_payments`; the trial's statistic is the mean payment
    over owners.

    Returns
    -------
    mean, standard_error : float
        Average over trials and its standard error.
    """
    if trials < 2:
        raise ValueError("trials: need at least 2")
    if n_owners < 2:
        raise ValueError("n_owners: R(N, epsilon) needs N >= 2")
    profile = strategy if strategy is not None else Strategy.randomized_response(np.full(n_owners, float(epsilon)))
    batch = max(1, 2_000_000 // n_owners)
    stats = []
    for start in range(0, trials, batch):
        size = min(batch, trials - start)
        state = sample_state(prior1, rng, size)
        reports = sample_reports(profile, sample_signals(state, theta, n_owners, rng), rng)
        stats.append(mechanism_payments(reports, epsilon, theta, prior1, cost).mean(axis=-1))
    values = np.concatenate(stats)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(trials))


def peer_report_distribution(others: Strategy, theta: float) -> np.ndarray:
    """Joint law of the other owners' participation count and number of 1-reports.

    Returns ``pmf`` of shape ``(2, M+1, M+1)`` with
    ``pmf[w, m, s]`` = :math:`P(m \\text{ others participate}, s \\text{ of them report } 1 \\mid W = w)`
    for the ``M`` owners in ``others`` (1-d).  Owners with identical strategies
    are grouped (a multinomial law per group) and groups are convolved; when
    nobody abstains at random the count ``m`` is deterministic and only
    binomial laws over ``s`` are convolved.
    """
    params, counts = np.unique(np.round(others.stacked().reshape(-1, 4), 12), axis=0, return_counts=True)
    groups = Strategy(*params.T)
    law = groups.report_probabilities(theta)  # (G, 2, 3): [w, x] with x = 0, 1, bot
    total = int(counts.sum())
    pmf = np.zeros((2, total + 1, total + 1))
    deterministic = np.all((law[..., 2] < 1e-12) | (law[..., 2] > 1 - 1e-12))
    if deterministic:
        part = law[:, 0, 2] < 0.5
        m = int(counts[part].sum())
        for w in (0, 1):
            dist = np.ones(1)
            for g in np.flatnonzero(part):
                c = int(counts[g])
                dist = np.convolve(dist, binom.pmf(np.arange(c + 1), c, np.clip(law[g, w, 1], 0.0, 1.0)))
            pmf[w, m, : m + 1] = dist
        return pmf
    for w in (0, 1):
        dist = np.ones((1, 1))
        for g in range(len(counts)):
            c = int(counts[g])
            mm, ss = np.meshgrid(np.arange(c + 1), np.arange(c + 1), indexing="ij")
            ok = ss <= mm
            logp = np.where(
                ok,
                gammaln(c + 1) - gammaln(ss + 1) - gammaln(np.maximum(mm - ss, 0) + 1) - gammaln(c - mm + 1)
                + xlogy(ss, law[g, w, 1]) + xlogy(np.maximum(mm - ss, 0), law[g, w, 0]) + xlogy(c - mm, law[g, w, 2]),
                -np.inf,
            )
            dist = np.clip(signal.convolve(dist, np.exp(logp)), 0.0, None)
        pmf[w] = dist / dist.sum()
    return pmf


def conditional_payments(others: Strategy, epsilon: float, theta: float, prior1: float) -> np.ndarray:
    """Payment table :math:`\\bar R(x; w)/\\kappa` of :math:`R^{(N,\\varepsilon)}` for one owner (unit scale).

    .. math::  \\bar R(1; w) = \\kappa\\, E[A_{1,1}(n) \\mathbb 1\\{M_{-i}=1\\} \\mid W=w], \\quad
               \\bar R(0; w) = \\kappa\\, E[A_{0,0}(n) \\mathbb 1\\{M_{-i}=0\\} \\mid W=w],

    with :math:`n = m + 1` the realised number of participants (a lone
    participant, :math:`m = 0`, gets 0) and the expectation over the law of
    :func:`peer_report_distribution`.  Multiply by :math:`\\kappa_i(\\varepsilon)`
    for owner *i*.  Returns shape ``(2, 2)`` indexed ``[x, w]``.
    """
    pmf = peer_report_distribution(others, theta)
    total = pmf.shape[1] - 1
    table = np.zeros((2, 2))
    if total == 0:
        return table
    m = np.arange(1, total + 1)
    par = mechanism_parameters(m + 1, epsilon, theta, prior1)
    s = np.arange(total + 1)
    majority = s[None, :] >= (m // 2 + 1)[:, None]
    valid = s[None, :] <= m[:, None]
    for w in (0, 1):
        block = pmf[w, 1:, :]
        table[1, w] = np.sum(block * np.where(majority & valid, par.a11[:, None], 0.0))
        table[0, w] = np.sum(block * np.where(~majority & valid, par.a00[:, None], 0.0))
    return table


def equilibrium_payment_table(n_owners: int, epsilon: float, theta: float, prior1: float) -> np.ndarray:
    """Unit-scale payment table against :math:`N-1` others at the :math:`\\varepsilon`-strategy (proof of Theorem 2).

    .. math::  \\bar R(1;1) = \\beta A_{11},\\; \\bar R(1;0) = (\\gamma-\\beta) A_{11},\\;
               \\bar R(0;1) = (1-\\beta) A_{00},\\; \\bar R(0;0) = (1-\\gamma+\\beta) A_{00}.
    """
    par = mechanism_parameters(n_owners, epsilon, theta, prior1)
    return np.array([[(1 - par.false_alarm) * par.a00, par.miss * par.a00],
                     [par.false_alarm * par.a11, par.beta * par.a11]], dtype=float)


# ------------------------------------------------------------------------------------------
# Theorem 2
# ------------------------------------------------------------------------------------------
def convergence_rate(epsilon: np.ndarray | float, theta: float) -> np.ndarray:
    """The exponent :math:`d` of Theorem 2 (eq. 15).

    .. math::  d = \\frac12 \\ln \\frac{(e^\\varepsilon+1)^2}
               {4(\\theta e^\\varepsilon + 1 - \\theta)((1-\\theta)e^\\varepsilon + \\theta)}
    """
    theta = check_signal_quality(theta)
    eps = np.asarray(epsilon, dtype=float)
    e = np.exp(eps)
    return 0.5 * np.log((e + 1) ** 2 / (4 * (theta * e + 1 - theta) * ((1 - theta) * e + theta)))


def payment_excess_function(beta: np.ndarray | float, gamma: float, theta: float, prior1: float) -> np.ndarray:
    """The function :math:`h(\\beta)` of the proof of Theorem 2.

    .. math::  h(\\beta) = \\frac{2\\beta^2 + (4\\theta-2-2\\gamma)\\beta + 2(1-\\theta)\\gamma
               + \\beta(1-\\beta)\\frac{P_W(1)}{P_W(0)} + (\\gamma-\\beta)(1-\\gamma+\\beta)\\frac{P_W(0)}{P_W(1)}}
               {(2\\beta-\\gamma)(2\\theta-1)}

    so that :math:`E[R_i] = V_{LB}(\\varepsilon) + \\kappa(\\varepsilon)(h(\\beta(N)) - 2\\theta/(2\\theta-1))`;
    :math:`h` is non-increasing on :math:`(\\gamma/2, \\gamma]`.
    """
    theta, p = check_signal_quality(theta), check_prior(prior1)
    q = 1 - p
    b = np.asarray(beta, dtype=float)
    if np.any(2 * b - gamma <= 0):
        raise ValueError("beta: h is defined for beta > gamma / 2")
    num = 2 * b**2 + (4 * theta - 2 - 2 * gamma) * b + 2 * (1 - theta) * gamma \
        + b * (1 - b) * p / q + (gamma - b) * (1 - gamma + b) * q / p
    return num / ((2 * b - gamma) * (2 * theta - 1))


def theorem2_upper_bound(n_owners: int, epsilon: float, theta: float, prior1: float,
                         cost: CostFunction) -> float:
    """Explicit upper bound of Theorem 2 on the equilibrium payment of :math:`R^{(N,\\varepsilon)}`.

    The proof bounds :math:`\\beta(N) \\ge \\gamma(N) - e^{-(N-1)d}` (Chernoff) and uses
    that :math:`h` is non-increasing:

    .. math::  E[R_i] \\le V_{LB}(\\varepsilon) + \\kappa(\\varepsilon)
               \\left(h(\\gamma(N) - e^{-(N-1)d}) - \\frac{2\\theta}{2\\theta-1}\\right)
               = V_{LB}(\\varepsilon) + O(e^{-Nd}).

    Returns ``inf`` (the bound is vacuous) when :math:`\\gamma - e^{-(N-1)d} \\le \\gamma/2`.
    """
    par = mechanism_parameters(n_owners, epsilon, theta, prior1)
    gamma = float(par.gamma)
    beta_low = gamma - math.exp(-(n_owners - 1) * float(convergence_rate(epsilon, theta)))
    if 2 * beta_low <= gamma:
        return math.inf
    excess = float(payment_excess_function(beta_low, gamma, theta, prior1)) - 2 * theta / (2 * theta - 1)
    return float(value_lower_bound(epsilon, theta, cost) + payment_scale(epsilon, cost) * excess)


# ------------------------------------------------------------------------------------------
# Section 5: payment versus accuracy
# ------------------------------------------------------------------------------------------
def chernoff_information(epsilon: np.ndarray | float, theta: float) -> np.ndarray:
    """Chernoff information :math:`D(\\varepsilon)` between the report laws under W=1 and W=0 (App. D).

    .. math::  D(\\varepsilon) = D_{KL}(P_U \\| \\text{Bern}(\\alpha)) = \\tfrac12 \\ln \\frac{1}{4\\alpha(1-\\alpha)},

    with :math:`D(-\\varepsilon) = D(\\varepsilon)`; a non-informative report has
    :math:`D = 0`.  Equal to :math:`d` of eq. 15 (:func:`convergence_rate`).
    """
    alpha = report_quality(epsilon, theta)
    return -0.5 * np.log(4 * alpha * (1 - alpha))


def error_bound(epsilons: np.ndarray, theta: float) -> float:
    """Bhattacharyya bound (21) on the collector's error: :math:`p_e \\le e^{-\\sum_i D(\\varepsilon_i)}`."""
    return float(np.exp(-np.sum(chernoff_information(np.asarray(epsilons, dtype=float), theta))))


def best_ratio_epsilon(theta: float, cost: CostFunction) -> float:
    """:math:`\\tilde\\varepsilon = \\inf\\arg\\max_{\\varepsilon > 0} D(\\varepsilon)/V_{LB}(\\varepsilon)` (eq. 20).

    The best quality/price ratio; independent of the prior and of
    :math:`\\tau`.  Found on a grid over (0, 30] and refined by bounded scalar
    maximisation around the first grid maximiser.  ``cost.scale`` must be a
    scalar (homogeneous costs).
    """
    if np.ndim(cost.scale) != 0:
        raise ValueError("scale: the payment-accuracy problem assumes a homogeneous cost")

    def ratio(e: np.ndarray | float) -> np.ndarray:
        return chernoff_information(e, theta) / value_lower_bound(e, theta, cost)

    grid = np.linspace(1e-3, 30.0, 30_000)
    k = int(np.argmax(ratio(grid)))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    res = optimize.minimize_scalar(lambda e: -float(ratio(e)), bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-10})
    return float(res.x)


def _check_tau(tau: float) -> float:
    tau = float(tau)
    if not 0.0 < tau < 1.0:
        raise ValueError(f"tau: accuracy target must lie in (0, 1), got {tau}")
    return tau


@dataclass(frozen=True)
class PaymentAccuracy:
    """Theorem 3's solution of the payment-accuracy problem for one target :math:`\\tau`.

    Attributes
    ----------
    tau : float
        Target on the error bound :math:`e^{-\\sum D(\\varepsilon_i)}`.
    epsilon : float
        :math:`\\tilde\\varepsilon` (eq. 20).
    n_owners : int
        :math:`\\tilde N = \\lceil \\ln(1/\\tau)/D(\\tilde\\varepsilon) \\rceil`.
    lower : float
        :math:`(\\tilde N - 1) V_{LB}(\\tilde\\varepsilon) \\le F(\\tau)` (Lemma 4).
    upper : float
        :math:`\\tilde N V_{LB}(\\tilde\\varepsilon)`, the leading term of the upper bound.
    mechanism_total : float
        Exact total expected payment of :math:`R^{(\\tilde N, \\tilde\\varepsilon)}`
        (Lemma 5: :math:`\\le \\tilde N V_{LB} + O(\\tau \\ln(1/\\tau))`).
    """

    tau: float
    epsilon: float
    n_owners: int
    lower: float
    upper: float
    mechanism_total: float


def payment_accuracy(tau: float, theta: float, prior1: float, cost: CostFunction) -> PaymentAccuracy:
    """Bounds of Theorem 3 on the minimum total payment :math:`F(\\tau)` and the mechanism that attains them.

    .. math::  (\\tilde N - 1) V_{LB}(\\tilde\\varepsilon) \\le F(\\tau)
               \\le \\tilde N V_{LB}(\\tilde\\varepsilon) + O(\\tau \\ln(1/\\tau)) .
    """
    tau = _check_tau(tau)
    eps = best_ratio_epsilon(theta, cost)
    n = max(2, math.ceil(math.log(1 / tau) / float(chernoff_information(eps, theta))))
    vlb = float(value_lower_bound(eps, theta, cost))
    total = n * float(equilibrium_payment(n, eps, theta, prior1, cost))
    return PaymentAccuracy(tau=tau, epsilon=eps, n_owners=n, lower=(n - 1) * vlb, upper=n * vlb,
                           mechanism_total=total)


def best_homogeneous_payment(tau: float, theta: float, cost: CostFunction) -> tuple[float, float, int]:
    """Cheapest homogeneous profile of the relaxation (P1) of Lemma 4.

    .. math::  \\min_\\varepsilon \\lceil \\ln(1/\\tau)/D(\\varepsilon)\\rceil V_{LB}(\\varepsilon)

    For each population size :math:`N` the cheapest feasible level solves
    :math:`D(\\varepsilon) = \\ln(1/\\tau)/N` (both :math:`D` and :math:`V_{LB}` increase in
    :math:`\\varepsilon` for the convex costs here); the minimum is over :math:`N`
    (docs/models/value_of_privacy.md#gt8, Lemma 4 shows it is at least :math:`(\\tilde N - 1)V_{LB}(\\tilde\\varepsilon)`).
    For :math:`\\tau = 0.4` the minimum is 87.8157 at :math:`\\varepsilon = 1.79616`, N = 9 (mpmath
    agrees); the 87.853 listed at docs/models/value_of_privacy.md#gt8, at :math:`\\varepsilon \\approx 1.797` comes from a grid search over
    :math:`\\varepsilon` and lies just above it.

    Returns
    -------
    total, epsilon, n_owners : float, float, int
    """
    tau = _check_tau(tau)
    target = math.log(1 / tau)
    d_max = -0.5 * math.log(4 * theta * (1 - theta))
    n_min = math.floor(target / d_max) + 1
    n_ref = math.ceil(target / float(chernoff_information(best_ratio_epsilon(theta, cost), theta)))
    best = (math.inf, math.nan, 0)
    for n in range(n_min, 20 * n_ref + 2):
        eps = optimize.brentq(lambda e: float(chernoff_information(e, theta)) - target / n, 1e-12, 800.0,
                              xtol=1e-14)
        total = n * float(value_lower_bound(eps, theta, cost))
        if total < best[0]:
            best = (total, eps, n)
    return best


# ------------------------------------------------------------------------------------------
# equilibrium checks
# ------------------------------------------------------------------------------------------
#: Non-informative candidate deviations (label -> constant report).
CONSTANT_STRATEGIES = {"abstain": ABSTAIN, "always 0": 0, "always 1": 1}


@dataclass(frozen=True)
class Deviation:
    """Each owner's best strategy against given payment tables.

    Attributes
    ----------
    utility : numpy.ndarray
        Utility of the best strategy found.
    label : numpy.ndarray of str
        ``"abstain"``, ``"always 0"``, ``"always 1"`` or ``"rr"`` (randomized response).
    xi : numpy.ndarray
        The randomized-response parameter :math:`\\xi` where ``label == "rr"`` (0 elsewhere).
    """

    utility: np.ndarray
    label: np.ndarray
    xi: np.ndarray

    @property
    def strategy(self) -> Strategy:
        """The best strategies as a :class:`Strategy` array."""
        rr = Strategy.randomized_response(self.xi)
        parts = rr.stacked().copy()
        for name, report in CONSTANT_STRATEGIES.items():
            mask = self.label == name
            parts[mask] = Strategy.constant(report).stacked()
        return Strategy(*np.moveaxis(parts, -1, 0))


def default_strategy_grid() -> np.ndarray:
    """The randomized-response grid :math:`\\xi \\in [-8, 8]` (step 0.005) used by the checks."""
    return np.linspace(-8.0, 8.0, 3201)


def best_deviation(coefficients: np.ndarray, cost: CostFunction, grid: np.ndarray | None = None,
                   refine: bool = True) -> Deviation:
    """Best strategy of each owner given its payment coefficients :math:`(K_1, K_0, L_1, L_0)`.

    Searches non-participation (utility 0), the constant reports
    (:math:`K_1+K_0` and :math:`L_1+L_0`, cost 0) and the :math:`\\xi`-strategies on
    ``grid``,

    .. math::  f(\\xi) = (K_1 - L_1 + L_0 - K_0)\\frac{e^\\xi}{e^\\xi+1} + K_0 + L_1 - g_i(|\\xi|),

    then refines the best grid :math:`\\xi` by bounded scalar maximisation.  By
    Lemma 1 these cover every candidate equilibrium strategy; mixtures of
    constant reports are linear in the coefficients and never beat the best
    constant.

    Parameters
    ----------
    coefficients : numpy.ndarray
        Shape ``(n_owners, 4)`` (see :func:`payment_coefficients`).
    cost : CostFunction
        Costs (``scale`` scalar or shape ``(n_owners,)``).
    grid : numpy.ndarray, optional
        Values of :math:`\\xi`; :func:`default_strategy_grid` by default.
    refine : bool
        Whether to refine the best grid point by ``scipy.optimize.minimize_scalar``.
    """
    coef = np.atleast_2d(np.asarray(coefficients, dtype=float))
    grid = default_strategy_grid() if grid is None else np.asarray(grid, dtype=float)
    scale = np.broadcast_to(cost.scale, coef.shape[:1])
    k1, k0, l1, l0 = coef.T
    slope = k1 - l1 + l0 - k0
    base_cost = CostFunction(cost.form, 1.0, cost.exponent)
    keep = 1.0 / (1.0 + np.exp(-grid))
    rr = slope[:, None] * keep[None, :] + (k0 + l1)[:, None] - scale[:, None] * base_cost(grid)[None, :]
    k = np.argmax(rr, axis=1)
    xi = grid[k].copy()
    rr_best = rr[np.arange(coef.shape[0]), k]
    if refine and grid.size > 2:
        step = float(np.max(np.diff(grid)))
        for i in range(coef.shape[0]):
            def neg(x: float, i: int = i) -> float:
                return -(slope[i] / (1 + math.exp(-x)) + k0[i] + l1[i] - scale[i] * float(base_cost(x)))
            res = optimize.minimize_scalar(neg, bounds=(xi[i] - step, xi[i] + step), method="bounded",
                                           options={"xatol": 1e-10})
            if -res.fun > rr_best[i]:
                xi[i], rr_best[i] = res.x, -res.fun
    options = np.stack([np.zeros(coef.shape[0]), l1 + l0, k1 + k0, rr_best], axis=1)
    labels = np.array(["abstain", "always 0", "always 1", "rr"])
    choice = np.argmax(options, axis=1)
    return Deviation(utility=options[np.arange(coef.shape[0]), choice], label=labels[choice],
                     xi=np.where(choice == 3, xi, 0.0))


@dataclass(frozen=True)
class EquilibriumCheck:
    """Result of :func:`equilibrium_check`.

    Attributes
    ----------
    utility : numpy.ndarray
        Each owner's expected utility in the profile.
    payment : numpy.ndarray
        Each owner's expected payment in the profile.
    best : Deviation
        Each owner's best deviation.
    gain : numpy.ndarray
        ``best.utility - utility`` (at least 0 up to the grid resolution).
    """

    utility: np.ndarray
    payment: np.ndarray
    best: Deviation
    gain: np.ndarray

    def is_nash(self, tolerance: float = 1e-9) -> bool:
        """Whether no owner gains more than ``tolerance`` by deviating."""
        return bool(np.all(self.gain <= tolerance))


def profile_payment_tables(profile: Strategy, epsilon: float, theta: float, prior1: float) -> np.ndarray:
    """Unit-scale payment table of every owner of ``profile`` under :math:`R^{(N,\\varepsilon)}`.

    Owners with the same strategy face the same others, so one table is
    computed per distinct strategy (group).  When every owner participates
    for sure or abstains for sure (as with the simulator's action codes), the
    leave-one-out laws of all groups come from prefix and suffix convolutions
    (:func:`_sure_participation_tables`), :math:`O(G)` convolutions for
    :math:`G` groups; otherwise each group's table is
    :func:`conditional_payments` of the others.  Returns shape ``(n_owners, 2, 2)``.
    """
    stacked = np.round(profile.stacked(), 12)
    distinct, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    inverse = np.asarray(inverse).ravel()
    law = Strategy(*distinct.T).report_probabilities(theta)  # (G, 2, 3): [w, x] with x = 0, 1, bot
    abstain = law[:, 0, 2]
    if np.all((abstain < 1e-12) | (abstain > 1 - 1e-12)):
        return _sure_participation_tables(law, counts, abstain < 0.5, epsilon, theta, prior1)[inverse]
    tables = np.zeros((distinct.shape[0], 2, 2))
    for k in range(distinct.shape[0]):
        first = int(np.flatnonzero(inverse == k)[0])
        tables[k] = conditional_payments(profile[np.arange(profile.shape[0]) != first], epsilon, theta, prior1)
    return tables[inverse]


def _binomial_pmf(count: int, p: float) -> np.ndarray:
    """:math:`P(\\text{Bin}(\\text{count}, p) = k)` for ``k = 0..count`` (``p`` may be 0 or 1)."""
    k = np.arange(count + 1)
    return np.exp(gammaln(count + 1) - gammaln(k + 1) - gammaln(count - k + 1)
                  + xlogy(k, p) + xlog1py(count - k, -p))


def _sure_participation_tables(law: np.ndarray, counts: np.ndarray, part: np.ndarray, epsilon: float,
                               theta: float, prior1: float) -> np.ndarray:
    """Unit-scale tables of :math:`G` groups whose members participate (``part``) or abstain for sure.

    Given *W = w*, the number of 1-reports among the participating others is
    a sum of independent binomials, one per group: for a member of group *g*
    its law is :math:`P_g * S_{g+1} * \\text{Bin}(c_g - 1, P(X=1|w))`, with
    :math:`P_g` the convolution of the groups before *g* and :math:`S_{g+1}`
    of those after (for an abstaining group its own factor is a point mass).
    The table then follows as in :func:`conditional_payments` with the fixed
    number :math:`m_g` of participating others.  Returns shape ``(G, 2, 2)``.
    """
    n_groups = counts.size
    others = int(counts[part].sum()) - part.astype(np.int64)  # participating others of a member of g
    tables = np.zeros((n_groups, 2, 2))
    live = others >= 1                                         # a lone participant is paid 0
    if not np.any(live):
        return tables
    sizes, index = np.unique(others[live], return_inverse=True)
    par = mechanism_parameters(sizes + 1, epsilon, theta, prior1)
    a11 = np.zeros(n_groups)
    a00 = np.zeros(n_groups)
    a11[live], a00[live] = par.a11[index], par.a00[index]
    point = np.ones(1)
    for w in (0, 1):
        full = [_binomial_pmf(int(c), law[g, w, 1]) if part[g] else point for g, c in enumerate(counts)]
        prefix = [point]
        for g in range(n_groups - 1):
            prefix.append(np.convolve(prefix[-1], full[g]))
        suffix = point
        for g in reversed(range(n_groups)):
            if live[g]:
                rest = np.convolve(prefix[g], suffix)
                if part[g]:
                    rest = np.convolve(rest, _binomial_pmf(int(counts[g]) - 1, law[g, w, 1]))
                majority = np.arange(rest.size) >= others[g] // 2 + 1
                tables[g, 1, w] = a11[g] * rest[majority].sum()
                tables[g, 0, w] = a00[g] * rest[~majority].sum()
            suffix = np.convolve(suffix, full[g])
    return tables


def equilibrium_check(profile: Strategy, epsilon: float, theta: float, prior1: float, cost: CostFunction,
                      grid: np.ndarray | None = None) -> EquilibriumCheck:
    """Each owner's best deviation from ``profile`` under :math:`R^{(N,\\varepsilon)}` and its gain (Definition 2).

    Parameters
    ----------
    profile : Strategy
        One strategy per owner (1-d, length :math:`N \\ge 2`).
    epsilon, theta, prior1 : float
        The mechanism's posted level, signal quality and prior.
    cost : CostFunction
        Owners' costs; the payment scale is :math:`\\kappa_i` from :math:`g_i'` (Section 4.3).
    grid : numpy.ndarray, optional
        :math:`\\xi` grid of :func:`best_deviation`.
    """
    if profile.p1.ndim != 1 or profile.shape[0] < 2:
        raise ValueError("profile: need a 1-d profile of at least two owners")
    kappa = np.broadcast_to(payment_scale(epsilon, cost), profile.shape)
    tables = profile_payment_tables(profile, epsilon, theta, prior1) * kappa[:, None, None]
    payment = strategy_payment(tables, profile, theta, prior1)
    utility = payment - np.broadcast_to(cost(profile.privacy_level()), profile.shape)
    best = best_deviation(payment_coefficients(tables, theta, prior1), cost, grid)
    return EquilibriumCheck(utility=utility, payment=payment, best=best, gain=best.utility - utility)


def is_uninformative(profile: Strategy) -> bool:
    """Whether the collector learns nothing: no owner's report depends on its signal (pooling)."""
    return not bool(np.any(profile.is_informative()))


@dataclass(frozen=True)
class PoolingEquilibrium:
    """An uninformative profile of :math:`R^{(N,\\varepsilon)}` where everyone plays ``label``.

    Attributes
    ----------
    label : str
        ``"always 0"``, ``"always 1"`` or ``"abstain"``.
    utility : float
        Each owner's expected utility (= payment, no privacy cost).
    gain : float
        Largest gain from a unilateral deviation.
    """

    label: str
    utility: float
    gain: float

    def is_nash(self, tolerance: float = 1e-9) -> bool:
        """Whether the pooling profile is a Nash equilibrium."""
        return self.gain <= tolerance


def pooling_equilibria(n_owners: int, epsilon: float, theta: float, prior1: float,
                       cost: CostFunction, tolerance: float = 1e-9) -> list[PoolingEquilibrium]:
    """The uninformative pooling profiles of :math:`R^{(N,\\varepsilon)}` that are Nash equilibria.

    Checks "everyone always reports 0", "everyone always reports 1" and
    "everyone abstains" (docs/models/value_of_privacy.md#gt10, [INFERENCE]: not in the paper).
    With all others at 0, :math:`M_{-i} = 0` always, so reporting 0 earns
    :math:`\\kappa A_{00}(N)` at no privacy cost; likewise for 1.
    """
    found = []
    for label, report in CONSTANT_STRATEGIES.items():
        check = equilibrium_check(Strategy.constant(report, n_owners), epsilon, theta, prior1, cost)
        eq = PoolingEquilibrium(label=label, utility=float(check.utility[0]), gain=float(check.gain.max()))
        if eq.is_nash(tolerance):
            found.append(eq)
    return found


def symmetric_best_response(others: Strategy, n_owners: int, epsilon: float, theta: float, prior1: float,
                            cost: CostFunction, grid: np.ndarray | None = None) -> Deviation:
    """Best response of one owner when the other :math:`N-1` all play the scalar strategy ``others``.

    One step of the symmetric best-response dynamics of docs/models/value_of_privacy.md#gt10:
    the candidates are the :math:`\\xi`-strategies, always 1, always 0 and
    non-participation.  ``cost.scale`` must be a scalar.
    """
    if n_owners < 2:
        raise ValueError("n_owners: need at least two owners")
    if np.ndim(cost.scale) != 0:
        raise ValueError("scale: the symmetric best response needs a homogeneous cost")
    rest = Strategy(*(np.full(n_owners - 1, float(np.asarray(getattr(others, k)).ravel()[0]))
                      for k in ("p1", "p0", "q1", "q0")))
    table = conditional_payments(rest, epsilon, theta, prior1) * payment_scale(epsilon, cost)
    return best_deviation(payment_coefficients(table, theta, prior1)[None, :], cost, grid)
