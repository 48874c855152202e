"""Contribution games and the budget-balanced mechanism M_beta (paper 003).

Owners choose how much data :math:`s_i \\in [0, \\tau_i]` to contribute to a
jointly trained model.  Owner *i* receives the learning payoff :math:`a_i(s)`
of a payoff family (:mod:`market.theory.contribution_game.payoffs`), bears the convex cost
:math:`c_i(s_i) = c_i s_i + \\tfrac{k_i}{2}s_i^2 + d_i` and, under
:math:`\\mathcal M_\\beta`, the budget-balanced payment

.. math::  p_i(s) = \\beta\\Big(c_i(s_i) - \\frac{1}{n-1}\\sum_{j\\ne i} c_j(s_j)\\Big),
           \\qquad u_i = B_i + a_i(s) - c_i(s_i) + p_i(s)

(Section 4).  Two mechanisms are registered:

``contribution_game``
    no payments (:math:`\\beta = 0`): the plain game of Sections 2-3, where
    Nash equilibria show free-riding (Example 1) or total collapse;
``budget_balanced``
    :math:`\\mathcal M_\\beta` with :math:`\\beta = \\beta^*` of eq. (6)
    recomputed from the current owners' cost slopes every round
    (``beta_rule = "optimal"``), or a fixed ``beta``.  Payments sum to 0.

Owner attributes: ``sensitivity`` is the cost slope :math:`c_i`,
``data_size`` the owner's data :math:`\\tau_i` (capped at
``max_contribution``); ``cost_curvature`` :math:`k_i` (0 = linear cost),
``cost_offset`` :math:`d_i`, ``budget`` :math:`B_i` and ``payoff_weight``
:math:`w_i` (aggregate families only) are declared extras.

The owners' "best response" follows the platform's ``protocol``:

``exact``     the exact best reply on :math:`[0, \\tau_i]` (grid + bounded Brent);
``gradient``  one contribution step of FedBR / FedBR-BG (Algorithms 1 and 2):
              :math:`s_i + \\delta\\,\\partial u_i/\\partial s_i`, frozen at the boundary
              and clipped, with the forward difference of step ``delta_s``
              when ``delta_s > 0`` -- so ``budget_balanced`` + ``gradient``
              is FedBR-BG and ``contribution_game`` + ``gradient`` is FedBR;
``full``      FedAvg: everyone contributes :math:`\\tau_i`;
``mwfed``     MWFed (Blum et al. 2021, :func:`market.theory.contribution_game.game.mwfed`): each
              round the platform draws ``n * batch`` more samples, split by
              shares that grow by ``boost`` for the owners whose payoff is still
              below ``target``; it stops once every owner meets the target.  The
              shares are the platform's state, updated after each round
              (use ``revision = "synchronous"``: one allocation per round).

Per-round metrics: ``welfare_p`` (the un-normalised p-mean welfare for the
scenario's ``welfare_p``, :mod:`market.theory.contribution_game.welfare`; utilities include
payments), ``payments_sum`` (0 up to rounding), ``beta``,
``total_contribution``, ``free_riders`` (owners contributing 0),
``g_norm`` (:math:`\\lVert g(s,\\mu)\\rVert_2` of eq. 4, 0 at a Nash equilibrium
of a concave game), ``deviation_gain`` (the largest gain any owner gets by
deviating alone to a point of the action grid: the NE check by deviation,
a lower bound of the exact gain, which also sees the non-concave games
where ``g_norm`` is 0 away from an NE) and ``cycle_period`` (*k* if the
profile equals the one *k* rounds earlier and none in between, looking back
16 rounds; 1 = a fixed point, 0 = no repeat: Theorem A.2's best responses
show period 2 instead of converging).

The outside option is contributing nothing (:math:`s_i = 0`, the first grid
point); the jointly trained model is a shared good, so ``free_riding_share``
is recorded.  Regime classes (:meth:`ContributionGameMechanism.regime_classes`):
``equilibrium`` (the profile repeats every round), ``cycle`` (it repeats with a
period of 2 or more, Theorem A.2), none while it still moves.

Known limit (docs/models/contribution_game.md#corr-thm-4-1): Theorem 4.1's welfare optimality of the NE of
:math:`\\mathcal M_{\\beta^*}` holds with identical linear costs but not with
heterogeneous costs (``c = w = (1, 2, 3)``: the all-positive NE has
:math:`W_1 = 16.8774 < 20.7506`); :mod:`market.theory.contribution_game.game` documents
it and ``tests/test_p003_budget_balanced.py`` keeps the counterexample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from market.core.families import PAYOFFS, make_payoff
from market.core.mechanism import ActionSpace, Mechanism, Outcome, RoundContext
from market.core.population import OwnerArrays
from market.theory.contribution_game.game import ContributionGame, mwfed_shares
from market.theory.contribution_game.payoffs import AggregatePayoff, ConvexCost, Payoff
from market.theory.contribution_game.welfare import p_mean_welfare

PROTOCOLS = ("exact", "gradient", "full", "mwfed")
#: Rounds of past profiles kept for the ``cycle_period`` metric.
HISTORY = 16


class ContributionGameMechanism(Mechanism):
    """Owners contribute data for a shared model; no payments (Sections 2-3)."""

    name = "contribution_game"
    description = "owners choose data contributions for a shared model (concave payoff, convex cost), no payments"
    owner_attributes = {"cost_curvature": 0.0, "cost_offset": 0.0, "budget": 0.0, "payoff_weight": 1.0}
    shared_good = True

    @dataclass(frozen=True)
    class Params:
        """Parameters of the contribution game.

        Attributes
        ----------
        payoff : str
            Payoff family (a key of :data:`market.theory.contribution_game.payoffs.PAYOFFS`).
        payoff_params : dict
            Keyword parameters of the family (e.g. ``{alpha = 1.0, exponent = 0.5}``).
        max_contribution : float
            Upper end of the action grid; :math:`\\tau_i = \\min(\\text{data\\_size}_i, \\text{max\\_contribution})`.
        grid_points : int
            Points of the action grid on ``[0, max_contribution]``.
        welfare_p : float
            Exponent of the recorded p-mean welfare (``p <= 1``; 0 = Nash product).
        protocol : str
            ``"exact"``, ``"gradient"`` (FedBR steps), ``"full"`` (FedAvg) or
            ``"mwfed"`` (MWFed).
        step_size : float
            Contribution step :math:`\\delta` of the ``gradient`` protocol.
        delta_s : float
            Forward-difference increment :math:`\\Delta s` (0 = exact derivative).
        target : float
            MWFed: every owner's payoff target :math:`\\mu` (an accuracy for
            accuracy-like payoffs).
        batch : float
            MWFed: samples per owner per round on average.
        boost : float
            MWFed: factor (>= 1) on the shares of owners below target.
        """

        payoff: str = "power_law"
        payoff_params: dict = field(default_factory=dict)
        max_contribution: float = 100.0
        grid_points: int = 101
        welfare_p: float = 1.0
        protocol: str = "exact"
        step_size: float = 1.0
        delta_s: float = 0.0
        target: float = 0.95
        batch: float = 10.0
        boost: float = 4.0

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        #: Owner ids the platform's state below refers to (``None`` before the first round).
        self.ids: np.ndarray | None = None
        #: MWFed shares for the next round (``None``: uniform).
        self.shares: np.ndarray | None = None
        #: Settled profiles of the last rounds, most recent first.
        self.recent: np.ndarray | None = None

    def validate(self) -> None:
        p = self.params
        if p.payoff not in PAYOFFS:
            raise ValueError(f"payoff: unknown family {p.payoff!r}; choose one of {sorted(PAYOFFS)}")
        if not isinstance(p.payoff_params, dict):
            raise ValueError("payoff_params: must be a table")
        self._reference_payoff()
        if not (np.isfinite(p.max_contribution) and p.max_contribution > 0):
            raise ValueError("max_contribution: must be positive")
        if p.grid_points < 2:
            raise ValueError("grid_points: needs at least 2")
        if not p.welfare_p <= 1:
            raise ValueError("welfare_p: the p-mean welfare needs p <= 1")
        if p.protocol not in PROTOCOLS:
            raise ValueError(f"protocol: must be one of {', '.join(PROTOCOLS)}")
        if not p.step_size > 0:
            raise ValueError("step_size: must be positive")
        if p.delta_s < 0:
            raise ValueError("delta_s: must be non-negative")
        if not np.isfinite(p.target):
            raise ValueError("target: must be finite")
        if not p.batch > 0:
            raise ValueError("batch: must be positive")
        if not p.boost >= 1:
            raise ValueError("boost: must be at least 1")

    def _reference_payoff(self) -> Payoff:
        """The payoff family built from the scenario's parameters alone (validation and :meth:`describe`)."""
        p = self.params
        matrix = p.payoff_params.get("weights", p.payoff_params.get("q"))
        return make_payoff(p.payoff, len(matrix) if matrix is not None else 3, p.payoff_params)

    def describe(self) -> dict[str, Any]:
        """The payoff family's facts (a measured curve reports its correction)."""
        return self._reference_payoff().describe()

    @property
    def action_space(self) -> ActionSpace:
        """Contributions on ``grid_points`` points of ``[0, max_contribution]``."""
        return ActionSpace(np.linspace(0.0, self.params.max_contribution, self.params.grid_points),
                           kind="continuous")

    #: Fewest owners the mechanism's payments are defined for.
    min_owners = 1

    def check_population(self, owners: int, churn: bool) -> None:
        """The payoff family must accept ``owners`` players (the ring needs two), and the
        mechanism at least :attr:`min_owners`."""
        p = self.params
        if owners < self.min_owners:
            raise ValueError(f"owners: {self.name} needs at least {self.min_owners} owners, the population has {owners}")
        if p.payoff_params.get("weights", p.payoff_params.get("q")) is None:
            make_payoff(p.payoff, owners, p.payoff_params)

    def rate(self, owners: OwnerArrays) -> float:
        """The tax/subsidy rate :math:`\\beta` (0: no mechanism)."""
        return 0.0

    def game(self, owners: OwnerArrays) -> ContributionGame:
        """The contribution game of the current owners."""
        p = self.params
        n = len(owners)
        params: dict[str, Any] = dict(p.payoff_params)
        weight = owners.extra["payoff_weight"]
        if issubclass(PAYOFFS[p.payoff], AggregatePayoff):
            params.setdefault("weight", weight)
        elif np.any(weight != 1.0):
            raise ValueError(f"payoff_weight: the {p.payoff} family has no per-owner weight")
        cost = ConvexCost(owners.sensitivity, owners.extra["cost_curvature"], owners.extra["cost_offset"], n=n)
        tau = np.minimum(owners.data_size, p.max_contribution)
        return ContributionGame(make_payoff(p.payoff, n, params), cost, tau,
                                beta=self.rate(owners), budget=owners.extra["budget"])

    def settle(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> Outcome:
        """Payments of :math:`\\mathcal M_\\beta`, costs, utilities and the round's welfare metrics.

        Contributions above :math:`\\tau_i` are capped at :math:`\\tau_i`.
        """
        game = self.game(owners)
        s = np.minimum(action, game.tau)
        payment = game.payments(s)
        utility = game.utility(s)
        dev = self.deviation_utilities(s, owners, ctx)
        deviation = dev.max(axis=1) - utility
        return Outcome(
            payment=payment,
            cost=game.cost(s),
            utility=utility,
            platform_utility=-float(payment.sum()),
            metrics={
                "welfare_p": float(p_mean_welfare(utility, self.params.welfare_p)),
                "payments_sum": float(payment.sum()),
                "beta": game.beta,
                "total_contribution": float(s.sum()),
                "free_riders": float(np.count_nonzero(s <= 0)),
                "g_norm": float(np.linalg.norm(game.projected_gradient(s))),
                "deviation_gain": float(max(deviation.max(), 0.0)),
                "cycle_period": self._period(s, owners, game.tau),
            },
            deviation=dev,
        )

    def regime_classes(self, table):
        """``equilibrium`` where ``cycle_period`` is 1, ``cycle`` where it is 2 or more, else none (``""``)."""
        period = np.asarray(table["cycle_period"])
        return np.where(period == 1, "equilibrium", np.where(period >= 2, "cycle", ""))

    def _tracks(self, owners: OwnerArrays) -> bool:
        """Whether the platform's state belongs to the current owners (no churn since)."""
        return self.ids is not None and np.array_equal(self.ids, owners.ids)

    def _period(self, s: np.ndarray, owners: OwnerArrays, tau: np.ndarray) -> float:
        """Rounds back to the latest equal profile (within ``1e-9 max(tau, 1)``); 0 if none."""
        if not self._tracks(owners) or self.recent is None:
            return 0.0
        same = np.flatnonzero(np.max(np.abs(self.recent - s), axis=1) <= 1e-9 * max(float(tau.max()), 1.0))
        return float(same[0] + 1) if same.size else 0.0

    def update(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> None:
        """After a round: remember the settled profile; MWFed re-weights the owners' shares."""
        game = self.game(owners)
        s = np.minimum(action, game.tau)
        if not self._tracks(owners):
            self.ids, self.shares, self.recent = owners.ids.copy(), None, None
        if self.params.protocol == "mwfed":
            self.shares = mwfed_shares(self._shares(owners), game.payoff(s) < self.params.target,
                                       self.params.boost)
        past = self.recent if self.recent is not None else np.zeros((0, len(owners)))
        self.recent = np.vstack([s[None, :], past])[:HISTORY]

    def _shares(self, owners: OwnerArrays) -> np.ndarray:
        """MWFed's current shares (uniform before the first re-weighting and after churn)."""
        if self.shares is None or not self._tracks(owners):
            return np.full(len(owners), 1.0 / len(owners))
        return self.shares

    def deviation_utilities(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> np.ndarray:
        """:math:`u_i(x_k, s_{-i})` on the action grid; ``-inf`` for candidates above :math:`\\tau_i`."""
        game = self.game(owners)
        values = self.action_space.values
        util = game.deviation_utilities(np.minimum(action, game.tau), values)
        return np.where(values[None, :] <= game.tau[:, None] + 1e-12, util, -np.inf)

    def best_response(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> np.ndarray:
        """The owners' next contributions under the platform's ``protocol`` (see the module docstring)."""
        game = self.game(owners)
        s = np.minimum(action, game.tau)
        if self.params.protocol == "full":
            return game.tau.copy()
        if self.params.protocol == "mwfed":
            if np.all(game.payoff(s) >= self.params.target) or np.all(s >= game.tau):
                return s.copy()
            return np.minimum(s + len(owners) * self.params.batch * self._shares(owners), game.tau)
        if self.params.protocol == "gradient":
            delta_s = self.params.delta_s if self.params.delta_s > 0 else None
            return np.clip(s + self.params.step_size * game.projected_gradient(s, delta_s), 0.0, game.tau)
        return game.best_response(s)
