"""Regimes of a market and the shifts between them.

Three tools:

* **classification** -- every round gets the name of the regime its action
  shares are in (:func:`classify_rounds`).  A mechanism may register its own
  regimes in :data:`CLASSIFIERS`; the fair-payment game of paper 000 has the
  three regimes of its Theorem 3 (docs/models/fair_value.md#eq-24):

  - ``no incentives``: everyone at the most private level :math:`\\rho'_1`
    (Theorem 3, case 1: :math:`c > \\gamma_{max}`, :math:`\\alpha^* = 0`);
  - ``mixed``: owners at both levels (case 2, :math:`c_{th} < c < \\gamma_{max}`);
  - ``all low-privacy``: everyone at the least private level :math:`\\rho'_2`
    (case 3, :math:`c < c_{th}`, :math:`\\alpha^* = c/\\gamma_{min}`).

  The paper's regimes are statements about equilibrium strategies; here they
  are read from the realised shares of a round, with a tolerance ``tol``
  (a share of at least ``1 - tol`` counts as "everyone").  Other mechanisms
  use :func:`level_regimes` (``all <level>`` or ``mixed``; for continuous
  actions ``no contribution`` or ``contributing``).
* **change points** in any per-round series, with the PELT search of the
  ``ruptures`` library (:func:`change_points`);
* **hysteresis**: a parameter swept up and then down, each value started
  from the owners' actions at the end of the previous one, reports where the
  two paths differ (:func:`hysteresis`).

:func:`regime_shifts` lists the shifts of a run with their rounds (the run
summary of ``privmarket report``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import ruptures
from ruptures.base import BaseCost

from market.core.mechanism import ActionSpace
from market.simulation.model import DataMarket
from scenarios.schema import load

#: Regime names of the fair-payment game (Theorem 3 of paper 000), from most to least private.
FAIR_PAYMENT_REGIMES = ("no incentives", "mixed", "all low-privacy")


def _level_shares(model: pd.DataFrame, space: ActionSpace) -> np.ndarray:
    columns = [f"share_{label}" for label in space.labels]
    missing = [c for c in columns if c not in model]
    if missing:
        raise ValueError(f"model: missing share columns {missing} of the action space")
    return model[columns].to_numpy(dtype=float)


def level_regimes(model: pd.DataFrame, space: ActionSpace, tol: float = 0.01) -> np.ndarray:
    """Generic regimes: ``all <level>`` when one level holds at least ``1 - tol`` of the owners, else ``mixed``.

    For a continuous action space: ``no contribution`` when ``share_zero``
    is at least ``1 - tol``, else ``contributing``.
    """
    if space.kind == "continuous":
        if "share_zero" not in model:
            raise ValueError("model: missing column 'share_zero'")
        return np.where(model["share_zero"].to_numpy() >= 1 - tol, "no contribution", "contributing")
    shares = _level_shares(model, space)
    top = shares.argmax(axis=1)
    names = np.array([f"all {label}" for label in space.labels], dtype=object)
    return np.where(shares.max(axis=1) >= 1 - tol, names[top], "mixed").astype(object)


def fair_payment_regimes(model: pd.DataFrame, space: ActionSpace, tol: float = 0.01) -> np.ndarray:
    """Theorem 3 regimes (see the module docstring): by the shares of the lowest and highest level."""
    shares = _level_shares(model, space)
    private, public = shares[:, 0], shares[:, -1]
    out = np.full(len(model), FAIR_PAYMENT_REGIMES[1], dtype=object)
    out[private >= 1 - tol] = FAIR_PAYMENT_REGIMES[0]
    out[public >= 1 - tol] = FAIR_PAYMENT_REGIMES[2]
    return out


#: Regime classifier of each mechanism that defines its own regimes; others use :func:`level_regimes`.
CLASSIFIERS: dict[str, Callable[[pd.DataFrame, ActionSpace, float], np.ndarray]] = {
    "fair_payment": fair_payment_regimes,
}


def regime_order(mechanism: str, space: ActionSpace) -> list[str]:
    """Every regime name the classifier of ``mechanism`` can return, in a fixed order (for plots)."""
    if mechanism in CLASSIFIERS:
        return list(FAIR_PAYMENT_REGIMES)
    if space.kind == "continuous":
        return ["no contribution", "contributing"]
    return [f"all {label}" for label in space.labels] + ["mixed"]


def classify_rounds(model: pd.DataFrame, mechanism: str, space: ActionSpace, tol: float = 0.01) -> pd.Series:
    """The regime of every round.

    Parameters
    ----------
    model : pandas.DataFrame
        ``model.parquet`` of a run.
    mechanism : str
        Registered name of the run's mechanism (selects the classifier).
    space : ActionSpace
        The mechanism's action space (names the share columns).
    tol : float
        A share of at least ``1 - tol`` counts as "everyone".

    Returns
    -------
    pandas.Series
        Regime names, indexed like ``model``, named ``regime``.
    """
    if not 0 <= tol < 0.5:
        raise ValueError("tol: must be in [0, 0.5)")
    classify = CLASSIFIERS.get(mechanism, level_regimes)
    return pd.Series(classify(model, space, tol), index=model.index, name="regime")


def regime_spans(rounds: Sequence[int], regimes: Sequence[str]) -> pd.DataFrame:
    """Maximal runs of consecutive rounds in one regime: ``start, end, regime`` (both ends inclusive)."""
    r = np.asarray(rounds)
    g = np.asarray(regimes, dtype=object)
    if r.size == 0:
        return pd.DataFrame(columns=["start", "end", "regime"])
    starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    ends = np.r_[starts[1:] - 1, r.size - 1]
    return pd.DataFrame({"start": r[starts], "end": r[ends], "regime": g[starts]})


class CumulativeL2(BaseCost):
    """The l2 segment cost of ``ruptures`` (``CostL2``) in O(1) per segment from cumulative sums.

    :math:`c(y_{a..b}) = \\sum_{t=a}^{b-1} (y_t - \\bar y_{a..b})^2
    = S_2(a, b) - S_1(a, b)^2 / (b - a)` with :math:`S_p(a, b) = \\sum_{t=a}^{b-1} y_t^p`.
    ``CostL2`` recomputes a variance over the segment at every call, which makes PELT's
    search quadratic in time *and* in segment length.
    """

    model = "l2_cumulative"
    min_size = 1

    def fit(self, signal: np.ndarray) -> CumulativeL2:
        """Store the cumulative sums of ``signal`` (shape ``(T,)`` or ``(T, d)``)."""
        y = np.asarray(signal, dtype=float).reshape(len(signal), -1)
        self.signal = y
        zero = np.zeros((1, y.shape[1]))
        self.s1 = np.concatenate([zero, np.cumsum(y, axis=0)])
        self.s2 = np.concatenate([zero, np.cumsum(y * y, axis=0)])
        return self

    def error(self, start: int, end: int) -> float:
        """Cost of the segment ``signal[start:end]``."""
        s = self.s1[end] - self.s1[start]
        return float(np.sum(self.s2[end] - self.s2[start] - s * s / (end - start)))


def _refine(y: np.ndarray, breaks: list[int], jump: int, min_size: int, penalty: float) -> list[int]:
    """Exact l2 positions for change points found on a grid of step ``jump``.

    Each point in turn (its neighbours fixed, the earlier ones already moved)
    minimises :math:`c(y_{a..t}) + c(y_{t..b})` over
    :math:`t \\in [t_0 - \\text{jump}, t_0 + \\text{jump}]`, keeping segments
    of at least ``min_size``.  A coarse grid can straddle one shift with two
    points (a short "transition" segment); once moved, a point whose removal
    raises the cost by less than ``penalty`` no longer pays for itself and is
    dropped (the weakest first), and the rest are moved again.
    """
    s1 = np.r_[0.0, np.cumsum(y)]
    s2 = np.r_[0.0, np.cumsum(y * y)]

    def cost(a, b):
        s = s1[b] - s1[a]
        return s2[b] - s2[a] - s * s / (b - a)

    def move(edges: list[int]) -> list[int]:
        for k in range(1, len(edges) - 1):
            t = np.arange(max(edges[k - 1] + min_size, edges[k] - jump),
                          min(edges[k + 1] - min_size, edges[k] + jump) + 1)
            if t.size:
                edges[k] = int(t[np.argmin(cost(edges[k - 1], t) + cost(t, edges[k + 1]))])
        return edges

    edges = move([0, *breaks, y.size])
    while len(edges) > 2:
        gain = [cost(edges[k - 1], edges[k + 1]) - cost(edges[k - 1], edges[k]) - cost(edges[k], edges[k + 1])
                for k in range(1, len(edges) - 1)]
        weakest = int(np.argmin(gain))
        if gain[weakest] >= penalty:
            break
        del edges[weakest + 1]
        edges = move(edges)
    return edges[1:-1]


def change_points(x: Sequence[float], penalty: float | None = None, min_size: int = 5,
                  min_shift: float = 0.1, model: str = "l2", max_candidates: int = 500) -> list[int]:
    """Positions where the series shifts, by PELT (``ruptures.Pelt``).

    The cost of a segment is ``model`` (``"l2"``: squared deviations from the
    segment mean, for shifts in level; evaluated in O(1) by
    :class:`CumulativeL2`); the number of shifts is chosen by the
    penalty per shift, by default

    .. math::  \\beta = \\max\\Big(4 \\hat\\sigma^2 \\log T,\\;
               \\tfrac{m}{2} (\\delta \\cdot \\mathrm{range}(x))^2\\Big),

    a BIC-like term with the noise variance :math:`\\hat\\sigma^2` estimated
    robustly from first differences
    (:math:`\\hat\\sigma = \\mathrm{MAD}(\\Delta x) / (0.6745 \\sqrt 2)`; the factor
    4 rather than BIC's 2 keeps false alarms rare on noisy series), and a floor
    that ignores level shifts smaller than :math:`\\delta` (``min_shift``) of
    the series' range between segments of :math:`m` (``min_size``) rounds: a
    shift of :math:`\\Delta` between two such segments lowers the l2 cost by
    :math:`m\\Delta^2/2`.  Noise-free piecewise-constant series get exactly
    their steps; a smooth ramp is cut into about :math:`1/\\delta` pieces.

    PELT's search is quadratic in the number of candidate positions when the
    series has few change points, so a series longer than ``max_candidates``
    rounds is searched on every :math:`J`-th position,
    :math:`J = \\lceil T / \\text{max\\_candidates} \\rceil` (``ruptures``'
    ``jump``), and with the l2 cost each change point found is then moved to
    the exact optimum within :math:`J` rounds of it, dropping any that no
    longer pays its penalty (:func:`_refine`).  Series
    of up to ``max_candidates`` rounds are searched exhaustively.

    Parameters
    ----------
    x : array_like
        The series, one value per round.
    penalty : float, optional
        Penalty per change point.
    min_size : int
        Minimum segment length.
    min_shift : float
        Smallest shift detected by the default penalty, as a fraction of the range.
    model : str
        A ruptures cost model (``"l2"``, ``"l1"``, ``"rbf"``, ...).
    max_candidates : int
        Largest number of candidate positions searched exhaustively.

    Returns
    -------
    list of int
        Indices into ``x`` where a new segment starts (sorted; empty if none).
    """
    y = np.asarray(x, dtype=float)
    if y.ndim != 1 or not np.all(np.isfinite(y)):
        raise ValueError("x: need a 1-d series of finite values")
    if max_candidates < 1:
        raise ValueError("max_candidates: must be at least 1")
    if y.size < 2 * min_size or np.ptp(y) == 0:
        return []
    if penalty is None:
        d = np.diff(y)
        sigma = np.median(np.abs(d - np.median(d))) / (0.6745 * np.sqrt(2))
        penalty = max(4.0 * sigma**2 * np.log(y.size), min_size / 2 * (min_shift * np.ptp(y)) ** 2)
    if penalty <= 0:
        raise ValueError("penalty: must be positive")
    jump = -(-y.size // max_candidates)
    search = ruptures.Pelt(custom_cost=CumulativeL2(), min_size=min_size, jump=jump) if model == "l2" \
        else ruptures.Pelt(model=model, min_size=min_size, jump=jump)
    breaks = [int(b) for b in search.fit(y.reshape(-1, 1)).predict(pen=penalty)[:-1]]
    if jump > 1 and model == "l2":
        breaks = _refine(y, breaks, jump, min_size, penalty)
    return breaks


def regime_shifts(model: pd.DataFrame, regimes: pd.Series | None = None,
                  columns: Sequence[str] = ("mean_action",), **kwargs) -> pd.DataFrame:
    """The shifts of a run: regime switches and change points, ordered by round.

    Parameters
    ----------
    model : pandas.DataFrame
        ``model.parquet`` of a run.
    regimes : pandas.Series, optional
        :func:`classify_rounds` of the run; each switch is listed.
    columns : sequence of str
        Series searched for change points (:func:`change_points`).
    **kwargs
        Passed to :func:`change_points`.

    Returns
    -------
    pandas.DataFrame
        ``round, kind, series, before, after``: ``kind`` is ``"regime"``
        (``before``/``after`` are regime names) or ``"change point"``
        (segment means of ``series`` before and after, formatted to 4 digits).
    """
    rounds = model["round"].to_numpy()
    rows = []
    if regimes is not None:
        spans = regime_spans(rounds, regimes.to_numpy())
        for prev, nxt in zip(spans.itertuples(), spans.iloc[1:].itertuples()):
            rows.append({"round": int(nxt.start), "kind": "regime", "series": "regime",
                         "before": prev.regime, "after": nxt.regime})
    for col in columns:
        if col not in model:
            raise ValueError(f"columns: no column {col!r} in the model table")
        y = model[col].to_numpy(dtype=float)
        cps = change_points(y, **kwargs)
        edges = [0, *cps, y.size]
        for k, cp in enumerate(cps):
            rows.append({"round": int(rounds[cp]), "kind": "change point", "series": col,
                         "before": f"{y[edges[k]:cp].mean():.4g}", "after": f"{y[cp:edges[k + 2]].mean():.4g}"})
    out = pd.DataFrame(rows, columns=["round", "kind", "series", "before", "after"])
    return out.sort_values(["round", "kind"], kind="stable").reset_index(drop=True)


def hysteresis(scenario: str | Path | dict, key: str, values: Sequence[float], *, rounds: int | None = None,
               metric: str = "mean_action", tol: float = 1e-6,
               overrides: Sequence[str] = ()) -> pd.DataFrame:
    """Sweep a scenario parameter up, then down, carrying the owners' actions along.

    For each value :math:`v_1 < \\dots < v_m` in turn (then :math:`v_m, \\dots, v_1`)
    the scenario runs with ``key=v`` and the same seed (so the same owners),
    starting from the actions the owners ended the previous value with.  Where
    the final ``metric`` of the upward and downward paths differ by more than
    ``tol`` at the same value, the market has several stable states there and
    which one it is in depends on its history.

    Parameters
    ----------
    scenario : str, path or dict
        Built-in name, TOML path or scenario dict (without churn: the owners
        must persist from one value to the next).
    key : str
        A ``--set`` key path, e.g. ``mechanism.price``.
    values : sequence of float
        The parameter values, in increasing order.
    rounds : int, optional
        Rounds per value (default: the scenario's).
    metric : str
        The ``model.parquet`` column compared between the paths.
    tol : float
        Difference above which the paths count as different.
    overrides : sequence of str
        Further ``key=value`` overrides.

    Returns
    -------
    pandas.DataFrame
        One row per value: ``value, up, down, differs``.
    """
    vals = [float(v) for v in values]
    if len(vals) < 2 or np.any(np.diff(vals) <= 0):
        raise ValueError("values: need at least two strictly increasing values")
    base = load(scenario, list(overrides), rounds=rounds)
    if base.churn["leave_rate"] > 0 or base.churn["join_rate"] > 0:
        raise ValueError("scenario: hysteresis needs a population without churn")
    finals: dict[str, list[float]] = {}
    for path, order in (("up", vals), ("down", vals[::-1])):
        carried = None
        finals[path] = []
        for v in order:
            model = DataMarket(base, overrides=[f"{key}={v!r}"])
            if carried is not None:
                model.owners.action[:] = carried
            model.run()
            finals[path].append(float(model.row[metric]))
            carried = model.owners.action.copy()
    up, down = np.array(finals["up"]), np.array(finals["down"][::-1])
    return pd.DataFrame({"value": vals, "up": up, "down": down, "differs": np.abs(up - down) > tol})


def shift_summary(model: pd.DataFrame, mechanism: str, space: ActionSpace, tol: float = 0.01,
                  columns: Sequence[str] = ("mean_action",)) -> dict[str, object]:
    """The regime part of a run summary (``summary.json``): the final regime and every shift with its round.

    Returns
    -------
    dict
        ``initial_regime`` and ``final_regime`` (:func:`classify_rounds` of the
        first and last rounds) and ``regime_shifts`` (``round, kind, series,
        before, after`` records of :func:`regime_shifts`: every switch of
        regime and every change point of ``columns``), all plain JSON data.
    """
    regimes = classify_rounds(model, mechanism, space, tol)
    shifts = regime_shifts(model, regimes, columns)
    return {"initial_regime": str(regimes.iloc[0]), "final_regime": str(regimes.iloc[-1]),
            "regime_shifts": [{"round": int(r.round), "kind": r.kind, "series": r.series,
                               "before": str(r.before), "after": str(r.after)} for r in shifts.itertuples()]}
