"""Bandit gradient ascent (zeroth order) for a continuous parameter range.

The platform cannot differentiate its utility in the posted parameter (it
does not know the owners' costs), but it can probe.  Two-point gradient
estimation (Nesterov & Spokoiny 2017, *Found. Comput. Math.* 17, eq. 30;
Agarwal, Dekel & Xiao 2010, *COLT*, Sec. 3): in unit coordinates
:math:`x \\in [\\delta, 1-\\delta]^d`, draw a direction :math:`u` uniform on the
unit sphere, post :math:`x + \\delta u` for one block and :math:`x - \\delta u` for
the next, and step

.. math::  x \\leftarrow \\Pi_{[\\delta, 1-\\delta]^d}\\Big(x + \\frac{\\eta}{\\sqrt{m}}
           \\, \\frac{d\\,(r_+ - r_-)}{2\\delta}\\, u\\Big),

the :math:`m`-th update with rewards :math:`r_\\pm` normalised to ``[0, 1]``.
For a concave utility this converges to the optimum of the box at the
:math:`O(1/\\sqrt m)` rate of projected stochastic gradient ascent; for a
non-concave one (a price at which owners switch level) it finds a local
optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.rules.platform.learner import ContinuousLearner


class ZerothOrder(ContinuousLearner):
    """Two-point bandit gradient ascent over ``[low, high]``."""

    name = "zeroth_order"
    description = "bandit gradient ascent: two-point zeroth-order gradient estimates over a range"

    @dataclass(frozen=True)
    class Params:
        """Parameters of two-point bandit gradient ascent.

        Attributes
        ----------
        step : float
            :math:`\\eta`, the step size in unit coordinates per unit of normalised reward.
        perturbation : float
            :math:`\\delta \\in (0, 1/2)`, the probe distance in unit coordinates.
        start : float
            Initial point in unit coordinates (0: ``low``, 1: ``high``), clipped to the interior.
        """

        step: float = 0.1
        perturbation: float = 0.05
        start: float = 0.5

    def validate(self) -> None:
        p = self.params
        if not (np.isfinite(p.step) and p.step > 0):
            raise ValueError("step: must be finite and > 0")
        if not 0 < p.perturbation < 0.5:
            raise ValueError("perturbation: must be in (0, 0.5)")
        if not 0 <= p.start <= 1:
            raise ValueError("start: must be in [0, 1]")

    def setup(self, low: np.ndarray, high: np.ndarray) -> None:
        super().setup(low, high)
        d, delta = self.low.size, self.params.perturbation
        self.x = np.full(d, np.clip(self.params.start, delta, 1 - delta))
        self.direction = np.zeros(d)
        self.plus_reward = 0.0
        self.phase = 0
        self.updates = 0

    def propose(self, rng: np.random.Generator) -> np.ndarray:
        """``x + delta u`` (a fresh direction) in phase 0, ``x - delta u`` in phase 1."""
        if self.phase == 0:
            u = rng.standard_normal(self.x.size)
            self.direction = u / np.linalg.norm(u)
        sign = 1.0 if self.phase == 0 else -1.0
        return self.to_params(self.x + sign * self.params.perturbation * self.direction)

    def learn(self, reward: float) -> None:
        """Keep :math:`r_+` after phase 0; step along the two-point estimate after phase 1."""
        if self.phase == 0:
            self.plus_reward = float(reward)
            self.phase = 1
            return
        delta = self.params.perturbation
        self.updates += 1
        grad = self.x.size * (self.plus_reward - reward) / (2 * delta) * self.direction
        self.x = np.clip(self.x + self.params.step / np.sqrt(self.updates) * grad, delta, 1 - delta)
        self.phase = 0

    @property
    def point(self) -> np.ndarray:
        """The current centre of the probes, in parameter units."""
        return self.to_params(self.x)
