"""What emerges in a run, condensed: concentration, surplus by decile, payout share, convergence.

The per-round standard measures (information rent, ``nash_conv``,
``exploitability``, free-riding) are columns of ``model.parquet``
(:mod:`market.simulation.deviation_measures`, defined in ``docs/measures.md``); this
module condenses a run.  Owner-level measures take the arrays of one round
(owner :math:`i` with action :math:`a_i`, data supplied :math:`d_i`, payment
:math:`t_i`, privacy cost :math:`c_i(a_i)`, sensitivity :math:`c_i`);
time-series measures take one per-round series :math:`x_1, \\dots, x_T` (a
column of ``model.parquet``).

=========================  ========================================================================
top-q data share           :math:`\\sum_{i \\in \\text{top } k} d_i / \\sum_i d_i`, :math:`k = \\max(1, \\lceil q n \\rceil)`
surplus over cost          :math:`\\sum_i (t_i - c_i(a_i))` by sensitivity decile (equal to the
                           information rent where the outside option pays and costs nothing)
payout share               :math:`\\Sigma t / (\\Sigma t + U_p)`: the part of the platform's gross
                           surplus (its utility before paying owners) paid to owners
settling time              first round :math:`t` with :math:`|x_s - x_T| \\le \\text{tol}` for all :math:`s \\ge t`
settling round             first round after which ``exploitability`` stays below ``equilibrium_tol``
oscillation amplitude      :math:`(\\max - \\min)/2` of the last ``window`` rounds
cycle period               smallest :math:`p` with :math:`|x_t - x_{t-p}| \\le \\text{tol}` over the
                           last ``window`` rounds (1: a fixed point)
=========================  ========================================================================

:func:`owner_round_table` applies the owner-level measures to every round of
``owners.parquet`` and :func:`summarize` condenses a run into one dict (the
run summary of ``privmarket report`` and one row of a sweep's summary table).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.welfare_measures import binary_scale, welfare_row

#: Columns of :func:`owner_round_table` besides ``round``.
OWNER_ROUND_COLUMNS = ("top1_share", "top10_share", "surplus_over_cost", "utilitarian", "p_mean", "nash", "gini")


def top_share(data: np.ndarray, q: float) -> float:
    """Share of all data supplied by the top ``q`` fraction of owners.

    With :math:`d_{(1)} \\ge d_{(2)} \\ge \\dots` sorted descending and
    :math:`k = \\max(1, \\lceil q n \\rceil)`: :math:`\\sum_{j \\le k} d_{(j)} / \\sum_i d_i`.

    Raises
    ------
    ValueError
        If ``q`` is not in (0, 1], a value is negative, or nothing is supplied.
    """
    d = np.asarray(data, dtype=float)
    if not 0 < q <= 1:
        raise ValueError("q: must be in (0, 1]")
    if d.size == 0 or np.any(d < 0) or d.sum() <= 0:
        raise ValueError("data: need non-negative amounts with a positive total")
    k = max(1, math.ceil(q * d.size - 1e-9))
    return float(np.sort(d)[::-1][:k].sum() / d.sum())


def rent_by_decile(payment: np.ndarray, cost: np.ndarray, sensitivity: np.ndarray,
                   bins: int = 10) -> pd.DataFrame:
    """Payments above privacy cost, :math:`t_i - c_i(a_i)`, by sensitivity decile (or any number of quantile bins).

    This is the information rent where the outside option pays and costs
    nothing (posted prices, auctions, peer prediction; ``docs/measures.md``).

    Owners are ranked by sensitivity (ties in a stable order) and bin
    :math:`k` holds ranks :math:`r` with :math:`\\lfloor r \\cdot \\text{bins} / n \\rfloor = k`,
    so bins are equally populated even when many sensitivities coincide.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``decile`` (0 = least sensitive), ``sensitivity_low``,
        ``sensitivity_high``, ``owners``, ``mean_rent``, ``total_rent``.
    """
    t, c, s = (np.asarray(x, dtype=float) for x in (payment, cost, sensitivity))
    if not t.shape == c.shape == s.shape or t.size == 0:
        raise ValueError("sensitivity: payment, cost and sensitivity need one value per owner")
    if bins < 1:
        raise ValueError("bins: must be at least 1")
    rank = np.empty(s.size, dtype=np.int64)
    rank[np.argsort(s, kind="stable")] = np.arange(s.size)
    frame = pd.DataFrame({"decile": rank * bins // s.size, "s": s, "rent": t - c})
    out = frame.groupby("decile").agg(sensitivity_low=("s", "min"), sensitivity_high=("s", "max"),
                                      owners=("rent", "size"), mean_rent=("rent", "mean"),
                                      total_rent=("rent", "sum"))
    return out.reset_index()


def payout_share(total_payments: float, platform_utility: float) -> float:
    """Share :math:`\\Sigma t / (\\Sigma t + U_p)` of the platform's gross surplus paid to owners.

    Raises
    ------
    ValueError
        If the gross surplus :math:`\\Sigma t + U_p` is not positive.
    """
    gross = float(total_payments) + float(platform_utility)
    if gross <= 0:
        raise ValueError("platform_utility: gross surplus (payments + platform utility) is not positive")
    return float(total_payments) / gross


def _share_of_totals(payments: np.ndarray, platform_utility: np.ndarray) -> float:
    """Payout share :math:`\\Sigma t / (\\Sigma t + \\Sigma U_p)` over rounds (NaN if the denominator is not positive).

    The ratio is scale-invariant, so both series are divided by the power of 2 just above their
    largest magnitude (:func:`analysis.welfare_measures.binary_scale`, an exact division) before
    summing: totals beyond the float range still give their share.
    """
    t = payments[np.isfinite(payments)]
    u = platform_utility[np.isfinite(platform_utility)]
    e = binary_scale(t, u)
    paid, kept = float(np.sum(np.ldexp(t, -e))), float(np.sum(np.ldexp(u, -e)))
    return paid / (paid + kept) if paid + kept > 0 else float("nan")


def _series(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("x: need a non-empty 1-d series of finite values")
    return x


def settling_time(x: np.ndarray, tol: float = 1e-6, rounds: np.ndarray | None = None) -> int:
    """First round after which the series stays within ``tol`` of its final value.

    Parameters
    ----------
    x : array_like
        The series :math:`x_1, \\dots, x_T`.
    tol : float
        Tolerance.
    rounds : array_like, optional
        Round number of each entry (default ``1..T``).

    Returns
    -------
    int
        The round :math:`t^* = \\min\\{t : |x_s - x_T| \\le \\text{tol}\\ \\forall s \\ge t\\}`;
        it equals the last round when the series is still moving.
    """
    x = _series(x)
    r = np.arange(1, x.size + 1) if rounds is None else np.asarray(rounds)
    outside = np.flatnonzero(np.abs(x - x[-1]) > tol)
    return int(r[0] if outside.size == 0 else r[outside[-1] + 1])


def oscillation_amplitude(x: np.ndarray, window: int = 50) -> float:
    """Half the range, :math:`(\\max - \\min)/2`, of the last ``window`` values."""
    x = _series(x)
    if window < 1:
        raise ValueError("window: must be at least 1")
    tail = x[-window:]
    return float((tail.max() - tail.min()) / 2.0)


def cycle_period(x: np.ndarray, window: int = 50, max_period: int = 20, tol: float = 1e-6) -> int | None:
    """Smallest period of the tail of a series, or ``None`` if it is not periodic.

    Returns the least :math:`p \\in \\{1, \\dots, \\text{max\\_period}\\}` with
    :math:`|x_t - x_{t-p}| \\le \\text{tol}` for every :math:`t` among the last
    ``window`` rounds (so the tail must contain at least two full periods:
    :math:`p \\le \\text{window}/2`).  ``1`` means the series has settled on a
    fixed point, ``2`` a two-cycle, and so on.
    """
    x = _series(x)
    tail = x[-window:]
    for p in range(1, min(max_period, tail.size // 2) + 1):
        if np.all(np.abs(tail[p:] - tail[:-p]) <= tol):
            return p
    return None


def owner_round_table(owners: pd.DataFrame) -> pd.DataFrame:
    """The owner-level measures for every recorded round of ``owners.parquet``.

    The data an owner supplies is ``action * data_size`` when the table has a
    ``data_size`` column, else its ``action``.  ``top*_share`` is NaN in a
    round where nobody supplies anything (the share of nothing is undefined),
    and the welfare columns are NaN where :mod:`analysis.welfare_measures`
    leaves them undefined.

    Returns
    -------
    pandas.DataFrame
        ``round`` and :data:`OWNER_ROUND_COLUMNS`.
    """
    needed = {"round", "action", "payment", "cost", "utility"}
    if not needed <= set(owners.columns):
        raise ValueError(f"owners: need columns {sorted(needed)}")
    rows = []
    for r, g in owners.groupby("round", sort=True):
        a = g["action"].to_numpy()
        d = a * g["data_size"].to_numpy() if "data_size" in g else a
        supplied = d.sum() > 0 and np.all(d >= 0)
        rows.append({
            "round": int(r),
            "top1_share": top_share(d, 0.01) if supplied else np.nan,
            "top10_share": top_share(d, 0.10) if supplied else np.nan,
            "surplus_over_cost": float(np.sum(g["payment"].to_numpy() - g["cost"].to_numpy())),
            **welfare_row(g["utility"].to_numpy()),
        })
    return pd.DataFrame(rows, columns=["round", *OWNER_ROUND_COLUMNS])


def settling_round(exploitability: np.ndarray, rounds: np.ndarray, tol: float) -> int | None:
    """First round after which ``exploitability`` stays below ``tol`` (rounds not measured, NaN, are skipped).

    ``None`` when the last measured round is not below ``tol`` (the run has
    not converged) or no round was measured.
    """
    e = np.asarray(exploitability, dtype=float)
    r = np.asarray(rounds)
    measured = np.isfinite(e)
    e, r = e[measured], r[measured]
    if e.size == 0 or e[-1] >= tol:
        return None
    above = np.flatnonzero(e >= tol)
    return int(r[0] if above.size == 0 else r[above[-1] + 1])


def summarize(model: pd.DataFrame, owners: pd.DataFrame | None = None, *, series: str = "mean_action",
              window: int | None = None, tol: float = 1e-6, equilibrium_tol: float = 1e-6) -> dict[str, object]:
    """One run condensed into numbers (a row of a sweep's summary table).

    Parameters
    ----------
    model : pandas.DataFrame
        ``model.parquet`` (one row per round).
    owners : pandas.DataFrame, optional
        Owner states (``owners.parquet``, or a final snapshot with
        ``sensitivity`` and ``data_size`` columns); adds the owner-level
        measures of the last recorded round.
    series : str
        The column whose oscillation is measured.
    window : int, optional
        Tail length for amplitude and cycle detection (default: the last
        quarter of the run, at least 2 rounds).
    tol : float
        Tolerance for cycles.
    equilibrium_tol : float
        Exploitability below which a round counts as at equilibrium.

    Returns
    -------
    dict
        ``rounds``; the final round's ``share_*``, ``mean_action``,
        ``mean_utility``; cumulative totals over the run
        ``cum_total_payments``, ``cum_information_rent_total``,
        ``cum_platform_utility``; ``payout_share`` of the totals (NaN if the
        gross surplus is not positive); ``converged``, ``settling_round``
        (:func:`settling_round` of ``exploitability``, None if not converged)
        and ``equilibrium_tol``; ``amplitude`` and ``cycle_period`` (0: no
        cycle found) of ``series``; the final and run-mean
        ``free_riding_share`` where the mechanism has a shared good; with
        owners, the :func:`owner_round_table` columns of the last recorded
        round prefixed ``final_``.
    """
    if model.empty:
        raise ValueError("model: the run has no rounds")
    if series not in model:
        raise ValueError(f"series: no column {series!r} in the model table")
    last = model.iloc[-1]
    x = model[series].to_numpy(dtype=float)
    w = window or max(2, x.size // 4)
    out: dict[str, object] = {"rounds": int(last["round"])}
    out.update({k: float(last[k]) for k in model.columns if k.startswith("share_")})
    out.update({k: float(last[k]) for k in ("mean_action", "mean_utility") if k in model})
    with np.errstate(over="ignore"):  # a total beyond the float range is an infinity (analysis.null_values)
        totals = {f"cum_{k}": float(np.nansum(model[k].to_numpy(dtype=float)))
                  for k in ("total_payments", "information_rent_total", "platform_utility")}
    out.update(totals)
    out["payout_share"] = _share_of_totals(model["total_payments"].to_numpy(dtype=float),
                                           model["platform_utility"].to_numpy(dtype=float))
    settled = settling_round(model["exploitability"].to_numpy(), model["round"].to_numpy(), equilibrium_tol)
    out.update({"converged": settled is not None, "settling_round": settled, "equilibrium_tol": equilibrium_tol})
    out["amplitude"] = oscillation_amplitude(x, w)
    out["cycle_period"] = cycle_period(x, w, tol=tol) or 0
    if "free_riding_share" in model:
        riding = model["free_riding_share"].to_numpy(dtype=float)
        measured = riding[np.isfinite(riding)]
        out["final_free_riding_share"] = float(measured[-1]) if measured.size else float("nan")
        out["mean_free_riding_share"] = float(measured.mean()) if measured.size else float("nan")
    if owners is not None and not owners.empty:
        final = owners[owners["round"] == owners["round"].max()]
        row = owner_round_table(final).iloc[0]
        out.update({f"final_{k}": float(row[k]) for k in OWNER_ROUND_COLUMNS})
    return out
