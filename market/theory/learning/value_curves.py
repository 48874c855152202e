"""Empirical value curves v(m): test accuracy against the amount of training data.

Papers 001 and 003 value a model by a formula of its training-set size
(:mod:`market.theory.data_contribution.value_functions`, :mod:`market.theory.contribution_game.payoffs`).  This module measures that curve
on a real task (:mod:`market.theory.learning.task`): for every size :math:`m` of a
grid, ``repeats`` random training subsets of size :math:`m` are drawn, a
model is fitted centrally (:func:`market.theory.learning.task.fit_centralized`), and
its test accuracy recorded.  The mean curve is

1. made **monotone** by isotonic regression
   (:class:`sklearn.isotonic.IsotonicRegression`, increasing), and then
2. made **concave** by the least concave majorant (the upper convex hull)
   of the monotone points, with the point :math:`(0, a_0)` where
   :math:`a_0` is the accuracy of guessing the majority class.

The majorant of a non-decreasing sequence is non-decreasing, so the result
is monotone and concave, as the mechanisms of papers 001 and 003 need; the
size of each correction (largest and root-mean-square change of the mean
curve) is reported by :meth:`ValueCurve.correction`.  Between grid points the
curve is piecewise linear, beyond the grid it is flat.

Curves are cached on disk per data set, model, seed and settings (``.npz``
files in ``$PRIVMARKET_CACHE_DIR``, else ``$XDG_CACHE_HOME/privmarket``,
else ``~/.cache/privmarket``; or an explicit directory).

Two adapters plug a curve into the market:

* :class:`EmpiricalValue`, a :class:`market.theory.data_contribution.value_functions.ValueFunction` for the
  data-amount mechanisms of paper 001, named in
  :data:`market.core.families.VALUE_FUNCTIONS` as ``empirical_digits`` and
  ``empirical_breast_cancer`` (``make_value(name, a, k)``: ``a`` value per
  unit of accuracy above chance, ``k`` examples per unit of ``m``);
* :class:`EmpiricalPayoff`, an aggregate payoff of paper 003 named in
  :data:`market.core.families.PAYOFFS` as ``empirical``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from market.theory.contribution_game.payoffs import AggregatePayoff
from market.theory.data_contribution.value_functions import ValueFunction
from market.theory.learning.task import DATASETS, fit_centralized, load_dataset, make_classifier

#: Version of the estimation procedure (part of the cache key).
CACHE_VERSION = 1
#: Curves already read or estimated in this process (the payoff is rebuilt every round).
_MEMO: dict[tuple, ValueCurve] = {}


def default_cache_dir() -> Path:
    """``$PRIVMARKET_CACHE_DIR``, else ``$XDG_CACHE_HOME/privmarket``, else ``~/.cache/privmarket``."""
    if os.environ.get("PRIVMARKET_CACHE_DIR"):
        return Path(os.environ["PRIVMARKET_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "privmarket"


def least_concave_majorant(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Values at ``x`` of the least concave majorant of the points ``(x, y)``.

    The upper hull of the points (Andrew's monotone chain, ``x`` strictly
    increasing), interpolated linearly back onto ``x``.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or np.any(np.diff(x) <= 0):
        raise ValueError("x: needs strictly increasing abscissae, one per value")
    hull: list[int] = []
    for j in range(x.size):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # drop b if it lies on or below the chord from a to j
            if (y[b] - y[a]) * (x[j] - x[a]) <= (y[j] - y[a]) * (x[b] - x[a]):
                hull.pop()
            else:
                break
        hull.append(j)
    return np.interp(x, x[hull], y[hull])


@dataclass(frozen=True)
class ValueCurve:
    """An estimated accuracy curve and its monotone, concave correction.

    Attributes
    ----------
    dataset : str
        Data set name.
    sizes : numpy.ndarray
        Training-set sizes :math:`m` of the grid (increasing, positive).
    accuracy : numpy.ndarray, shape (repeats, len(sizes))
        Test accuracy of every repetition.
    chance : float
        Accuracy with no data (majority class), the curve's value at 0.
    """

    dataset: str
    sizes: np.ndarray
    accuracy: np.ndarray
    chance: float

    @property
    def knots(self) -> np.ndarray:
        """Abscissae of the corrected curve: 0 and the grid."""
        return np.concatenate([[0.0], self.sizes])

    @property
    def mean(self) -> np.ndarray:
        """Mean accuracy over repetitions, at :attr:`knots` (``chance`` at 0)."""
        return np.concatenate([[self.chance], self.accuracy.mean(axis=0)])

    @property
    def monotone(self) -> np.ndarray:
        """Isotonic (non-decreasing) fit of :attr:`mean`."""
        from sklearn.isotonic import IsotonicRegression  # lazy: heavy, learning task only

        return IsotonicRegression(increasing=True).fit_transform(self.knots, self.mean)

    @property
    def corrected(self) -> np.ndarray:
        """Least concave majorant of :attr:`monotone`: monotone and concave."""
        return least_concave_majorant(self.knots, self.monotone)

    def correction(self) -> dict[str, float]:
        """How far each correction moved the mean curve.

        Returns
        -------
        dict
            ``monotone_max`` / ``concave_max``: largest absolute change made by
            the isotonic fit / by the concave majorant; ``total_max`` and
            ``total_rms``: largest and root-mean-square change of the final
            curve against the raw mean; ``noise_sd``: mean standard error of
            the raw mean (the corrections should be of this order).
        """
        mean, mono, conc = self.mean, self.monotone, self.corrected
        reps = self.accuracy.shape[0]
        se = self.accuracy.std(axis=0, ddof=1) / np.sqrt(reps) if reps > 1 else np.zeros(self.sizes.size)
        return {
            "monotone_max": float(np.max(np.abs(mono - mean))),
            "concave_max": float(np.max(np.abs(conc - mono))),
            "total_max": float(np.max(np.abs(conc - mean))),
            "total_rms": float(np.sqrt(np.mean((conc - mean) ** 2))),
            "noise_sd": float(se.mean()),
        }

    def summary(self) -> dict[str, Any]:
        """The curve as JSON data: knots, raw mean, corrected values and :meth:`correction`."""
        return {"dataset": self.dataset, "repeats": int(self.accuracy.shape[0]),
                "sizes": self.knots.tolist(), "mean_accuracy": self.mean.tolist(),
                "corrected_accuracy": self.corrected.tolist(), "correction": self.correction()}

    def __call__(self, m: np.ndarray | float) -> np.ndarray:
        """Corrected accuracy at ``m`` examples (linear between knots, flat beyond the grid)."""
        return np.interp(np.asarray(m, dtype=float), self.knots, self.corrected)

    @property
    def slopes(self) -> np.ndarray:
        """Slope of each linear piece of the corrected curve (non-increasing, non-negative)."""
        return np.diff(self.corrected) / np.diff(self.knots)

    def slope(self, m: np.ndarray | float) -> np.ndarray:
        """Right derivative of the corrected curve at ``m`` (0 beyond the grid)."""
        m = np.asarray(m, dtype=float)
        piece = np.searchsorted(self.knots, m, side="right") - 1
        ext = np.concatenate([self.slopes, [0.0]])
        return ext[np.clip(piece, 0, ext.size - 1)]


def estimate_value_curve(dataset: str = "digits", sizes: Any = None, repeats: int = 5, seed: int = 0,
                         model: str = "logistic", l2: float = 1e-3, hidden: int = 32,
                         components: int = 0, test_fraction: float = 0.2, max_iter: int = 100,
                         cache: bool = True, cache_dir: str | Path | None = None) -> ValueCurve:
    """Estimate (or load from the cache) the accuracy curve of a data set.

    Parameters
    ----------
    dataset : str
        A data set of :data:`market.theory.learning.task.DATASETS`.
    sizes : array_like of int, optional
        Training-set sizes; by default 12 points spaced geometrically from
        ``n_classes`` to the whole training split.
    repeats : int
        Random subsets (and fits) per size.
    seed : int
        Seed of the train/test split and of the subsets.
    model, l2, hidden, components, test_fraction : see :mod:`market.theory.learning.task`.
    max_iter : int
        L-BFGS iterations per fit.
    cache : bool
        Read and write the on-disk cache.
    cache_dir : path, optional
        Cache directory (:func:`default_cache_dir` by default).

    Returns
    -------
    ValueCurve
    """
    if int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats: must be a positive integer, got {repeats}")
    memo_key = (dataset, None if sizes is None else tuple(np.asarray(sizes).tolist()), int(repeats), int(seed),
                model, float(l2), int(hidden), int(components), float(test_fraction), int(max_iter),
                str(cache_dir or default_cache_dir()))
    if cache and memo_key in _MEMO:
        return _MEMO[memo_key]
    data = load_dataset(dataset, test_fraction, int(seed), int(components))
    n_train = data.y_train.size
    if sizes is None:
        grid = np.unique(np.rint(np.geomspace(data.n_classes, n_train, 12)).astype(np.int64))
    else:
        grid = np.asarray(sizes, dtype=np.int64)
        if grid.ndim != 1 or np.any(np.diff(grid) <= 0) or grid[0] < 1 or grid[-1] > n_train:
            raise ValueError(f"sizes: need increasing integers in [1, {n_train}]")
    settings = {"dataset": dataset, "sizes": grid.tolist(), "repeats": int(repeats), "seed": int(seed),
                "model": model, "l2": float(l2), "hidden": int(hidden), "components": int(components),
                "test_fraction": float(test_fraction), "max_iter": int(max_iter), "version": CACHE_VERSION}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir or default_cache_dir()) / "value_curves" / f"{dataset}-{model}-seed{seed}-{key}.npz"
    if cache and path.exists():
        with np.load(path) as z:
            curve = ValueCurve(dataset, z["sizes"], z["accuracy"], float(z["chance"]))
        _MEMO[memo_key] = curve
        return curve
    clf = make_classifier(model, data.n_features, data.n_classes, l2, hidden)
    rng = np.random.default_rng(seed)
    acc = np.empty((int(repeats), grid.size))
    for r in range(int(repeats)):
        for j, m in enumerate(grid):
            rows = rng.choice(n_train, size=int(m), replace=False)
            theta = fit_centralized(clf, data.X_train[rows], data.y_train[rows], clf.init(rng), max_iter)
            acc[r, j] = clf.accuracy(theta, data.X_test, data.y_test)
    curve = ValueCurve(dataset, grid.astype(float), acc, data.chance_accuracy)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, sizes=curve.sizes, accuracy=acc, chance=curve.chance)
        os.replace(tmp, path)
        _MEMO[memo_key] = curve
    return curve


class EmpiricalValue(ValueFunction):
    """Value :math:`v(m) = a\\,(\\hat A(k m) - a_0)` of paper 001 from a measured curve.

    :math:`\\hat A` is the corrected (monotone, concave) accuracy curve and
    :math:`a_0` its value without data, so :math:`v(0) = 0`, there is no flat
    region (:math:`m_0 = 0`) and :math:`b = v` is concave and piecewise
    linear; :math:`b'` is its right derivative and :math:`b'^{-1}(y)` the knot
    where the slope falls to ``y`` or below (the argmax of :math:`b(m) - ym`).

    Parameters
    ----------
    curve : ValueCurve
        The measured curve.
    a : float
        Value per unit of accuracy above chance.
    k : float
        Examples per unit of ``m`` (``m`` counts data in units of ``k`` examples).
    """

    name = "empirical"

    def __init__(self, curve: ValueCurve, a: float = 1.0, k: float = 1.0) -> None:
        if not a > 0:
            raise ValueError("a: must be positive")
        if not k > 0:
            raise ValueError("k: must be positive")
        self.curve, self.a, self.k = curve, float(a), float(k)
        self.m0 = 0.0
        self.v_max = self.a * float(curve.corrected[-1] - curve.chance)

    def b(self, m: np.ndarray) -> np.ndarray:
        return self.a * (self.curve(self.k * np.asarray(m, dtype=float)) - self.curve.chance)

    def describe(self) -> dict[str, Any]:
        """The measured curve and its correction (:meth:`ValueCurve.summary`)."""
        return {"value_curve": self.curve.summary()}

    def db(self, m: np.ndarray) -> np.ndarray:
        return self.a * self.k * self.curve.slope(self.k * np.asarray(m, dtype=float))

    def _db_inv(self, y: np.ndarray) -> np.ndarray:
        slopes = self.a * self.k * self.curve.slopes
        piece = np.sum(slopes[None, :] > np.asarray(y, dtype=float).reshape(-1, 1), axis=1)
        return (self.curve.knots[piece] / self.k).reshape(np.shape(y))


def empirical_value_class(dataset: str) -> type[EmpiricalValue]:
    """The value-function class of ``dataset``'s curve with default settings (named ``empirical_<dataset>``)."""
    class _Registered(EmpiricalValue):
        __doc__ = f"The :class:`EmpiricalValue` of the ``{dataset}`` curve (default settings, cached)."
        name = f"empirical_{dataset}"

        def __init__(self, a: float = 1.0, k: float = 1.0) -> None:
            super().__init__(estimate_value_curve(dataset), a, k)

    _Registered.__name__ = _Registered.__qualname__ = f"Empirical{dataset.title().replace('_', '')}Value"
    return _Registered


