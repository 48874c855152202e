"""EXP3: exponential weights learnt from bandit feedback.

**EXP3** (Auer, Cesa-Bianchi, Freund & Schapire 2002, *SIAM J. Comput.* 32,
Fig. 1): bandit feedback -- the owner sees only the realised utility of its
own played action (``owners.utility``), never the deviation utilities.  It
plays the exploration mixture

.. math::  p_i^t(k) = (1-\\gamma) \\frac{\\exp(\\eta \\hat S_i^{t-1}(k))}
           {\\sum_l \\exp(\\eta \\hat S_i^{t-1}(l))} + \\frac{\\gamma}{k}

and updates the importance-weighted estimate
:math:`\\hat S_i(a_i^t) \\mathrel{+}= u_i^t / p_i^t(a_i^t)` of the played
action only.  Guarantee: expected regret :math:`\\le (e-1)\\gamma G + k \\ln k /
\\gamma` for rewards in ``[0, 1]`` with :math:`\\eta = \\gamma / k`
(Auer et al. 2002, Thm. 3.1), :math:`O(\\sqrt{T k \\ln k})` when tuned.  With a
constant :math:`\\gamma` a fraction :math:`\\gamma (k-1)/k` of play stays
exploratory forever.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.mechanism import Mechanism, RoundContext
from market.core.population import OwnerArrays
from market.rules.learning import LearningRule, sample_mixed, softmax


class Exp3(LearningRule):
    """EXP3: exponential weights with importance-weighted bandit feedback."""

    name = "exp3"
    description = "EXP3: exponential weights learnt from the owner's own realised utility only (bandit)"

    @dataclass(frozen=True)
    class Params:
        """Parameters of EXP3.

        Attributes
        ----------
        learning_rate : float
            :math:`\\eta` (per unit of utility).
        exploration : float
            :math:`\\gamma \\in (0, 1]`, the uniform-exploration weight.
        """

        learning_rate: float = 0.05
        exploration: float = 0.1

    def validate(self) -> None:
        if not (np.isfinite(self.params.learning_rate) and self.params.learning_rate > 0):
            raise ValueError("learning_rate: must be finite and > 0")
        if not 0.0 < self.params.exploration <= 1.0:
            raise ValueError("exploration: must be in (0, 1]")

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"estimate": (self.space.size,)}

    def mixed_strategy(self) -> np.ndarray:
        """Each owner's current probabilities over the candidates, shape (n, k)."""
        gamma = self.params.exploration
        return (1 - gamma) * softmax(self.params.learning_rate * self.estimate) \
            + gamma / self.space.size

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """Draw each revising owner's action from its exploration mixture."""
        self.sync(len(owners))
        return self.space.values[sample_mixed(self.mixed_strategy()[rows], rng)]

    def observe(self, mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> None:
        """Importance-weighted update of the played action with the realised utility."""
        self.sync(len(owners))
        played = self.played_index(owners.action)
        ar = np.arange(len(owners))
        prob = self.mixed_strategy()[ar, played]
        self.estimate[ar, played] += owners.utility / prob
