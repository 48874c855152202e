"""Posted prices per privacy level: the scaffold mechanism.

The platform posts a price per unit of data for each privacy level
:math:`\\ell \\in \\{0, \\dots, L-1\\}` (level 0 shares nothing).  An owner
with data size :math:`n_i` and sensitivity :math:`c_i` at level :math:`\\ell`
receives

.. math::  t_i = \\text{price}_\\ell \\, n_i, \\qquad
           u_i = t_i - c_i \\, \\text{privacy\\_cost}_\\ell ,

and the platform extracts :math:`\\text{value}_\\ell \\, n_i` from the owner's
data.  Each active buyer pays ``sale_price`` per round, or what is left of
its budget if that is less.  The platform's utility is
value extracted plus buyer revenue minus payments to owners.

Owners do not interact: an owner's payoff does not depend on the others'
actions, so the best response is a per-owner argmax and every dynamics
converges in one revision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.mechanism import ActionSpace, Mechanism, Outcome, RoundContext
from market.core.population import OwnerArrays


class PostedPrice(Mechanism):
    """Posted per-unit price for each privacy level (no interaction between owners)."""

    name = "posted_price"
    description = "the platform posts a price per unit of data for each privacy level"

    @dataclass(frozen=True)
    class Params:
        """Parameters of the posted-price mechanism.

        Attributes
        ----------
        price : list of float
            Payment per unit of data at each privacy level (index = level).
        privacy_cost : list of float
            Privacy cost of each level per unit of sensitivity; level 0 should cost 0.
        value : list of float
            Value the platform extracts per unit of data at each level.
        sale_price : float
            What each active buyer pays per round for the platform's output.
        """

        price: tuple[float, ...] = (0.0, 0.5, 1.0)
        privacy_cost: tuple[float, ...] = (0.0, 0.4, 1.0)
        value: tuple[float, ...] = (0.0, 0.8, 1.5)
        sale_price: float = 1.0

    def validate(self) -> None:
        p = self.params
        n_levels = len(p.price)
        if n_levels < 2:
            raise ValueError("price: needs at least two privacy levels")
        for key in ("privacy_cost", "value"):
            if len(getattr(p, key)) != n_levels:
                raise ValueError(f"{key}: needs {n_levels} entries, one per level in price")
        if min(p.privacy_cost) < 0:
            raise ValueError("privacy_cost: must be non-negative")
        if p.sale_price < 0:
            raise ValueError("sale_price: must be non-negative")
        self._price = np.asarray(p.price, dtype=float)
        self._privacy_cost = np.asarray(p.privacy_cost, dtype=float)
        self._value = np.asarray(p.value, dtype=float)
        self._space = ActionSpace(np.arange(n_levels, dtype=float), kind="levels", meanings=tuple(
            "shares nothing" if level == 0 else f"paid {price:g}/unit"
            for level, price in enumerate(p.price)))

    @property
    def action_space(self) -> ActionSpace:
        """Privacy levels ``0 .. L-1``."""
        return self._space

    def settle(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> Outcome:
        """Pay ``price[level] * data_size``; charge ``sensitivity * privacy_cost[level]``."""
        level = action.astype(np.int64)
        payment = self._price[level] * owners.data_size
        cost = owners.sensitivity * self._privacy_cost[level]
        buyer_payments = np.minimum(self.params.sale_price, ctx.buyer_budgets)
        revenue = float(buyer_payments.sum())
        extracted = float(np.dot(self._value[level], owners.data_size))
        return Outcome(
            payment=payment,
            cost=cost,
            utility=payment - cost,
            platform_utility=extracted + revenue - float(payment.sum()),
            buyer_payments=buyer_payments,
        )

    def best_response_of(
        self, rows: np.ndarray, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext
    ) -> np.ndarray:
        """The argmax over levels of ``price[k] * n_i - c_i * privacy_cost[k]`` for the owners in ``rows``.

        Posted prices make each owner's utilities independent of the others'
        actions, so only the revising owners' rows are computed (unless a
        subclass changes :meth:`deviation_utilities`: then it is used as is).
        """
        if type(self).deviation_utilities is not PostedPrice.deviation_utilities:
            return super().best_response_of(rows, action, owners, ctx)
        util = np.multiply.outer(owners.data_size[rows], self._price)
        util -= np.multiply.outer(owners.sensitivity[rows], self._privacy_cost)
        return self.action_space.values[np.argmax(util, axis=1)]

    def deviation_utilities(
        self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext
    ) -> np.ndarray:
        """``price[k] * n_i - c_i * privacy_cost[k]`` for every owner i and level k."""
        util = np.multiply.outer(owners.data_size, self._price)
        util -= np.multiply.outer(owners.sensitivity, self._privacy_cost)
        return util
