"""Value (accuracy) shaping with known costs (paper 001, eq. 11): data-maximizing, utilities equal stand-alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.mechanisms.data_contribution import DataContributionGame, DataGameParams
from market.theory.data_contribution.equilibrium import max_contribution, shaping_lines


#: Owners per block of :meth:`ValueShaping.best_response` (its (owners, 4) temporaries stay a few MB).
RESPONSE_BLOCK = 2**16


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

    def setup(self) -> None:
        super().setup()
        self._lines_costs = np.empty(0)
        self._lines = np.empty((4, 0))  # rows of lines(c); one array, so that a checkpoint can store it

    def lines(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per owner ``(m_i*, v(m_i*), b'^{-1}(c_i + eps), b'^{-1}(c_i))``: functions of the costs alone.

        Kept from the previous call while the costs are unchanged (as
        :meth:`standalone`), so a round evaluates the value function only where
        the others' data ``D_{-i}`` enters.
        """
        if not np.array_equal(c, self._lines_costs):
            m_star = self.standalone(c)[0]
            self._lines_costs = np.array(c, dtype=float)
            self._lines = np.stack([m_star, *shaping_lines(self.v, c, m_star, self.params.eps), self.v.db_inv(c)])
        return tuple(self._lines)

    def _parts(self, action, owners, ctx):
        """``(c, m*, D_{-i}, v(m*))``: what the shaped value of any candidate needs (no intersection point)."""
        c = self.costs(owners)
        m_star, v_star = self.lines(c)[:2]
        return c, m_star, self.others(action, ctx), v_star

    def _shaped_utility(self, parts, cand):
        """Utility of candidates ``cand`` (shape ``(n, K)``) given precomputed ``_parts``.

        Eq. (11) without its intersection point: above :math:`m_i^*` the value is
        :math:`\\min(\\text{line}, v(m_i + D_{-i}))` on every branch, because
        :math:`m_i^{max}` is the *largest* intersection of the line with the pooled
        value, so beyond it the line lies above the pooled value and the ``min``
        is the pooled value, eq. (11)'s third branch.  :math:`m_i^{max}` is thus
        needed only as the best response, not to price a candidate.
        """
        c, m_star, others, v_star = (x[:, None] for x in parts)
        pooled = self.v(cand + others)
        line = v_star + (c + self.params.eps) * (cand - m_star)
        # the stand-alone value v(cand) is needed only where cand <= m*: evaluated there alone
        shape = np.broadcast_shapes(np.shape(cand), m_star.shape)
        alone = np.broadcast_to(cand <= m_star, shape)
        own = np.zeros(shape)
        own[alone] = self.v(np.broadcast_to(cand, shape)[alone])
        value = np.where(alone, own, np.minimum(line, pooled))
        return value - c * cand

    def values_at(self, action, owners, ctx, cand):
        parts = self._parts(action, owners, ctx)
        return self._shaped_utility(parts, cand) + parts[0][:, None] * cand

    def best_response(self, action, owners, ctx):
        """Exact: ``m_i^max(D_{-i})`` (Lemma 8).

        With ``eps > 0`` an owner with ``m_i* = 0`` may gain an ``O(eps^2)``
        amount by going past ``m_i^max`` to ``b'^{-1}(c_i) - D_{-i}`` (the
        pooled branch's own optimum); that candidate is compared too, so the
        response is the exact argmax of the mechanism as written.  The
        utilities of the box's ends 0 and ``m_max`` are evaluated in the same
        pass and handed to :meth:`_in_box`.
        """
        parts = self._parts(action, owners, ctx)
        _, _, turn, pooled_top = self.lines(parts[0])
        best = np.empty(parts[0].size)
        for lo in range(0, best.size, RESPONSE_BLOCK):  # blocks of owners: temporaries stay in cache
            i = slice(lo, lo + RESPONSE_BLOCK)
            best[i] = self._best_of(tuple(x[i] for x in parts), turn[i], pooled_top[i])
        return best

    def _best_of(self, parts, turn, pooled_top):
        """:meth:`best_response` of a block of owners (``parts`` of :meth:`_parts` and their lines)."""
        c, m_star, others, v_star = parts
        m_top = max_contribution(self.v, c, m_star, others, self.params.eps, lines=(v_star, turn))
        beyond = np.maximum(m_top, pooled_top - others)
        m_max = self.params.m_max
        cand = np.stack([m_top, beyond, np.zeros_like(m_top), np.full_like(m_top, m_max)], axis=1)
        util = self._shaped_utility(parts, cand)
        rows = np.arange(c.size)
        pick = np.argmax(util[:, :2], axis=1)
        return self._in_box(None, cand[rows, pick], at_hand=(util[rows, pick], util[:, 2], util[:, 3]))