class EmpiricalPayoff(AggregatePayoff):
    """Payoff of paper 003 measured on a task: :math:`a_i(s) = w_i\\,\\text{scale}\\,\\hat A(\\text{unit}\\cdot S)`.

    :math:`\\hat A` is the corrected accuracy curve of ``dataset`` at
    :math:`S = \\lVert s\\rVert_1` contributions of ``unit`` examples each,
    standing in for a formula such as eq. (3).  It is concave and piecewise
    linear: the slope is the right derivative and the curvature is 0 (the
    curve's curvature sits at its knots), so Theorem 3.2's contraction
    condition must come from strictly convex costs.

    Parameters
    ----------
    n : int
        Number of owners.
    dataset : str
        Data set of the curve (estimated with the default settings of
        :func:`estimate_value_curve` and ``seed``, cached).
    seed : int
        Seed of the curve.
    scale : float
        Payoff per unit of accuracy.
    unit : float
        Examples per unit of contribution.
    weight : float or array_like
        Per-owner weight :math:`w_i`.
    """

    def __init__(self, n: int, dataset: str = "digits", seed: int = 0, scale: float = 1.0,
                 unit: float = 1.0, weight: Any = 1.0) -> None:
        super().__init__(n, weight)
        if dataset not in DATASETS:
            raise ValueError(f"dataset: unknown data set {dataset!r} (known: {', '.join(DATASETS)})")
        if not (scale > 0 and unit > 0):
            raise ValueError("scale, unit: must be positive")
        self.value_curve = estimate_value_curve(dataset, seed=int(seed))
        self.scale, self.unit = float(scale), float(unit)

    def describe(self) -> dict[str, Any]:
        """The measured curve and its correction (:meth:`ValueCurve.summary`)."""
        return {"value_curve": self.value_curve.summary()}

    def curve(self, total: np.ndarray) -> np.ndarray:
        """:math:`\\text{scale}\\,\\hat A(\\text{unit}\\cdot S)`."""
        return self.scale * self.value_curve(self.unit * np.asarray(total, dtype=float))

    def slope(self, total: np.ndarray) -> np.ndarray:
        """Right derivative :math:`\\text{scale}\\cdot\\text{unit}\\cdot\\hat A'(\\text{unit}\\cdot S)`."""
        return self.scale * self.unit * self.value_curve.slope(self.unit * np.asarray(total, dtype=float))

    def curvature(self, total: np.ndarray) -> np.ndarray:
        """0 (piecewise linear)."""
        return np.zeros(np.shape(total))

