"""Hedge: multiplicative weights with full information.

**Hedge** (Freund & Schapire 1997, *J. Comput. Syst. Sci.* 55): owner *i*
plays candidate *k* with probability

.. math::  p_i^t(k) \\propto \\exp\\big(\\eta_t\\, S_i^{t-1}(k)\\big), \\qquad
           S_i^{t}(k) = \\sum_{s \\le t} u_i(k, a_{-i}^s),

the cumulative deviation utilities (full information: the owner learns what
every candidate would have paid).  ``learning_rate`` :math:`\\eta` is used as
is, or with ``anytime = true`` as :math:`\\eta_t = \\eta \\sqrt{\\ln k / t}`.
Guarantee: for utilities in ``[0, 1]`` the regret against the best fixed
candidate is at most :math:`\\ln k / \\eta + \\eta T / 8` (Cesa-Bianchi & Lugosi
2006, *Prediction, Learning, and Games*, Thm. 2.2), i.e.
:math:`\\sqrt{(T/2) \\ln k}` at the tuned rate; the anytime rate with
:math:`\\eta = \\sqrt 8` gives :math:`2\\sqrt{(T/2)\\ln k} + \\sqrt{\\ln k / 8}` for
every *T* (Thm. 2.3).  Average regret therefore shrinks like
:math:`1/\\sqrt T`, and when every owner runs Hedge the empirical play
approaches the coarse correlated equilibria (Hannan set).  Utilities on
another scale *M* need :math:`\\eta / M`.

With ``information = "local"`` the owner adds, instead of the deviation
utilities, the payoff its closed neighbourhood realised with each candidate
(:mod:`market.rules.local`), and its own realised utility for a candidate
nobody nearby played.  The regret bound then holds against the observed
payoffs, not against the owner's true counterfactual ones.

The bandit counterpart, which sees only the owner's own payoff, is :mod:`market.rules.exp3`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.mechanism import Mechanism, RoundContext
from market.core.population import OwnerArrays
from market.rules.learning import LearningRule, sample_mixed, softmax
from market.rules.local import InformationParams, check_information, imputed, observe


class Hedge(LearningRule):
    """Multiplicative weights over the candidates with full-information feedback."""

    name = "hedge"
    description = "Hedge / multiplicative weights on every candidate's utility (full information)"

    @dataclass(frozen=True)
    class Params(InformationParams):
        """Parameters of Hedge.

        Attributes
        ----------
        learning_rate : float
            :math:`\\eta` (per unit of utility).
        anytime : bool
            Use the decreasing rate :math:`\\eta \\sqrt{\\ln k / t}`.
        information : str
            ``"global"`` (deviation utilities) or ``"local"`` (payoffs seen among the neighbours).
        """

        learning_rate: float = 0.1
        anytime: bool = False

    def validate(self) -> None:
        if not (np.isfinite(self.params.learning_rate) and self.params.learning_rate > 0):
            raise ValueError("learning_rate: must be finite and > 0")
        check_information(self.params.information)

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"total": (self.space.size,), "count": ()}

    def mixed_strategy(self) -> np.ndarray:
        """Each owner's current probabilities over the candidates, shape (n, k)."""
        if not self.params.anytime:              # one rate for everyone: no (n, 1) column of it
            return softmax(self.params.learning_rate * self.total)
        eta = self.params.learning_rate * np.sqrt(np.log(max(self.space.size, 2)) / np.maximum(self.count + 1, 1))
        return softmax(eta[:, None] * self.total)

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """Draw each revising owner's action from its weights."""
        self.sync(len(owners))
        return self.space.values[sample_mixed(self.mixed_strategy()[rows], rng)]

    def observe(self, mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> None:
        """Add every candidate's utility against this round's profile (or as observed) to the weights."""
        self.sync(len(owners))
        if self.params.information == "local":
            self.total += imputed(observe(self.space, owners, ctx), owners.utility)
        else:
            self.total += mechanism.deviation_utilities(owners.action, owners, ctx)
        self.count += 1.0
