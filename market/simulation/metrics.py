"""Per-round metrics: the standard columns of ``model.parquet`` and their one table of definitions.

:data:`STANDARD_COLUMNS` is the single code home of every standard column's
name, definition and unit (``docs/measures.md`` explains them at length; the
README's output table, the Parquet metadata of ``model.parquet`` and the run
report read this table).  Every round produces one row with these columns
(``share_<level>`` once per level), followed by the mechanism's own metrics
(:attr:`Outcome.metrics`) and state (:meth:`Mechanism.state`) under their own
names: a mechanism-specific variant of a standard measure gets a distinct
name (e.g. ``low_type_rent``) and never replaces a standard column.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from market.core.mechanism import ActionSpace, Outcome
from scenarios.schema import Scenario, ScenarioError


class Column(NamedTuple):
    """One standard column: its name, definition (with formula), unit and when it is absent or null."""

    name: str
    definition: str
    unit: str
    absent: str = "always present"


#: Every standard column of ``model.parquet``, in order (``share_<level>`` stands for one column per level).
STANDARD_COLUMNS: tuple[Column, ...] = (
    Column("round", "round number t = 1, 2, ...", "round"),
    Column("time", "simulated time of the round event", "time unit"),
    Column("n_owners", "active owners n", "owners"),
    Column("n_buyers", "active buyers", "buyers"),
    Column("share_<level>", "share of owners at each privacy level: #{i : a_i = level} / n", "fraction",
           "continuous action spaces (they have share_zero)"),
    Column("share_zero", "share of owners whose action is 0 (contributing nothing): #{i : a_i = 0} / n",
           "fraction", "finite action sets (they have share_<level>)"),
    Column("mean_action", "mean action (1/n) sum_i a_i: the headline series of the regime instrument",
           "action unit"),
    Column("total_payments", "payments to owners this round, sum_i t_i", "money per round"),
    Column("total_cost", "owners' privacy cost this round, sum_i c_i(a_i)", "money per round"),
    Column("mean_utility", "mean owner utility (1/n) sum_i u_i", "money per owner per round"),
    Column("platform_utility", "the platform's utility this round", "money per round"),
    Column("buyer_spend", "what the buyers paid this round", "money per round"),
    Column("buyer_surplus", "sum_b (w_b acc_b - p_b): buyers' value of what they bought (valuation w_b times "
           "accuracy acc_b, 1 where the mechanism reports none) minus what they paid", "money per round"),
    Column("information_rent_total",
           "sum_i r_i with r_i = u_i(a_i, a_-i) - u_i(o_i, a_-i): each owner's utility above its outside "
           "option o_i (participation constraint), from the mechanism's deviation utilities",
           "money per round", "null on rounds not measured (output.measures_every)"),
    Column("information_rent_mean", "(1/n) sum_i r_i, the mean information rent per owner",
           "money per owner per round", "null on rounds not measured or without owners"),
    Column("nash_conv", "sum_i max(0, max_k u_i(x_k, a_-i) - u_i(a_i, a_-i)): the owners' total gain "
           "from their best unilateral deviation over the candidates", "money per round",
           "null on rounds not measured"),
    Column("exploitability", "nash_conv / n: the mean gain from the best unilateral deviation; 0 at a Nash "
           "equilibrium", "money per owner per round", "null on rounds not measured or without owners"),
    Column("free_riding_share", "#{i : a_i < a_i^sa and u_i(a_i, a_-i) > u_i^sa} / n: owners contributing "
           "less than their stand-alone optimum while better off than alone", "fraction",
           "absent unless the mechanism has a shared good (Mechanism.shared_good); null on rounds not measured"),
)

#: Names of the standard columns (``share_<level>`` and ``share_zero`` are patterns, matched by prefix).
STANDARD_NAMES = frozenset(c.name for c in STANDARD_COLUMNS if not c.name.startswith("share_"))


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
                  space: ActionSpace, n_buyers: int, state: dict[str, float],
                  measures: dict[str, float]) -> dict[str, float]:
    """The ``model.parquet`` row of one round (see the module docstring).

    ``measures`` are the deviation-based columns
    (:func:`market.simulation.deviation_measures.deviation_measures`, or NaN on a round
    that is not measured).
    """
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
        "platform_utility": float(outcome.platform_utility),
        "buyer_spend": outcome.buyer_spend,
    })
    row.update(measures)
    for source in (outcome.metrics, state):
        for key, value in source.items():
            if key in STANDARD_NAMES or key.startswith("share_"):
                raise ValueError(f"mechanism metric {key!r} clashes with a standard column")
            row[key] = float(value)
    return row


#: Model columns that are sums or means over owners and buyers: an infinite value (or a NaN sum)
#: means the scenario's magnitudes overflow double precision.
FINITE_COLUMNS = ("total_payments", "total_cost", "information_rent_total", "platform_utility", "buyer_spend",
                  "mean_action", "mean_utility")


def check_finite(row: dict[str, float], round_: int, resolved: Scenario) -> None:
    """Stop a run at the round whose totals overflow, with a one-line error."""
    for key in FINITE_COLUMNS:
        value = row.get(key)
        if value is None:
            continue
        if math.isinf(value) or (math.isnan(value) and not key.startswith("mean_")):
            raise ScenarioError(f"{resolved.source}: round {round_}: {key} is {value} (the scenario's magnitudes "
                                "overflow: check prices, values, sensitivities and drift factors)")
def columns_markdown() -> str:
    """:data:`STANDARD_COLUMNS` as the Markdown table of the README (``| column | definition | unit | absent or null |``)."""
    lines = ["| column | definition | unit | absent or null |", "|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.definition.replace('|', '/')} | {c.unit} | {c.absent} |" for c in STANDARD_COLUMNS]
    return "\n".join(lines)
