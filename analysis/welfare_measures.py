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


def utilitarian(u: np.ndarray) -> float:
    """Utilitarian welfare :math:`W_U = \\sum_i u_i`."""
    return float(np.sum(_utilities(u)))


def p_mean(u: np.ndarray, p: float) -> float:
    """Power (Hölder) mean :math:`M_p = (\\frac1n \\sum_i u_i^p)^{1/p}`.

    Computed by :func:`market.theory.contribution_game.welfare.power_mean` (normalised), on this
    module's domain: every ``p``, utilities non-negative, and positive for ``p <= 0``.

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
        (except :math:`p = -\\infty`, where the minimum is defined).
    """
    u = _utilities(u)
    if np.isneginf(p):
        if np.any(u < 0):
            raise ValueError("u: the p-mean needs non-negative utilities")
    elif np.any(u < 0) or (p <= 0 and np.any(u == 0)):
        raise ValueError("u: the p-mean needs non-negative utilities (positive when p <= 0)")
    return float(power_mean(u, p, normalized=True))


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
    0 is perfect equality, :math:`(n-1)/n` one owner holding everything.

    Raises
    ------
    ValueError
        If some :math:`u_i < 0` or all are 0 (the Gini of signed values is not
        a concentration measure).
    """
    u = _utilities(u)
    if np.any(u < 0) or u.sum() <= 0:
        raise ValueError("u: the Gini coefficient needs non-negative utilities with a positive sum")
    s = np.sort(u)
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
