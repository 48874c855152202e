"""Logit (smoothed, quantal) best response with a temperature.

A revising owner *i* draws candidate :math:`k` with probability

.. math::  P_i(k) = \\frac{\\exp(u_i(k, a_{-i}) / \\tau)}
                         {\\sum_l \\exp(u_i(l, a_{-i}) / \\tau)},

where :math:`u_i(k, a_{-i})` is the mechanism's deviation utility (others
fixed) and :math:`\\tau` the temperature.  As :math:`\\tau \\to 0` the choice
concentrates on the best responses (ties shared equally); ``temperature = 0``
is the exact argmax (ties to the lowest candidate, as best response).

With ``information = "local"`` :math:`u_i(k, a_{-i})` is replaced by the
payoff of *k* that the owner's closed neighbourhood realised last round
(:mod:`market.rules.local`): the softmax runs over the candidates someone
nearby played (the others get probability 0), and an owner that has not yet
observed anything keeps its action.

Convergence: the fixed points of the expected dynamics are the logit quantal
response equilibria (McKelvey & Palfrey 1995, *Games Econ. Behav.* 10,
eq. 5); in potential games asynchronous logit revision is a reversible Markov
chain whose stationary law is the Gibbs measure
:math:`\\propto \\exp(\\Phi(a)/\\tau)`, which concentrates on the potential
maximisers as :math:`\\tau \\to 0` (Blume 1993, *Games Econ. Behav.* 5;
Alos-Ferrer & Netzer 2010, *Games Econ. Behav.* 68, Thm. 1).  Posted prices
(owners do not interact) are such a game: each owner's play converges in one
revision to the logit distribution over its own utilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.mechanism import Mechanism, RoundContext
from market.core.population import OwnerArrays
from market.rules.learning import sample_mixed, softmax
from market.rules.local import InformationParams, LastObservation, check_information, logit_observed


class Logit(LastObservation):
    """Smoothed best response: softmax of deviation utilities at temperature tau."""

    name = "logit"
    description = "logit (quantal) response: softmax of each candidate's utility at a temperature"

    @dataclass(frozen=True)
    class Params(InformationParams):
        """Parameters of logit response.

        Attributes
        ----------
        temperature : float
            Noise :math:`\\tau` in utility units (0 = exact best response).
        information : str
            ``"global"`` (deviation utilities) or ``"local"`` (payoffs seen among the neighbours).
        """

        temperature: float = 0.1

    def validate(self) -> None:
        if not (np.isfinite(self.params.temperature) and self.params.temperature >= 0):
            raise ValueError("temperature: must be finite and >= 0")
        check_information(self.params.information)

    def probabilities(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
                      ctx: RoundContext) -> np.ndarray:
        """The (len(rows), k) logit choice probabilities of the owners in ``rows``."""
        if self.params.information == "local":
            self.sync(len(owners))
            current = self.played_index(owners.action[rows])
            return logit_observed(self.estimate[rows], self.params.temperature, current)
        util = mechanism.deviation_utilities(owners.action, owners, ctx)[rows]
        if self.params.temperature == 0:
            prob = np.zeros_like(util)
            prob[np.arange(util.shape[0]), np.argmax(util, axis=1)] = 1.0
            return prob
        return softmax(util / self.params.temperature)

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """Draw each revising owner's action from its logit probabilities."""
        prob = self.probabilities(rows, mechanism, owners, ctx)
        return self.space.values[sample_mixed(prob, rng)]
