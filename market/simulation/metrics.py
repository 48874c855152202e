"""Per-round metrics: the columns of ``model.parquet``.

Every round produces one row with

=====================  ==========================================================
``round``, ``time``    round number and simulated time of the round event
``n_owners``           active owners
``n_buyers``           active buyers
``share_<level>``      share of owners at each privacy level (finite action sets)
``share_zero``         share of owners whose action is 0 (contributing nothing)
``mean_action``        mean action
``total_payments``     :math:`\\sum_i t_i`
``total_cost``         :math:`\\sum_i c_i(a_i)`, the owners' privacy cost
``mean_utility``       mean owner utility
``information_rent``   :math:`\\sum_i (t_i - c_i(a_i))`, payments above true privacy cost
``platform_utility``   the platform's utility this round
``buyer_spend``        what the buyers paid this round
=====================  ==========================================================

followed by the mechanism's own metrics (:attr:`Outcome.metrics`) and state
(:meth:`Mechanism.state`).  A mechanism metric with the name of a standard
column replaces it (for instance a mechanism whose information rent is an
expected rather than a realised payment).
"""

from __future__ import annotations

import numpy as np

from market.core.mechanism import ActionSpace, Outcome


def action_shares(action: np.ndarray, space: ActionSpace) -> dict[str, float]:
    """Share of owners at each level (``share_<label>``), or ``share_zero`` for continuous actions."""
    n = max(action.size, 1)
    if space.kind == "levels":
        if space.size <= 8:  # a few equality passes beat a nearest-level search
            counts = [np.count_nonzero(action == v) for v in space.values]
        else:
            counts = np.bincount(space.index_of(action), minlength=space.size)
        return {f"share_{label}": counts[k] / n for k, label in enumerate(space.labels)}
    return {"share_zero": float(np.count_nonzero(action == 0)) / n}


def round_metrics(round_: int, time: float, action: np.ndarray, outcome: Outcome,
                  space: ActionSpace, n_buyers: int, state: dict[str, float]) -> dict[str, float]:
    """The ``model.parquet`` row of one round (see the module docstring)."""
    row: dict[str, float] = {
        "round": round_, "time": float(time),
        "n_owners": int(action.size), "n_buyers": int(n_buyers),
    }
    row.update(action_shares(action, space))
    total_payments = float(outcome.payment.sum())
    total_cost = float(outcome.cost.sum())
    row.update({
        "mean_action": float(action.mean()) if action.size else 0.0,
        "total_payments": total_payments,
        "total_cost": total_cost,
        "mean_utility": float(outcome.utility.mean()) if action.size else 0.0,
        "information_rent": total_payments - total_cost,
        "platform_utility": float(outcome.platform_utility),
        "buyer_spend": outcome.buyer_spend,
    })
    for source in (outcome.metrics, state):
        for key, value in source.items():
            if key in ("round", "time", "n_owners", "n_buyers"):
                raise ValueError(f"mechanism metric {key!r} clashes with a standard column")
            row[key] = float(value)
    return row
