"""Owner state as numpy arrays, and the generators that fill them.

The population of data owners lives in one :class:`OwnerArrays`: a
struct of arrays, one row per *active* owner, kept dense (rows of departed
owners are removed).  Every per-round computation runs on these arrays; the
Mesa ``DataOwner`` agents are views that find their row through
``OwnerArrays.row_of``.

Owner attributes drawn at creation come from named distributions
(:data:`DISTRIBUTIONS`) or from a mixture of owner *types*; see
:func:`sample_owners`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

#: Per-round state columns every owner has (besides its attributes).
STATE_COLUMNS = ("action", "payment", "cost", "utility")
#: Attributes every owner has.
CORE_ATTRIBUTES = ("sensitivity", "data_size")
#: The per-owner arrays of :class:`OwnerArrays` besides the mechanism's extra attributes.
ARRAY_COLUMNS = ("ids", "sensitivity", "data_size", "action", "payment", "cost", "utility", "joined")


def _constant(rng: np.random.Generator, n: int, value: float) -> np.ndarray:
    return np.full(n, float(value))


def _choice(
    rng: np.random.Generator, n: int, values: list[float], p: list[float] | None = None
) -> np.ndarray:
    return rng.choice(np.asarray(values, dtype=float), size=n, p=p)


@lru_cache(maxsize=32)
def empirical_values(file: str, column: str) -> np.ndarray:
    """The values of one numeric column of a CSV file (read once per file and column).

    Raises
    ------
    ValueError
        If the file or column is missing, or the column holds non-numeric,
        non-finite or no values.
    """
    try:
        frame = pd.read_csv(file)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"cannot read CSV file {file!r} ({exc})") from None
    if column not in frame.columns:
        raise ValueError(f"column {column!r} not in {file!r} (columns: {', '.join(map(str, frame.columns))})")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"column {column!r} of {file!r} must hold finite numbers only")
    values.setflags(write=False)
    return values


def _empirical(rng: np.random.Generator, n: int, file: str, column: str) -> np.ndarray:
    """Resample (with replacement) the values of a CSV column: the empirical distribution."""
    return rng.choice(empirical_values(str(file), str(column)), size=n)


#: Named distributions for owner attributes: ``{"dist": name, **params}`` in a scenario.
DISTRIBUTIONS: dict[str, tuple[Callable[..., np.ndarray], tuple[str, ...]]] = {
    "constant": (_constant, ("value",)),
    "uniform": (lambda rng, n, low, high: rng.uniform(low, high, n), ("low", "high")),
    "normal": (lambda rng, n, mean, sd: rng.normal(mean, sd, n), ("mean", "sd")),
    "lognormal": (lambda rng, n, mean, sigma: rng.lognormal(mean, sigma, n), ("mean", "sigma")),
    "exponential": (lambda rng, n, scale: rng.exponential(scale, n), ("scale",)),
    "pareto": (lambda rng, n, shape, scale: scale * (1.0 + rng.pareto(shape, n)), ("shape", "scale")),
    "beta": (lambda rng, n, a, b: rng.beta(a, b, n), ("a", "b")),
    "choice": (_choice, ("values", "p")),
    "empirical": (_empirical, ("file", "column")),
}
#: Parameters a distribution may omit.
OPTIONAL_DIST_PARAMS = {"choice": ("p",)}


def draw(spec: float | Mapping[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` values from a scalar or a named-distribution spec.

    Parameters
    ----------
    spec : float or mapping
        A number (every owner gets it) or ``{"dist": name, **params}`` with a
        name from :data:`DISTRIBUTIONS`.
    n : int
        How many values.
    rng : numpy.random.Generator
        Source of randomness.
    """
    if not isinstance(spec, Mapping):
        return np.full(n, float(spec))
    func, _ = DISTRIBUTIONS[spec["dist"]]
    params = {k: v for k, v in spec.items() if k != "dist"}
    return np.asarray(func(rng, n, **params), dtype=float)


