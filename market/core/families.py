"""The named value functions (paper 001) and payoff families (paper 003) a scenario may select.

Both tables are filled here, by explicit lines, so that ``make_value("empirical_digits", ...)`` works after
importing this module alone.  The simulator's other names (mechanisms, decision rules) are in
:mod:`market.registry`, which re-exports these.  They live in the core rather than the registry because
the mechanisms of papers 001 and 003 build their value function or payoff from a name in their parameters,
and mechanisms sit below the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from market.theory.contribution_game.payoffs import (
    ExponentialSaturation,
    GeneralizationBound,
    LinearDiscovery,
    Logarithmic,
    Payoff,
    PowerLaw,
    RampCycle,
    RandomCoverage,
)
from market.theory.data_contribution.value_functions import (
    ErmBoundValue,
    PowerLawValue,
    SqrtValue,
    ValueFunction,
)
from market.theory.learning.value_curves import EmpiricalPayoff, empirical_value_class

#: Value functions of paper 001 by name (``docs/models/data_contribution.md``); the empirical ones are
#: measured on a learning task (:mod:`market.theory.learning.value_curves`).
VALUE_FUNCTIONS: dict[str, type[ValueFunction]] = {
    "sqrt": SqrtValue,
    "erm_bound": ErmBoundValue,
    "power_law": PowerLawValue,
    "empirical_digits": empirical_value_class("digits"),
    "empirical_breast_cancer": empirical_value_class("breast_cancer"),
}

#: Payoff families of paper 003 by name (Section 2.1, Theorem A.2; ``docs/models/contribution_game.md``).
PAYOFFS: dict[str, type[Payoff]] = {
    "linear": LinearDiscovery,
    "random_coverage": RandomCoverage,
    "generalization_bound": GeneralizationBound,
    "power_law": PowerLaw,
    "exponential": ExponentialSaturation,
    "logarithmic": Logarithmic,
    "ramp_cycle": RampCycle,
    "empirical": EmpiricalPayoff,
}


def make_value(name: str, a: float, k: float, alpha: float = 0.95) -> ValueFunction:
    """Build a value function by name.

    Parameters
    ----------
    name : str
        A key of :data:`VALUE_FUNCTIONS` (``"sqrt"``, ``"erm_bound"``, ``"power_law"``,
        ``"empirical_<dataset>"``; see :mod:`market.theory.data_contribution.value_functions`).
    a : float
        Optimal value ``a_opt`` (value of a fully trained model; per unit of accuracy above chance
        for the empirical curves).
    k : float
        Difficulty (``sqrt``, ``erm_bound``), loss scale (``power_law``) or examples per unit of
        data (empirical curves).
    alpha : float
        Exponent of ``power_law`` (ignored otherwise).

    Raises
    ------
    ValueError
        On an unknown name.
    """
    if name not in VALUE_FUNCTIONS:
        raise ValueError(f"value: unknown value function {name!r}; choose from {sorted(VALUE_FUNCTIONS)}")
    if name == "power_law":
        return PowerLawValue(a, k, alpha)
    return VALUE_FUNCTIONS[name](a, k)


def make_payoff(name: str, n: int, params: Mapping[str, Any] | None = None) -> Payoff:
    """Build a payoff family by name.

    Parameters
    ----------
    name : str
        A key of :data:`PAYOFFS`.
    n : int
        Number of owners.
    params : mapping, optional
        Keyword parameters of the family (scalars or one value per owner).

    Raises
    ------
    ValueError
        On an unknown family or an unknown / invalid parameter.
    """
    if name not in PAYOFFS:
        raise ValueError(f"payoff: unknown family {name!r}; choose one of {sorted(PAYOFFS)}")
    try:
        return PAYOFFS[name](n, **dict(params or {}))
    except TypeError as exc:
        raise ValueError(f"payoff_params: {exc}") from None
