"""Epsilon-greedy for the platform.

With probability :math:`\\varepsilon_t` the platform posts a uniformly random
candidate, otherwise the one with the best mean reward (untried candidates
first).  A constant :math:`\\varepsilon` keeps a linear share of exploration;
with ``decay = true`` the rate is Auer, Cesa-Bianchi & Fischer's
(2002, *Machine Learning* 47, Sec. 3) :math:`\\varepsilon_t = \\min(1,
\\varepsilon K / t)`, whose regret grows logarithmically when
:math:`\\varepsilon` is large enough for the gap between the best two arms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.rules.platform.learner import DiscreteLearner


class EpsilonGreedy(DiscreteLearner):
    """Epsilon-greedy over the candidate grid."""

    name = "epsilon_greedy"
    description = "epsilon-greedy: the best mean reward, a random candidate with probability epsilon"

    @dataclass(frozen=True)
    class Params:
        """Parameters of epsilon-greedy.

        Attributes
        ----------
        epsilon : float
            Exploration probability (with ``decay``: the constant of :math:`\\varepsilon K / t`).
        decay : bool
            Use :math:`\\varepsilon_t = \\min(1, \\varepsilon K / t)`.
        """

        epsilon: float = 0.1
        decay: bool = False

    def validate(self) -> None:
        eps = self.params.epsilon
        if not (np.isfinite(eps) and eps >= 0) or (not self.params.decay and eps > 1):
            raise ValueError("epsilon: must be in [0, 1] (any value >= 0 with decay = true)")

    def choose_arm(self, rng: np.random.Generator) -> int:
        """Explore with probability :math:`\\varepsilon_t`, else exploit (one uniform and one draw per round)."""
        explore = rng.random()
        pick = int(rng.integers(self.n_arms))
        idle = self.untried()
        if idle >= 0:
            return idle
        eps = self.params.epsilon
        if self.params.decay:
            eps = min(1.0, eps * self.n_arms / max(self.t, 1))
        return pick if explore < eps else int(np.argmax(self.means()))
