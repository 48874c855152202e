"""Naive federated learning (paper 001, eq. 8): every owner receives the pooled model -- catastrophic free-riding."""

from __future__ import annotations

from market.mechanisms.data_contribution import DataContributionGame
from market.theory.data_contribution.value_functions import best_top_up


class NaiveFL(DataContributionGame):
    """Standard federated learning: every owner receives the pooled model (eq. 8).

    .. math::  [\\mathcal M(m)]_i = v\\Big(\\sum_j m_j\\Big).

    The best response ``argmax_x v(x + D_{-i}) - c_i x`` is non-increasing in
    the others' data (strategic substitutes); at equilibrium only the cheapest
    owner contributes (Theorem III, :func:`market.theory.data_contribution.equilibrium.naive_equilibrium`).
    """

    name = "naive_fl"
    description = "naive federated learning: everyone gets the pooled model (free-riding, paper 001 eq. 8)"

    def values_at(self, action, owners, ctx, cand):
        return self.v(cand + self.others(action, ctx)[:, None])

    def best_response(self, action, owners, ctx):
        """Exact: the better of 0 and ``b'^{-1}(c_i) - D_{-i}`` (docs/models/data_contribution.md#naive)."""
        c = self.costs(owners)
        br = best_top_up(self.v, c, self.others(action, ctx))
        return self._in_box(self._utility(action, owners, ctx), br)
