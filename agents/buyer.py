"""Gradient / model buyers: arrive as a Poisson process, spend a budget, leave."""

from __future__ import annotations

import mesa


class GradientBuyer(mesa.Agent):
    """A buyer of the platform's model or aggregated gradient.

    Attributes
    ----------
    budget : float
        What the buyer has left to spend.
    valuation : float
        The buyer's value for one round's output.
    arrival, departure : float
        Simulated times of arrival and of the scheduled departure.
    spent : float
        Total spent so far.
    """

    def __init__(self, model: mesa.Model, budget: float, valuation: float,
                 arrival: float, departure: float) -> None:
        super().__init__(model)
        self.budget = budget
        self.valuation = valuation
        self.arrival = arrival
        self.departure = departure
        self.spent = 0.0
        self.departure_event = None  # the scheduled departure, cancelled if the budget runs out

    def pay(self, amount: float) -> None:
        """Spend ``amount`` (the mechanism never asks for more than the budget)."""
        self.budget -= amount
        self.spent += amount
