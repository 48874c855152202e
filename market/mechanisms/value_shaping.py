"""Data-contribution games of paper 001: naive FL, value shaping, fairness baselines, hidden costs.

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

from market.equilibrium import max_contribution
from market.mechanisms.base import ActionSpace, Mechanism, Outcome, RoundContext, register
from market.population import OwnerArrays
from market.value import ValueFunction, best_top_up, make_value, standalone_optimum

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
        Value function: ``"sqrt"``, ``"erm_bound"`` or ``"power_law"`` (see :mod:`market.value`).
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
        self.v: ValueFunction = make_value(p.value, p.a, p.k, p.alpha)
        if not p.m_max > 0:
            raise ValueError("m_max: must be positive")
        if p.grid_points < 2:
            raise ValueError("grid_points: must be at least 2")
        if p.seed_data < 0:
            raise ValueError("seed_data: must be non-negative")
        if p.seed_rounds < 0:
            raise ValueError("seed_rounds: must be non-negative (0 = every round)")
        self._space = ActionSpace(np.linspace(0.0, p.m_max, p.grid_points), kind="continuous")
        self._standalone_costs = np.empty(0)
        self._standalone_m = np.empty(0)
        self._standalone_u = np.empty(0)

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

    def _in_box(self, utility, unconstrained: np.ndarray) -> np.ndarray:
        """Best of the exact best response (clipped to the box), 0 and ``m_max``.

        Utilities here are concave beyond the owner's kink, so when the exact
        best response lies outside the box the constrained optimum is ``m_max``
        or 0; ties go to the exact best response.  ``utility(cand)`` maps
        ``(n, K)`` candidates to utilities.
        """
        m_max = self.params.m_max
        cand = np.stack([np.minimum(unconstrained, m_max), np.zeros_like(unconstrained),
                         np.full_like(unconstrained, m_max)], axis=1)
        return cand[np.arange(cand.shape[0]), np.argmax(utility(cand), axis=1)]

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


@register
class NaiveFL(DataContributionGame):
    """Standard federated learning: every owner receives the pooled model (eq. 8).

    .. math::  [\\mathcal M(m)]_i = v\\Big(\\sum_j m_j\\Big).

    The best response ``argmax_x v(x + D_{-i}) - c_i x`` is non-increasing in
    the others' data (strategic substitutes); at equilibrium only the cheapest
    owner contributes (Theorem III, :func:`market.equilibrium.naive_equilibrium`).
    """

    name = "naive_fl"
    description = "naive federated learning: everyone gets the pooled model (free-riding, paper 001 eq. 8)"

    def values_at(self, action, owners, ctx, cand):
        return self.v(cand + self.others(action, ctx)[:, None])

    def best_response(self, action, owners, ctx):
        """Exact: the better of 0 and ``b'^{-1}(c_i) - D_{-i}`` (spec Sec. 2.1)."""
        c = self.costs(owners)
        br = best_top_up(self.v, c, self.others(action, ctx))
        return self._in_box(self._utility(action, owners, ctx), br)


@dataclass(frozen=True)
class ValueShapingParams(DataGameParams):
    """Parameters of value shaping (all of :class:`DataGameParams`, plus).

    Attributes
    ----------
    eps : float
        Slope premium ``epsilon > 0`` of eq. (11).  The theorems hold as
        ``eps -> 0+``; with ``eps = 0`` owners are indifferent on
        ``[m_i*, m_i^max]``.  The default 1e-8 keeps the best response unique
        while moving equilibria by a relative ``~eps / c_i``.
    """

    eps: float = 1e-8


