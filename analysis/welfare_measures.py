"""Social-welfare measures of the owners' utilities.

Each function takes one vector of owner utilities :math:`u_1, \\dots, u_n`
(one round) and returns one number; :func:`welfare_table` applies them to
every recorded round of ``owners.parquet``.

=============  ===========================================================  ==================
measure        formula                                                      defined for
=============  ===========================================================  ==================
utilitarian    :math:`W_U = \\sum_i u_i`                                      every :math:`u`
p-mean         :math:`M_p = (\\tfrac1n \\sum_i u_i^p)^{1/p}`,                 :math:`u_i > 0` if
               :math:`M_0 = \\exp(\\tfrac1n \\sum_i \\log u_i)`,                 :math:`p \\le 0`,
               :math:`M_{-\\infty} = \\min_i u_i`                             :math:`u_i \\ge 0` else
Nash           :math:`W_N = \\sum_i \\log u_i` (log of the Nash product)        :math:`u_i > 0`
Gini           :math:`G = \\frac{\\sum_i \\sum_j |u_i - u_j|}{2 n^2 \\bar u}`    :math:`u_i \\ge 0`,
                                                                             :math:`\\bar u > 0`
=============  ===========================================================  ==================

The p-mean interpolates between the utilitarian mean (:math:`p = 1`), the
Nash (geometric) mean (:math:`p = 0`) and the Rawlsian minimum
(:math:`p \\to -\\infty`).  Outside its domain a function raises
``ValueError``; :func:`welfare_table` instead writes NaN in that cell, which
is its documented meaning there ("undefined for this round").

Finite utilities of any size are measured exactly: the p-mean and the Gini
coefficient are computed on utilities divided by a scale (the p-mean is
homogeneous of degree 1, the Gini of degree 0), and the utilitarian sum on
utilities divided by a power of 2, so no intermediate sum or product
overflows (e.g. ``gini([0, 1e307])`` is 0.5).  Only a utilitarian sum whose
value lies beyond the float range (about :math:`1.8 \\times 10^{308}`) is
:math:`\\pm\\infty`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from market.theory.contribution_game.welfare import power_mean


def _utilities(u: np.ndarray) -> np.ndarray:
    u = np.asarray(u, dtype=float)
    if u.ndim != 1 or u.size == 0:
        raise ValueError("u: need a non-empty 1-d array of utilities")
    if not np.all(np.isfinite(u)):
        raise ValueError("u: utilities must be finite")
    return u


def binary_scale(*values: np.ndarray) -> int:
    """The exponent ``e`` of the power of 2 with :math:`\\max |x| / 2^e \\in [0.5, 1)` over every array
    (0 when all are zero or empty).

    Dividing by :math:`2^e` (``numpy.ldexp(x, -e)``) is exact, so a sum of the scaled values times
    :math:`2^e` equals the plain sum wherever the plain sum does not overflow, and a ratio of sums of
    scaled values equals the plain ratio even where the plain sums would.
    """
    largest = max((float(np.max(np.abs(x), initial=0.0)) for x in values), default=0.0)
    return int(np.frexp(largest)[1])


def utilitarian(u: np.ndarray) -> float:
    """Utilitarian welfare :math:`W_U = \\sum_i u_i`.

    Summed on :math:`u_i / 2^e` (:func:`binary_scale`), so a partial sum never overflows; the result
    is :math:`\\pm\\infty` only when :math:`W_U` itself lies beyond the float range.
    """
    u = _utilities(u)
    e = binary_scale(u)
    with np.errstate(over="ignore"):
        return float(np.ldexp(np.sum(np.ldexp(u, -e)), e))


def p_mean(u: np.ndarray, p: float) -> float:
    """Power (Hölder) mean :math:`M_p = (\\frac1n \\sum_i u_i^p)^{1/p}`.

    Computed by :func:`market.theory.contribution_game.welfare.power_mean` (normalised), on this
    module's domain: every ``p``, utilities non-negative, and positive for ``p <= 0``; on
    :math:`u / c` times :math:`c`, with :math:`c` the largest (:math:`p > 0`) or smallest
    (:math:`p < 0`) utility, so large finite utilities do not overflow (:math:`M_p` lies between
    the smallest and the largest utility, so it is always a finite float).

    Parameters
    ----------
    u : array_like
        Owner utilities.
    p : float
        Exponent; ``0`` gives the geometric mean and ``-inf`` the minimum.

    Raises
    ------
    ValueError
        If some :math:`u_i < 0`, or some :math:`u_i = 0` with :math:`p \\le 0`
        (except :math:`p = -\\infty`, where the minimum is defined), or, with :math:`p < 0`,
        the largest utility over the smallest is beyond the float range.
    """
    u = _utilities(u)
    if np.isneginf(p):
        if np.any(u < 0):
            raise ValueError("u: the p-mean needs non-negative utilities")
    elif np.any(u < 0) or (p <= 0 and np.any(u == 0)):
        raise ValueError("u: the p-mean needs non-negative utilities (positive when p <= 0)")
    if np.isnan(p) or p == 0 or np.isinf(p):
        return float(power_mean(u, p, normalized=True))
    # M_p(u) = c M_p(u / c): with c the largest utility (p > 0) or the smallest (p < 0) every term
    # (u_i / c)^p is at most 1 and their mean at least 1 / n, so no power overflows
    c = float(u.max() if p > 0 else u.min())
    if c == 0.0:
        return 0.0
    with np.errstate(over="ignore"):
        ratio = u / c
    if not np.all(np.isfinite(ratio)):
        raise ValueError("u: with p < 0 the p-mean needs utilities whose largest / smallest ratio is a finite float")
    return c * float(power_mean(ratio, p, normalized=True))


def nash_welfare(u: np.ndarray) -> float:
    """Log Nash welfare :math:`W_N = \\sum_i \\log u_i` (the log of :math:`\\prod_i u_i`).

    Raises
    ------
    ValueError
        If some :math:`u_i \\le 0`.
    """
    u = _utilities(u)
    if np.any(u <= 0):
        raise ValueError("u: Nash welfare needs positive utilities")
    return float(np.sum(np.log(u)))


def gini(u: np.ndarray) -> float:
    """Gini coefficient :math:`G = \\sum_{i,j} |u_i - u_j| / (2 n^2 \\bar u)`.

    Computed in :math:`O(n \\log n)` from the sorted values
    :math:`u_{(1)} \\le \\dots \\le u_{(n)}` as
    :math:`G = \\frac{2 \\sum_k k\\, u_{(k)}}{n \\sum_k u_{(k)}} - \\frac{n+1}{n}`.
    0 is perfect equality, :math:`(n-1)/n` one owner holding everything.  Computed on
    :math:`u / 2^e` with :math:`2^e` just above the largest utility (an exact division; :math:`G`
    is scale-invariant), so large finite utilities do not overflow.

    Raises
    ------
    ValueError
        If some :math:`u_i < 0` or all are 0 (the Gini of signed values is not
        a concentration measure).
    """
    u = _utilities(u)
    if np.any(u < 0) or not np.any(u > 0):
        raise ValueError("u: the Gini coefficient needs non-negative utilities with a positive sum")
    s = np.sort(np.ldexp(u, -binary_scale(u)))  # G is scale-invariant: values in [0, 1), sums at most n^2
    n = s.size
    k = np.arange(1, n + 1)
    return float(2.0 * np.sum(k * s) / (n * s.sum()) - (n + 1.0) / n)


def _or_nan(func, *args) -> float:
    try:
        return func(*args)
    except ValueError:
        return float("nan")


def welfare_row(u: np.ndarray, p: float = 0.5) -> dict[str, float]:
    """All measures of one round: ``utilitarian``, ``p_mean``, ``nash``, ``gini`` (NaN where undefined)."""
    u = _utilities(u)
    return {"utilitarian": utilitarian(u), "p_mean": _or_nan(p_mean, u, p),
            "nash": _or_nan(nash_welfare, u), "gini": _or_nan(gini, u)}


def welfare_table(owners: pd.DataFrame, p: float = 0.5) -> pd.DataFrame:
    """Welfare measures of every recorded round of an ``owners.parquet`` table.

    Parameters
    ----------
    owners : pandas.DataFrame
        With columns ``round`` and ``utility``.
    p : float
        Exponent of the p-mean column.

    Returns
    -------
    pandas.DataFrame
        One row per round: ``round, utilitarian, p_mean, nash, gini``.
    """
    if not {"round", "utility"} <= set(owners.columns):
        raise ValueError("owners: need columns 'round' and 'utility'")
    rows = [{"round": int(r), **welfare_row(g["utility"].to_numpy(), p)}
            for r, g in owners.groupby("round", sort=True)]
    return pd.DataFrame(rows, columns=["round", "utilitarian", "p_mean", "nash", "gini"])
