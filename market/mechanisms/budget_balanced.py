"""The budget-balanced tax/subsidy mechanism M_beta of paper 003 (Section 4, beta* of eq. 6).

The contribution game of :mod:`market.mechanisms.contribution_game` with the payments
:math:`p_i(s) = \\beta\\big(c_i(s_i) - \\frac{1}{n-1}\\sum_{j \\ne i} c_j(s_j)\\big)`, which sum to 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from market.core.population import OwnerArrays
from market.mechanisms.contribution_game import ContributionGameMechanism
from market.theory.contribution_game.game import optimal_beta


class BudgetBalanced(ContributionGameMechanism):
    """The budget-balanced tax/subsidy mechanism :math:`\\mathcal M_\\beta` (Section 4)."""

    name = "budget_balanced"
    description = "budget-balanced taxes/subsidies p_i = beta (c_i - mean of others' costs), beta* of eq. (6)"

    @dataclass(frozen=True)
    class Params(ContributionGameMechanism.Params):
        """Parameters of :math:`\\mathcal M_\\beta` (plus those of the contribution game).

        Attributes
        ----------
        beta_rule : str
            ``"optimal"``: :math:`\\beta^*` of eq. (6) from the current cost
            slopes, every round; ``"fixed"``: the value ``beta``.
        beta : float
            The fixed rate in [0, 1] (used with ``beta_rule = "fixed"``).
        """

        beta_rule: str = "optimal"
        beta: float = 0.0

    #: The budget-balanced rate redistributes among at least two owners.
    min_owners = 2

    def validate(self) -> None:
        super().validate()
        if self.params.beta_rule not in ("optimal", "fixed"):
            raise ValueError("beta_rule: must be 'optimal' or 'fixed'")
        if not 0.0 <= self.params.beta <= 1.0:
            raise ValueError("beta: must lie in [0, 1]")

    def rate(self, owners: OwnerArrays) -> float:
        """:math:`\\beta^*` of the current cost slopes (``optimal``) or the fixed ``beta``."""
        if len(owners) < 2:
            raise ValueError("owners: the budget-balanced mechanism needs at least two owners")
        if self.params.beta_rule == "fixed":
            return float(self.params.beta)
        return optimal_beta(owners.sensitivity)
