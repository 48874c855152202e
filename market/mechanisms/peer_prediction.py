"""Peer-prediction payments R(N, epsilon) for randomized-response reports (paper 004).

Each round a state :math:`W \\sim P_W` is drawn; every owner receives a
private signal of quality :math:`\\theta` and reports it through its chosen
strategy (:mod:`market.theory.value_of_privacy.randomized_response`).  The collector, untrusted with
raw data, pays only from the reports by the mechanism
:math:`R^{(N,\\varepsilon)}` of Section 4.2.1 (:func:`market.theory.value_of_privacy.peer_prediction.mechanism_payments`):
an owner is paid :math:`\\kappa_i(\\varepsilon) A_{X_i, M_{-i}}` when its report agrees
with the strict majority of the other participants, with
:math:`\\kappa_i = g_i'(\\varepsilon)(e^\\varepsilon+1)^2/(2e^\\varepsilon)` from its own cost
(Section 4.3).  The collector then estimates *W* by the MAP test
(docs/models/value_of_privacy.md#estimator) or, with ``estimator = "ml"``, by maximum likelihood.

Actions (a finite set of codes, ``kind="levels"``)

* ``epsilon > 0`` on a grid: the :math:`\\varepsilon`-strategy (randomized response);
* :data:`ALWAYS_ONE` (-1), :data:`ALWAYS_ZERO` (-2): pooling, the report
  ignores the signal (docs/models/value_of_privacy.md#gt10);
* :data:`ABSTAIN` (-3): non-participation.

By Lemma 1 these cover every candidate equilibrium strategy.

Owner *i*'s privacy cost is :math:`g_i(\\zeta) = s_i\\, g(\\zeta)` with
:math:`s_i` = its ``sensitivity`` and :math:`g` the named form of
:class:`market.theory.value_of_privacy.peer_prediction.CostFunction`.  The deviation utilities use the
exact expected payment against the others' current strategies (binomial sums
over the other participants' reports, :func:`market.theory.value_of_privacy.peer_prediction.conditional_payments`).

The outside option is :data:`ABSTAIN` (nothing paid, nothing revealed:
utility 0, also when abstaining is not offered as an action), so the standard
``information_rent_*`` columns measure the expected payment above the privacy
cost.  Regime classes (:meth:`PeerPrediction.regime_classes`):
``informative`` (every report depends on its signal), ``pooling`` (none does),
``partially informative`` in between (``docs/models/value_of_privacy.md``).

Repeated rounds, a fresh *W* per round and best-response dynamics are
[INFERENCE] (docs/models/value_of_privacy.md#simulator-choices): the paper studies a one-shot game.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from market.core.mechanism import ActionSpace, Mechanism, Outcome, RoundContext
from market.core.population import OwnerArrays
from market.theory.value_of_privacy.peer_prediction import (
    COST_FORMS,
    CostFunction,
    chernoff_information,
    mechanism_payments,
    payment_coefficients,
    payment_scale,
    profile_payment_tables,
    strategy_payment,
    value_lower_bound,
)
from market.theory.value_of_privacy.randomized_response import (
    ABSTAIN as REPORT_ABSTAIN,
    Strategy,
    map_error,
    map_estimate,
    sample_reports,
    sample_signals,
    sample_state,
)

#: Action code: never participate.
ABSTAIN = -3.0
#: Action code: always report 0 (pooling).
ALWAYS_ZERO = -2.0
#: Action code: always report 1 (pooling).
ALWAYS_ONE = -1.0
#: Largest support of the total log-likelihood ratio for which the expected error is
#: summed exactly (:func:`market.theory.value_of_privacy.randomized_response.map_error`); more mixed profiles
#: (e.g. during learning) use Monte Carlo.
ERROR_SUPPORT = 100_000
#: Draws of the Monte Carlo fallback for the expected error of very mixed profiles.
ERROR_DRAWS = 20_000
#: The collector's estimators of *W*: maximum a posteriori, maximum likelihood.
ESTIMATORS = ("map", "ml")


def action_strategies(action: np.ndarray) -> Strategy:
    """The reporting strategy of each action code (see the module docstring)."""
    action = np.asarray(action, dtype=float)
    keep = expit(np.where(action > 0, action, 0.0))
    informative = action > 0
    p1 = np.where(informative, keep, (action == ALWAYS_ONE).astype(float))
    q1 = np.where(informative, 1.0 - keep, (action == ALWAYS_ZERO).astype(float))
    return Strategy(p1=p1, p0=np.where(informative, 1.0 - keep, p1), q1=q1, q0=np.where(informative, keep, q1))


class PeerPrediction(Mechanism):
    """R(N, epsilon): pay randomized-response reports that agree with the peer majority."""

    name = "peer_prediction"
    description = "untrusted collector buys epsilon-private binary reports with peer-majority payments R(N, eps)"

    @dataclass(frozen=True)
    class Params:
        """Parameters of R(N, epsilon).

        Attributes
        ----------
        epsilon : float
            The privacy level the collector posts (buys); > 0.
        theta : float
            Signal quality :math:`\\theta \\in (0.5, 1)`.
        prior : float
            :math:`P_W(1) \\in (0, 1)`.
        cost_form : str
            Named privacy-cost form: ``"linear"``, ``"power"`` or ``"exponential"``;
            owner *i*'s cost is ``sensitivity_i * g(zeta)``.
        cost_exponent : float
            Exponent of the ``"power"`` form (>= 1).
        epsilon_min, epsilon_max, epsilon_step : float
            Grid of privacy levels the owners choose from (``epsilon`` is added to it).
        pooling_actions : bool
            Whether owners may also always report 0, always report 1, or abstain.
        accuracy_value : float
            The collector's value of a correct estimate of *W* (its utility is this
            times the indicator of a correct estimate, minus the payments).
        estimator : str
            The collector's estimate of *W* from the reports: ``"map"`` (maximum a
            posteriori, the minimum-error test of Section 5) or ``"ml"`` (maximum
            likelihood: the same likelihood-ratio test without the prior).
        """

        epsilon: float = 1.0
        theta: float = 0.8
        prior: float = 0.7
        cost_form: str = "linear"
        cost_exponent: float = 2.0
        epsilon_min: float = 0.05
        epsilon_max: float = 3.0
        epsilon_step: float = 0.05
        pooling_actions: bool = True
        accuracy_value: float = 0.0
        estimator: str = "map"

    def validate(self) -> None:
        p = self.params
        if not (np.isfinite(p.epsilon) and p.epsilon > 0):
            raise ValueError("epsilon: the posted privacy level must be positive")
        if not 0.5 < p.theta < 1.0:
            raise ValueError("theta: signal quality must lie in (0.5, 1)")
        if not 0.0 < p.prior < 1.0:
            raise ValueError("prior: P_W(1) must lie in (0, 1)")
        if p.cost_form not in COST_FORMS:
            raise ValueError(f"cost_form: must be one of {', '.join(COST_FORMS)}")
        if p.cost_form == "power" and p.cost_exponent < 1.0:
            raise ValueError("cost_exponent: must be >= 1 for a convex cost")
        if not 0.0 < p.epsilon_min <= p.epsilon_max:
            raise ValueError("epsilon_min: need 0 < epsilon_min <= epsilon_max")
        if not p.epsilon_step > 0:
            raise ValueError("epsilon_step: must be positive")
        if (p.epsilon_max - p.epsilon_min) / p.epsilon_step > 5000:
            raise ValueError("epsilon_step: the grid would have more than 5000 levels")
        if p.accuracy_value < 0:
            raise ValueError("accuracy_value: must be non-negative")
        if p.estimator not in ESTIMATORS:
            raise ValueError(f"estimator: must be one of {', '.join(ESTIMATORS)}")
        grid = np.round(np.arange(p.epsilon_min, p.epsilon_max + p.epsilon_step / 2, p.epsilon_step), 10)
        grid = np.union1d(grid, [p.epsilon])
        codes = [ABSTAIN, ALWAYS_ZERO, ALWAYS_ONE] if p.pooling_actions else []
        self._values = np.concatenate([codes, grid])
        names = {ABSTAIN: "abstain", ALWAYS_ZERO: "always0", ALWAYS_ONE: "always1"}
        self._labels = [names.get(v, f"{v:g}") for v in self._values.tolist()]
        self._candidates = action_strategies(self._values)
        self._table_key = np.array([np.nan])
        self._tables = np.zeros((0, 2, 2))
        self._error_key = np.array([np.nan])
        self._error = 0.0

    @property
    def action_space(self) -> ActionSpace:
        """Pooling codes (if enabled) followed by the privacy-level grid."""
        meanings = {"abstain": "abstains", "always0": "always reports 0", "always1": "always reports 1"}
        return ActionSpace(self._values, kind="levels", labels=tuple(self._labels),
                           meanings=tuple(meanings.get(label, f"epsilon = {label}")
                                          for label in self._labels))

    @property
    def outside_option(self) -> int | None:
        """Index of :data:`ABSTAIN` in the action space (``None`` without pooling actions)."""
        return 0 if self.params.pooling_actions else None

    def outside_utility(self, deviation: np.ndarray, owners: OwnerArrays) -> np.ndarray:
        """Abstaining: no payment and no privacy cost, utility 0."""
        return np.zeros(len(owners))

    def regime_classes(self, table):
        """``pooling`` (no report informative), ``informative`` (all), ``partially informative``."""
        share = np.asarray(table["informative_share"])
        return np.where(share <= 0, "pooling", np.where(share >= 1, "informative", "partially informative"))

    @property
    def initial_action(self) -> float:
        """The posted epsilon-strategy, the informative equilibrium of :math:`R(N, \\epsilon)`.

        Owners start there unless the scenario says otherwise, so a sweep over
        ``mechanism.epsilon`` traces the value of privacy instead of starting
        everyone at one level (from which best response may tip into pooling).
        """
        return float(self.params.epsilon)

    # -- helpers ------------------------------------------------------------------------
    def cost_function(self, owners: OwnerArrays) -> CostFunction:
        """Each owner's cost :math:`g_i = s_i g` with :math:`s_i` its sensitivity (must be positive)."""
        if np.any(owners.sensitivity <= 0):
            raise ValueError("sensitivity: peer_prediction needs positive sensitivities (g_i(x) = 0 only at x = 0)")
        return CostFunction(self.params.cost_form, owners.sensitivity, self.params.cost_exponent)

    def expected_payments(self, action: np.ndarray, cost: CostFunction) -> tuple[np.ndarray, np.ndarray]:
        """Each owner's payment table (scaled by its :math:`\\kappa_i`) and expected payment.

        The unit tables depend on the action profile only; they are kept for
        the last profile seen, so a settled population costs no recomputation.
        """
        p = self.params
        n = action.size
        profile = action_strategies(action)
        if not np.array_equal(action, self._table_key):
            self._table_key = action.copy()
            self._tables = profile_payment_tables(profile, p.epsilon, p.theta, p.prior) if n >= 2 \
                else np.zeros((n, 2, 2))
        kappa = np.broadcast_to(payment_scale(p.epsilon, cost), (n,))
        tables = self._tables * kappa[:, None, None]
        return tables, strategy_payment(tables, profile, p.theta, p.prior)

    @property
    def decision_prior(self) -> float | None:
        """The prior of the collector's likelihood-ratio test: ``None`` (MAP) or 0.5 (ML)."""
        return None if self.params.estimator == "map" else 0.5

    def expected_error(self, action: np.ndarray, rng: np.random.Generator) -> float:
        """Exact error of the collector's estimate for the profile (kept for the last profile seen).

        Profiles too mixed for the exact sum (:func:`market.theory.value_of_privacy.randomized_response.map_error`
        with :data:`ERROR_SUPPORT`) get a Monte Carlo estimate from :data:`ERROR_DRAWS` draws.
        """
        if not np.array_equal(action, self._error_key):
            p = self.params
            profile = action_strategies(action)
            try:
                self._error = map_error(profile, p.theta, p.prior, ERROR_SUPPORT, self.decision_prior)
            except ValueError:
                w = sample_state(p.prior, rng, ERROR_DRAWS)
                draws = sample_reports(profile, sample_signals(w, p.theta, action.size, rng), rng)
                estimate = map_estimate(draws, profile, p.theta, p.prior, self.decision_prior)
                self._error = float(np.mean(estimate != w))
            self._error_key = action.copy()
        return self._error

    # -- the interface ------------------------------------------------------------------
    def settle(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> Outcome:
        """Draw *W*, signals and reports; pay by R(N, epsilon); the collector estimates *W* (MAP or ML).

        Metrics: ``collector_error`` (this round's estimate is wrong), ``expected_error``
        (exact error probability of the estimator for the profile; a Monte Carlo
        estimate with :data:`ERROR_DRAWS` draws when the profile is too mixed for
        the exact sum), ``error_bound`` (:math:`e^{-\\sum_i D(\\zeta_i)}`, eq. 21),
        ``mean_epsilon`` (mean privacy level), ``expected_payment`` (mean),
        ``value_lower_bound`` (mean :math:`V_{LB,i}(\\varepsilon)`), ``pooling`` (1 if
        no report depends on its signal), ``informative_share`` (share of owners
        whose report depends on their signal; partial pooling lies between),
        ``state``, ``estimate`` and ``participants``.
        """
        p = self.params
        n = action.size
        cost = self.cost_function(owners)
        profile = action_strategies(action)
        state = sample_state(p.prior, ctx.rng)
        reports = sample_reports(profile, sample_signals(state, p.theta, n, ctx.rng), ctx.rng)
        payment = mechanism_payments(reports, p.epsilon, p.theta, p.prior, cost) if n else np.zeros(0)
        level = profile.privacy_level()
        privacy_cost = np.broadcast_to(cost(level), (n,)).astype(float)
        estimate = int(map_estimate(reports, profile, p.theta, p.prior, self.decision_prior))
        correct = float(estimate == int(state))
        _, expected = self.expected_payments(action, cost)
        expected_error = self.expected_error(action, ctx.rng)
        informative = profile.is_informative()
        metrics = {
            "collector_error": 1.0 - correct,
            "expected_error": float(expected_error),
            "error_bound": float(np.exp(-np.sum(np.where(informative, chernoff_information(
                np.where(informative, np.maximum(level, 1e-300), 1.0), p.theta), 0.0)))),
            "mean_epsilon": float(level.mean()) if n else 0.0,
            "expected_payment": float(expected.mean()) if n else 0.0,
            "value_lower_bound": float(np.mean(value_lower_bound(p.epsilon, p.theta, cost))) if n else 0.0,
            "pooling": float(not np.any(informative)),
            "informative_share": float(informative.mean()) if n else 0.0,
            "state": float(state),
            "estimate": float(estimate),
            "participants": float(np.count_nonzero(reports != REPORT_ABSTAIN)),
        }
        return Outcome(payment=payment, cost=privacy_cost, utility=payment - privacy_cost,
                       platform_utility=p.accuracy_value * correct - float(payment.sum()), metrics=metrics)

    def deviation_utilities(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> np.ndarray:
        """Exact expected utility of each owner (rows) for each candidate action (columns).

        .. math::  U_{ik} = K_1 p_1^{(k)} + K_0 p_0^{(k)} + L_1 q_1^{(k)} + L_0 q_0^{(k)} - g_i(\\zeta_k),

        with owner *i*'s coefficients against the others' current strategies.
        """
        cost = self.cost_function(owners)
        tables, _ = self.expected_payments(action, cost)
        coef = payment_coefficients(tables, self.params.theta, self.params.prior)  # (n, 4)
        payment = coef @ self._candidates.stacked().T
        base = CostFunction(self.params.cost_form, 1.0, self.params.cost_exponent)
        return payment - owners.sensitivity[:, None] * base(self._candidates.privacy_level())[None, :]
