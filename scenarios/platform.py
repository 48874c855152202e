"""The ``[platform]`` scenario table: validation, candidates, and building the learner.

.. code-block:: toml

    [platform]
    learn = "mechanism.price.2"      # or a list of keys, learnt jointly (a menu)
    grid = [0.2, 0.4, 0.6, 0.8]      # candidates (a list of lists for several keys) ...
    # low = 0.0                      # ... or a range, for algorithm = "zeroth_order"
    # high = 1.5
    algorithm = "ucb1"               # exp3 | ucb1 | thompson | epsilon_greedy | zeroth_order
    exploration = 1.0                # the algorithm's own parameters
    update_every = 1                 # rounds per posted parameter (owners settle in between)
    regret = true                    # run the fixed-parameter markets and record the regret
    regret_points = 11               # candidates per dimension of a range, for the regret

Without the table the platform posts the scenario's parameters throughout.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from market.core.mechanism import Mechanism
from market.registry import PLATFORM_LEARNERS as LEARNERS
from market.rules.platform.controller import PlatformLearning
from market.rules.platform.learner import ContinuousLearner, PlatformLearner
from market.rules.platform.parameters import ParameterKey, parse_key, post

#: Keys of the ``[platform]`` table besides the algorithm's parameters, with their defaults.
PLATFORM_KEYS: dict[str, Any] = {"learn": None, "algorithm": "ucb1", "grid": None, "low": None, "high": None,
                                 "update_every": 1, "regret": True, "regret_points": 11}


def keys_of(table: dict[str, Any], mechanism: Mechanism) -> list[ParameterKey]:
    """The parsed learnt keys of a validated table."""
    learn = table["learn"]
    return [parse_key(k, mechanism) for k in ([learn] if isinstance(learn, str) else learn)]


def check_values(table: dict[str, Any], mechanism: Mechanism) -> None:
    """Check ``learn``, ``grid`` / ``low``-``high`` against the mechanism; raise ``ValueError("key: problem")``.

    Every candidate (every grid row, both ends of a range) is posted on a copy
    of the mechanism, so a value the mechanism rejects is reported here.
    """
    learn = table["learn"]
    if learn is None:
        raise ValueError("learn: missing (the mechanism parameter to learn, e.g. \"mechanism.price.2\")")
    if not isinstance(learn, str) and not (isinstance(learn, list) and learn and all(isinstance(k, str) for k in learn)):
        raise ValueError(f"learn: expected a key or a non-empty list of keys, got {learn!r}")
    try:
        keys = keys_of(table, mechanism)
    except ValueError as exc:
        raise ValueError(f"learn: {exc}") from None
    if len({(k.field, k.index) for k in keys}) < len(keys):
        raise ValueError("learn: a key is listed twice")
    continuous = LEARNERS[table["algorithm"]].continuous
    has_grid, has_range = table["grid"] is not None, table["low"] is not None or table["high"] is not None
    if continuous and (has_grid or not has_range):
        raise ValueError(f"low: algorithm {table['algorithm']!r} learns over a range: give low and high, not grid")
    if not continuous and (has_range or not has_grid):
        raise ValueError(f"grid: algorithm {table['algorithm']!r} learns over a grid: give grid, not low/high")
    d = len(keys)
    if continuous:
        low, high = (_vector(table[k], d, k) for k in ("low", "high"))
        if np.any(low >= high):
            raise ValueError(f"high: must exceed low in every dimension ({low.tolist()} / {high.tolist()})")
        candidates = np.stack([low, high])
    else:
        candidates = _grid(table["grid"], d)
    probe = type(mechanism)(mechanism.params)
    where = "low" if continuous else "grid"
    for row in candidates:
        try:
            post(keys, row, probe)
        except ValueError as exc:
            raise ValueError(f"{where}: {row.tolist()} is not a valid value of {', '.join(k.key for k in keys)} "
                             f"({exc})") from None


def _vector(value: Any, d: int, key: str) -> np.ndarray:
    values = [value] if d == 1 and not isinstance(value, list) else value
    if not isinstance(values, list) or len(values) != d or not all(_is_number(v) for v in values):
        raise ValueError(f"{key}: expected {'a number' if d == 1 else f'a list of {d} numbers'}, got {value!r}")
    return np.array(values, dtype=float)


def _grid(value: Any, d: int) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise ValueError(f"grid: expected a non-empty list of candidates, got {value!r}")
    rows = [_vector(v, d, "grid") for v in value]
    grid = np.stack(rows)
    if len({tuple(r) for r in grid.tolist()}) < len(rows):
        raise ValueError("grid: a candidate is listed twice")
    return grid


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and bool(np.isfinite(v))


def candidates(table: dict[str, Any], mechanism: Mechanism) -> np.ndarray:
    """The candidate parameter vectors ``(K, d)`` of the regret and the first-best.

    The grid itself, or for a range the product of ``regret_points`` evenly
    spaced values per dimension.
    """
    d = len(keys_of(table, mechanism))
    if table["grid"] is not None:
        return _grid(table["grid"], d)
    low, high = _vector(table["low"], d, "low"), _vector(table["high"], d, "high")
    axes = [np.linspace(lo, hi, int(table["regret_points"])) for lo, hi in zip(low, high)]
    return np.array(list(itertools.product(*axes)), dtype=float)


def learner_params(table: dict[str, Any]) -> dict[str, Any]:
    """The algorithm's own parameters in a resolved table."""
    return {k: v for k, v in table.items() if k not in PLATFORM_KEYS}


def build(table: dict[str, Any], params: object, mechanism: Mechanism) -> tuple[PlatformLearner, PlatformLearning]:
    """A fresh learner (set up on its candidates) and controller for a validated table."""
    learner = LEARNERS[table["algorithm"]](params)
    keys = keys_of(table, mechanism)
    if isinstance(learner, ContinuousLearner):
        d = len(keys)
        learner.setup(_vector(table["low"], d, "low"), _vector(table["high"], d, "high"))
    else:
        learner.setup(_grid(table["grid"], len(keys)))
    return learner, PlatformLearning(keys, int(table["update_every"]), mechanism)
