"""Private binary signals reported through randomized response (paper 004, Section 3).

The collector wants to learn a binary state :math:`W \\in \\{0, 1\\}` with prior
:math:`P_W`.  Owner *i* holds a private signal :math:`S_i` with

.. math::  P(S_i = W \\mid W) = \\theta, \\qquad \\tfrac12 < \\theta < 1,

conditionally i.i.d. given *W*, and reports :math:`X_i \\in \\{0, 1, \\bot\\}`
(:data:`ABSTAIN` codes :math:`\\bot`, non-participation).  A *strategy* is a
conditional distribution :math:`P(X_i = x \\mid S_i = s)`, parameterised as in the
paper's Appendix A by

.. math::  p_1 = P(X=1|S=1),\\; q_1 = P(X=0|S=1),\\;
           p_0 = P(X=1|S=0),\\; q_0 = P(X=0|S=0),

with :math:`P(\\bot | s) = 1 - p_s - q_s`.  The :math:`\\varepsilon`-strategy is
binary randomized response that keeps the signal with probability
:math:`e^\\varepsilon/(e^\\varepsilon+1)`; its privacy level (Definition 1) is
:math:`|\\varepsilon|`.

The collector sees only the reports.  It estimates *W* by a likelihood-ratio
test: by default the maximum a posteriori test, which attains the minimum
error :math:`p_e` of Section 5, or the maximum-likelihood test (the same test
with a uniform prior; for i.i.d. :math:`\\varepsilon`-reports, the majority vote).
The paper fixes no estimator; privmarket chooses MAP (docs/models/value_of_privacy.md#estimator) and issue 10
names maximum likelihood, so both are offered (``decision_prior``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, gammaln, xlogy
from scipy.stats import binom

#: Report code of non-participation :math:`\\bot`.
ABSTAIN = -1
#: Probabilities below this are treated as exactly zero in the privacy level
#: (floating-point residues such as ``1 - p - q = 1e-17`` would otherwise give
#: an infinite privacy level; docs/models/value_of_privacy.md#def-1).
PROBABILITY_FLOOR = 1e-12


def check_signal_quality(theta: float) -> float:
    """Return ``theta`` as a float; raise ``ValueError`` unless 0.5 < theta < 1."""
    theta = float(theta)
    if not 0.5 < theta < 1.0:
        raise ValueError(f"theta: signal quality must lie in (0.5, 1), got {theta}")
    return theta


def check_prior(prior1: float) -> float:
    """Return ``prior1`` = :math:`P_W(1)` as a float; raise unless 0 < prior1 < 1."""
    prior1 = float(prior1)
    if not 0.0 < prior1 < 1.0:
        raise ValueError(f"prior: P_W(1) must lie in (0, 1), got {prior1}")
    return prior1


@dataclass(frozen=True)
class Strategy:
    """Reporting strategies :math:`\\sigma_i`, one per element of the arrays.

    Attributes
    ----------
    p1, p0 : numpy.ndarray
        :math:`P(X_i = 1 \\mid S_i = 1)` and :math:`P(X_i = 1 \\mid S_i = 0)`.
    q1, q0 : numpy.ndarray
        :math:`P(X_i = 0 \\mid S_i = 1)` and :math:`P(X_i = 0 \\mid S_i = 0)`.
    """

    p1: np.ndarray
    p0: np.ndarray
    q1: np.ndarray
    q0: np.ndarray

    def __post_init__(self) -> None:
        arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (self.p1, self.p0, self.q1, self.q0)))
        for name, a in zip(("p1", "p0", "q1", "q0"), arrays):
            if np.any(a < -PROBABILITY_FLOOR) or np.any(a > 1 + PROBABILITY_FLOOR):
                raise ValueError(f"{name}: probabilities must lie in [0, 1]")
            object.__setattr__(self, name, np.clip(a, 0.0, 1.0))
        if np.any(self.p1 + self.q1 > 1 + 1e-9) or np.any(self.p0 + self.q0 > 1 + 1e-9):
            raise ValueError("strategy: P(X=1|s) + P(X=0|s) must not exceed 1")

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def randomized_response(cls, xi: np.ndarray | float) -> Strategy:
        """The :math:`\\xi`-strategy :math:`\\sigma^{(\\xi)}` (Section 3).

        .. math::  P(X=1|S=1) = P(X=0|S=0) = \\frac{e^\\xi}{e^\\xi+1}, \\quad
                   P(\\bot | S) = 0 .

        Negative :math:`\\xi` gives the :math:`(-\\varepsilon)`-strategy (reports
        anti-correlated with the signal); :math:`\\xi = 0` reports a fair coin.
        """
        keep = expit(np.asarray(xi, dtype=float))
        return cls(p1=keep, p0=1.0 - keep, q1=1.0 - keep, q0=keep)

    @classmethod
    def constant(cls, report: int, size: int | tuple[int, ...] = ()) -> Strategy:
        """Always report ``report`` (1, 0 or :data:`ABSTAIN`), ignoring the signal."""
        if report not in (0, 1, ABSTAIN):
            raise ValueError(f"report: must be 0, 1 or {ABSTAIN}, got {report}")
        one = np.full(size, float(report == 1))
        zero = np.full(size, float(report == 0))
        return cls(p1=one, p0=one, q1=zero, q0=zero)

    @staticmethod
    def concatenate(strategies: list[Strategy]) -> Strategy:
        """Join 1-d strategy arrays into one profile."""
        return Strategy(*(np.concatenate([np.atleast_1d(getattr(s, k)) for s in strategies])
                          for k in ("p1", "p0", "q1", "q0")))

    # -- properties ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the strategy arrays."""
        return self.p1.shape

    def __getitem__(self, index) -> Strategy:
        return Strategy(self.p1[index], self.p0[index], self.q1[index], self.q0[index])

    def stacked(self) -> np.ndarray:
        """The parameters as an array of shape ``shape + (4,)``: ``(p1, p0, q1, q0)``."""
        return np.stack([self.p1, self.p0, self.q1, self.q0], axis=-1)

    def privacy_level(self) -> np.ndarray:
        """The privacy level :math:`\\zeta(\\sigma_i)` of Definition 1.

        .. math::  \\zeta(\\sigma_i) = \\max_{E \\subseteq \\{0,1,\\bot\\},\\, s}
                   \\ln \\frac{P(X_i \\in E \\mid S_i = s)}{P(X_i \\in E \\mid S_i = 1-s)},

        evaluated over the six non-trivial events of Appendix A, with the
        conventions :math:`0/0 = 1` and :math:`x/0 = \\infty` for :math:`x > 0`.
        Probabilities below :data:`PROBABILITY_FLOOR` count as zero.
        """
        a1 = np.stack([self.p1, self.q1, 1.0 - self.p1 - self.q1], axis=-1)
        a0 = np.stack([self.p0, self.q0, 1.0 - self.p0 - self.q0], axis=-1)
        # events: {1}, {0}, {bot} and their complements
        e1 = np.concatenate([a1, 1.0 - a1], axis=-1)
        e0 = np.concatenate([a0, 1.0 - a0], axis=-1)
        e1 = np.where(e1 < PROBABILITY_FLOOR, 0.0, e1)
        e0 = np.where(e0 < PROBABILITY_FLOOR, 0.0, e0)
        both_zero = (e1 == 0) & (e0 == 0)
        one_zero = (e1 == 0) ^ (e0 == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.abs(np.log(np.where(both_zero | one_zero, 1.0, e1 / np.where(e0 == 0, 1.0, e0))))
        ratio = np.where(one_zero, np.inf, ratio)
        return np.max(ratio, axis=-1)

    def is_informative(self) -> np.ndarray:
        """Whether :math:`X_i` depends on :math:`S_i` (``p1 != p0`` or ``q1 != q0``)."""
        return (np.abs(self.p1 - self.p0) > PROBABILITY_FLOOR) | (np.abs(self.q1 - self.q0) > PROBABILITY_FLOOR)

    def report_probabilities(self, theta: float) -> np.ndarray:
        """Law of the report given the state.

        Returns
        -------
        numpy.ndarray
            Shape ``shape + (2, 3)``: entry ``[..., w, x]`` is
            :math:`P(X_i = x \\mid W = w)` for ``x`` = 0, 1, :math:`\\bot` (index 2),
            e.g. :math:`P(X=1|W=1) = \\theta p_1 + (1-\\theta) p_0`.
        """
        theta = check_signal_quality(theta)
        one = np.stack([(1 - theta) * self.p1 + theta * self.p0, theta * self.p1 + (1 - theta) * self.p0], axis=-1)
        zero = np.stack([(1 - theta) * self.q1 + theta * self.q0, theta * self.q1 + (1 - theta) * self.q0], axis=-1)
        bot = np.clip(1.0 - one - zero, 0.0, 1.0)
        return np.stack([zero, one, bot], axis=-1)


def report_quality(epsilon: np.ndarray | float, theta: float) -> np.ndarray:
    """Probability :math:`\\alpha` that an :math:`\\varepsilon`-report equals *W* (Section 4.2.2).

    .. math::  \\alpha = \\theta \\frac{e^\\varepsilon}{e^\\varepsilon + 1}
                        + (1-\\theta) \\frac{1}{e^\\varepsilon + 1}
    """
    theta = check_signal_quality(theta)
    keep = expit(np.asarray(epsilon, dtype=float))
    return theta * keep + (1.0 - theta) * (1.0 - keep)


# -- sampling -------------------------------------------------------------------------------
def sample_state(prior1: float, rng: np.random.Generator, size: int | tuple[int, ...] = ()) -> np.ndarray:
    """Draw the state :math:`W \\sim P_W` (int array of 0/1 with shape ``size``)."""
    prior1 = check_prior(prior1)
    return (rng.random(size) < prior1).astype(np.int64)


def sample_signals(state: np.ndarray, theta: float, n_owners: int, rng: np.random.Generator) -> np.ndarray:
    """Draw the private signals, shape ``state.shape + (n_owners,)``.

    :math:`S_i = W` with probability :math:`\\theta`, independently given *W*.
    """
    theta = check_signal_quality(theta)
    state = np.asarray(state, dtype=np.int64)
    flip = rng.random(state.shape + (n_owners,)) >= theta
    return np.where(flip, 1 - state[..., None], state[..., None])


def sample_reports(strategy: Strategy, signals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw each owner's report from its strategy given its signal.

    Parameters
    ----------
    strategy : Strategy
        One strategy per owner (shape ``(n_owners,)``), broadcast over the
        leading axes of ``signals``.
    signals : numpy.ndarray
        Signals of shape ``(..., n_owners)``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of int64
        Reports in {1, 0, :data:`ABSTAIN`}, same shape as ``signals``.
    """
    u = rng.random(signals.shape)
    p_one = np.where(signals == 1, strategy.p1, strategy.p0)
    p_zero = np.where(signals == 1, strategy.q1, strategy.q0)
    return np.where(u < p_one, 1, np.where(u < p_one + p_zero, 0, ABSTAIN)).astype(np.int64)


# -- the collector's estimate --------------------------------------------------------------
def report_log_likelihood_ratios(strategy: Strategy, theta: float) -> np.ndarray:
    """Per-report log-likelihood ratios :math:`\\ln P(X_i=x|W=1)/P(X_i=x|W=0)`.

    Returns shape ``strategy.shape + (3,)`` for ``x`` = 0, 1, :math:`\\bot`.  A
    report impossible under both states gets 0 (it never occurs); one
    impossible under one state only gets :math:`\\pm\\infty`.
    """
    law = strategy.report_probabilities(theta)
    law = np.where(law < PROBABILITY_FLOOR, 0.0, law)
    with np.errstate(divide="ignore", invalid="ignore"):
        llr = np.log(law[..., 1, :]) - np.log(law[..., 0, :])
    return np.where((law[..., 1, :] == 0) & (law[..., 0, :] == 0), 0.0, llr)


def map_estimate(reports: np.ndarray, strategy: Strategy, theta: float, prior1: float,
                 decision_prior: float | None = None) -> np.ndarray:
    """The collector's maximum a posteriori (or maximum-likelihood) estimate of *W* from the reports.

    .. math::  \\hat W = 1 \\iff \\sum_i \\ln\\frac{P(X_i|W=1)}{P(X_i|W=0)}
                          + \\ln\\frac{\\pi}{1-\\pi} > 0

    with :math:`\\pi = P_W(1)` (MAP, docs/models/value_of_privacy.md#estimator) or :math:`\\pi = 1/2`
    (maximum likelihood); ties go to 0.  The collector knows the strategy
    profile, as in the paper's equilibrium analysis.

    Parameters
    ----------
    reports : numpy.ndarray
        Reports of shape ``(..., n_owners)``.
    strategy : Strategy
        The owners' strategies, shape ``(n_owners,)``.
    theta, prior1 : float
        Signal quality and :math:`P_W(1)`.
    decision_prior : float, optional
        The prior :math:`\\pi` the test uses: ``None`` (default) = ``prior1``
        (MAP), ``0.5`` = maximum likelihood.
    """
    threshold = _log_prior_odds(prior1, decision_prior)
    llr = report_log_likelihood_ratios(strategy, theta)
    index = np.where(reports == ABSTAIN, 2, reports)
    total = np.take_along_axis(np.broadcast_to(llr, reports.shape + (3,)), index[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore"):
        score = total.sum(axis=-1) + threshold
    return (score > 0).astype(np.int64)


def _log_prior_odds(prior1: float, decision_prior: float | None) -> float:
    """:math:`\\ln(\\pi/(1-\\pi))` of the test's prior (``prior1`` unless ``decision_prior`` is given)."""
    prior1 = check_prior(prior1)
    pi = prior1 if decision_prior is None else check_prior(decision_prior)
    return math.log(pi / (1.0 - pi))


def map_error_iid(n_owners: int, epsilon: float, theta: float, prior1: float,
                  decision_prior: float | None = None) -> float:
    """Exact error probability of the MAP (or ML) estimate from ``n_owners`` i.i.d. :math:`\\varepsilon`-reports.

    With :math:`k` reports equal to 1 the test decides 1 iff
    :math:`(2k - N)\\ln\\frac{\\alpha}{1-\\alpha} + \\ln\\frac{\\pi}{1-\\pi} > 0`
    (:math:`\\pi` as in :func:`map_estimate`), so

    .. math::  p_e = P_W(1) P(\\text{Bin}(N,\\alpha) \\le k^*) + P_W(0) P(\\text{Bin}(N,1-\\alpha) > k^*).

    With ``decision_prior = 0.5`` this is the majority-vote error (ties to 0).
    """
    threshold = _log_prior_odds(prior1, decision_prior)
    if n_owners < 1:
        raise ValueError("n_owners: must be at least 1")
    alpha = float(report_quality(abs(epsilon), theta))
    if alpha == 0.5:
        return 1.0 - prior1 if threshold > 0 else prior1
    k = np.arange(n_owners + 1)
    decide_one = (2 * k - n_owners) * np.log(alpha / (1 - alpha)) + threshold > 0
    miss = prior1 * binom.pmf(k, n_owners, alpha)[~decide_one].sum()
    false_alarm = (1 - prior1) * binom.pmf(k, n_owners, 1 - alpha)[decide_one].sum()
    return float(miss + false_alarm)


def map_error(strategy: Strategy, theta: float, prior1: float, max_support: int = 2_000_000,
              decision_prior: float | None = None) -> float:
    """Exact error probability of the MAP (or ML) estimate for an arbitrary profile.

    Owners with identical strategies are grouped; the law of the total
    log-likelihood ratio under each state is built by convolving the groups'
    multinomial laws on the (merged) support of LLR values, and

    .. math::  p_e = P_W(1)\\,P(L \\le -c \\mid W=1) + P_W(0)\\,P(L > -c \\mid W=0),
               \\quad c = \\ln\\frac{\\pi}{1-\\pi}

    (:math:`\\pi` as in :func:`map_estimate`).

    Parameters
    ----------
    strategy : Strategy
        One strategy per owner (1-d).
    theta, prior1 : float
        Signal quality and prior.
    max_support : int
        Largest number of distinct LLR values kept; beyond it a ``ValueError``
        is raised (use Monte Carlo with :func:`map_estimate` instead).
    decision_prior : float, optional
        The test's prior (``None`` = ``prior1``, MAP; ``0.5`` = maximum likelihood).
    """
    threshold = _log_prior_odds(prior1, decision_prior)
    params, counts = np.unique(np.round(strategy.stacked().reshape(-1, 4), 12), axis=0, return_counts=True)
    groups = Strategy(*params.T)
    law = groups.report_probabilities(theta)          # (G, 2, 3)
    llr = report_log_likelihood_ratios(groups, theta)  # (G, 3)
    values = np.zeros(1)
    prob = np.ones((2, 1))
    for g in np.flatnonzero(groups.is_informative()):
        c = int(counts[g])
        k1, k0 = np.meshgrid(np.arange(c + 1), np.arange(c + 1), indexing="ij")
        ok = k1 + k0 <= c
        k1, k0 = k1[ok], k0[ok]
        kb = c - k1 - k0
        logc = gammaln(c + 1) - gammaln(k1 + 1) - gammaln(k0 + 1) - gammaln(kb + 1)
        gp = np.stack([np.exp(logc + xlogy(k1, law[g, w, 1]) + xlogy(k0, law[g, w, 0]) + xlogy(kb, law[g, w, 2]))
                       for w in (0, 1)])
        live = gp.sum(axis=0) > 0
        with np.errstate(invalid="ignore"):
            gv = np.where(k1 > 0, k1 * llr[g, 1], 0.0) + np.where(k0 > 0, k0 * llr[g, 0], 0.0) \
                + np.where(kb > 0, kb * llr[g, 2], 0.0)
        gv, gp = gv[live], gp[:, live]
        if values.size * gv.size > max_support:
            raise ValueError(f"strategy: the LLR support exceeds max_support={max_support}; use Monte Carlo")
        values = (values[:, None] + gv[None, :]).ravel()
        prob = (prob[:, :, None] * gp[:, None, :]).reshape(2, -1)
        finite = np.isfinite(values)
        key = np.where(finite, np.round(values, 9), values)
        values, inverse = np.unique(key, return_inverse=True)
        prob = np.stack([np.bincount(inverse, weights=prob[w], minlength=values.size) for w in (0, 1)])
    decide_one = values + threshold > 0
    return float(prior1 * prob[1][~decide_one].sum() + (1 - prior1) * prob[0][decide_one].sum())
