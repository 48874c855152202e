"""Proportional-deterrence fairness baselines PD / PV / PS (paper 001, App. C.2, eqs. 12-14)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.mechanisms.data_contribution import DataContributionGame, DataGameParams
from market.theory.data_contribution.fairness import (
    FAIRNESS_RULES,
    fairness_ratio,
    mean_field_shapley,
    top_other,
)
from market.theory.data_contribution.value_functions import best_top_up


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

    Where the paper needs correcting (docs/models/data_contribution.md#corr-theorem-vi,
    #corr-shapley-range, #fig6): Theorem
    VI's one-sided conditions have sign typos, so symmetric equilibria are
    found by a global deviation check
    (:func:`market.theory.data_contribution.equilibrium.symmetric_equilibria`); its claim that
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
            own, top = cand, top_other(action)[:, None]
        elif p.rule == "pv":
            own, top = self.v(cand), top_other(self.v(action))[:, None]
        else:
            seed = self.seed(ctx)
            data = action.sum()
            per_other = (data - action) / max(n - 1, 1)
            own = mean_field_shapley(self.v, cand, per_other[:, None], n, seed, p.shapley_nodes)
            top_m = top_other(action)[:, None]
            # the top other contributor's peers hold everything but itself, with the deviator at cand
            top_per_other = (data - top_m - action[:, None] + cand) / max(n - 1, 1)
            top = mean_field_shapley(self.v, np.broadcast_to(top_m, cand.shape), top_per_other, n,
                                     seed, p.shapley_nodes) if n > 1 else np.zeros(cand.shape)
        return fairness_ratio(own, top, p.p) * pooled

    def best_response(self, action, owners, ctx):
        c = self.costs(owners)
        extra = np.stack([self.standalone(c)[0],
                          best_top_up(self.v, c, self.others(action, ctx)),
                          top_other(action)], axis=1)
        return self.refined_best_response(action, owners, ctx, extra)
