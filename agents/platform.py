"""The platform (broker): applies the scenario's mechanism each round."""

from __future__ import annotations

import mesa

from market.core.mechanism import Mechanism, Outcome, RoundContext


class Platform(mesa.Agent):
    """The platform that posts payments and collects the owners' contributions.

    Attributes
    ----------
    mechanism : Mechanism
        The payment and allocation rule.
    utility : float
        The platform's utility in the last round.
    total_utility : float
        Its utility summed over all rounds so far.
    cash : float
        Buyer revenue minus payments to owners, accumulated.
    """

    def __init__(self, model: mesa.Model, mechanism: Mechanism) -> None:
        super().__init__(model)
        self.mechanism = mechanism
        self.utility = 0.0
        self.total_utility = 0.0
        self.cash = 0.0

    def settle(self, ctx: RoundContext) -> Outcome:
        """Apply the mechanism to the owners' current actions and book the result."""
        owners = self.model.owners
        outcome = self.mechanism.settle(owners.action, owners, ctx)
        owners.payment[:] = outcome.payment
        owners.cost[:] = outcome.cost
        owners.utility[:] = outcome.utility
        self.utility = float(outcome.platform_utility)
        self.total_utility += self.utility
        self.cash += outcome.buyer_spend - float(outcome.payment.sum())
        return outcome

    def adapt(self, ctx: RoundContext) -> None:
        """Between rounds: let the mechanism re-design itself (e.g. re-choose alpha)."""
        self.mechanism.update(self.model.owners.action, self.model.owners, ctx)