@register
class ValueShaping(DataContributionGame):
    """Value (accuracy) shaping with known costs, eq. (11).

    .. math::
       [\\mathcal M(m)]_i = \\begin{cases}
         v(m_i) & m_i \\le m_i^* \\\\
         \\min\\big(v(m_i^*) + (c_i + \\varepsilon)(m_i - m_i^*),\\; v(\\textstyle\\sum_j m_j)\\big)
              & m_i^* \\le m_i \\le m_i^{max} \\\\
         v(\\sum_j m_j) & m_i \\ge m_i^{max}
       \\end{cases}

    with ``m_i^max`` the largest intersection of the line with
    ``v(m_i + D_{-i})`` (:func:`market.equilibrium.max_contribution`).  The
    ``min`` clip is the spec's addition (Sec. 5.5): without it the line
    exceeds the pooled value near 0 when ``m_i* = 0`` and ``v(D_{-i}) = 0``,
    which breaks feasibility (Def. A); equilibria are unchanged.  The best
    response ``m_i^max(D_{-i})`` is non-decreasing in the others' data
    (Lemma 8), so best-response dynamics climb monotonically.
    """

    name = "value_shaping"
    description = "value shaping: extra model value per extra data point above the stand-alone optimum (eq. 11)"
    Params = ValueShapingParams

    def validate(self) -> None:
        super().validate()
        if not self.params.eps >= 0:
            raise ValueError("eps: must be non-negative")

    def _parts(self, action, owners, ctx):
        c = self.costs(owners)
        m_star = self.standalone(c)[0]
        others = self.others(action, ctx)
        return c, m_star, others, max_contribution(self.v, c, m_star, others, self.params.eps)

    def _shaped_utility(self, parts, cand):
        """Utility of candidates ``cand`` (shape ``(n, K)``) given precomputed ``_parts``."""
        c, m_star, others, m_top = (x[:, None] for x in parts)
        pooled = self.v(cand + others)
        line = self.v(m_star) + (c + self.params.eps) * (cand - m_star)
        value = np.where(cand <= m_star, self.v(cand),
                         np.where(cand <= m_top, np.minimum(line, pooled), pooled))
        return value - c * cand

    def values_at(self, action, owners, ctx, cand):
        parts = self._parts(action, owners, ctx)
        return self._shaped_utility(parts, cand) + parts[0][:, None] * cand

    def best_response(self, action, owners, ctx):
        """Exact: ``m_i^max(D_{-i})`` (Lemma 8).

        With ``eps > 0`` an owner with ``m_i* = 0`` may gain an ``O(eps^2)``
        amount by going past ``m_i^max`` to ``b'^{-1}(c_i) - D_{-i}`` (the
        pooled branch's own optimum); that candidate is compared too, so the
        response is the exact argmax of the mechanism as written.
        """
        parts = self._parts(action, owners, ctx)
        c, _, others, m_top = parts
        beyond = np.maximum(m_top, self.v.db_inv(c) - others)
        cand = np.stack([m_top, beyond], axis=1)
        best = cand[np.arange(c.size), np.argmax(self._shaped_utility(parts, cand), axis=1)]
        return self._in_box(lambda x: self._shaped_utility(parts, x), best)

#: Contribution measures psi of the fairness baselines (App. C.2).
FAIRNESS_RULES = ("pd", "pv", "ps")


