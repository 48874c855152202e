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
(a choice the literature leaves open; product beliefs would need the mechanism's
payoff as a function of a mixed profile, which the interface does not give).
Before its first observation an owner best-responds to the current profile.
With ``temperature > 0`` the argmax becomes a logit choice: stochastic
fictitious play (Fudenberg & Kreps 1993, *Games Econ. Behav.* 5).

With ``information = "local"`` the owner never sees deviation utilities:
each round it adds, for every candidate its closed neighbourhood played, the
payoff the neighbourhood realised with it (:mod:`market.rules.local`), and
believes in the average over the rounds in which that candidate was observed
(one count per candidate).  It chooses among the candidates observed at
least once, and keeps its action before its first observation.

Convergence (of the empirical frequencies of play, not of actions): in
two-player zero-sum games (Robinson 1951, *Ann. Math.* 54), in 2x2 games
(Miyasawa 1961) and in potential games (Monderer & Shapley 1996,
*J. Econ. Theory* 68); it can cycle in general games (Shapley 1964).  With a
strictly dominant action the argmax is that action from the first round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.mechanism import Mechanism, RoundContext
from market.core.population import OwnerArrays
from market.rules.learning import LearningRule, sample_mixed, softmax
from market.rules.local import InformationParams, check_information, logit_observed, observe


class FictitiousPlay(LearningRule):
    """Best response to the average of past deviation utilities."""

    name = "fictitious_play"
    description = "fictitious play: best reply to the empirical distribution of the others' past play"

    @dataclass(frozen=True)
    class Params(InformationParams):
        """Parameters of fictitious play.

        Attributes
        ----------
        temperature : float
            0 = classical fictitious play (argmax); > 0 = stochastic fictitious
            play (logit choice over average utilities at this temperature).
        information : str
            ``"global"`` (deviation utilities) or ``"local"`` (payoffs seen among the neighbours).
        """

        temperature: float = 0.0

    def validate(self) -> None:
        if not (np.isfinite(self.params.temperature) and self.params.temperature >= 0):
            raise ValueError("temperature: must be finite and >= 0")
        check_information(self.params.information)

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        k = self.space.size
        return {"total": (k,), "count": (k,) if self.params.information == "local" else ()}

    def beliefs(self) -> np.ndarray:
        """Average past (deviation or observed) utility of every owner (rows) and candidate (columns).

        With local information a candidate never observed has belief NaN.
        """
        if self.params.information == "local":
            with np.errstate(invalid="ignore"):
                return np.where(self.count > 0, self.total / np.maximum(self.count, 1.0), np.nan)
        count = np.maximum(self.count, 1.0)
        return self.total / count[:, None]

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """Best (or logit) response of each revising owner to its beliefs."""
        self.sync(len(owners))
        if self.params.information == "local":
            prob = logit_observed(self.beliefs()[rows], self.params.temperature,
                                  self.played_index(owners.action[rows]))
            return self.space.values[sample_mixed(prob, rng)]
        avg = self.beliefs()[rows]
        fresh = self.count[rows] == 0
        if np.any(fresh):
            avg[fresh] = mechanism.deviation_utilities(owners.action, owners, ctx)[rows[fresh]]
        if self.params.temperature > 0:
            return self.space.values[sample_mixed(softmax(avg / self.params.temperature), rng)]
        return self.space.values[np.argmax(avg, axis=1)]

    def observe(self, mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> None:
        """Add this round's deviation (or observed) utilities to every owner's running sums."""
        self.sync(len(owners))
        if self.params.information == "local":
            seen = observe(self.space, owners, ctx)
            self.total += np.nan_to_num(seen, nan=0.0)
            self.count += ~np.isnan(seen)
            return
        self.total += mechanism.deviation_utilities(owners.action, owners, ctx)
        self.count += 1.0