@dataclass
class OwnerArrays:
    """Dense per-owner arrays for the active owners.

    Attributes
    ----------
    ids : numpy.ndarray of int64
        Mesa ``unique_id`` of the owner in each row.
    sensitivity, data_size : numpy.ndarray
        Privacy sensitivity (the weight of the privacy cost) and data size.
    action, payment, cost, utility : numpy.ndarray
        The current action and the last round's payment, privacy cost and utility.
    joined : numpy.ndarray of int64
        Round in which the owner joined (0 for the initial population).
    extra : dict of str to numpy.ndarray
        Mechanism-specific attributes (e.g. importance ``a_i``).
    row_of : numpy.ndarray of int64
        ``row_of[unique_id]`` is the owner's row, or -1 once it has left.
    """

    ids: np.ndarray
    sensitivity: np.ndarray
    data_size: np.ndarray
    action: np.ndarray
    payment: np.ndarray
    cost: np.ndarray
    utility: np.ndarray
    joined: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    row_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def empty(cls, extra_names: tuple[str, ...] = ()) -> OwnerArrays:
        """An empty population with the given extra attribute names."""
        f = lambda: np.zeros(0)  # noqa: E731
        return cls(
            ids=np.zeros(0, dtype=np.int64),
            sensitivity=f(), data_size=f(), action=f(), payment=f(), cost=f(), utility=f(),
            joined=np.zeros(0, dtype=np.int64),
            extra={name: f() for name in extra_names},
        )

    def __len__(self) -> int:
        return int(self.ids.size)

    def columns(self) -> dict[str, np.ndarray]:
        """Every per-owner array by name (core, state and extra)."""
        cols = {name: getattr(self, name) for name in ARRAY_COLUMNS}
        cols.update(self.extra)
        return cols

    def _set_columns(self, cols: dict[str, np.ndarray]) -> None:
        for name in ARRAY_COLUMNS:
            setattr(self, name, cols[name])
        self.extra = {k: cols[k] for k in self.extra}

    def append(self, ids: np.ndarray, attributes: Mapping[str, np.ndarray],
               action: np.ndarray, joined: int) -> np.ndarray:
        """Add owners; return their new rows.

        ``attributes`` must hold ``sensitivity``, ``data_size`` and every
        extra attribute.  Each column is a prefix view of a buffer with spare
        capacity (grown geometrically), so the few owners who join in a round
        are written in place instead of copying every column.
        """
        n_new = ids.size
        new = {
            "ids": ids, "sensitivity": attributes["sensitivity"], "data_size": attributes["data_size"],
            "action": action, "payment": 0.0, "cost": 0.0, "utility": 0.0, "joined": joined,
        }
        new.update({k: attributes[k] for k in self.extra})
        start = len(self)
        self._set_columns({k: _extended(v, new[k], start, n_new) for k, v in self.columns().items()})
        top = int(ids.max(initial=0)) + 1
        if top > self.row_of.size:
            grown = np.full(max(top, 2 * self.row_of.size), -1, dtype=np.int64)
            grown[: self.row_of.size] = self.row_of
            self.row_of = grown
        rows = np.arange(start, start + n_new)
        self.row_of[ids] = rows
        return rows

    def remove(self, rows: np.ndarray) -> np.ndarray:
        """Remove the owners in ``rows``; return their unique ids."""
        gone = self.ids[rows]
        keep = np.ones(len(self), dtype=bool)
        keep[rows] = False
        kept = np.flatnonzero(keep)
        m = kept.size
        for name, column in self.columns().items():  # one column at a time: no second copy of the population
            buffer = np.empty(_capacity(m), dtype=column.dtype)
            np.take(column, kept, out=buffer[:m], mode="clip")  # "clip": unbuffered (kept is in range)
            if name in self.extra:
                self.extra[name] = buffer[:m]
            else:
                setattr(self, name, buffer[:m])
        self.row_of[gone] = -1
        self.row_of[self.ids] = np.arange(len(self))
        return gone


def _capacity(rows: int) -> int:
    """Buffer length for ``rows`` owners: an eighth more, room for many rounds of joining owners."""
    return rows + rows // 8 + 16


def _extended(column: np.ndarray, values: np.ndarray | float, n: int, n_new: int) -> np.ndarray:
    """``column`` (``n`` rows) followed by ``n_new`` rows of ``values``, in its buffer's spare capacity if it has some.

    ``column`` is reused when it is the prefix of a buffer (``column.base``)
    with room for the new rows; otherwise the rows move to a new buffer of
    length :func:`_capacity`.
    """
    base = column.base
    if (isinstance(base, np.ndarray) and base.ndim == 1 and base.dtype == column.dtype
            and base.size >= n + n_new and column.size == n and base.ctypes.data == column.ctypes.data):
        base[n:n + n_new] = values
        return base[:n + n_new]
    buffer = np.empty(_capacity(n + n_new), dtype=column.dtype)
    buffer[:n] = column
    buffer[n:n + n_new] = values
    return buffer[:n + n_new]