def _k_nodes(n: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Coalition sizes ``k = 0..n-1`` for a Shapley sum, and their weights.

    Exact (every ``k``, weight 1) when ``n <= nodes``; otherwise ``nodes``
    blocks of consecutive ``k`` represented by their midpoints (midpoint rule).
    """
    if n <= nodes:
        return np.arange(n, dtype=float), np.ones(n)
    edges = np.linspace(0, n, nodes + 1)
    return 0.5 * (edges[:-1] + edges[1:]) - 0.5, np.diff(edges)


def mean_field_shapley(value: ValueFunction, own: np.ndarray, per_other: np.ndarray, n: int,
                       seed: float = 0.0, nodes: int = 64) -> np.ndarray:
    """Shapley value of an agent with ``own`` data when the others hold ``per_other`` each.

    .. math::  \\phi_i = \\frac1n \\sum_{k=0}^{n-1}
               \\big[v(s + k\\bar d + m_i) - v(s + k\\bar d)\\big]

    (App. C.2 with the index range ``k = 0..n-1`` that makes the values
    efficient, spec Sec. 5.9; ``s`` = platform seed, a fixed part of every
    coalition).  This is exact when every other agent holds ``d``; for
    unequal others it is the mean-field approximation ``d = D_{-i}/(n-1)``.
    For ``n > nodes`` the sum over ``k`` uses ``nodes`` midpoint blocks.
    """
    own = np.asarray(own, dtype=float)
    per_other = np.broadcast_to(np.asarray(per_other, dtype=float), own.shape)
    ks, weights = _k_nodes(n, nodes)
    total = np.zeros(own.shape)
    for k, w in zip(ks, weights):
        base = seed + k * per_other
        total += w * (value(base + own) - value(base))
    return total / n


def _top_other(psi: np.ndarray) -> np.ndarray:
    """For every owner, the largest ``psi`` among the *other* owners (0 if alone)."""
    if psi.size < 2:
        return np.zeros_like(psi)
    order = np.argsort(psi)
    first, second = psi[order[-1]], psi[order[-2]]
    out = np.full(psi.shape, first)
    out[order[-1]] = second
    return out


def _ratio(own: np.ndarray, top: np.ndarray, p: float) -> np.ndarray:
    """``(psi_i / max_j psi_j)^p`` with ``0/0 := 1`` (no one contributes more)."""
    top = np.maximum(own, top)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(top > 0, own / np.where(top > 0, top, 1.0), 1.0)
    return r**p


def symmetric_deviation_utility(rule: str, value: ValueFunction, n: int, c: float, p: float,
                                nodes: int = 2000):
    """Payoff of one agent playing ``x`` while ``n - 1`` identical agents play ``d`` (eqs. 12-14).

    Exact for all three rules (for PS the Shapley values of the deviator and
    of the others are computed exactly for this two-valued profile; the sums
    over ``k`` use midpoint blocks when ``n > nodes``).  Feed it to
    :func:`market.equilibrium.symmetric_equilibria`.

    Returns
    -------
    callable
        ``f(d, x) -> utility`` on broadcastable arrays.
    """
    if rule not in FAIRNESS_RULES:
        raise ValueError(f"rule: must be one of {FAIRNESS_RULES}")

    def payoff(d: np.ndarray, x: np.ndarray) -> np.ndarray:
        d, x = np.broadcast_arrays(np.asarray(d, dtype=float), np.asarray(x, dtype=float))
        if rule == "pd":
            own, top = x, d
        elif rule == "pv":
            own, top = value(x), value(d)
        else:
            own = mean_field_shapley(value, x, d, n, nodes=nodes)
            ks, w = _k_nodes(n, nodes)
            top = np.zeros(d.shape)
            for k, wk in zip(ks, w):
                with_dev = k / max(n - 1, 1)
                top += wk * (with_dev * (value(k * d + x) - value((k - 1) * d + x))
                             + (1 - with_dev) * (value((k + 1) * d) - value(k * d)))
            top = top / n if n > 1 else np.zeros(d.shape)
        return _ratio(own, top, p) * value((n - 1) * d + x) - c * x

    return payoff


@dataclass(frozen=True)
class FairnessParams(DataGameParams):
    """Parameters of the fairness baselines (all of :class:`DataGameParams`, plus).

    Attributes
    ----------
    rule : str
        Contribution measure: ``"pd"`` (data, eq. 12), ``"pv"`` (value,
        eq. 13) or ``"ps"`` (Shapley value, eq. 14).
    p : float
        Exponent in ``[0, 1]``; ``p = 0`` is naive federated learning.
    shapley_nodes : int
        Coalition-size nodes of the PS Shapley sum (exact when ``n`` is at most this).
    """

    rule: str = "pd"
    p: float = 0.5
    shapley_nodes: int = 64


@register
class FairnessBaseline(DataContributionGame):
    """Proportional deterrence baselines PD / PV / PS (App. C.2, eqs. 12-14).

    .. math::  [\\mathcal M(m)]_i = \\Big(\\frac{\\psi_i(m)}{\\max_j \\psi_j(m)}\\Big)^p
               v\\Big(\\sum_j m_j\\Big), \\qquad \\psi \\in \\{m_i,\\ v(m_i),\\ \\phi_i(m)\\}.

    The maximum runs over every owner (the deviator included).  PS uses
    :func:`mean_field_shapley` (exact for symmetric profiles, the paper's
    setting; mean-field for unequal ones); the largest Shapley value belongs
    to the largest contributor (the Shapley value of a size-only ``v`` is
    monotone in ``m``), so only that owner's value is recomputed when one
    owner deviates.  These rules are not IR pointwise (Def. B): an owner may
    do better training alone, which is what "dropping out" means in Figs. 6-7.
    The best response is the grid argmax refined by golden-section search
    (:meth:`refined_best_response`), with ``m_i*`` and the pooled optimum as
    extra candidates.

    Where the spec corrects the paper (spec Secs. 2.3, 5.9-5.11): Theorem
    VI's one-sided conditions have sign typos, so symmetric equilibria are
    found by a global deviation check
    (:func:`market.equilibrium.symmetric_equilibria`); its claim that
    ``m = m*/n`` gives the maximum utility is false (PD, ``n = 10``,
    ``c = 0.01``, ``p = 0.5``: ``m = 6.2996`` is also an equilibrium, with
    utility 0.761012 > 0.664990); the Shapley sum runs over ``k = 0..n-1``,
    not ``k in [n]``; and PD's maximum-data total rises with ``p`` up to the
    value-shaping total at ``p = 1`` (utility 0) instead of peaking inside
    ``(0, 1)`` as in Fig. 6.
    """

    name = "fairness_baseline"
    description = "PD / PV / PS: model value proportional to relative contribution^p (paper 001 App. C.2)"
    Params = FairnessParams

    def validate(self) -> None:
        super().validate()
        p = self.params
        if p.rule not in FAIRNESS_RULES:
            raise ValueError(f"rule: must be one of {FAIRNESS_RULES}, got {p.rule!r}")
        if not 0.0 <= p.p <= 1.0:
            raise ValueError("p: must be in [0, 1]")
        if p.shapley_nodes < 1:
            raise ValueError("shapley_nodes: must be at least 1")

    def values_at(self, action, owners, ctx, cand):
        p = self.params
        others = self.others(action, ctx)
        pooled = self.v(cand + others[:, None])
        n = action.size
        if p.rule == "pd":
            own, top = cand, _top_other(action)[:, None]
        elif p.rule == "pv":
            own, top = self.v(cand), _top_other(self.v(action))[:, None]
        else:
            seed = self.seed(ctx)
            data = action.sum()
            per_other = (data - action) / max(n - 1, 1)
            own = mean_field_shapley(self.v, cand, per_other[:, None], n, seed, p.shapley_nodes)
            top_m = _top_other(action)[:, None]
            # the top other contributor's peers hold everything but itself, with the deviator at cand
            top_per_other = (data - top_m - action[:, None] + cand) / max(n - 1, 1)
            top = mean_field_shapley(self.v, np.broadcast_to(top_m, cand.shape), top_per_other, n,
                                     seed, p.shapley_nodes) if n > 1 else np.zeros(cand.shape)
        return _ratio(own, top, p.p) * pooled

    def best_response(self, action, owners, ctx):
        c = self.costs(owners)
        extra = np.stack([self.standalone(c)[0],
                          best_top_up(self.v, c, self.others(action, ctx)),
                          _top_other(action)], axis=1)
        return self.refined_best_response(action, owners, ctx, extra)


@dataclass(frozen=True)
class TwoTypeParams(DataGameParams):
    """Parameters of the hidden-cost mechanism (all of :class:`DataGameParams`, plus).

    Attributes
    ----------
    c_low, c_high : float
        The two possible marginal costs; every owner's sensitivity must equal one of them.
    eps : float
        Slope premium of eq. (15) (see :class:`ValueShapingParams`).
    m_down_rule : str
        ``"maximise"`` (default): ``m_i^down`` maximises the expected data
        (22) directly (spec Sec. 2.4 shows the paper's (21) is not its
        maximiser); ``"paper_eq21"``: the paper's formula (21).
    """

    c_low: float = 0.01
    c_high: float = 0.02
    eps: float = 1e-8
    m_down_rule: str = "maximise"


@register
class TwoTypeScreening(DataContributionGame):
    """Value shaping with hidden costs of two types (App. D, eqs. 15-17, 20-22).

    Owner ``i`` has cost ``c_low`` with prior probability ``p_low`` (an owner
    attribute) and ``c_high`` otherwise; the platform knows only ``p_low``.
    With ``D = D_{-i}``:

    .. math::
       [\\mathcal M(m)]_i = \\begin{cases}
         v(m_i) & m_i \\le \\bar m^* \\\\
         v(\\bar m^*) + (\\bar c + \\varepsilon)(m_i - \\bar m^*) & \\bar m^* \\le m_i \\le m_i^{\\uparrow} \\\\
         v(m_i^{\\downarrow} + D) - (\\underline c + \\varepsilon)(m_i^{\\downarrow} - m_i)
              & m_i^{\\uparrow} \\le m_i \\le m_i^{\\downarrow} \\\\
         v(m_i + D) & m_i \\ge m_i^{\\downarrow}
       \\end{cases}

    each middle branch clipped by ``v(m_i + D)`` (feasibility).  ``m^up`` is
    the intersection of the two lines (eq. 17); ``m^down`` lies in
    ``[m_hi^max, m_lo^max]`` and maximises ``(1 - p) m^up + p m^down`` (22)
    by a 65-point scan refined by golden-section search, or follows eq. (21)
    with ``m_down_rule = "paper_eq21"``.  High types play ``m^up`` and keep
    their stand-alone utility; low types play ``m^down`` and earn the
    information rent (Theorems VII, VIII).

    Where the spec corrects the paper (spec Sec. 2.4): raising the low
    line by ``dx`` moves ``m^up`` by ``dx / (c_high - c_low)``, not
    ``dx / c_high``, and the derivation drops a factor ``p_i``; the
    first-order condition of (22) is therefore
    ``v'(m^down + D) = c_low - p_i/(1 - p_i) (c_high - c_low)`` (clipped to
    ``[m_hi^max, m_lo^max]``), not eq. (21), and Remark 5's threshold for
    ``m^down = m_lo^max`` becomes ``p_i >= c_low / c_high``.  Eq. (16) is
    garbled (eq. 21 is its clean form), and the stand-alone optima of the two
    types are swapped in the text at L620 and L623 (here
    ``m*(c_low) >= m*(c_high)``).
    """

    name = "two_type"
    description = "hidden costs, two types: screening menu with information rent (paper 001 App. D)"
    Params = TwoTypeParams
    owner_attributes = {"p_low": 0.5}

    def validate(self) -> None:
        super().validate()
        p = self.params
        if not 0 < p.c_low < p.c_high:
            raise ValueError("c_low: must satisfy 0 < c_low < c_high")
        if not p.eps >= 0:
            raise ValueError("eps: must be non-negative")
        if p.m_down_rule not in ("maximise", "paper_eq21"):
            raise ValueError("m_down_rule: must be 'maximise' or 'paper_eq21'")
        self.m_star_low, self.m_star_high = standalone_optimum(self.v, np.array([p.c_low, p.c_high]))

    def is_low(self, owners: OwnerArrays) -> np.ndarray:
        """Which owners have the low cost (checks every cost is one of the two)."""
        c = self.costs(owners)
        low = np.isclose(c, self.params.c_low, rtol=1e-9, atol=0.0)
        if not np.all(low | np.isclose(c, self.params.c_high, rtol=1e-9, atol=0.0)):
            raise ValueError("sensitivity: two_type needs every owner's sensitivity to be c_low or c_high")
        return low

    def m_up(self, m_down: np.ndarray, others: np.ndarray) -> np.ndarray:
        """Intersection of the two lines (eq. 17), unclipped."""
        p = self.params
        return ((self.v(m_down + others) - (p.c_low + p.eps) * m_down - self.v(self.m_star_high)
                 + (p.c_high + p.eps) * self.m_star_high) / (p.c_high - p.c_low))

    def menu(self, others: np.ndarray, p_low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(m_up, m_down)`` for every owner given the others' data and the prior."""
        p = self.params
        ones = np.ones_like(others)
        top_hi = max_contribution(self.v, p.c_high * ones, self.m_star_high * ones, others, p.eps)
        top_lo = np.maximum(
            max_contribution(self.v, p.c_low * ones, self.m_star_low * ones, others, p.eps), top_hi)
        if p.m_down_rule == "paper_eq21":
            with np.errstate(divide="ignore"):
                y = p.c_low - np.where(p_low < 1, p_low / (1 - p_low), np.inf) * p.c_high
            m_down = np.clip(self.v.db_inv(np.where(np.isfinite(y), y, -1.0)) - others, top_hi, top_lo)
        else:
            def expected(md: np.ndarray) -> np.ndarray:
                return (1 - p_low) * self.m_up(md, others) + p_low * md
            scan = top_hi[:, None] + (top_lo - top_hi)[:, None] * np.linspace(0, 1, 65)[None, :]
            best = np.argmax((1 - p_low[:, None]) * self.m_up(scan, others[:, None])
                             + p_low[:, None] * scan, axis=1)
            step = (top_lo - top_hi) / 64
            lo = np.maximum(scan[np.arange(others.size), best] - step, top_hi)
            hi = np.minimum(scan[np.arange(others.size), best] + step, top_lo)
            m_down = golden_section_max(expected, lo, hi, 60)
        m_up = np.clip(self.m_up(m_down, others), self.m_star_high, m_down)
        return m_up, m_down

    def values_at(self, action, owners, ctx, cand):
        p = self.params
        self.is_low(owners)
        others = self.others(action, ctx)
        m_up, m_down = (a[:, None] for a in self.menu(others, owners.extra["p_low"]))
        d = others[:, None]
        pooled = self.v(cand + d)
        line_hi = self.v(self.m_star_high) + (p.c_high + p.eps) * (cand - self.m_star_high)
        line_lo = self.v(m_down + d) - (p.c_low + p.eps) * (m_down - cand)
        return np.where(cand <= self.m_star_high, self.v(cand),
                        np.where(cand <= m_up, np.minimum(line_hi, pooled),
                                 np.where(cand <= m_down, np.minimum(line_lo, pooled), pooled)))

    def best_response(self, action, owners, ctx):
        """High types play ``m^up``, low types ``m^down`` (Theorem VII), checked against each other."""
        low = self.is_low(owners)
        m_up, m_down = self.menu(self.others(action, ctx), owners.extra["p_low"])
        cand = np.stack([np.where(low, m_down, m_up), np.where(low, m_up, m_down)], axis=1)
        utility = self._utility(action, owners, ctx)
        best = cand[np.arange(low.size), np.argmax(utility(cand), axis=1)]
        return self._in_box(utility, best)

    def _metrics(self, action, owners, ctx, utility):
        metrics = super()._metrics(action, owners, ctx, utility)
        low = self.is_low(owners)
        rent = utility - self.standalone(self.costs(owners))[1]
        metrics["low_type_rent"] = float(rent[low].sum())
        metrics["high_type_data"] = float(action[~low].sum())
        return metrics
