"""Best response: each revising owner plays its best reply to the others.

With the mechanism's exact :meth:`~market.core.mechanism.Mechanism.best_response`
(or the argmax over the candidate grid, ties to the lowest action).  For
continuous actions, ``damping`` moves only part of the way:

.. math::  a_i \\leftarrow \\delta\\, a_i + (1 - \\delta)\\, \\mathrm{BR}_i(a_{-i}).

With ``information = "local"`` the owner cannot compute best replies: it
plays the candidate with the highest payoff its closed neighbourhood realised
last round (:mod:`market.rules.local`; ties to the lowest candidate), and
keeps its action until it has observed something (a newcomer before its
first round).

Convergence: in games with a potential (posted prices, where owners do not
interact; naive federated learning) sequential best response converges to a
pure Nash equilibrium (Monderer & Shapley 1996, *Potential games*);
synchronous updates can cycle, which damping or inertia removes in many games.
With local information and homogeneous owners who do not interact, a
strictly dominant action spreads along the graph one neighbourhood per
revision (it is never abandoned once observed), so on a connected graph on
which some owner plays it every owner adopts it within the graph's diameter
in synchronous revision; there is no general guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.mechanism import Mechanism, RoundContext
from market.core.population import OwnerArrays
from market.rules.local import InformationParams, LastObservation, argmax_observed, check_information


class BestResponse(LastObservation):
    """Play the best response to the others' current actions."""

    name = "best_response"
    description = "each revising owner plays its best reply to the others' current actions"

    @dataclass(frozen=True)
    class Params(InformationParams):
        """Parameters of best response.

        Attributes
        ----------
        damping : float
            Weight on the current action for continuous action spaces (0 = full step).
        information : str
            ``"global"`` (exact best reply) or ``"local"`` (best payoff seen among the neighbours).
        """

        damping: float = 0.0

    def validate(self) -> None:
        if not 0.0 <= self.params.damping < 1.0:
            raise ValueError("damping: must be in [0, 1)")
        check_information(self.params.information)

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """Best responses of the owners in ``rows``."""
        if self.params.information == "local":
            self.sync(len(owners))
            estimate = self.estimate[rows]
            best = np.where(np.isnan(estimate).all(axis=1), owners.action[rows],
                            self.space.values[argmax_observed(estimate, self.played_index(owners.action[rows]))])
        else:
            best = mechanism.best_response_of(rows, owners.action, owners, ctx)
        if self.space.kind == "continuous" and self.params.damping > 0:
            return self.params.damping * owners.action[rows] + (1 - self.params.damping) * best
        return best
