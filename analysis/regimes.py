"""Regimes of a market and the shifts between them: a measurement instrument (``docs/measures.md#regimes``).

* A **regime** is a persistent stationary state of the market.  Where the
  theory of the mechanism names qualitative classes
  (:meth:`~market.core.mechanism.Mechanism.regime_classes`: Theorem 3's
  "no incentives / mixed / all low-privacy" of paper 000, "collapse / tipped"
  of paper 001, "equilibrium / cycle" of paper 003, "informative / pooling"
  of paper 004) a regime is a run of at least ``min_duration`` rounds in one
  class (:func:`class_regimes`).  Otherwise it is a stationary level of the
  headline series ``mean_action`` (:func:`level_regimes`): a stretch of at
  least ``min_duration`` rounds whose linear drift stays below the shift
  threshold.
* A **regime shift** is a change from one regime to a different one: to
  another class, or to a level differing by more than the threshold
  :math:`\\delta = k \\hat\\sigma`, ``k`` (``noise_factor``) times the series'
  own noise estimated from the run (:func:`noise_scale`).  The new regime
  lasts at least ``min_duration`` rounds by construction.  The shift's round
  is the first round after the old regime ends.
* The **transient** is the approach from the initial state to the first
  regime; it is reported with its length and is never a shift.
* **Change points** (PELT of the ``ruptures`` library, :func:`change_points`)
  are a separate diagnostic, with a penalty calibrated to the estimated
  noise; the level regimes are built from them.

:func:`shift_summary` gives the regime part of ``summary.json``.  Also here:
per-round share classes for phase diagrams (:func:`classify_rounds`) and
hysteresis (:func:`hysteresis`: a parameter swept up then down).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import ruptures
from ruptures.base import BaseCost

from market.core.mechanism import ActionSpace, Mechanism
from market.simulation.model import DataMarket
from scenarios.schema import load

#: Rounds a regime must last (default of the instrument).
MIN_DURATION = 20
#: Shift threshold in units of the series' noise (default of the instrument).
NOISE_FACTOR = 5.0
#: Exploitability below which a round counts as at equilibrium (default; ``summary.json`` records it).
EQUILIBRIUM_TOL = 1e-6


def _level_shares(model: pd.DataFrame, space: ActionSpace) -> np.ndarray:
    columns = [f"share_{label}" for label in space.labels]
    missing = [c for c in columns if c not in model]
    if missing:
        raise ValueError(f"model: missing share columns {missing} of the action space")
    return model[columns].to_numpy(dtype=float)


def share_classes(model: pd.DataFrame, space: ActionSpace, tol: float = 0.01) -> np.ndarray:
    """Per-round share classes: ``all <level>`` when one level holds at least ``1 - tol`` of the owners, else ``mixed``.

    For a continuous action space: ``no contribution`` when ``share_zero``
    is at least ``1 - tol``, else ``contributing``.  A description of each
    round for phase diagrams, not a regime (a regime must persist).
    """
    if space.kind == "continuous":
        if "share_zero" not in model:
            raise ValueError("model: missing column 'share_zero'")
        return np.where(model["share_zero"].to_numpy() >= 1 - tol, "no contribution", "contributing")
    shares = _level_shares(model, space)
    top = shares.argmax(axis=1)
    names = np.array([f"all {label}" for label in space.labels], dtype=object)
    return np.where(shares.max(axis=1) >= 1 - tol, names[top], "mixed").astype(object)


def classify_rounds(model: pd.DataFrame, mechanism: Mechanism, tol: float = 0.01) -> pd.Series:
    """The class of every round: the mechanism's theory class, else :func:`share_classes`.

    Rounds in no theory class (``""``) are labelled ``"none"``.
    """
    if not 0 <= tol < 0.5:
        raise ValueError("tol: must be in [0, 0.5)")
    classes = mechanism.regime_classes({c: model[c].to_numpy() for c in model.columns})
    if classes is None:
        classes = share_classes(model, mechanism.action_space, tol)
    else:
        classes = np.where(np.asarray(classes) == "", "none", np.asarray(classes, dtype=object))
    return pd.Series(np.asarray(classes, dtype=object), index=model.index, name="regime")


def regime_order(classes: Sequence[str]) -> list[str]:
    """The distinct classes in order of first appearance (for plot colours)."""
    return list(dict.fromkeys(str(c) for c in classes))


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


def noise_scale(x: Sequence[float], window: int = MIN_DURATION) -> float:
    """The series' own noise :math:`\\hat\\sigma`, estimated from the run.

    .. math::  \\hat\\sigma = \\max\\Big(\\frac{\\mathrm{MAD}(\\Delta x)}{0.6745\\sqrt 2},\\;
               \\operatorname{median}_b \\operatorname{sd}(x_{b})\\Big)

    the larger of the round-to-round noise (robust, from first differences)
    and the median standard deviation within consecutive blocks :math:`b` of
    ``window`` rounds, which also sees slow wandering on the scale of a
    regime (a population that churns).  Medians make both insensitive to
    the few rounds of a shift or of the transient.  It is at least
    :math:`10^{-6}(1 + \\max|x|)`, the resolution below which a change is
    rounding (a market at rest has no noise at all).
    """
    y = np.asarray(x, dtype=float)
    floor = 1e-6 * (1.0 + float(np.max(np.abs(y)))) if y.size else 0.0
    if y.size < 3:
        return floor
    d = np.diff(y)
    sigma = float(np.median(np.abs(d - np.median(d))) / (0.6745 * np.sqrt(2)))
    blocks = y.size // window
    if window >= 2 and blocks >= 1:
        sigma = max(sigma, float(np.median(y[:blocks * window].reshape(blocks, window).std(axis=1, ddof=1))))
    return max(sigma, floor)


def change_points(x: Sequence[float], penalty: float | None = None, min_size: int = 5,
                  threshold: float | None = None, model: str = "l2", max_candidates: int = 500) -> list[int]:
    """Positions where the series shifts, by PELT (``ruptures.Pelt``): the change-point diagnostic.

    The cost of a segment is ``model`` (``"l2"``: squared deviations from the
    segment mean, for shifts in level; evaluated in O(1) by
    :class:`CumulativeL2`); the number of change points is chosen by the
    penalty per point, by default calibrated to the noise of the run:

    .. math::  \\beta = \\max\\Big(4 \\hat\\sigma^2 \\log T,\\; \\tfrac{m}{2} \\delta^2\\Big),
               \\qquad \\delta = k\\hat\\sigma \\ (\\text{``threshold``}),

    a BIC-like term with :math:`\\hat\\sigma` of :func:`noise_scale`, and the
    cost reduction :math:`m\\delta^2/2` of a level step of :math:`\\delta`
    between two segments of :math:`m` (``min_size``) rounds, so that steps
    smaller than the threshold are not cut.  Noise-free piecewise-constant
    series get exactly their steps; a ramp is cut into pieces.

    PELT's search is quadratic in the number of candidate positions when the
    series has few change points, so a series longer than ``max_candidates``
    rounds is searched on every :math:`J`-th position,
    :math:`J = \\lceil T / \\text{max\\_candidates} \\rceil` (``ruptures``'
    ``jump``), and with the l2 cost each change point found is then moved to
    the exact optimum within :math:`J` rounds of it, dropping any that no
    longer pays its penalty (:func:`_refine`).

    Parameters
    ----------
    x : array_like
        The series, one value per round.
    penalty : float, optional
        Penalty per change point (default: calibrated, see above).
    min_size : int
        Minimum segment length.
    threshold : float, optional
        Smallest level step :math:`\\delta` the default penalty detects
        (default :data:`NOISE_FACTOR` times :func:`noise_scale`).
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
        sigma = noise_scale(y)
        delta = NOISE_FACTOR * sigma if threshold is None else threshold
        penalty = max(4.0 * sigma**2 * np.log(y.size), min_size / 2 * delta**2)
    if penalty <= 0:
        raise ValueError("penalty: must be positive")
    jump = -(-y.size // max_candidates)
    search = ruptures.Pelt(custom_cost=CumulativeL2(), min_size=min_size, jump=jump) if model == "l2" \
        else ruptures.Pelt(model=model, min_size=min_size, jump=jump)
    breaks = [int(b) for b in search.fit(y.reshape(-1, 1)).predict(pen=penalty)[:-1]]
    if jump > 1 and model == "l2":
        breaks = _refine(y, breaks, jump, min_size, penalty)
    return breaks


@dataclass(frozen=True)
class Regime:
    """One regime: rows ``start .. end`` (inclusive) of the run, its class name and its level (mean of the series)."""

    start: int
    end: int
    label: str
    level: float


def _drift(y: np.ndarray) -> float:
    """Absolute change of the least-squares line through ``y`` over its span."""
    if y.size < 2:
        return 0.0
    t = np.arange(y.size, dtype=float) - (y.size - 1) / 2
    slope = float(np.dot(t, y - y.mean()) / np.dot(t, t))
    return abs(slope) * (y.size - 1)


def _stationary_part(y: np.ndarray, a: int, b: int, min_duration: int, delta: float) -> tuple[int, int] | None:
    """The longest stationary stretch of ``y[a:b]`` reached by trimming its head or its tail, or None.

    Stationary: at least ``min_duration`` rounds with a linear drift below ``delta / 2``.
    """
    if b - a < min_duration:
        return None
    for cut in range(0, b - a - min_duration + 1):
        if _drift(y[a + cut:b]) < delta / 2:
            return a + cut, b
        if cut and _drift(y[a:b - cut]) < delta / 2:
            return a, b - cut
    return None


def level_regimes(x: Sequence[float], min_duration: int = MIN_DURATION,
                  threshold: float | None = None) -> list[Regime]:
    """Stationary levels of a series (see the module docstring), in time order.

    1. Change points (:func:`change_points`, segments of at least 5 rounds)
       cut the series; adjacent segments whose means differ by less than the
       threshold :math:`\\delta` are merged, the closest pair first.
    2. A segment (trimmed at its head or tail where a ramp enters or leaves
       it) is a regime candidate when it lasts ``min_duration`` rounds and its
       linear drift stays below :math:`\\delta/2`; the rest are transitions.
    3. Consecutive candidates are one regime unless their levels, and the
       series on either side of the boundary, differ by at least
       :math:`\\delta` (:func:`_is_shift`): what lay between was a
       fluctuation or a slow drift.
    """
    y = np.asarray(x, dtype=float)
    if y.size < min_duration:
        return []
    delta = NOISE_FACTOR * noise_scale(y, min_duration) if threshold is None else threshold
    edges = [0, *change_points(y, min_size=5, threshold=delta), y.size]
    while len(edges) > 2:
        means = [y[edges[k]:edges[k + 1]].mean() for k in range(len(edges) - 1)]
        gaps = np.abs(np.diff(means))
        k = int(np.argmin(gaps))
        if gaps[k] >= delta:
            break
        del edges[k + 1]
    regimes: list[Regime] = []
    for a, b in zip(edges[:-1], edges[1:]):
        part = _stationary_part(y, a, b, min_duration, delta)
        if part is None:
            continue
        a, b = part
        level = float(y[a:b].mean())
        if regimes and not _is_shift(y, regimes[-1], a, b, level, delta, min_duration):
            a = regimes.pop().start
            level = float(y[a:b].mean())
        regimes.append(Regime(a, b - 1, f"{level:.4g}", level))
    return regimes


def _is_shift(y: np.ndarray, old: Regime, a: int, b: int, level: float, delta: float, min_duration: int) -> bool:
    """Whether the stretch ``y[a:b]`` at ``level`` is a new regime after ``old`` rather than more of it.

    Both the levels and the series on either side of the boundary must differ
    by at least ``delta``: the last ``min_duration // 2`` rounds of ``old``
    against the first as many of the new stretch.  A slow drift (the tail of
    an approach, a churning population wandering) moves the levels apart but
    not the series across the boundary.
    """
    w = max(2, min_duration // 2)
    across = abs(float(y[a:a + w].mean()) - float(y[max(old.start, old.end + 1 - w):old.end + 1].mean()))
    return abs(level - old.level) >= delta and across >= delta


def class_regimes(classes: Sequence[str], x: Sequence[float] | None = None,
                  min_duration: int = MIN_DURATION) -> list[Regime]:
    """Regimes from per-round theory classes: runs of at least ``min_duration`` rounds in one class.

    Shorter runs (flicker, rounds in no class ``""`` or ``"none"``) are
    transitions; consecutive regimes of the same class are one regime.  The
    level of a regime is the mean of ``x`` over it (NaN without ``x``).
    """
    c = np.asarray(classes, dtype=object)
    y = np.full(c.size, np.nan) if x is None else np.asarray(x, dtype=float)
    regimes: list[Regime] = []
    if c.size == 0:
        return regimes
    starts = np.r_[0, np.flatnonzero(c[1:] != c[:-1]) + 1]
    ends = np.r_[starts[1:], c.size]
    for a, b in zip(starts, ends):
        label = str(c[a])
        if label in ("", "none") or b - a < min_duration:
            continue
        if regimes and regimes[-1].label == label:
            a = regimes.pop().start
        regimes.append(Regime(int(a), int(b) - 1, label, float(np.mean(y[a:b]))))
    return regimes


@dataclass(frozen=True)
class RegimeAnalysis:
    """The regimes of a run, its transient and its shifts (rows of the model table, 0-based).

    Attributes
    ----------
    kind : {"class", "level"}
        Theory classes of the mechanism, or stationary levels of ``series``.
    series : str
        The headline series (levels; the classes' regimes carry its mean too).
    regimes : list of Regime
        In time order.
    noise : float
        :func:`noise_scale` of ``series``.
    threshold : float
        The shift threshold :math:`\\delta` of level regimes (``noise_factor * noise``).
    min_duration : int
        Rounds a regime must last.
    """

    kind: str
    series: str
    regimes: list[Regime]
    noise: float
    threshold: float
    min_duration: int

    @property
    def transient_length(self) -> int:
        """Rounds before the first regime (``-1``: no regime, the whole run is transient)."""
        return self.regimes[0].start if self.regimes else -1

    def shifts(self) -> list[tuple[Regime, Regime]]:
        """Consecutive pairs of regimes (each pair is one shift)."""
        return list(zip(self.regimes[:-1], self.regimes[1:]))


def analyse_regimes(model: pd.DataFrame, mechanism: Mechanism, *, series: str = "mean_action",
                    min_duration: int = MIN_DURATION, noise_factor: float = NOISE_FACTOR) -> RegimeAnalysis:
    """The regime instrument on one run (see the module docstring).

    Parameters
    ----------
    model : pandas.DataFrame
        ``model.parquet`` of the run.
    mechanism : Mechanism
        The run's mechanism (names its theory classes, if any).
    series : str
        The headline series.
    min_duration : int
        Rounds a regime must last.
    noise_factor : float
        Shift threshold in units of the estimated noise.
    """
    if min_duration < 2:
        raise ValueError("min_duration: must be at least 2")
    if series not in model:
        raise ValueError(f"series: no column {series!r} in the model table")
    y = model[series].to_numpy(dtype=float)
    noise = noise_scale(y, min_duration)
    threshold = noise_factor * noise
    classes = mechanism.regime_classes({c: model[c].to_numpy() for c in model.columns})
    if classes is not None:
        return RegimeAnalysis("class", series, class_regimes(classes, y, min_duration), noise, threshold,
                              min_duration)
    return RegimeAnalysis("level", series, level_regimes(y, min_duration, threshold), noise, threshold,
                          min_duration)


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


def _json_float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def shift_summary(model: pd.DataFrame, mechanism: Mechanism, *, min_duration: int = MIN_DURATION,
                  noise_factor: float = NOISE_FACTOR) -> dict[str, object]:
    """The regime part of ``summary.json`` (plain JSON data; ``docs/measures.md#summaryjson``).

    Returns
    -------
    dict
        ``regime_instrument`` (``kind``, ``series``, ``min_duration``,
        ``noise``, ``noise_factor``, ``threshold``), ``regimes`` (``start``,
        ``end`` rounds, ``regime``, ``level``), ``transient`` (``length`` in
        rounds and ``end_round``, its last round, ``null`` without transient;
        without any regime the whole run is transient and a ``note`` says so),
        ``initial_regime`` / ``final_regime`` (the first and last regime,
        ``null`` if none), ``regime_shifts`` (objects ``round``, ``from``,
        ``to`` and ``class`` or ``series`` with the level ``magnitude``) and
        ``change_points`` (the PELT diagnostic on the headline series:
        ``series``, ``noise`` its penalty is calibrated to, ``rounds``).
    """
    analysis = analyse_regimes(model, mechanism, min_duration=min_duration, noise_factor=noise_factor)
    rounds = model["round"].to_numpy()
    y = model[analysis.series].to_numpy(dtype=float)
    shifts = []
    for old, new in analysis.shifts():
        shift: dict[str, object] = {"round": int(rounds[old.end + 1]), "from": old.label, "to": new.label}
        if analysis.kind == "class":
            shift["class"] = "regime"
        else:
            shift["series"] = analysis.series
            shift["magnitude"] = float(new.level - old.level)
        shifts.append(shift)
    length = analysis.transient_length if analysis.regimes else len(rounds)
    transient: dict[str, object] = {"length": int(length),
                                    "end_round": int(rounds[length - 1]) if length > 0 else None}
    if not analysis.regimes:
        transient["note"] = "no regime: the run never stayed in one for min_duration rounds"
    regimes = [{"start": int(rounds[r.start]), "end": int(rounds[r.end]), "regime": r.label,
                "level": _json_float(r.level)} for r in analysis.regimes]
    finite = bool(np.all(np.isfinite(y)))
    return {
        "regime_instrument": {"kind": analysis.kind, "series": analysis.series, "min_duration": int(min_duration),
                              "noise": _json_float(analysis.noise), "noise_factor": float(noise_factor),
                              "threshold": _json_float(analysis.threshold)},
        "regimes": regimes,
        "transient": transient,
        "initial_regime": regimes[0]["regime"] if regimes else None,
        "final_regime": regimes[-1]["regime"] if regimes else None,
        "regime_shifts": shifts,
        "change_points": {"series": analysis.series, "noise": _json_float(analysis.noise),
                          "rounds": [int(rounds[c]) for c in change_points(y)] if finite else []},
    }
