"""EXP3 for the platform: exponential weights on importance-weighted loss estimates (bandit feedback).

The anytime variant of Bubeck & Cesa-Bianchi (2012, *Regret Analysis of
Stochastic and Nonstochastic Multi-armed Bandit Problems*, Thm. 3.1): with
losses :math:`\\ell_t = 1 - r_t \\in [0, 1]`, the platform posts arm :math:`k`
with probability

.. math::  p_t(k) = \\frac{\\exp(-\\eta_t \\hat L_{t-1}(k))}{\\sum_j \\exp(-\\eta_t \\hat L_{t-1}(j))},
           \\qquad \\eta_t = c\\,\\sqrt{\\frac{\\ln K}{t K}},

and adds :math:`\\ell_t / p_t(k_t)` to the estimate :math:`\\hat L(k_t)` of the
played arm only.  With :math:`c = 1` the expected regret against the best
fixed arm is at most :math:`2\\sqrt{T K \\ln K}`, so regret/T falls like
:math:`1/\\sqrt T` (a horizon 8 times longer: regret/T times about 0.35).
The guarantee holds against an adaptive adversary, which is what owners who
respond to the price are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.rules.platform.learner import DiscreteLearner


class Exp3(DiscreteLearner):
    """Anytime EXP3 over the candidate grid."""

    name = "exp3"
    description = "EXP3: exponential weights on importance-weighted losses, anytime rate"

    @dataclass(frozen=True)
    class Params:
        """Parameters of EXP3.

        Attributes
        ----------
        learning_rate : float
            The constant :math:`c` of the rate :math:`\\eta_t = c\\sqrt{\\ln K / (tK)}`.
        """

        learning_rate: float = 1.0

    def validate(self) -> None:
        if not (np.isfinite(self.params.learning_rate) and self.params.learning_rate > 0):
            raise ValueError("learning_rate: must be finite and > 0")

    def setup(self, grid: np.ndarray) -> None:
        super().setup(grid)
        self.loss_estimate = np.zeros(self.n_arms)
        self.prob = np.full(self.n_arms, 1.0 / self.n_arms)

    def probabilities(self) -> np.ndarray:
        """The current mixed strategy over the arms."""
        k = max(self.n_arms, 2)
        eta = self.params.learning_rate * np.sqrt(np.log(k) / ((self.t + 1) * k))
        z = -eta * (self.loss_estimate - self.loss_estimate.min())
        w = np.exp(z)
        return w / w.sum()

    def choose_arm(self, rng: np.random.Generator) -> int:
        """Draw an arm from :meth:`probabilities` (inverse CDF, one uniform)."""
        self.prob = self.probabilities()
        cdf = np.cumsum(self.prob)
        return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), self.n_arms - 1))

    def learn(self, reward: float) -> None:
        """Importance-weighted loss of the played arm."""
        super().learn(reward)
        self.loss_estimate[self.arm] += (1.0 - reward) / self.prob[self.arm]
