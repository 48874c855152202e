"""Value (accuracy) shaping with known costs (paper 001, eq. 11): data-maximizing, utilities equal stand-alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.mechanisms.data_contribution import DataContributionGame, DataGameParams
from market.theory.data_contribution.equilibrium import max_contribution


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
    ``v(m_i + D_{-i})`` (:func:`market.theory.data_contribution.equilibrium.max_contribution`).  The
    ``min`` clip is privmarket's addition (docs/models/data_contribution.md#corr-feasibility): without it the line
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
        # the stand-alone value v(cand) is needed only where cand <= m*: evaluated there alone
        shape = np.broadcast_shapes(np.shape(cand), m_star.shape)
        alone = np.broadcast_to(cand <= m_star, shape)
        own = np.zeros(shape)
        own[alone] = self.v(np.broadcast_to(cand, shape)[alone])
        value = np.where(alone, own, np.where(cand <= m_top, np.minimum(line, pooled), pooled))
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
