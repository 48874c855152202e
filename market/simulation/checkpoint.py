"""Checkpoints: the full state of a running model as numpy arrays and JSON (no pickle).

A checkpoint is a directory ``DIR/checkpoint/`` with

``state.json``
    round, simulated time, random-stream states, the next agent id, the
    platform's books, the buyers, the pending buyer arrival, and the scalar
    state of the mechanism and the decision rule;
``arrays.npz``
    the owner arrays and the array state of the mechanism and the rule
    (saved with ``allow_pickle=False``).

Mechanisms and rules are saved generically: every instance attribute that
differs from a freshly built object with the same parameters (the state the
run has changed: a payout share, learning weights, a random stream) is
stored, as a numpy array, JSON data or a generator's state, and restored onto
a fresh object.  A changed attribute of
any other type is an error, so a mechanism is never checkpointed silently
incompletely.

A checkpoint is written to ``checkpoint.new`` and then renamed over
``checkpoint``, so a kill during the write leaves the previous one intact.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import types
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT = "checkpoint"
#: Marks a saved ``numpy.random.Generator`` (its bit generator's state) in ``state.json``.
GENERATOR = "__numpy_generator__"


def object_state(obj: Any, fresh: Any, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The attributes of ``obj`` that differ from a freshly built ``fresh``, split into JSON and arrays.

    Attributes derived from the parameters (equal in ``obj`` and ``fresh``)
    are not saved: restoring onto a fresh object rebuilds them.

    Raises
    ------
    TypeError
        If a changed attribute is neither an array nor JSON data.
    """
    scalars, arrays = {}, {}
    reference = vars(fresh)
    for name, value in vars(obj).items():
        if name in reference and _same(value, reference[name]):
            continue
        if isinstance(value, np.ndarray):
            arrays[f"{prefix}.{name}"] = value
        elif isinstance(value, np.random.Generator):
            scalars[name] = {GENERATOR: value.bit_generator.state}
        elif _is_json(value):
            scalars[name] = value.item() if isinstance(value, np.generic) else value
        else:
            raise TypeError(f"cannot checkpoint {type(obj).__name__}.{name} of type {type(value).__name__}")
    return scalars, arrays


def _same(a: Any, b: Any) -> bool:
    """Deep equality that understands numpy arrays and dataclass-like objects."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape \
            and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial)):
        return a == b
    if type(a) is type(b) and hasattr(a, "__dict__"):
        return _same(vars(a), vars(b))
    if type(a) is type(b) and dataclasses.is_dataclass(a):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def restore_object(obj: Any, prefix: str, scalars: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Set the attributes saved by :func:`object_state` on a fresh object."""
    for name, value in scalars.items():
        current = getattr(obj, name, None)
        if isinstance(value, dict) and GENERATOR in value:
            generator = np.random.default_rng()
            generator.bit_generator.state = value[GENERATOR]
            setattr(obj, name, generator)
        else:
            setattr(obj, name, tuple(value) if isinstance(current, tuple) else value)
    start = len(prefix) + 1
    for key, value in arrays.items():
        if key.startswith(prefix + "."):
            setattr(obj, key[start:], value)


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def write(out_dir: Path, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write a checkpoint atomically into ``out_dir/checkpoint``; return its path."""
    final = out_dir / CHECKPOINT
    new = out_dir / f"{CHECKPOINT}.new"
    old = out_dir / f"{CHECKPOINT}.old"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    np.savez(new / "arrays.npz", **arrays)
    (new / "state.json").write_text(json.dumps(state))
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def read(out_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read the latest complete checkpoint of a run directory.

    Raises
    ------
    FileNotFoundError
        If the directory holds no checkpoint.
    """
    for name in (CHECKPOINT, f"{CHECKPOINT}.old"):
        folder = out_dir / name
        if (folder / "state.json").exists() and (folder / "arrays.npz").exists():
            state = json.loads((folder / "state.json").read_text())
            with np.load(folder / "arrays.npz", allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            return state, arrays
    raise FileNotFoundError(f"{out_dir}: no checkpoint to resume from")


def remove(out_dir: Path) -> None:
    """Delete the checkpoints of a finished run."""
    for name in (CHECKPOINT, f"{CHECKPOINT}.new", f"{CHECKPOINT}.old"):
        shutil.rmtree(out_dir / name, ignore_errors=True)
