"""Which mechanism parameters a learning platform controls, and how it posts them.

A key names a numeric mechanism parameter, ``mechanism.<field>`` (a number
such as ``sale_price``), or one element of a list parameter,
``mechanism.<field>.<index>`` (``mechanism.price.2``: the price of privacy
level 2).  Several keys are learnt jointly, as one menu.  Values are posted
only through :meth:`~market.core.mechanism.Mechanism.set_params`, which
re-validates the mechanism, so a learnt value is always a valid one.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np

from market.core.mechanism import Mechanism

KEY = re.compile(r"^mechanism\.([A-Za-z_][A-Za-z0-9_]*)(?:\.(\d+))?$")


@dataclass(frozen=True)
class ParameterKey:
    """One learnt mechanism parameter: a field and, for a list field, an element.

    Attributes
    ----------
    key : str
        As written in the scenario (``mechanism.price.2``).
    field : str
        The mechanism's parameter name (``price``).
    index : int or None
        The list element, or None for a scalar parameter.
    """

    key: str
    field: str
    index: int | None

    @property
    def column(self) -> str:
        """Its ``model.parquet`` column, ``platform_param_<field>[_<index>]``."""
        return f"platform_param_{self.field}" + ("" if self.index is None else f"_{self.index}")


def parse_key(key: str, mechanism: Mechanism) -> ParameterKey:
    """Parse and check a learnt key against the mechanism's parameters.

    Raises
    ------
    ValueError
        If the key is malformed, names no numeric parameter of the mechanism,
        or indexes past the end of a list parameter.
    """
    match = KEY.match(key) if isinstance(key, str) else None
    if match is None:
        raise ValueError(f"expected 'mechanism.<parameter>' or 'mechanism.<parameter>.<index>', got {key!r}")
    name, index = match.group(1), match.group(2)
    fields = {f.name for f in dataclasses.fields(mechanism.params)}
    if name not in fields:
        raise ValueError(f"{key!r}: {mechanism.name} has no parameter {name!r} (known: {', '.join(sorted(fields))})")
    value = getattr(mechanism.params, name)
    if isinstance(value, tuple):
        if index is None:
            raise ValueError(f"{key!r}: {name} is a list; name one element, e.g. mechanism.{name}.0")
        if int(index) >= len(value):
            raise ValueError(f"{key!r}: {name} has {len(value)} elements")
        value = value[int(index)]
    elif index is not None:
        raise ValueError(f"{key!r}: {name} is not a list")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key!r}: {name} is not numeric")
    return ParameterKey(key, name, None if index is None else int(index))


def current_values(keys: list[ParameterKey], mechanism: Mechanism) -> np.ndarray:
    """The mechanism's present values of the keys, shape ``(d,)``."""
    out = []
    for k in keys:
        value = getattr(mechanism.params, k.field)
        out.append(float(value if k.index is None else value[k.index]))
    return np.array(out)


def changes(keys: list[ParameterKey], values: np.ndarray, mechanism: Mechanism) -> dict[str, object]:
    """The ``set_params`` keyword arguments that post ``values`` for ``keys``."""
    out: dict[str, object] = {}
    for k, v in zip(keys, values):
        current = out.get(k.field, getattr(mechanism.params, k.field))
        if k.index is None:
            out[k.field] = type(current)(v) if isinstance(current, int) and float(v).is_integer() else float(v)
        else:
            seq = list(current)
            seq[k.index] = float(v)
            out[k.field] = tuple(seq)
    return out


def post(keys: list[ParameterKey], values: np.ndarray, mechanism: Mechanism) -> None:
    """Set the mechanism's parameters ``keys`` to ``values`` (re-validating it)."""
    mechanism.set_params(**changes(keys, values, mechanism))
