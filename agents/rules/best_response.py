"""Best response: each revising owner plays its best reply to the others.

With the mechanism's exact :meth:`~market.mechanisms.base.Mechanism.best_response`
(or the argmax over the candidate grid, ties to the lowest action).  For
continuous actions, ``damping`` moves only part of the way:

.. math::  a_i \\leftarrow \\delta\\, a_i + (1 - \\delta)\\, \\mathrm{BR}_i(a_{-i}).

Convergence: in games with a potential (posted prices, where owners do not
interact; naive federated learning) sequential best response converges to a
pure Nash equilibrium (Monderer & Shapley 1996, *Potential games*);
synchronous updates can cycle, which damping or inertia removes in many games.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.rules.base import DecisionRule, register
from market.mechanisms.base import Mechanism, RoundContext
from market.population import OwnerArrays


@register
class BestResponse(DecisionRule):
    """Play the best response to the others' current actions."""

    name = "best_response"
    description = "each revising owner plays its best reply to the others' current actions"

    @dataclass(frozen=True)
    class Params:
        """Parameters of best response.

        Attributes
        ----------
        damping : float
            Weight on the current action for continuous action spaces (0 = full step).
        """

        damping: float = 0.0

    def validate(self) -> None:
        if not 0.0 <= self.params.damping < 1.0:
            raise ValueError("damping: must be in [0, 1)")

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """Best responses of the owners in ``rows``."""
        best = mechanism.best_response(owners.action, owners, ctx)[rows]
        if self.space.kind == "continuous" and self.params.damping > 0:
            return self.params.damping * owners.action[rows] + (1 - self.params.damping) * best
        return best