def sample_owners(
    types: list[Mapping[str, Any]], n: int, rng: np.random.Generator, attribute_names: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draw ``n`` owners from a mixture of owner types.

    Parameters
    ----------
    types : list of mapping
        Each type has a ``share`` (probability; the shares sum to 1) and a
        spec (number or distribution) for every attribute.
    n : int
        Number of owners to draw.
    rng : numpy.random.Generator
        Source of randomness.
    attribute_names : tuple of str
        Attributes to draw; a type that omits one gets 0 for it.

    Returns
    -------
    attributes : dict of str to numpy.ndarray
        The drawn attributes.
    type_index : numpy.ndarray of int64
        The type each owner was drawn from.

    Notes
    -----
    A type with ``correlation = rho`` couples ``sensitivity`` and
    ``data_size`` through a Gaussian copula (see :func:`couple`): the
    marginals are the type's distributions and the rank correlation is
    :math:`(6/\\pi) \\arcsin(\\rho/2)` -- the data-correlated sensitivity that
    the first paper leaves open.
    """
    shares = np.array([t["share"] for t in types], dtype=float)
    type_index = rng.choice(len(types), size=n, p=shares / shares.sum()) if len(types) > 1 \
        else np.zeros(n, dtype=np.int64)
    attributes = {name: np.zeros(n) for name in attribute_names}
    for k, spec in enumerate(types):
        members = np.flatnonzero(type_index == k)
        for name in attribute_names:
            if name in spec:
                attributes[name][members] = draw(spec[name], members.size, rng)
        if spec.get("correlation", 0.0) != 0.0 and members.size > 1:
            attributes["sensitivity"][members], attributes["data_size"][members] = couple(
                attributes["sensitivity"][members], attributes["data_size"][members],
                float(spec["correlation"]), rng)
    return attributes, type_index.astype(np.int64)


def couple(x: np.ndarray, y: np.ndarray, rho: float,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Reorder two samples so they follow a Gaussian copula with correlation ``rho``.

    Draws :math:`(z_1, z_2)` standard bivariate normal with correlation
    :math:`\\rho` and gives the *r*-th smallest ``x`` (``y``) to the owner
    with the *r*-th smallest :math:`z_1` (:math:`z_2`).  The marginals are
    exactly the given samples; the Spearman rank correlation is that of the
    copula, :math:`\\rho_S = (6/\\pi) \\arcsin(\\rho/2)` (Kruskal 1958,
    *J. Am. Stat. Assoc.* 53), up to sampling error.
    """
    z1 = rng.standard_normal(x.size)
    z2 = rho * z1 + np.sqrt(1.0 - rho * rho) * rng.standard_normal(x.size)
    rank1 = np.argsort(np.argsort(z1))
    rank2 = np.argsort(np.argsort(z2))
    return np.sort(x)[rank1], np.sort(y)[rank2]


#: ``[drift]`` keys and their defaults: no drift.
DRIFT_KEYS: dict[str, Any] = {"random_walk_sd": 0.0, "schedule": []}


def drift(sensitivity: np.ndarray, round_number: int, spec: Mapping[str, Any],
          rng: np.random.Generator) -> np.ndarray:
    """Owners' sensitivities at the start of round ``round_number`` after drift.

    Parameters
    ----------
    sensitivity : numpy.ndarray
        Current sensitivities.
    round_number : int
        The round about to be played.
    spec : mapping
        The ``[drift]`` table: ``schedule``, a list of ``[round, factor]``
        pairs (at the start of that round every sensitivity is multiplied by
        ``factor``: a regime shift), and ``random_walk_sd`` :math:`\\sigma`,
        an independent Gaussian step per owner and round reflected at 0,
        :math:`c_i \\leftarrow |c_i + \\sigma \\xi_i|`,
        :math:`\\xi_i \\sim N(0, 1)`.
    rng : numpy.random.Generator
        Source of the random-walk steps (not used when :math:`\\sigma = 0`).
    """
    out = sensitivity
    for at, factor in spec.get("schedule", []):
        if int(at) == round_number:
            out = out * float(factor)
    sd = float(spec.get("random_walk_sd", 0.0))
    if sd > 0:
        out = np.abs(out + sd * rng.standard_normal(out.size))
    return out
