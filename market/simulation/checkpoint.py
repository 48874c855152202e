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

``sha256.json``
    the digests of the two files, written last.

A checkpoint is written to ``checkpoint.new``, flushed to disk, and then
renamed over ``checkpoint``, so a kill during the write leaves the previous
one intact; a checkpoint whose files do not match their digests (truncated,
bit-flipped, edited) is refused with :class:`CheckpointError`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import shutil
import types
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from market.simulation.run_directory import fault_point, fsync_dir, fsync_file

CHECKPOINT = "checkpoint"
ARRAYS, STATE, DIGESTS = "arrays.npz", "state.json", "sha256.json"
#: Keys every ``state.json`` holds.
STATE_KEYS = ("round", "time", "running", "streams", "model_rng", "random", "platform", "buyers", "next_id", "platform_id",
              "next_arrival", "mechanism", "rule", "row")
#: Marks a saved ``numpy.random.Generator`` (its bit generator's state) in ``state.json``.
GENERATOR = "__numpy_generator__"


class CheckpointError(ValueError):
    """A checkpoint is damaged; the message is one line naming the file."""


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
    """Write a checkpoint atomically into ``out_dir/checkpoint``; return its path.

    The arrays and the state are flushed to disk, then ``sha256.json`` (the digest of both) is
    written last: :func:`read` trusts a checkpoint only when both files match their digests.
    """
    final = out_dir / CHECKPOINT
    new = out_dir / f"{CHECKPOINT}.new"
    old = out_dir / f"{CHECKPOINT}.old"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    np.savez(new / ARRAYS, **arrays)
    fault_point("checkpoint.arrays")
    (new / STATE).write_text(json.dumps(state))
    fault_point("checkpoint.state")
    digests = {name: _digest(new / name) for name in (ARRAYS, STATE)}
    (new / DIGESTS).write_text(json.dumps(digests))
    for name in (ARRAYS, STATE, DIGESTS):
        fsync_file(new / name)
    fsync_dir(new)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    fault_point("checkpoint.swap")
    new.rename(final)
    fsync_dir(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return final


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read(out_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read the latest complete checkpoint of a run directory.

    Raises
    ------
    FileNotFoundError
        If the directory holds no checkpoint.
    CheckpointError
        If the checkpoint is damaged (truncated, edited, not numpy arrays): one line naming the file.
    """
    for name in (CHECKPOINT, f"{CHECKPOINT}.old"):
        folder = out_dir / name
        if all((folder / f).exists() for f in (STATE, ARRAYS, DIGESTS)):
            return _read_folder(folder)
    raise FileNotFoundError(f"{out_dir}: no checkpoint to resume from")


def _read_folder(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        digests = json.loads((folder / DIGESTS).read_text())
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{folder / DIGESTS}: not valid JSON (damaged checkpoint)") from None
    for name in (ARRAYS, STATE):
        if not isinstance(digests, dict) or digests.get(name) != _digest(folder / name):
            raise CheckpointError(f"{folder / name}: sha256: does not match the checkpoint's digest "
                                  "(damaged or edited checkpoint)")
    try:
        state = json.loads((folder / STATE).read_text())
        with np.load(folder / ARRAYS, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{folder}: cannot read the checkpoint ({exc})") from None
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{folder / STATE}: {missing[0]}: missing (damaged checkpoint)")
    return state, arrays


def remove(out_dir: Path) -> None:
    """Delete the checkpoints of a finished run."""
    for name in (CHECKPOINT, f"{CHECKPOINT}.new", f"{CHECKPOINT}.old"):
        shutil.rmtree(out_dir / name, ignore_errors=True)
