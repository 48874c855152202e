"""UCB1 for the platform: optimism in the face of uncertainty.

Auer, Cesa-Bianchi & Fischer (2002, *Machine Learning* 47, Fig. 1): play every
arm once, then the arm maximising

.. math::  \\bar r_k + c\\,\\sqrt{\\frac{2 \\ln t}{n_k}},

with :math:`\\bar r_k` the mean normalised reward of arm :math:`k` and
:math:`n_k` its plays.  For stationary rewards in ``[0, 1]`` and :math:`c = 1`
the expected regret is at most :math:`8 \\sum_{k: \\Delta_k > 0} \\ln T / \\Delta_k
+ (1 + \\pi^2/3) \\sum_k \\Delta_k` (their Thm. 1): logarithmic, so regret/T
falls faster than EXP3's.  Owners who adapt make the rewards non-stationary,
where UCB1 has no guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.rules.platform.learner import DiscreteLearner


class UCB1(DiscreteLearner):
    """UCB1 over the candidate grid."""

    name = "ucb1"
    description = "UCB1: the arm with the highest upper confidence bound on its mean reward"

    @dataclass(frozen=True)
    class Params:
        """Parameters of UCB1.

        Attributes
        ----------
        exploration : float
            The constant :math:`c` scaling the confidence radius.
        """

        exploration: float = 1.0

    def validate(self) -> None:
        if not (np.isfinite(self.params.exploration) and self.params.exploration >= 0):
            raise ValueError("exploration: must be finite and >= 0")

    def choose_arm(self, rng: np.random.Generator) -> int:
        """An untried arm first, then the highest index (ties: the lowest arm)."""
        idle = self.untried()
        if idle >= 0:
            return idle
        bonus = self.params.exploration * np.sqrt(2.0 * np.log(self.t) / self.counts)
        return int(np.argmax(self.means() + bonus))
