"""The platform (broker): applies the scenario's mechanism each round, and may learn its parameters."""

from __future__ import annotations

import mesa
import numpy as np

from market.core.mechanism import Mechanism, Outcome, RoundContext
from market.rules.platform.controller import PlatformLearning
from market.rules.platform.learner import PlatformLearner


class Platform(mesa.Agent):
    """The platform that posts payments and collects the owners' contributions.

    With a ``[platform]`` table the platform learns: before each block of
    rounds its learner proposes the mechanism parameters to post, and after
    the block it learns from the mean of its own realised utility -- never from
    the owners' sensitivities (:mod:`market.rules.platform`).

    Attributes
    ----------
    mechanism : Mechanism
        The payment and allocation rule.
    learner : PlatformLearner or None
        The bandit algorithm choosing the mechanism's parameters (None: fixed parameters).
    learning : PlatformLearning or None
        Its block schedule, reward normalisation and recorded columns.
    utility : float
        The platform's utility in the last round.
    total_utility : float
        Its utility summed over all rounds so far.
    cash : float
        Buyer revenue minus payments to owners, accumulated.
    """

    def __init__(self, model: mesa.Model, mechanism: Mechanism, learner: PlatformLearner | None = None,
                 learning: PlatformLearning | None = None) -> None:
        super().__init__(model)
        self.mechanism = mechanism
        self.learner = learner
        self.learning = learning
        self.utility = 0.0
        self.total_utility = 0.0
        self.cash = 0.0

    def post(self, rng: np.random.Generator) -> None:
        """Before the owners revise: at the start of a block, post the learner's next parameters."""
        if self.learning is not None and self.learning.block_starts:
            self.learning.post(self.learner.propose(rng), self.mechanism)

    def settle(self, ctx: RoundContext) -> Outcome:
        """Apply the mechanism to the owners' current actions, book the result, and learn from it."""
        owners = self.model.owners
        outcome = self.mechanism.settle(owners.action, owners, ctx)
        owners.payment[:] = outcome.payment
        owners.cost[:] = outcome.cost
        owners.utility[:] = outcome.utility
        self.utility = float(outcome.platform_utility)
        self.total_utility += self.utility
        self.cash += outcome.buyer_spend - float(outcome.payment.sum())
        if self.learning is not None:
            reward = self.learning.observe(self.utility)
            if reward is not None:
                self.learner.learn(reward)
        return outcome

    def state(self) -> dict[str, float]:
        """The platform's recorded columns: the mechanism's state, and the learnt parameters and regret."""
        row = dict(self.mechanism.state())
        if self.learning is not None:
            row.update(self.learning.state(self.utility))
        return row

    def adapt(self, ctx: RoundContext) -> None:
        """Between rounds: let the mechanism re-design itself (e.g. re-choose alpha)."""
        self.mechanism.update(self.model.owners.action, self.model.owners, ctx)
