"""The data-contribution game of paper 001: the base every paper-001 mechanism adapts.

Owners choose a data amount :math:`m_i \\ge 0` at marginal cost :math:`c_i`
(the owner's ``sensitivity``: the privacy cost of revealing one data point,
L84-85); the platform pools the data and returns to each owner a model of
value :math:`[\\mathcal M(m)]_i \\le v(\\sum_j m_j)` (feasibility, Def. A).
There is no money: the owner's "payment" recorded by the simulator is the
value of the model it receives, and

.. math::  u_i = [\\mathcal M(m)]_i - c_i m_i \\qquad (18).

Mechanisms (registered names):

``naive_fl``
    everyone gets the pooled model, eq. (8) -- catastrophic free-riding
    (Theorem III);
``value_shaping``
    eq. (11): the stand-alone value up to :math:`m_i^*`, then a line of slope
    :math:`c_i + \\varepsilon` up to :math:`m_i^{max}`, then the pooled model
    (data-maximizing, Theorem IV; utilities equal stand-alone, Theorem V);
``fairness_baseline``
    the PD / PV / PS rules of App. C.2, eqs. (12)-(14), with exponent ``p``;
``two_type``
    hidden costs with two types, eqs. (15)-(17), App. D.

Every mechanism can let the platform **seed** its own data (Remark 3):
``seed_data`` points join the pool in the first ``seed_rounds`` rounds (0 =
every round).  The action space is the box ``[0, m_max]``, discretised on
``grid_points`` points for learning rules; exact best responses use closed
forms or 1-d solves and respect the box.

Per-round metrics (columns of ``model.parquet``): ``total_data`` (owners'
data), ``seeded_data``, ``pooled_value`` (:math:`v` of the pool),
``free_riders`` and ``free_rider_share`` (owners contributing 0 while their
stand-alone optimum is positive), ``under_contributors`` and
``under_contributor_share`` (owners contributing less than their stand-alone
optimum), ``surplus_over_standalone``
(mean of :math:`u_i - u_i^*`); ``two_type`` adds ``low_type_rent`` (the
low-cost types' total utility above stand-alone, Theorem VIII) and
``high_type_data``.

The owners' outside option is training alone (individual rationality,
Def. B): its value is the stand-alone utility :math:`u_i^* = v(m_i^*) - c_i m_i^*`,
so the standard ``information_rent_*`` columns measure :math:`u_i - u_i^*`
(``docs/measures.md#information-rent``).  The pooled model is a shared good,
so ``free_riding_share`` is recorded.  Regime classes
(:meth:`DataContributionGame.regime_classes`): ``collapse`` (no owner
contributes, Theorem III's catastrophic free-riding) and ``tipped`` (data
flows; the seeded market of Remark 3 tips into it).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from market.core.families import VALUE_FUNCTIONS, make_value
from market.core.mechanism import ActionSpace, Mechanism, Outcome, RoundContext
from market.core.population import OwnerArrays
from market.theory.data_contribution.value_functions import ValueFunction, standalone_optimum

#: Golden-section ratio for the vectorized 1-d refinements.
_INVPHI = (np.sqrt(5.0) - 1.0) / 2.0


def golden_section_max(f, lo: np.ndarray, hi: np.ndarray, iterations: int = 40) -> np.ndarray:
    """Vectorized golden-section search for the maximum of ``f`` on ``[lo, hi]``.

    Parameters
    ----------
    f : callable
        Elementwise function of an array shaped like ``lo``.
    lo, hi : numpy.ndarray
        Brackets; ``f`` should be unimodal on each.
    iterations : int
        Each iteration shrinks the brackets by 0.618.
    """
    x1 = hi - _INVPHI * (hi - lo)
    x2 = lo + _INVPHI * (hi - lo)
    f1, f2 = f(x1), f(x2)
    for _ in range(iterations):
        left = f1 >= f2                      # the maximum lies in [lo, x2]
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        x_new = np.where(left, hi - _INVPHI * (hi - lo), lo + _INVPHI * (hi - lo))
        f_new = f(x_new)
        x1, x2 = np.where(left, x_new, x2), np.where(left, x1, x_new)
        f1, f2 = np.where(left, f_new, f2), np.where(left, f1, f_new)
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class DataGameParams:
    """Parameters shared by the data-contribution mechanisms.

    Attributes
    ----------
    value : str
        Value function: ``"sqrt"``, ``"erm_bound"`` or ``"power_law"`` (see :mod:`market.theory.data_contribution.value_functions`).
    a : float
        Optimal value ``a_opt`` (value of a fully trained model).
    k : float
        Task difficulty (``sqrt``, ``erm_bound``) or loss scale (``power_law``).
    alpha : float
        Exponent of ``power_law``.
    m_max : float
        Upper end of the action box ``[0, m_max]``.
    grid_points : int
        Points of the action grid used by learning rules.
    seed_data : float
        Data the platform contributes itself (Remark 3).
    seed_rounds : int
        Rounds during which the seed is in the pool (0 = every round).
    """

    value: str = "sqrt"
    a: float = 0.95
    k: float = 1.0
    alpha: float = 0.95
    m_max: float = 100.0
    grid_points: int = 401
    seed_data: float = 0.0
    seed_rounds: int = 0


class DataContributionGame(Mechanism):
    """Common machinery: value function, action box, seeding, settlement and metrics.

    Subclasses implement :meth:`values_at` (the model value each owner would
    receive for candidate amounts) and may override :meth:`best_response`.
    """

    Params = DataGameParams
    outside_option = None
    shared_good = True

    def validate(self) -> None:
        p = self.params
        if p.value not in VALUE_FUNCTIONS:
            raise ValueError(f"value: unknown value function {p.value!r}; choose from {sorted(VALUE_FUNCTIONS)}")
        if not p.m_max > 0:
            raise ValueError("m_max: must be positive")
        if p.grid_points < 2:
            raise ValueError("grid_points: must be at least 2")
        if p.seed_data < 0:
            raise ValueError("seed_data: must be non-negative")
        if p.seed_rounds < 0:
            raise ValueError("seed_rounds: must be non-negative (0 = every round)")

    def setup(self) -> None:
        p = self.params
        self.v: ValueFunction = make_value(p.value, p.a, p.k, p.alpha)
        self._space = self.space_of(p)
        self._standalone_costs = np.empty(0)
        self._standalone_m = np.empty(0)
        self._standalone_u = np.empty(0)

    @classmethod
    def space_of(cls, params: DataGameParams) -> ActionSpace:
        """The box ``[0, m_max]`` on ``grid_points`` points."""
        return ActionSpace(np.linspace(0.0, params.m_max, params.grid_points), kind="continuous")

    def describe(self) -> dict[str, Any]:
        """The value function's facts (a measured curve reports its correction)."""
        return self.v.describe()

    def outside_utility(self, deviation: np.ndarray, owners: OwnerArrays) -> np.ndarray:
        """Training alone: the stand-alone utility :math:`u_i^* = v(m_i^*) - c_i m_i^*` (Theorem I, eq. 4)."""
        return self.standalone(self.costs(owners))[1]

    def regime_classes(self, table):
        """``collapse`` where no owner contributes (``total_data`` 0), else ``tipped``."""
        return np.where(np.asarray(table["total_data"]) <= 0, "collapse", "tipped")

    @property
    def action_space(self) -> ActionSpace:
        """The box ``[0, m_max]`` on ``grid_points`` points."""
        return self._space

    def seed(self, ctx: RoundContext) -> float:
        """Platform seed data in this round (Remark 3)."""
        p = self.params
        return p.seed_data if p.seed_rounds == 0 or ctx.round <= p.seed_rounds else 0.0

    @staticmethod
    def costs(owners: OwnerArrays) -> np.ndarray:
        """Marginal costs ``c_i`` (the owners' sensitivities), checked positive."""
        c = owners.sensitivity
        if np.any(~(c > 0)):
            raise ValueError("sensitivity: marginal costs c_i must be positive")
        return c

    def standalone(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stand-alone optima and utilities ``(m_i*, u_i*)`` (Theorem I, eq. 4) for costs ``c``.

        Kept from the previous call while the costs are unchanged (they
        change only with drift or churn), so a round does not re-solve them.
        """
        if not np.array_equal(c, self._standalone_costs):
            m = standalone_optimum(self.v, c)
            self._standalone_costs = np.array(c, dtype=float)
            self._standalone_m, self._standalone_u = m, self.v(m) - c * m
        return self._standalone_m, self._standalone_u

    def others(self, action: np.ndarray, ctx: RoundContext) -> np.ndarray:
        """``D_{-i}``: everyone else's data plus the platform's seed."""
        return action.sum() + self.seed(ctx) - action

    @abstractmethod
    def values_at(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext,
                  cand: np.ndarray) -> np.ndarray:
        """Model value ``[M]_i`` owner ``i`` receives if it alone plays ``cand[i, k]``.

        Parameters
        ----------
        action : numpy.ndarray
            Current amounts, shape ``(n,)``.
        owners : OwnerArrays
            The owners.
        ctx : RoundContext
            The round.
        cand : numpy.ndarray
            Candidate amounts, shape ``(n, K)``.
        """

    def deviation_utilities_at(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext,
                               cand: np.ndarray) -> np.ndarray:
        """``[M]_i(cand) - c_i cand`` for owner-specific candidates ``cand`` (shape ``(n, K)``)."""
        return self.values_at(action, owners, ctx, cand) - self.costs(owners)[:, None] * cand

    def deviation_utilities(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext
                            ) -> np.ndarray:
        """Utilities of every owner for every grid amount (others fixed)."""
        grid = np.broadcast_to(self._space.values, (action.size, self._space.size))
        return self.deviation_utilities_at(action, owners, ctx, grid)

    def _in_box(self, utility, unconstrained: np.ndarray,
                at_hand: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Best of the exact best response (clipped to the box), 0 and ``m_max``.

        Utilities here are concave beyond the owner's kink, so when the exact
        best response lies outside the box the constrained optimum is ``m_max``
        or 0; ties go to the exact best response.  ``utility(cand)`` maps
        ``(n, K)`` candidates to utilities; ``at_hand``, the utilities at
        ``unconstrained``, 0 and ``m_max`` if the caller has them, saves
        evaluating it (the clipped candidate is one of the two).
        """
        m_max = self.params.m_max
        cand = np.stack([np.minimum(unconstrained, m_max), np.zeros_like(unconstrained),
                         np.full_like(unconstrained, m_max)], axis=1)
        if at_hand is None:
            util = utility(cand)
        else:
            free, zero, full = at_hand
            util = np.stack([np.where(unconstrained <= m_max, free, full), zero, full], axis=1)
        return cand[np.arange(cand.shape[0]), np.argmax(util, axis=1)]

    def _utility(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext):
        """``cand -> deviation utilities`` for the current profile."""
        return lambda cand: self.deviation_utilities_at(action, owners, ctx, cand)

    def refined_best_response(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext,
                              extra: np.ndarray | None = None, iterations: int = 40) -> np.ndarray:
        """Grid argmax (plus owner-specific candidates) refined by golden-section search.

        The golden-section step searches the two grid cells around the best
        grid point, so it finds the best response to the grid's resolution and
        then to about ``grid_step * 0.618**iterations`` when the utility is
        unimodal there.
        """
        n = action.size
        grid = self._space.values
        cands = [np.broadcast_to(grid, (n, grid.size))]
        if extra is not None:
            cands.append(np.clip(extra.reshape(n, -1), 0.0, self.params.m_max))
        cand = np.concatenate(cands, axis=1)
        util = self.deviation_utilities_at(action, owners, ctx, cand)
        best = np.argmax(util, axis=1)
        x_best = cand[np.arange(n), best]
        u_best = util[np.arange(n), best]
        step = grid[1] - grid[0]
        lo = np.maximum(x_best - step, 0.0)
        hi = np.minimum(x_best + step, self.params.m_max)

        def f(x: np.ndarray) -> np.ndarray:
            return self.deviation_utilities_at(action, owners, ctx, x[:, None])[:, 0]

        x_ref = golden_section_max(f, lo, hi, iterations)
        better = f(x_ref) > u_best
        return np.where(better, x_ref, x_best)

    def _metrics(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext,
                 utility: np.ndarray) -> dict[str, float]:
        c = self.costs(owners)
        m_star, u_star = self.standalone(c)
        n = max(action.size, 1)
        scale = np.maximum(m_star, 1.0)
        free = int(np.count_nonzero((action <= 0) & (m_star > 0)))
        under = int(np.count_nonzero(action < m_star - 1e-9 * scale))
        seed = self.seed(ctx)
        return {
            "total_data": float(action.sum()),
            "seeded_data": float(seed),
            "pooled_value": float(self.v(action.sum() + seed)),
            "free_riders": float(free),
            "free_rider_share": free / n,
            "under_contributors": float(under),
            "under_contributor_share": under / n,
            "surplus_over_standalone": float(np.mean(utility - u_star))
            if action.size else 0.0,
        }

    def settle(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> Outcome:
        """Return each owner its model value (recorded as ``payment``); utility = value - c m."""
        value = self.values_at(action, owners, ctx, action[:, None])[:, 0]
        cost = self.costs(owners) * action
        utility = value - cost
        return Outcome(payment=value, cost=cost, utility=utility,
                       platform_utility=float(action.sum()),
                       metrics=self._metrics(action, owners, ctx, utility))
