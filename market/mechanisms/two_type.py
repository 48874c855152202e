"""Value shaping with hidden costs of two types (paper 001, App. D, eqs. 15-17, 20-22)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.population import OwnerArrays
from market.mechanisms.data_contribution import DataContributionGame, DataGameParams, golden_section_max
from market.theory.data_contribution.equilibrium import max_contribution
from market.theory.data_contribution.value_functions import standalone_optimum


@dataclass(frozen=True)
class TwoTypeParams(DataGameParams):
    """Parameters of the hidden-cost mechanism (all of :class:`DataGameParams`, plus).

    Attributes
    ----------
    c_low, c_high : float
        The two possible marginal costs; every owner's sensitivity must equal one of them.
    eps : float
        Slope premium of eq. (15) (see :class:`market.mechanisms.value_shaping.ValueShapingParams`).
    m_down_rule : str
        ``"maximise"`` (default): ``m_i^down`` maximises the expected data
        (22) directly (docs/models/data_contribution.md#hidden-costs shows the paper's (21) is not its
        maximiser); ``"paper_eq21"``: the paper's formula (21).
    """

    c_low: float = 0.01
    c_high: float = 0.02
    eps: float = 1e-8
    m_down_rule: str = "maximise"


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

    Where the paper needs correcting (docs/models/data_contribution.md#corr-eq-21): raising the low
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
