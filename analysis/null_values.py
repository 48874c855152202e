"""Why a number of a run's summary is missing: the reasons behind ``null_values``.

A summary never holds an unexplained NaN or infinity.  ``summary.json`` of a run
(:func:`market.runner.strict_json`) and every row of a sweep's summary table
(:mod:`analysis.sweep_tasks`) write a number that is not finite as ``null`` and
list it under ``null_values`` with the reason this module gives
(``docs/measures.md#summaryjson``):

- NaN: the measure is undefined for this run, for the reason :data:`UNDEFINED`
  gives for its key (e.g. the Gini coefficient of utilities that are not all
  non-negative), or a generic one;
- :math:`\\pm\\infty` of a total (:func:`is_total`): the sum of finite values
  lies beyond the float range (about :math:`1.8 \\times 10^{308}`); of any
  other key, the value is infinite by definition (e.g. an error bound where
  nothing was bought);
- ``None`` (in a sweep's summary row): the reason :data:`NONE` gives for its
  key (``settling_round`` of a run that did not settle).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

#: Why a summary number is NaN, by key (the last part of its path).
UNDEFINED: dict[str, str] = {
    "payout_share": "the gross surplus (payments + platform utility) over the run is not positive "
                    "(or cancels to zero at float precision)",
    "final_free_riding_share": "no round measured free-riding",
    "mean_free_riding_share": "no round measured free-riding",
    "final_top1_share": "nobody supplies data in the last recorded round",
    "final_top10_share": "nobody supplies data in the last recorded round",
    "final_p_mean": "the p-mean needs non-negative utilities (positive for p <= 0) in the last recorded round",
    "final_nash": "Nash welfare needs every utility positive in the last recorded round",
    "final_gini": "the Gini coefficient needs non-negative utilities, not all zero, in the last recorded round",
}
#: Why a summary number is None (a null by definition), by key.
NONE: dict[str, str] = {
    "settling_round": "the run did not settle: exploitability is not below equilibrium_tol at its end",
}
#: The reason of a NaN whose key :data:`UNDEFINED` does not list.
UNDEFINED_OTHERWISE = "undefined (no owners, no round measured, or not applicable)"
#: Why a total is infinite.
OVERFLOW = "the total of finite values lies beyond the float range (|x| > 1.8e308)"

_RENT_DECILE = re.compile(r"rent_decile_\d+")
_TOTALS = frozenset({"final_utilitarian", "final_surplus_over_cost"})


def is_total(key: str) -> bool:
    """Whether ``key`` is a sum of finite values (``cum_*``, ``final_utilitarian``, ``final_surplus_over_cost``,
    ``rent_decile_*``), so that an infinity there is an overflow."""
    return key.startswith("cum_") or key in _TOTALS or bool(_RENT_DECILE.fullmatch(key))


def null_reason(key: str, value: float) -> str:
    """Why the number ``value`` at ``key`` (a path such as ``metrics.final_gini``) is not finite.

    Parameters
    ----------
    key : str
        The key or dotted path of the number; its last part names the measure.
    value : float
        A non-finite number (NaN or an infinity).

    Returns
    -------
    str
        ``"NaN: <reason>"`` or ``"+infinity"`` / ``"-infinity"``, with ``": <reason>"`` for a total.
    """
    name = key.rsplit(".", 1)[-1].split("[", 1)[0]
    if math.isnan(value):
        if _RENT_DECILE.fullmatch(name):
            return "NaN: no owner in this sensitivity decile (fewer owners than deciles)"
        return f"NaN: {UNDEFINED.get(name, UNDEFINED_OTHERWISE)}"
    sign = "+" if value > 0 else "-"
    return f"{sign}infinity: {OVERFLOW}" if is_total(name) else f"{sign}infinity"


def null_values(row: Mapping[str, Any]) -> dict[str, str]:
    """Why each number of a summary row is missing, by key.

    Every float of ``row`` that is not finite (:func:`null_reason`) and every ``None`` that
    :data:`NONE` explains (a table cell holds it as null too).
    """
    reasons = {key: null_reason(key, float(value)) for key, value in row.items()
               if isinstance(value, float) and not math.isfinite(value)}
    reasons.update({key: f"None: {NONE[key]}" for key, value in row.items() if value is None and key in NONE})
    return dict(sorted(reasons.items()))
