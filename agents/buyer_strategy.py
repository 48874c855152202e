"""Strategic buyers: each buyer chooses its per-round spend with the owners' decision rules.

FL-Market's buyers trade budget against accuracy (``docs/models/fl_market.md``):
a larger auction budget buys larger privacy parameters and a smaller error
bound.  With ``[buyers.strategy]`` every active buyer *b* chooses, each round,
its spend :math:`s_b` from the candidate list ``spend``, and its utility is

.. math::  u_b(s_b) = w_b \\, \\mathrm{acc}_b(s_b) - p_b(s_b),

its ``valuation`` :math:`w_b` times the accuracy of what its auction bought
(:meth:`market.core.mechanism.Mechanism.buyer_outcomes`) minus what it paid.
The buyers' choice is a game of the same shape as the owners' -- candidates,
a deviation-utility matrix, a best response -- so any decision rule of
:mod:`market.rules` that needs no social graph (best response, logit,
fictitious play, regret matching, Hedge, EXP3, Q-learning) drives it
unchanged: :class:`BuyerGame` plays the mechanism's part and the buyers' state
is an :class:`~market.core.population.OwnerArrays` whose rows are the active
buyers in arrival order (``action`` the spend, ``payment`` what it paid,
``utility`` its surplus).

``[buyers.strategy]`` keys: ``rule``, ``spend`` (increasing, non-negative),
``initial_spend`` (a candidate; default the middle one) and the rule's own
parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from market.core.mechanism import ActionSpace, Mechanism, RoundContext
from market.core.population import OwnerArrays

class BuyerGame:
    """The buyers' spend game seen by a decision rule (in place of a mechanism).

    Parameters
    ----------
    spend : sequence of float
        The candidate spends per round.
    mechanism : Mechanism
        The platform's mechanism (must have ``strategic_buyers``).

    Attributes
    ----------
    action_space : ActionSpace
        The candidate spends.
    """

    def __init__(self, spend: Any, mechanism: Mechanism) -> None:
        self.action_space = ActionSpace(np.asarray(spend, dtype=float), kind="continuous")
        self.mechanism = mechanism
        self.owners: OwnerArrays | None = None

    def bind(self, owners: OwnerArrays) -> None:
        """The owners whose (fixed) actions the buyers' auctions run on this round."""
        self.owners = owners

    def deviation_utilities(self, action: np.ndarray, buyers: OwnerArrays, ctx: RoundContext) -> np.ndarray:
        """:math:`w_b \\, \\mathrm{acc}_b(s_k) - p_b(s_k)` for every buyer b (rows) and candidate spend k."""
        accuracy, paid = self.mechanism.buyer_outcomes(self.owners.action, self.owners, ctx,
                                                       self.action_space.values)
        return buyers.extra["valuation"][:, None] * accuracy - paid

    def best_response(self, action: np.ndarray, buyers: OwnerArrays, ctx: RoundContext) -> np.ndarray:
        """The best candidate spend of each buyer (ties: the lowest spend)."""
        util = self.deviation_utilities(action, buyers, ctx)
        return self.action_space.values[np.argmax(util, axis=1)]


def empty_buyers() -> OwnerArrays:
    """The strategic buyers' state with no buyer yet."""
    return OwnerArrays.empty(("valuation",))


def surplus(valuation: np.ndarray, accuracy: np.ndarray | None, paid: np.ndarray) -> np.ndarray:
    """Each buyer's surplus :math:`w_b \\, \\mathrm{acc}_b - p_b` (accuracy 1 when the mechanism reports none)."""
    return valuation * (1.0 if accuracy is None else accuracy) - paid
