"""Epsilon-greedy (stateless) Q-learning on the owner's own realised utility.

Each owner keeps a value :math:`Q_i(k)` per candidate and learns only from
the utility it actually received (bandit feedback, like EXP3):

.. math::  Q_i(a_i^t) \\leftarrow Q_i(a_i^t) + \\alpha\\,
           \\big(u_i^t - Q_i(a_i^t)\\big).

A revising owner plays a uniformly random candidate with probability
:math:`\\varepsilon_t = \\varepsilon / (1 + \\delta t)` (``epsilon``,
``epsilon_decay`` :math:`\\delta`, *t* the owner's rounds of experience) and
the greedy :math:`\\arg\\max_k Q_i(k)` otherwise (ties to the lowest candidate).

Convergence: against stationary payoffs (an owner whose utility does not
depend on the others, as with posted prices) and with every candidate tried
infinitely often, :math:`Q_i \\to` the expected utilities, so greedy play
converges to the best action (Watkins & Dayan 1992, *Mach. Learn.* 8; the
stateless case is the stochastic-approximation bandit of Sutton & Barto 2018,
Sect. 2.5).  With ``epsilon_decay > 0`` and :math:`\\sum_t \\varepsilon_t =
\\infty` exploration never stops yet vanishes, so play converges to a strictly
dominant action.  In games where owners interact there is no general
guarantee; independent learners can miscoordinate (Claus & Boutilier 1998,
*AAAI*).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.mechanism import Mechanism, RoundContext
from market.core.population import OwnerArrays
from market.rules.learning import LearningRule


class QLearning(LearningRule):
    """Stateless epsilon-greedy Q-learning from the owner's own utility."""

    name = "q_learning"
    description = "epsilon-greedy Q-learning from each owner's own realised utility"

    @dataclass(frozen=True)
    class Params:
        """Parameters of Q-learning.

        Attributes
        ----------
        learning_rate : float
            :math:`\\alpha \\in (0, 1]`.
        epsilon : float
            Initial exploration probability.
        epsilon_decay : float
            :math:`\\delta`: exploration is :math:`\\varepsilon / (1 + \\delta t)`.
        initial_q : float
            Initial value of every candidate (large = optimistic exploration).
        """

        learning_rate: float = 0.1
        epsilon: float = 0.1
        epsilon_decay: float = 0.0
        initial_q: float = 0.0

    def validate(self) -> None:
        p = self.params
        if not 0.0 < p.learning_rate <= 1.0:
            raise ValueError("learning_rate: must be in (0, 1]")
        if not 0.0 <= p.epsilon <= 1.0:
            raise ValueError("epsilon: must be in [0, 1]")
        if not (np.isfinite(p.epsilon_decay) and p.epsilon_decay >= 0):
            raise ValueError("epsilon_decay: must be finite and >= 0")
        if not np.isfinite(p.initial_q):
            raise ValueError("initial_q: must be finite")

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"q": (self.space.size,), "count": ()}

    def initial_state(self, name: str, n: int) -> np.ndarray:
        if name == "q":
            return np.full((n, self.space.size), self.params.initial_q)
        return super().initial_state(name, n)

    def epsilon(self, rows: np.ndarray) -> np.ndarray:
        """Current exploration probability of the owners in ``rows``."""
        return self.params.epsilon / (1.0 + self.params.epsilon_decay * self.count[rows])

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """Greedy action, or a uniformly random one with probability epsilon."""
        self.sync(len(owners))
        greedy = np.argmax(self.q[rows], axis=1)
        explore = rng.random(rows.size) < self.epsilon(rows)
        pick = np.where(explore, rng.integers(0, self.space.size, rows.size), greedy)
        return self.space.values[pick]

    def observe(self, mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> None:
        """Move the played action's value towards the realised utility."""
        self.sync(len(owners))
        played = self.played_index(owners.action)
        ar = np.arange(len(owners))
        q = self.q
        q[ar, played] += self.params.learning_rate * (owners.utility - q[ar, played])
        self.count += 1.0
