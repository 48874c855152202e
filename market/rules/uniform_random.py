"""Uniformly random play: the baseline every other rule should beat.

A revising owner draws its next action uniformly from the mechanism's
candidates :math:`a_1, \\dots, a_k`,

.. math::  P_i(a_k) = 1/k ,

ignoring payoffs altogether (for a continuous action space the candidates are
its grid).  It is the null rule of a tournament: a rule that learns nothing
earns, in expectation, the average of its candidates' utilities, so a rule
that ranks below it is worse than not thinking.  Play never settles; every
revising owner keeps drawing.
"""

from __future__ import annotations

import numpy as np

from market.core.decision_rule import DecisionRule
from market.core.mechanism import Mechanism, RoundContext
from market.core.population import OwnerArrays


class UniformRandom(DecisionRule):
    """Draw each revising owner's action uniformly from the candidates."""

    name = "random"
    description = "uniformly random action among the candidates (a baseline that learns nothing)"

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """One uniform draw per owner in ``rows``."""
        return self.space.values[rng.integers(0, self.space.size, size=rows.size)]
