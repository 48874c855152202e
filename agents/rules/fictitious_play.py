"""Fictitious play: best response to the empirical distribution of the others' past play.

Owner *i* believes the others play as they did on average so far.  For
payoffs that are expectations over the others' profile, the expected utility
of candidate :math:`k` under the empirical (joint) distribution of the
others' past profiles :math:`a_{-i}^1, \\dots, a_{-i}^t` is the average of
past deviation utilities,

.. math::  \\bar u_i^t(k) = \\frac1t \\sum_{s=1}^{t} u_i(k, a_{-i}^s),

so beliefs are stored as these running sums (one row of ``k`` numbers per
owner, whatever the number of owners) and the owner plays
:math:`\\arg\\max_k \\bar u_i^t(k)` (ties to the lowest candidate).  With two
players this is Brown's (1951) classical fictitious play; with many players
the belief is the joint empirical distribution of the others' profiles
(a choice the spec leaves open; product beliefs would need the mechanism's
payoff as a function of a mixed profile, which the interface does not give).
Before its first observation an owner best-responds to the current profile.
With ``temperature > 0`` the argmax becomes a logit choice: stochastic
fictitious play (Fudenberg & Kreps 1993, *Games Econ. Behav.* 5).

Convergence (of the empirical frequencies of play, not of actions): in
two-player zero-sum games (Robinson 1951, *Ann. Math.* 54), in 2x2 games
(Miyasawa 1961) and in potential games (Monderer & Shapley 1996,
*J. Econ. Theory* 68); it can cycle in general games (Shapley 1964).  With a
strictly dominant action the argmax is that action from the first round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.rules.base import register
from agents.rules.learning import LearningRule, sample_mixed, softmax
from market.mechanisms.base import Mechanism, RoundContext
from market.population import OwnerArrays


@register
class FictitiousPlay(LearningRule):
    """Best response to the average of past deviation utilities."""

    name = "fictitious_play"
    description = "fictitious play: best reply to the empirical distribution of the others' past play"

    @dataclass(frozen=True)
    class Params:
        """Parameters of fictitious play.

        Attributes
        ----------
        temperature : float
            0 = classical fictitious play (argmax); > 0 = stochastic fictitious
            play (logit choice over average utilities at this temperature).
        """

        temperature: float = 0.0

    def validate(self) -> None:
        if not (np.isfinite(self.params.temperature) and self.params.temperature >= 0):
            raise ValueError("temperature: must be finite and >= 0")

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        k = self.space.size
        return {"total": (k,), "count": ()}

    def beliefs(self) -> np.ndarray:
        """Average past deviation utility of every owner (rows) and candidate (columns)."""
        count = np.maximum(self.count, 1.0)
        return self.total / count[:, None]

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """Best (or logit) response of each revising owner to its beliefs."""
        self.sync(len(owners))
        avg = self.beliefs()[rows]
        fresh = self.count[rows] == 0
        if np.any(fresh):
            avg[fresh] = mechanism.deviation_utilities(owners.action, owners, ctx)[rows[fresh]]
        if self.params.temperature > 0:
            return self.space.values[sample_mixed(softmax(avg / self.params.temperature), rng)]
        return self.space.values[np.argmax(avg, axis=1)]

    def observe(self, mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> None:
        """Add this round's deviation utilities to every owner's running sums."""
        self.sync(len(owners))
        self.total += mechanism.deviation_utilities(owners.action, owners, ctx)
        self.count += 1.0
