"""Gaussian Thompson sampling for the platform.

Each arm's mean reward has the conjugate Gaussian posterior of a Gaussian
likelihood with known standard deviation :math:`\\sigma` and the prior
:math:`N(1/2, \\sigma^2)` (Agrawal & Goyal 2017, *J. ACM* 64, Algorithm 2):

.. math::  \\theta_k \\sim N\\Big(\\frac{1/2 + S_k}{1 + n_k},\\ \\frac{\\sigma^2}{1 + n_k}\\Big),

and the platform posts the arm with the largest sample.  Expected regret
:math:`O(\\sqrt{K T \\ln K})` for rewards in ``[0, 1]`` with :math:`\\sigma = 1`
(ibid., Thm. 3), and :math:`O(\\sum_k \\ln T / \\Delta_k)` problem-dependently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.rules.platform.learner import DiscreteLearner


class Thompson(DiscreteLearner):
    """Thompson sampling with Gaussian posteriors over the candidate grid."""

    name = "thompson"
    description = "Thompson sampling: the arm with the largest draw from its Gaussian posterior"

    @dataclass(frozen=True)
    class Params:
        """Parameters of Gaussian Thompson sampling.

        Attributes
        ----------
        sd : float
            :math:`\\sigma`, the assumed reward noise (in normalised reward units).
        """

        sd: float = 0.5

    def validate(self) -> None:
        if not (np.isfinite(self.params.sd) and self.params.sd > 0):
            raise ValueError("sd: must be finite and > 0")

    def choose_arm(self, rng: np.random.Generator) -> int:
        """The argmax of one posterior draw per arm."""
        mean = (0.5 + self.sums) / (1.0 + self.counts)
        draw = mean + self.params.sd / np.sqrt(1.0 + self.counts) * rng.standard_normal(self.n_arms)
        return int(np.argmax(draw))
