"""Procurement auctions for privacy parameters (FL-Market, paper 002, Sec. 5).

A gradient buyer with financial budget :math:`B` buys privacy parameters
:math:`\\varepsilon_i` from :math:`n` data owners.  Owner :math:`i` has a
privacy valuation :math:`v_i(\\varepsilon)` (non-decreasing, :math:`v_i(0) = 0`)
and a privacy budget :math:`\\bar\\varepsilon_i`; her utility (Sec. 3.3) is

.. math::  u_i = p_i - v_i(\\varepsilon_i) \\text{ if } \\varepsilon_i \\le \\bar\\varepsilon_i,
           \\qquad -\\infty \\text{ otherwise}.

Valuations are the paper's synthetic families (Sec. 6.1) scaled by a rate
:math:`\\alpha`: ``linear`` :math:`2\\alpha\\varepsilon`, ``quadratic``
:math:`\\alpha\\varepsilon^2`, ``sqrt`` :math:`2\\alpha\\sqrt{\\varepsilon}`, ``exp``
:math:`\\alpha(e^{\\varepsilon} - 1)`, plus the single-minded ``step``
:math:`\\alpha\\,\\mathbb 1[\\varepsilon > 0]` of Sec. 5.1.  A reported bid is a
(possibly shaded) rate :math:`\\alpha'` and a reported budget
:math:`\\bar\\varepsilon'`; the family is public.

Auctions (all vectorised over a batch of profiles: arrays of shape ``(..., n)``
and a budget of shape ``(...)``):

* :func:`all_in` -- Algorithm 4 for single-minded owners, exactly as printed
  (the "skip" loop; the prose's "prefix" loop is an option).  **Not truthful**,
  contrary to Proposition 5.1 (docs/models/fl_market.md#alg-4, #g8); measure it with
  :func:`empirical_regret`.
* :func:`proportional_share` -- a training-free, budget-feasible and
  individually rational mechanism for multi-minded owners (random-sampling
  proportional-share posted prices), exactly truthful in both bid parameters
  with a continuous menu (``M = 0``) and in the valuation with the paper's
  grid menu (``M >= 1``).  A training-free alternative to MURBA, the learned
  auction of Sec. 5.2 (:mod:`market.theory.fl_market.murba`; a trained network has the same
  signature and can be passed wherever an auction function is taken).

:func:`trade` runs one round of the framework (Algorithm 1): an auction, then
an aggregation rule and the error bound.  :data:`COMBINATIONS` lists the
auction x aggregation pairs compared in the evaluation.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from market.theory.fl_market.aggregation import AGGREGATIONS, aggregate, error_bound

#: Valuation families (index = the ``valuation`` id of an owner).
VALUATIONS = ("linear", "quadratic", "sqrt", "exp", "step")
LINEAR, QUADRATIC, SQRT, EXP, STEP = range(len(VALUATIONS))
#: The four families of the paper's synthetic owners (Sec. 6.1).
PAPER_VALUATIONS = (LINEAR, QUADRATIC, SQRT, EXP)


def valuation(kind: np.ndarray, rate: np.ndarray, epsilon: np.ndarray) -> np.ndarray:
    """Privacy valuation :math:`v(\\varepsilon) = \\alpha\\, v^f(\\varepsilon)` of family ``kind``.

    Parameters
    ----------
    kind : numpy.ndarray of int
        Family index into :data:`VALUATIONS`.
    rate : numpy.ndarray
        The scale :math:`\\alpha \\ge 0`.
    epsilon : numpy.ndarray
        Privacy loss :math:`\\varepsilon \\ge 0` (broadcast with ``kind`` and ``rate``).
    """
    k, eps = np.broadcast_arrays(np.asarray(kind), np.asarray(epsilon, dtype=float))
    if k.size and (k.min() < 0 or k.max() >= len(VALUATIONS)):
        raise ValueError(f"kind: valuation ids must be in 0..{len(VALUATIONS) - 1}")
    present = np.flatnonzero(np.bincount(k.ravel(), minlength=len(VALUATIONS)))
    if present.size == 1:                        # one family: no masking
        base = _FAMILIES[present[0]](eps)
    else:
        base = np.empty(eps.shape)
        for family in present:                   # over the five families, not owners
            mask = k == family
            base[mask] = _FAMILIES[family](eps[mask])
    return np.asarray(rate, dtype=float) * base


#: :math:`v^f(\\varepsilon)` of each family, in the order of :data:`VALUATIONS`.
_FAMILIES: tuple[Callable[[np.ndarray], np.ndarray], ...] = (
    lambda e: 2.0 * e, np.square, lambda e: 2.0 * np.sqrt(e), np.expm1, lambda e: (e > 0).astype(float))


@dataclass(frozen=True)
class Allocation:
    """An auction's outcome for a batch of profiles.

    Attributes
    ----------
    epsilon : numpy.ndarray, shape (..., n)
        Privacy parameter bought from each owner (0 = lost).
    payment : numpy.ndarray, shape (..., n)
        Payment to each owner.
    price, cap : numpy.ndarray or None
        :func:`proportional_share` only: the unit price each owner was offered
        and the most privacy she could sell (her menu, independent of her own bid).
    """

    epsilon: np.ndarray
    payment: np.ndarray
    price: np.ndarray | None = None
    cap: np.ndarray | None = None


def _bids(rate: np.ndarray, eps_bar: np.ndarray, budget: np.ndarray) -> tuple[np.ndarray, ...]:
    rate = np.asarray(rate, dtype=float)
    eps_bar = np.asarray(eps_bar, dtype=float)
    rate, eps_bar = np.broadcast_arrays(rate, eps_bar)
    budget = np.broadcast_to(np.asarray(budget, dtype=float), rate.shape[:-1])
    if np.any(~np.isfinite(rate)) or np.any(rate < 0):
        raise ValueError("rate: valuations must be finite and non-negative")
    if np.any(~np.isfinite(eps_bar)) or np.any(eps_bar <= 0):
        raise ValueError("eps_bar: privacy budgets must be positive and finite")
    if np.any(~np.isfinite(budget)) or np.any(budget < 0):
        raise ValueError("budget: must be non-negative and finite")
    return rate, eps_bar, budget


def all_in(
    value: np.ndarray, eps_bar: np.ndarray, budget: np.ndarray | float, loop: str = "skip",
    data_size: np.ndarray | None = None,
) -> Allocation:
    """All-in (Algorithm 4): proportional-share auction for single-minded owners.

    Owners are scanned in ascending order of unit valuation
    :math:`v_i^{unit} = V'_i/\\bar\\varepsilon'_i` (stable sort: ties by lowest
    index); owner :math:`i` joins the winners :math:`W` if
    :math:`v_i^{unit} \\le B / \\sum_{j \\in W \\cup \\{i\\}} \\bar\\varepsilon'_j`.  Winners
    sell their whole budget, :math:`\\varepsilon_i = \\bar\\varepsilon'_i`, at the unit
    price :math:`p^{unit} = B/\\sum_{j\\in W}\\bar\\varepsilon'_j` (the printed step 5
    has a typo, docs/models/fl_market.md#alg-4), so :math:`p_i = \\varepsilon_i p^{unit}` and
    :math:`\\sum_i p_i = B` whenever :math:`W \\ne \\emptyset`.

    Budget feasible and individually rational, but **not truthful**: a loser
    can lower :math:`V'` to move ahead in the order and displace others
    (docs/models/fl_market.md#g8: owners (6, 2) and (3.2, 1) with B = 8 -- the second gains 4.8
    by reporting V' = 0.5), contrary to Proposition 5.1.

    Parameters
    ----------
    value : numpy.ndarray, shape (..., n)
        Reported single-minded valuations :math:`V'_i \\ge 0`.
    eps_bar : numpy.ndarray, shape (..., n)
        Reported privacy budgets :math:`\\bar\\varepsilon'_i > 0`.
    budget : float or numpy.ndarray, shape (...)
        Financial budget :math:`B`.
    loop : {"skip", "prefix"}
        ``"skip"`` is the printed pseudo-code (keep scanning after a failed
        owner); ``"prefix"`` is the prose's reading (stop at the first failure).
        They differ, e.g. V = (10.5, 3), eps_bar = (5, 1), B = 10 (docs/models/fl_market.md#g7).
    data_size : numpy.ndarray, shape (..., n), optional
        Owners' data sizes :math:`|D_i|`, as in the authors' released code: the
        unit valuation becomes :math:`V'_i/(\\bar\\varepsilon'_i |D_i|)`, the scan
        accumulates :math:`\\bar\\varepsilon'_j |D_j|` and winner *i* is paid
        :math:`\\bar\\varepsilon'_i |D_i|\\, B/\\sum_{j\\in W}\\bar\\varepsilon'_j|D_j|`.
        ``None`` (every size 1) gives exactly the paper's auction.

    Returns
    -------
    Allocation
    """
    if loop not in ("skip", "prefix"):
        raise ValueError(f"loop: must be 'skip' or 'prefix', got {loop!r}")
    value, eps_bar, budget = _bids(value, eps_bar, budget)
    quantity = eps_bar if data_size is None else eps_bar * _sizes(data_size, eps_bar.shape)
    unit = value / quantity
    order = np.argsort(unit, axis=-1, kind="stable")
    unit_s = np.take_along_axis(unit, order, axis=-1)
    quantity_s = np.take_along_axis(quantity, order, axis=-1)
    win_s = _all_in_scan(unit_s, quantity_s, budget, loop)
    win = np.zeros_like(win_s)
    np.put_along_axis(win, order, win_s, axis=-1)
    sold = np.where(win, quantity, 0.0)
    total = sold.sum(axis=-1)
    p_unit = np.divide(budget, total, out=np.zeros_like(total), where=total > 0)
    return Allocation(epsilon=np.where(win, eps_bar, 0.0), payment=sold * p_unit[..., None])


def _sizes(data_size: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Data sizes broadcast to the bids' shape, checked positive and finite."""
    size = np.broadcast_to(np.asarray(data_size, dtype=float), shape)
    if np.any(~np.isfinite(size)) or np.any(size <= 0):
        raise ValueError("data_size: data sizes must be positive and finite")
    return size


def fair_query(value: np.ndarray, eps_bar: np.ndarray, budget: np.ndarray | float) -> Allocation:
    """FairQuery: the single-minded baseline auction of the authors' released code, vectorised.

    Owners are scanned in ascending order of reported valuation :math:`V'`
    (stable sort).  The scan stops at the first position :math:`i` (0-based) where
    either :math:`V'_{(i)} > B/(i+1)` or some owner among the first :math:`i+1`
    has :math:`\\bar\\varepsilon'_{(j)} < \\bar\\varepsilon'_{max}/(n-i-1)`; the
    :math:`k` owners before it win.  Every winner sells the same privacy
    parameter :math:`\\varepsilon = \\bar\\varepsilon'_{max}/(n-k)` at the same
    price :math:`\\min(B/k, V'_{(k)})`, the first loser's valuation capped by an
    equal split of the budget.

    Budget feasible (:math:`k \\min(B/k,\\cdot) \\le B`) and individually rational
    for valuations non-decreasing in :math:`\\varepsilon`: a winner's
    :math:`\\varepsilon \\le \\bar\\varepsilon'_i` (the check at position
    :math:`k-1` covers every winner) and her price is at least
    :math:`V'_{(k-1)} \\ge V'_i`.  The last owner in the order can never win
    (the threshold :math:`\\bar\\varepsilon'_{max}/0` is infinite), so one owner
    alone sells nothing.

    Parameters
    ----------
    value : numpy.ndarray, shape (..., n)
        Reported single-minded valuations :math:`V'_i \\ge 0`.
    eps_bar : numpy.ndarray, shape (..., n)
        Reported privacy budgets :math:`\\bar\\varepsilon'_i > 0`.
    budget : float or numpy.ndarray, shape (...)
        Financial budget :math:`B`.

    Returns
    -------
    Allocation
    """
    value, eps_bar, budget = _bids(value, eps_bar, budget)
    n = value.shape[-1]
    order = np.argsort(value, axis=-1, kind="stable")
    v_s = np.take_along_axis(value, order, axis=-1)
    e_s = np.take_along_axis(eps_bar, order, axis=-1)
    position = np.arange(n)
    eps_max = eps_bar.max(axis=-1, initial=0.0)[..., None]
    with np.errstate(divide="ignore"):
        need = eps_max / (n - 1 - position)                   # inf at the last position
    ok = (v_s <= budget[..., None] / (position + 1)) & (np.minimum.accumulate(e_s, axis=-1) >= need)
    k = np.argmin(ok, axis=-1) if n else np.zeros(budget.shape, dtype=int)   # first failure exists
    first_loser = np.take_along_axis(v_s, np.minimum(k, n - 1)[..., None], axis=-1)[..., 0] if n else budget
    price = np.where(k > 0, np.minimum(budget / np.maximum(k, 1), first_loser), 0.0)
    eps = eps_max[..., 0] / np.maximum(n - k, 1)
    win_s = position < k[..., None]
    win = np.zeros_like(win_s)
    np.put_along_axis(win, order, win_s, axis=-1)
    return Allocation(epsilon=np.where(win, eps[..., None], 0.0), payment=np.where(win, price[..., None], 0.0))


def _all_in_scan(unit: np.ndarray, eps: np.ndarray, budget: np.ndarray, loop: str) -> np.ndarray:
    """Winners of All-in's scan over owners sorted by unit valuation (shape ``(..., n)``).

    The scan read literally: owner *k* joins if :math:`v^{unit}_k \\le B/(T + \\bar\\varepsilon'_k)`
    with :math:`T` the winners' total so far (``"skip"`` keeps scanning after a
    failure, ``"prefix"`` stops).  Vectorised in passes, not owner by owner:
    every open owner is first assumed to join; those before the first failure
    do, the failing one does not.  Under ``"skip"`` every open owner who fails
    at the new total is then closed at once -- :math:`T` only grows, so she
    would fail at her turn too -- and the next pass starts with an owner who
    joins.
    """
    n = unit.shape[-1]
    index = np.arange(n)
    win = np.zeros(unit.shape, dtype=bool)
    open_ = np.ones(unit.shape, dtype=bool)
    total = np.zeros(budget.shape)
    with np.errstate(divide="ignore"):           # B / 0 = inf: an owner with nothing to add always fits
        while open_.any():
            joined = total[..., None] + np.cumsum(np.where(open_, eps, 0.0), axis=-1)
            fails = open_ & ~(unit <= budget[..., None] / joined)
            first = np.where(fails.any(axis=-1), np.argmax(fails, axis=-1), n)[..., None]
            take = open_ & (index < first)
            win |= take
            total = total + np.where(take, eps, 0.0).sum(axis=-1)
            if loop == "prefix":
                break
            open_ &= index > first
            open_ &= unit <= budget[..., None] / (total[..., None] + eps)
    return win


def bid_transformation(
    kind: np.ndarray, rate: np.ndarray, eps_bar: np.ndarray, M: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-bids of Algorithm 5 step 1: items :math:`\\bar\\varepsilon'/m` and values :math:`v'(\\bar\\varepsilon'/m)`, m = 1..M.

    Returns ``(items, values)`` of shape ``(..., M)`` (the printed sub-bid
    tuple has a typo, docs/models/fl_market.md#alg-5).  E.g. :math:`\\bar\\varepsilon' = 2`,
    ``M = 4``, linear :math:`\\alpha = 1`: items (2, 1, 2/3, 1/2), values
    (4, 2, 4/3, 1) (docs/models/fl_market.md#g9).
    """
    if M < 1:
        raise ValueError(f"M: the number of sub-bids must be at least 1, got {M}")
    items = np.asarray(eps_bar, dtype=float)[..., None] / np.arange(1, M + 1, dtype=float)
    values = valuation(np.asarray(kind)[..., None], np.asarray(rate, dtype=float)[..., None], items)
    return items, values


def menu_choice(
    kind: np.ndarray,
    rate: np.ndarray,
    price: np.ndarray,
    cap: np.ndarray,
    eps_bar: np.ndarray,
    M: int = 0,
) -> np.ndarray:
    """The privacy an owner sells at unit price ``price``: her favourite menu item.

    The menu is :math:`\\{(\\varepsilon, \\pi\\varepsilon)\\}` over
    :math:`\\varepsilon \\in [0, \\min(\\bar\\varepsilon', q)]` (``M = 0``), or over
    the paper's bid-transformation grid :math:`\\{0\\} \\cup \\{\\bar\\varepsilon'/m :
    m = 1..M\\}` capped at :math:`q` (``M >= 1``, Algorithm 5 step 1).  The owner
    maximises :math:`\\pi\\varepsilon - v'(\\varepsilon)` with her reported valuation;
    for ``M = 0`` in closed form (docs/models/fl_market.md#g12): linear
    :math:`q\\,\\mathbb 1[\\pi > 2\\alpha]`, quadratic :math:`\\min(q, \\pi/2\\alpha)`,
    sqrt :math:`q\\,\\mathbb 1[\\pi q > 2\\alpha\\sqrt q]`, exp
    :math:`\\min(q, \\ln(\\pi/\\alpha))^+`, step :math:`q\\,\\mathbb 1[\\pi q > \\alpha]`.
    Indifference is resolved towards selling less.
    """
    kind = np.asarray(kind)
    if np.any((kind < 0) | (kind >= len(VALUATIONS))):
        raise ValueError(f"kind: valuation ids must be in 0..{len(VALUATIONS) - 1}")
    rate, price, cap, eps_bar = (np.asarray(a, dtype=float) for a in (rate, price, cap, eps_bar))
    q = np.maximum(np.minimum(eps_bar, cap), 0.0)
    if M == 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            quad = np.minimum(q, np.where(price > 0, price / (2.0 * rate), 0.0))
            expo = np.where(price > rate, np.minimum(q, np.log(price / rate)), 0.0)
            choice = np.select(
                [kind == LINEAR, kind == QUADRATIC, kind == SQRT, kind == EXP],
                [np.where(price > 2.0 * rate, q, 0.0), quad,
                 np.where(price * q > 2.0 * rate * np.sqrt(q), q, 0.0), expo],
                default=np.where(price * q > rate, q, 0.0),
            )
        return np.where(q > 0, choice, 0.0)
    return _grid_choice(_menu_grid(kind, rate, eps_bar, M), price, q)


def menu_choice_by_shading(
    kind: np.ndarray,
    rate: np.ndarray,
    shading: np.ndarray,
    price: np.ndarray,
    cap: np.ndarray,
    eps_bar: np.ndarray,
    M: int,
    hull: MenuHull | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`menu_choice` of every owner for every shaded report ``rate * shading``, in one pass.

    Equal to ``menu_choice(kind, rate[:, None] * shading, price[..., None],
    cap[..., None], eps_bar, M)`` broadcast over the candidates.  With a grid
    menu (``M >= 1``) each owner's choice for report :math:`s\\alpha` is the
    vertex of her menu's lower convex hull (:class:`MenuHull`, the same for
    every report) whose breakpoints bracket :math:`\\pi/(s\\alpha)`: a count of
    breakpoints per candidate, no valuations; only owners whose cap is
    below their top item go through the item-by-item pass.

    Parameters
    ----------
    kind, rate, eps_bar : numpy.ndarray, shape (n,)
        Valuation families, true rates and reported privacy budgets.
    shading : numpy.ndarray, shape (C,)
        Candidate reports as factors of the true rate.
    price, cap : numpy.ndarray, shape (B, n)
        Each owner's menu in each of ``B`` auctions.
    M : int
        Number of sub-bids of the grid (0: continuous menu, solved in closed form).
    hull : MenuHull, optional
        ``MenuHull.of(kind, eps_bar, M)`` if at hand (``M >= 1``).

    Returns
    -------
    epsilon, unit_value : numpy.ndarray, shape (B, n, C)
        The privacy each report sells and its unit valuation :math:`v^f(\\varepsilon)`
        (the true valuation is ``rate * unit_value``).
    """
    reported = rate[:, None] * shading
    shape = price.shape + (shading.size,)
    if M == 0:
        e = menu_choice(np.broadcast_to(kind[:, None], shape), reported,
                        np.broadcast_to(price[..., None], shape), np.broadcast_to(cap[..., None], shape),
                        np.broadcast_to(eps_bar[:, None], shape), 0)
        return e, valuation(kind[:, None], 1.0, e)
    hull = MenuHull.of(kind, eps_bar, M) if hull is None else hull
    q = np.maximum(np.minimum(eps_bar, cap), 0.0)
    # candidates before owners, (B, C, n): every pass runs along the long owner axis
    e, unit = hull.choice(price[..., None, :], reported.T, q[..., None, :], kind, eps_bar, M)
    return np.moveaxis(e, -2, -1), np.moveaxis(unit, -2, -1)


def _menu_grid(
    kind: np.ndarray, rate: np.ndarray, eps_bar: np.ndarray, M: int
) -> tuple[np.ndarray, np.ndarray]:
    """The grid menu ``(items, values)`` in ascending order with the empty item 0 first."""
    items, values = bid_transformation(kind, rate, eps_bar, M)
    zero = np.zeros(items.shape[:-1] + (1,))
    return (np.concatenate([zero, items[..., ::-1]], axis=-1),
            np.concatenate([zero, values[..., ::-1]], axis=-1))


def _grid_choice(grid: tuple[np.ndarray, np.ndarray], price: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Favourite grid item at unit price ``price`` among the items up to ``q`` (ties: the smaller)."""
    items, values = grid
    gain = price[..., None] * items - values
    gain = np.where(items <= q[..., None] * (1 + 1e-12), gain, -np.inf)
    best = np.argmax(gain, axis=-1)
    return np.minimum(np.take_along_axis(items, best[..., None], axis=-1)[..., 0], q)


#: Ratios per block of :meth:`MenuHull._count_below` (a block of float64 ratios fits a core's L2 cache).
COUNT_BLOCK = 2**15
#: Relative margin below which a capped owner counts as able to afford every item (as in :func:`_grid_choice`).
CAP_MARGIN = 1e-12


@dataclass(frozen=True)
class MenuHull:
    """Lower convex hull of each owner's grid menu at unit rate: her choice at any price, for any report.

    With the paper's grid menu (``M >= 1``) the items :math:`x_k =
    \\bar\\varepsilon'/m` do not depend on the reported rate :math:`r`, and their
    values are :math:`r\\, v^f(x_k)`.  Scaling the values by :math:`r > 0` scales
    every slope by :math:`r`, so the items an owner ever picks -- the
    vertices of the menu's lower convex hull, item :math:`k` picked at unit
    price :math:`\\pi` for :math:`\\pi \\in (r a_k, r a_{k'}]` (:math:`k'` the next
    vertex, :math:`a_k` the largest slope from an item below; ties go to the
    smaller item, as :func:`menu_choice`) -- are the same for every report.
    They are found once per owner (an :math:`O(M^2)` pass, kept by the caller
    while the families and budgets are unchanged), after which a choice is a
    count of breakpoints below :math:`\\pi/r`: no valuations, one comparison per
    hull item instead of a product, a valuation and a comparison per item.
    A cap below the top item (:func:`menu_choice`'s :math:`q`) can make a
    non-vertex item best; such owners (in the auction only the one whose
    turn exhausts the budget) go through the item-by-item pass.  Whether a
    capped owner sells at all is again a comparison: she does iff
    :math:`\\pi/r` exceeds the smallest unit slope :math:`v^f(x_k)/x_k` among
    her affordable items (``floor``, a running minimum over the items).

    The breakpoints of report :math:`r` are :math:`r a_k` here and
    :math:`(r v_k - r v_i)/(x_k - x_i)` in the item-by-item pass: equal up to
    rounding, so choices agree except when a price lies within a few ulps of
    a breakpoint (``tests/test_fast_paths.py`` pins both to each other).

    The arrays are item-major, ``(M + 1, ...)``: a pass over one hull rank
    reads a contiguous row of all owners (about 20 times faster than a
    strided column).

    Attributes
    ----------
    items, values : numpy.ndarray, shape (M + 1, ...)
        The hull vertices in ascending order (the empty item 0 first) and
        their unit values :math:`v^f(x_k)`; the unused tail repeats the top item.
    breaks : numpy.ndarray, shape (M + 1, ...)
        :math:`a_k` of each vertex (``-inf`` for the empty item, ``+inf`` in the tail).
    floor : numpy.ndarray, shape (M + 1, ...)
        ``floor[j]``: the smallest unit slope :math:`v^f(x_k)/x_k` of the
        ``j`` smallest grid items (``+inf`` for ``j = 0``).
    """

    items: np.ndarray
    values: np.ndarray
    breaks: np.ndarray
    floor: np.ndarray

    @classmethod
    def of(cls, kind: np.ndarray, eps_bar: np.ndarray, M: int) -> MenuHull:
        """The hulls of the grid menus of families ``kind`` and reported budgets ``eps_bar`` (``M >= 1``)."""
        x, u = _menu_grid(kind, np.ones(np.shape(kind)), eps_bar, M)
        a, b = _hull_slopes(x, u)
        on = a < b                                   # the vertices (the empty item: a = -inf < b)
        order = np.argsort(~on, axis=-1, kind="stable")  # vertices first, in ascending order
        count = on.sum(axis=-1, keepdims=True)
        tail = np.arange(x.shape[-1]) >= count
        items = np.take_along_axis(x, order, axis=-1)
        values = np.take_along_axis(u, order, axis=-1)
        top = np.take_along_axis(items, count - 1, axis=-1)
        top_value = np.take_along_axis(values, count - 1, axis=-1)
        floor = np.concatenate([np.full(x.shape[:-1] + (1,), np.inf),
                                np.minimum.accumulate(u[..., 1:] / x[..., 1:], axis=-1)], axis=-1)
        first = lambda a: np.ascontiguousarray(np.moveaxis(a, -1, 0))  # noqa: E731  (item-major)
        return cls(first(np.where(tail, top, items)), first(np.where(tail, top_value, values)),
                   first(np.where(tail, np.inf, np.take_along_axis(a, order, axis=-1))), first(floor))

    def to_array(self) -> np.ndarray:
        """``(4, M + 1, ...)``: the four arrays stacked (a caller's cache as one array)."""
        return np.stack([self.items, self.values, self.breaks, self.floor])

    def take(self, index) -> MenuHull:
        """The hulls of the owners ``index`` (an index of the owner axis, the last)."""
        return MenuHull(*(a[..., index] for a in (self.items, self.values, self.breaks, self.floor)))

    def _at(self, shape: tuple[int, ...], where: np.ndarray) -> MenuHull:
        """The hulls broadcast to ``shape`` and taken at the elements ``where`` (flattened)."""
        lift = lambda a: a.reshape(a.shape[:1] + (1,) * (len(shape) + 1 - a.ndim) + a.shape[1:])  # noqa: E731
        return MenuHull(*(np.broadcast_to(lift(a), a.shape[:1] + shape)[:, where]
                          for a in (self.items, self.values, self.breaks, self.floor)))

    @staticmethod
    def _gather(index: np.ndarray, *tables: np.ndarray) -> tuple[np.ndarray, ...]:
        """``table[index, ...]`` per element of each table, ``index`` of the broadcast shape.

        One flat index for all the tables (of one shape), then one ``take`` each.
        """
        batch = tables[0].shape[1:]
        owner = np.arange(int(np.prod(batch, dtype=np.int64)), dtype=np.intp).reshape(batch)
        flat = index.astype(np.intp)
        flat *= owner.size
        flat += owner
        return tuple(np.take(np.ascontiguousarray(t).reshape(-1), flat) for t in tables)

    def _count_below(self, ratio: np.ndarray) -> np.ndarray:
        """The hull index of each ratio: the number of breakpoints :math:`a_k` (k >= 1) below it.

        One comparison pass per hull rank, in cache-sized blocks of the owner
        axis (the last): the passes then re-read a block from cache instead of
        the whole ratio array from memory, several times faster at 10^5 owners.
        The comparisons go to one boolean buffer added as ``uint8`` (no casts,
        no temporaries): the same counts as ``out += r > a_k``.
        """
        # ranks with a vertex for some owner (the empty item's -inf counts for everyone: rank 0 is skipped)
        ranks = 1 + int(np.isfinite(self.breaks[1:].reshape(self.breaks.shape[0] - 1, -1)).any(axis=1).sum())
        index = np.zeros(ratio.shape, dtype=np.uint8)
        width = max(256, COUNT_BLOCK * max(ratio.shape[-1], 1) // max(ratio.size, 1))
        above = np.empty(ratio.shape[:-1] + (min(width, ratio.shape[-1]),), dtype=bool)
        for lo in range(0, ratio.shape[-1], width):  # over blocks of owners
            block = (Ellipsis, slice(lo, lo + width))
            r, out = ratio[block], index[block]
            t = above[..., :r.shape[-1]]
            for k in range(1, ranks):                # over hull ranks, not owners
                np.greater(r, self.breaks[k][block], out=t)
                np.add(out, t.view(np.uint8), out=out)
        return index

    @staticmethod
    def _ratio(price: np.ndarray, rate: np.ndarray) -> np.ndarray:
        """:math:`\\pi / r`, the price in units of the report (``inf`` for a free report, 0 at price 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(rate > 0, price / rate, np.where(price > 0, np.inf, 0.0))

    def choice(self, price: np.ndarray, rate: np.ndarray, q: np.ndarray, kind: np.ndarray,
               eps_bar: np.ndarray, M: int, where: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:func:`menu_choice` at unit price ``price`` and reported rate ``rate`` among the items up to ``q``.

        ``q`` is :math:`\\min(\\bar\\varepsilon', \\text{cap})`; ``kind`` and ``eps_bar``
        rebuild the grid of the capped owners only.  All arrays broadcast to
        the hulls' batch shape (the owner axis last); with ``where`` only those elements are
        chosen (the others sell 0).  Returns the privacy sold and its unit
        value :math:`v^f`.
        """
        shape = np.broadcast_shapes(np.shape(price), np.shape(rate), np.shape(q), np.shape(eps_bar),
                                    self.items.shape[1:])
        args = [np.broadcast_to(np.asarray(a, dtype=float), shape) for a in (price, rate, q, eps_bar)]
        kind = np.broadcast_to(np.asarray(kind), shape)
        if where is not None:
            e, unit = np.zeros(shape), np.zeros(shape)
            e[where], unit[where] = self._at(shape, where).choice(*(a[where] for a in args[:3]), kind[where],
                                                                   args[3][where], M)
            return e, unit
        # the caps' masks on the inputs' own shapes (a cap does not vary with the candidate report)
        q_in, eps_in = np.asarray(q, dtype=float), np.asarray(eps_bar, dtype=float)
        free = q_in >= eps_in                        # every item affordable: the hull's choice
        none = q_in * (1 + CAP_MARGIN) < eps_in / M  # not even the smallest item: nothing
        capped = np.broadcast_to(~free & ~none, shape)
        price, rate, q, eps_bar = args
        rate_in = np.asarray(rate, dtype=float)
        ratio = np.divide(price, rate) if np.all(rate_in > 0) else self._ratio(price, rate)
        index = self._count_below(ratio)
        e, unit = self._gather(index, self.items, self.values)
        if not free.all():
            e = np.where(free, e, 0.0)
            unit = np.where(free, unit, 0.0)
        if capped.any():                             # the item-by-item pass for the capped few
            k = kind[capped]
            grid = _menu_grid(k, np.ones(k.shape), eps_bar[capped], M)
            pick = _grid_choice((grid[0], rate[capped][:, None] * grid[1]), price[capped], q[capped])
            e[capped] = pick
            unit[capped] = valuation(k, 1.0, pick)
        return e, unit

    def sells(self, price: np.ndarray, rate: np.ndarray, q: np.ndarray, eps_bar: np.ndarray,
              M: int) -> np.ndarray:
        """Whether :meth:`choice` sells anything (a positive item), without choosing the item.

        The affordable items are the ``j`` smallest, :math:`\\bar\\varepsilon'/m \\le q`
        (tested as :func:`_grid_choice` does); some has a positive gain iff
        :math:`\\pi/r` exceeds ``floor[j]``.
        """
        shape = np.broadcast_shapes(np.shape(price), np.shape(rate), np.shape(q), np.shape(eps_bar),
                                    self.items.shape[1:])
        eps_bar = np.broadcast_to(np.asarray(eps_bar, dtype=float), shape)
        bound = np.broadcast_to(np.asarray(q, dtype=float), shape) * (1 + CAP_MARGIN)
        with np.errstate(divide="ignore", invalid="ignore"):
            m = np.clip(np.ceil(eps_bar / bound), 1, M + 1)   # the smallest affordable m, then exact:
            m = np.where((m > 1) & (eps_bar / np.maximum(m - 1, 1) <= bound), m - 1, m)
            m = np.where((m <= M) & (eps_bar / m > bound), m + 1, m)
        floor, = self._gather((M + 1 - m).astype(np.intp), self.floor)
        return self._ratio(np.broadcast_to(price, shape), np.broadcast_to(rate, shape)) > floor


def _hull_slopes(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:math:`a_k = \\max_{i<k}` and :math:`b_k = \\min_{i>k}` of the slopes between menu items ``(x, v)``.

    Item *k* is picked exactly for unit prices in :math:`(a_k, b_k]` (none if :math:`a_k \\ge b_k`).
    """
    K = x.shape[-1]
    a = np.full(x.shape, -np.inf)
    b = np.full(x.shape, np.inf)
    for i in range(K - 1):                      # over menu items, not owners
        slope = (v[..., i + 1:] - v[..., i, None]) / (x[..., i + 1:] - x[..., i, None])  # item i -> items k > i
        np.maximum(a[..., i + 1:], slope, out=a[..., i + 1:])
        b[..., i] = slope.min(axis=-1)
    return a, b


def clearing_price(
    kind: np.ndarray,
    rate: np.ndarray,
    eps_bar: np.ndarray,
    budget: np.ndarray,
    members: np.ndarray,
    M: int = 0,
    hull: MenuHull | None = None,
    jumps: SupplyJumps | None = None,
) -> np.ndarray:
    """Proportional-share price of a group: :math:`\\inf\\{\\pi : \\pi\\, S(\\pi) \\ge B\\}`.

    :math:`S(\\pi) = \\sum_{j \\in \\text{members}} \\varepsilon_j(\\pi)` is the
    members' total supply at unit price :math:`\\pi` (:func:`menu_choice`
    without a cap), so at this price the members would just exhaust the
    budget -- Singer's proportional share :math:`\\pi = B/S(\\pi)`.  A group
    with no supply at any price in :math:`[e^{-30}, e^{30}]` gets price 0
    (nothing is bought).

    With a grid menu (``M >= 1``) :math:`S` is a step function and the price is
    found exactly (:func:`_grid_clearing_price`; ``hull``, the owners'
    :class:`MenuHull`, if at hand); with a continuous menu
    (``M = 0``) :math:`\\pi S(\\pi)` is non-decreasing but may jump, and the
    price is found by bisection on :math:`\\log\\pi \\in [-30, 30]`, vectorised
    over the batch (scipy's scalar root finders cannot be vectorised).  ``jumps``: the members'
    :func:`supply_jumps` of ``hull`` if at hand (a large group in a few auctions: only the products
    :math:`r_j a_k` and the selection are left per call).
    """
    budget = np.asarray(budget, dtype=float)
    if jumps is not None and M > 0 and np.ndim(members) == 1 and np.shape(rate)[:-1] == budget.shape \
            and budget.size <= 16 and budget.size * jumps.group_size > SELECTION_SIZE:
        rate = np.asarray(rate, dtype=float)
        price = np.empty(budget.shape)
        for row in np.ndindex(budget.shape):      # over the few buyers' auctions, not owners
            price[row] = _price_by_selection(rate[row][jumps.owner] * jumps.breaks, jumps.steps, budget[row])
        return price
    if M > 0:                                    # the members' jumps, from their menu hulls
        hull = MenuHull.of(kind, eps_bar, M) if hull is None else hull
        rate, items, breaks = np.asarray(rate, dtype=float), hull.items, hull.breaks
        if np.ndim(members) == 1:                # the same group in every profile: its owners alone
            group = np.flatnonzero(members)
            rate = np.broadcast_to(rate, np.broadcast_shapes(rate.shape, items.shape[1:]))[..., group]
            items, breaks, members = items[..., group], breaks[..., group], True
        if rate.shape[-1] == 0:                  # an empty group supplies nothing
            return np.zeros(budget.shape)
        return _grid_clearing_price(items, breaks, rate, budget,
                                    np.broadcast_to(np.asarray(members, dtype=bool), rate.shape))
    if np.ndim(members) == 1:                    # the same group in every profile: price it alone
        shape, group = np.shape(rate), np.asarray(members, dtype=bool)
        kind, rate, eps_bar = (np.broadcast_to(a, shape)[..., group] for a in (kind, rate, eps_bar))
        members = True
    if np.shape(rate)[-1] == 0:                  # an empty group supplies nothing
        return np.zeros(budget.shape)
    members = np.broadcast_to(np.asarray(members, dtype=bool), np.shape(rate))
    shape = np.shape(rate)
    no_cap = np.full(shape, np.inf)

    def spend(log_price: np.ndarray) -> np.ndarray:
        price = np.broadcast_to(np.exp(log_price)[..., None], shape)
        supply = menu_choice(kind, rate, price, no_cap, eps_bar, 0)
        return price[..., 0] * np.where(members, supply, 0.0).sum(axis=-1)

    lo = np.full(budget.shape, -30.0)
    hi = np.full(budget.shape, 30.0)
    feasible = spend(hi) >= budget
    for _ in range(52):
        mid = 0.5 * (lo + hi)
        enough = spend(mid) >= budget
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
    return np.where(feasible & (budget > 0), np.exp(hi), 0.0)


@dataclass(frozen=True)
class SupplyJumps:
    """The supply jumps of a group's menu hulls at unit rate, item-major (the order :func:`_grid_clearing_price`
    scans them in): owner ``owner[i]`` (an index of all owners) adds ``steps[i]`` to the supply just above the
    unit price ``r breaks[i]`` (``r`` her reported rate)."""

    owner: np.ndarray
    breaks: np.ndarray
    steps: np.ndarray
    group_size: int


def supply_jumps(hull: MenuHull, members: np.ndarray) -> SupplyJumps:
    """The live jumps (positive steps) of the hulls ``hull`` (one profile, ``(M + 1, n)``) of the ``members``.

    They depend on the hulls and the group only, so a caller keeps them while both are unchanged and
    :func:`clearing_price` is left with one product per jump and the selection: the same jumps, in the same
    order, as the pass over the whole group's hulls (the same prices, ``tests/test_fast_paths.py``).
    """
    group = np.flatnonzero(members)
    step = np.diff(hull.items[:, group], axis=0)
    live = np.flatnonzero(step > 0)
    return SupplyJumps(group[live % group.size], hull.breaks[1:, group].reshape(-1)[live],
                       step.reshape(-1)[live], int(group.size))


#: Relative step above a supply jump at which :func:`_grid_clearing_price` quotes the price.
JUMP_MARGIN = 1e-12


def _grid_clearing_price(items: np.ndarray, breaks: np.ndarray, rate: np.ndarray, budget: np.ndarray,
                         members: np.ndarray) -> np.ndarray:
    """Exact proportional-share price for grid menus, vectorised over the batch.

    At unit price :math:`\\pi` owner *j* sells the grid item :math:`x_k` maximising
    :math:`\\pi x_k - v_k` (ties: the smaller): the vertex of her menu's lower
    convex hull picked for :math:`\\pi \\in (r_j a_k, r_j a_{k'}]` (:class:`MenuHull`),
    so the supply :math:`S(\\pi)` jumps by :math:`x_k - x_{k^-}` (:math:`k^-` the
    previous vertex) just above :math:`r_j a_k`.  Sorting all jumps gives :math:`S` on every
    interval :math:`(p_t, p_{t+1}]`, where :math:`\\pi S_t \\ge B` first holds at
    :math:`\\max(p_t, B/S_t)`.  When that is the jump :math:`p_t` itself the
    infimum is not attained (at :math:`p_t` the owners still pick the smaller
    item), and the price is quoted a relative :data:`JUMP_MARGIN` above it, where
    the supply is :math:`S_t`; so is a price within that margin above the jump,
    where an owner's valuation and her hull's break, computed two ways, may
    disagree by a few ulps on which item she picks.  ``items`` and ``breaks`` are the owners'
    :class:`MenuHull` arrays.  Cost :math:`O(nM\\log(nM))` for a sort, linear by
    :func:`_price_by_selection` in large auctions (the hulls' :math:`O(nM^2)` is
    paid once per owner), instead of a bisection's :math:`O(nM)` per step.
    """
    align = lambda h: h.reshape(h.shape[:1] + (1,) * (rate.ndim + 1 - h.ndim) + h.shape[1:])  # noqa: E731
    a = rate * align(breaks[1:])                 # (M, ..., n): item-major
    step = align(np.diff(items, axis=0))
    if not members.all():
        step = np.where(members, step, 0.0)
    step = np.broadcast_to(step, np.broadcast_shapes(step.shape, a.shape))
    if a[0].size <= SELECTION_SIZE or budget.size > 16:
        jumps = np.moveaxis(np.where(step > 0, a, np.inf), 0, -2).reshape(budget.shape + (-1,))
        return _price_of_sorted_jumps(jumps, np.moveaxis(step, 0, -2).reshape(jumps.shape), budget, np.inf)
    price = np.empty(budget.shape)
    for row in np.ndindex(budget.shape):          # over the few buyers' auctions, not owners
        at = (slice(None), *row)
        live = step[at] > 0
        price[row] = _price_by_selection(a[at][live], step[at][live], budget[row])
    return price


#: Owners per auction above which :func:`_grid_clearing_price` narrows the jumps down before sorting.
SELECTION_SIZE = 4096


def _price_of_sorted_jumps(jumps: np.ndarray, step: np.ndarray, budget: np.ndarray, beyond: np.ndarray | float,
                           below: np.ndarray | float = 0.0) -> np.ndarray:
    """The clearing price from supply jumps ``(..., J)`` by a sort of the jumps (see :func:`_grid_clearing_price`).

    ``beyond`` is the next jump above all of them (``inf``: none), ``below`` the supply already
    reached under them.
    """
    order = np.argsort(jumps, axis=-1, kind="stable")
    p = np.take_along_axis(jumps, order, axis=-1)
    supply = below + np.cumsum(np.take_along_axis(step, order, axis=-1), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.maximum(np.maximum(p, 0.0), np.divide(budget[..., None], supply))
    upper = np.concatenate([p[..., 1:], np.broadcast_to(beyond, p.shape[:-1] + (1,))], axis=-1)
    ok = np.isfinite(p) & (supply > 0) & (price <= upper)
    t = np.argmax(ok, axis=-1)[..., None]
    price = np.take_along_axis(price, t, axis=-1)[..., 0]
    jump = np.take_along_axis(p, t, axis=-1)[..., 0]
    # at the jump, or within JUMP_MARGIN above it: a menu's own valuation and its hull's break may differ
    # by a few ulps there, so quote the price where every owner at that jump surely sells the larger item
    at_jump = price <= jump * (1.0 + JUMP_MARGIN)
    price = np.where(at_jump, jump * (1.0 + JUMP_MARGIN), price)
    valid = ok.any(axis=-1) & (budget > 0) & (price <= np.exp(30.0)) & (price >= np.exp(-30.0))
    return np.where(valid, price, 0.0)


def _price_by_selection(p: np.ndarray, w: np.ndarray, budget: np.ndarray) -> float:
    """:func:`_price_of_sorted_jumps` of one auction's jumps ``p`` (steps ``w > 0``, any order), in linear time.

    The sorted scan looks for the first jump :math:`p_t` with
    :math:`p_{t+1} S_t \\ge B`; both factors grow with :math:`t`, so the test is
    monotone.  Equal-width buckets of the jump range (a monotone map, so a
    bucket holds every jump between its neighbours' ones) are counted in one
    pass; at a bucket's last jump the test reads (smallest jump above it) x
    (supply of the buckets up to it) :math:`\\ge B`, so the first bucket where it
    holds holds the answer.  That bucket is narrowed down the same way until
    :data:`SELECTION_SIZE` jumps are left, which are sorted with the supply
    below them as an offset: the same price up to the rounding of the
    supply's sum.
    """
    if not budget > 0 or p.size == 0:
        return 0.0
    below, beyond = 0.0, np.inf
    while p.size > SELECTION_SIZE:
        lo, hi = p.min(), p.max()
        if not lo < hi:                          # all tied: sort what is left
            break
        bucket = np.minimum(((p - lo) * (BUCKETS / (hi - lo))).astype(np.intp), BUCKETS - 1)
        supply = below + np.cumsum(np.bincount(bucket, weights=w, minlength=BUCKETS))
        first = np.full(BUCKETS, np.inf)
        np.minimum.at(first, bucket, p)          # each bucket's smallest jump
        after = np.append(np.minimum.accumulate(first[::-1])[::-1][1:], beyond)  # the next jump after it
        clears = after * supply >= budget
        if not clears.any():
            return 0.0
        b = int(np.argmax(clears))
        below, beyond = (float(supply[b - 1]) if b > 0 else below), after[b]
        keep = bucket == b
        p, w = p[keep], w[keep]
    return float(_price_of_sorted_jumps(p, w, np.asarray(budget, dtype=float), beyond, below))


#: Buckets per pass of :func:`_price_by_selection`.
BUCKETS = 1024


def proportional_share(
    kind: np.ndarray,
    rate: np.ndarray,
    eps_bar: np.ndarray,
    budget: np.ndarray | float,
    M: int = 0,
    side: np.ndarray | None = None,
    hull: MenuHull | None = None,
    jumps: tuple[SupplyJumps, SupplyJumps] | None = None,
) -> Allocation:
    """Random-sampling proportional-share posted prices: truthful, budget feasible, IR.

    A training-free mechanism for multi-minded owners (general valuations),
    built on the random-sampling idea of Goldberg, Hartline, Karlin, Saks &
    Wright ("Competitive auctions", GEB 2006) as used for budget-feasible
    procurement by Bei, Chen, Gravin & Lu ("Budget feasible mechanism design:
    from prior-free to Bayesian", STOC 2012), with the price set by Singer's
    proportional share ("Budget feasible mechanisms", FOCS 2010).  Not in the
    paper; a training-free alternative to MURBA.

    1. Owners are split into two groups by a bid-independent ``side``
       (default: alternate by index); group :math:`G` gets the budget share
       :math:`B_G = B |G| / n`.
    2. Group :math:`G` is offered the unit price :math:`\\pi_G` =
       :func:`clearing_price` of the *other* group with budget :math:`B_G`.
    3. Owners of :math:`G` are served in index order; owner :math:`i` may sell
       up to :math:`q_i = (B_G - \\text{spent so far in } G)/\\pi_G` and sells her
       favourite item of the menu (:func:`menu_choice`), paid :math:`\\pi_G\\varepsilon_i`.

    **Truthfulness (proof).** Owner :math:`i`'s price :math:`\\pi_G` depends only
    on the other group's bids, and her cap :math:`q_i` only on the bids of the
    owners before her in her group (each of whom chose from a menu that, by
    induction, does not depend on :math:`i`'s bid).  So :math:`i` faces a menu
    :math:`\\{(\\varepsilon, \\pi_G\\varepsilon)\\}` fixed by :math:`b'_{-i}` and receives
    the item her report prefers.  With ``M = 0`` the menu is
    :math:`\\varepsilon \\in [0, q_i]` restricted to :math:`\\varepsilon \\le
    \\bar\\varepsilon'_i`; reporting the truth yields her true optimum over
    :math:`[0, \\min(q_i, \\bar\\varepsilon_i)]`, and any other report yields some
    item of the same menu -- no better, or :math:`-\\infty` beyond
    :math:`\\bar\\varepsilon_i` (the taxation principle, e.g. Nisan et al.,
    *Algorithmic Game Theory*, Prop. 9.27).  This holds for both private
    parameters :math:`(v_i, \\bar\\varepsilon_i)`.  With ``M >= 1`` the menu is the
    paper's grid :math:`\\bar\\varepsilon'_i/m`, which depends on the reported
    budget: the mechanism is then truthful in the valuation for any reported
    :math:`\\bar\\varepsilon'_i` (the simulator's strategic action), not in
    :math:`\\bar\\varepsilon'_i`.
    **IR:** :math:`\\varepsilon = 0` at payment 0 is always in the menu.
    **BF:** :math:`\\sum_{i \\in G} p_i \\le B_G` by the caps, and :math:`\\sum_G B_G = B`.

    Parameters
    ----------
    kind : numpy.ndarray of int, shape (..., n)
        Valuation families (public).
    rate : numpy.ndarray, shape (..., n)
        Reported rates :math:`\\alpha'_i`.
    eps_bar : numpy.ndarray, shape (..., n)
        Reported privacy budgets.
    budget : float or numpy.ndarray, shape (...)
        Financial budget :math:`B`.
    M : int
        0 for a continuous menu, else the number of sub-bids of the grid.
    side : numpy.ndarray of bool, shape (n,), optional
        The bid-independent split; default ``arange(n) % 2 == 1``.
    hull : MenuHull, optional
        ``M >= 1``: ``MenuHull.of(kind, eps_bar, M)`` if at hand (a caller
        keeps it while the families and reported budgets are unchanged).
    jumps : tuple of SupplyJumps, optional
        ``M >= 1``: the :func:`supply_jumps` of ``hull`` of the owners with ``side`` false and true, if at
        hand (the prices of the other group are cleared over them).

    Returns
    -------
    Allocation
        With the menu (``price``, ``cap``) each owner faced.
    """
    if M < 0:
        raise ValueError(f"M: must be 0 (continuous) or a positive number of sub-bids, got {M}")
    rate, eps_bar, budget = _bids(rate, eps_bar, budget)
    kind = np.broadcast_to(np.asarray(kind), rate.shape)
    n = rate.shape[-1]
    side = np.arange(n) % 2 == 1 if side is None else np.asarray(side, dtype=bool)
    if side.shape != (n,):
        raise ValueError(f"side: needs one flag per owner ({n})")
    if M > 0 and hull is None:
        hull = MenuHull.of(kind, eps_bar, M)
    price = np.zeros(rate.shape)
    epsilon = np.zeros(rate.shape)
    payment = np.zeros(rate.shape)
    cap = np.zeros(rate.shape)
    shares = [budget * np.count_nonzero(side == g) / n for g in (False, True)]
    prices = [clearing_price(kind, rate, eps_bar, shares[g], side != g, M, hull,
                             None if jumps is None else jumps[not g]) for g in (False, True)]
    # every owner's uncapped choice at her group's price, both groups in one pass
    offered = np.where(side, prices[True][..., None], prices[False][..., None])
    if hull is not None:
        demand = hull.choice(offered, rate, np.where(offered > 0, eps_bar, 0.0), kind, eps_bar, M)[0]
    else:
        demand = menu_choice(kind, rate, offered, np.where(offered > 0, np.inf, 0.0), eps_bar, M)
    for g in (False, True):
        members, share, pi = side == g, shares[g], prices[g]
        e, pay, q = _ration(kind, rate, eps_bar, pi, share, members, M, hull, demand)
        price = np.where(members, pi[..., None], price)
        epsilon = np.where(members, e, epsilon)
        payment = np.where(members, pay, payment)
        cap = np.where(members, q, cap)
    return Allocation(epsilon=epsilon, payment=payment, price=price, cap=cap)


def _ration(
    kind: np.ndarray, rate: np.ndarray, eps_bar: np.ndarray, price: np.ndarray,
    budget: np.ndarray, members: np.ndarray, M: int, hull: MenuHull | None, demand: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Serve a group in index order at unit price ``price`` with budget ``budget``.

    ``demand`` holds each member's uncapped choice at ``price`` (her favourite
    item of the whole menu; the caller chooses for both groups in one pass).

    Equivalent to the sequential rule of :func:`proportional_share` (owner
    :math:`i` may sell up to the budget left after the owners before her), but
    vectorised: every open owner first takes her uncapped choice; the first
    owner whose choice does not fit in what is left is served with her cap and
    the scan resumes after her.  After each pass the owners who cannot afford
    any item with what is left are settled with nothing at once: the budget
    only shrinks and a smaller cap never adds an item, so they would buy
    nothing at their turn either.  Each pass thus settles at least one owner
    who buys, and usually the first capped owner exhausts the budget, so a few
    passes suffice.  Each owner's cap is what the owners before her left.

    Returns ``(epsilon, payment, cap)``, zero outside ``members``.
    """
    shape = np.shape(rate)
    n = shape[-1]
    pi = price[..., None]

    def choice(budget_left: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """Each owner's favourite item at ``price`` costing at most ``budget_left`` (by her menu's hull;
        only at ``where`` if given)."""
        q = np.divide(budget_left, pi, out=np.zeros(shape), where=pi > 0)
        if hull is not None:
            return hull.choice(np.broadcast_to(pi, shape), rate, np.minimum(eps_bar, q), kind, eps_bar, M,
                               where)[0]
        return menu_choice(kind, rate, np.broadcast_to(pi, shape), q, eps_bar, M)

    def sells(budget_left: np.ndarray) -> np.ndarray:
        """Whether each owner's favourite item costing at most ``budget_left`` is a positive one."""
        if hull is None:
            return choice(budget_left) > 0
        q = np.divide(budget_left, pi, out=np.zeros(shape), where=pi > 0)
        return hull.sells(np.broadcast_to(pi, shape), rate, np.minimum(eps_bar, q), eps_bar, M)

    epsilon, payment = np.zeros(shape), np.zeros(shape)
    open_ = np.broadcast_to(members & (pi > 0), shape).copy()
    served = open_.copy()
    left = np.asarray(budget, dtype=float).copy()
    index = np.arange(n)
    while open_.any():
        cost = np.where(open_, pi * demand, 0.0)
        before = np.maximum(left[..., None] - (np.cumsum(cost, axis=-1) - cost), 0.0)
        binding = open_ & (cost > before)
        first = np.where(binding.any(axis=-1), np.argmax(binding, axis=-1), n)[..., None]
        take = open_ & (index < first)
        at = open_ & (index == first)
        e = np.where(take, demand, np.where(at, choice(before, at), 0.0))
        pay = np.minimum(pi * e, before)
        settled = take | at
        epsilon = np.where(settled, e, epsilon)
        payment = np.where(settled, pay, payment)
        left = np.maximum(left - np.where(settled, pay, 0.0).sum(axis=-1), 0.0)
        open_ &= ~settled
        if open_.any():
            open_ &= sells(np.broadcast_to(left[..., None], shape))
    before = np.maximum(np.asarray(budget, dtype=float)[..., None] - (np.cumsum(payment, axis=-1) - payment), 0.0)
    cap = np.divide(before, pi, out=np.zeros(shape), where=served)
    return epsilon, payment, cap


def all_in_multi_minded(
    kind: np.ndarray, rate: np.ndarray, eps_bar: np.ndarray, budget: np.ndarray | float,
    loop: str = "skip", data_size: np.ndarray | None = None,
) -> Allocation:
    """All-in on general owners treated as single-minded, :math:`V_i = v_i(\\bar\\varepsilon_i)` (Sec. 6.1)."""
    return all_in(valuation(kind, rate, eps_bar), eps_bar, budget, loop=loop, data_size=data_size)


def fair_query_multi_minded(
    kind: np.ndarray, rate: np.ndarray, eps_bar: np.ndarray, budget: np.ndarray | float,
) -> Allocation:
    """:func:`fair_query` on general owners treated as single-minded, :math:`V_i = v_i(\\bar\\varepsilon_i)`."""
    return fair_query(valuation(kind, rate, eps_bar), eps_bar, budget)


#: Training-free auctions by name with the common signature ``f(kind, rate, eps_bar, budget, **options)``
#: (MURBA, which needs a trained network, is :class:`market.theory.fl_market.murba.MURBAModel`).
AUCTIONS: dict[str, Callable[..., Allocation]] = {
    "all_in": all_in_multi_minded,
    "proportional_share": proportional_share,
    "fair_query": fair_query_multi_minded,
}
#: Auction x aggregation pairs of the evaluation (Sec. 6.2, Fig. 5): the paper
#: compares {All-in, MURBA} x {BiasOpt, VarOpt}; these are the training-free
#: pairs, with :func:`proportional_share` beside All-in, the conventional
#: data-size weighting and the error-optimal weights added.
COMBINATIONS: tuple[tuple[str, str], ...] = tuple(itertools.product(AUCTIONS, AGGREGATIONS))


@dataclass(frozen=True)
class Trade:
    """One round of the trading framework (Algorithm 1) for a batch of profiles.

    Attributes
    ----------
    allocation : Allocation
        The auction's privacy parameters and payments.
    weights : numpy.ndarray, shape (..., n)
        Aggregation weights (all zero where nothing was bought).
    error : numpy.ndarray, shape (...)
        Error bound :math:`d_{var}\\mathrm{VAR} + \\mathrm{BIAS}^2`; ``inf`` where nothing was bought.
    """

    allocation: Allocation
    weights: np.ndarray
    error: np.ndarray


def trade(
    auction: str,
    aggregation: str,
    kind: np.ndarray,
    rate: np.ndarray,
    eps_bar: np.ndarray,
    budget: np.ndarray | float,
    L: float = 1.0,
    d_var: int = 1,
    data_size: np.ndarray | None = None,
    **options: object,
) -> Trade:
    """Run ``auction`` then ``aggregation`` (Algorithm 1 steps 3 and 5) and the error bound (P2.2).

    ``options`` go to the auction (``loop`` for All-in; ``M`` and ``side``
    for the proportional share).  The perturbation of step 4 is
    :func:`market.theory.fl_market.ldp.laplace_mechanism`; the bound needs only the
    :math:`\\varepsilon_i`.
    """
    if auction not in AUCTIONS:
        raise ValueError(f"auction: unknown auction {auction!r} (known: {', '.join(AUCTIONS)})")
    alloc = AUCTIONS[auction](kind, rate, eps_bar, budget, **options)
    weights = aggregate(aggregation, alloc.epsilon, L, d_var, data_size)
    return Trade(alloc, weights, error_bound(weights, alloc.epsilon, L, d_var, data_size))


def synthetic_bids(
    n: int, E: float, rng: np.random.Generator, size: tuple[int, ...] = ()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's synthetic owners (Sec. 6.1): family uniform over the four, rate U[0.5, 1.5], budget U[0.5, E].

    Returns ``(kind, rate, eps_bar)`` of shape ``size + (n,)``.
    """
    if E <= 0.5:
        raise ValueError(f"E: the largest privacy budget must exceed 0.5, got {E}")
    shape = tuple(size) + (n,)
    kind = rng.choice(np.array(PAPER_VALUATIONS), size=shape)
    return kind, rng.uniform(0.5, 1.5, shape), rng.uniform(0.5, E, shape)


@dataclass(frozen=True)
class Regret:
    """Empirical regret of an auction on a grid of misreports.

    Attributes
    ----------
    gain : numpy.ndarray, shape (..., n)
        Each owner's largest utility gain from a misreport on the grid (>= 0).
    best_factor : numpy.ndarray, shape (..., n)
        The valuation factor of that misreport (1.0 when no misreport gains).
    share : float
        Share of owners (over the batch) with a profitable misreport (gain > tol).
    mean, max : float
        Mean and largest gain.
    """

    gain: np.ndarray
    best_factor: np.ndarray
    share: float
    mean: float
    max: float


def owner_utility(
    kind: np.ndarray, rate: np.ndarray, eps_bar: np.ndarray, alloc: Allocation, tol: float = 1e-9
) -> np.ndarray:
    """True utility :math:`p_i - v_i(\\varepsilon_i)`, or ``-inf`` beyond the true budget (Sec. 3.3)."""
    u = alloc.payment - valuation(kind, rate, alloc.epsilon)
    return np.where(alloc.epsilon <= np.asarray(eps_bar) * (1 + tol) + tol, u, -np.inf)


def _auction_function(auction: str | Callable[..., Allocation]) -> Callable[..., Allocation]:
    """An auction given by name (a key of :data:`AUCTIONS`) or as a function with their signature."""
    if callable(auction):
        return auction
    if auction not in AUCTIONS:
        raise ValueError(f"auction: unknown auction {auction!r} (known: {', '.join(AUCTIONS)})")
    return AUCTIONS[auction]


def unilateral_utilities(
    auction: str | Callable[..., Allocation],
    kind: np.ndarray,
    rate: np.ndarray,
    eps_bar: np.ndarray,
    report_rate: np.ndarray,
    budget: np.ndarray | float,
    candidate_rate: np.ndarray,
    candidate_eps: np.ndarray | None = None,
    tol: float = 1e-9,
    **options: object,
) -> np.ndarray:
    """True utility of each owner for each of her candidate reports, the others' reports fixed.

    Parameters
    ----------
    auction : str or callable
        A name in :data:`AUCTIONS`, or a function with their signature (such
        as a trained :class:`market.theory.fl_market.murba.MURBAModel`).
    kind, rate, eps_bar : numpy.ndarray, shape (..., n)
        True valuation families, rates and privacy budgets.
    report_rate : numpy.ndarray, shape (..., n)
        The reported rates of the current profile (budgets are reported truthfully).
    budget : float or numpy.ndarray, shape (...)
        Financial budget.
    candidate_rate : numpy.ndarray, shape (..., n, K)
        Owner i's k-th candidate reported rate.
    candidate_eps : numpy.ndarray, shape (..., n, K), optional
        Owner i's k-th candidate reported budget (default: her true budget).
    tol : float
        Tolerance of the budget check :math:`\\varepsilon_i \\le \\bar\\varepsilon_i`.
    **options
        Passed to the auction.

    Returns
    -------
    numpy.ndarray, shape (..., n, K)
        Entry ``[..., i, k]``: :math:`u_i` when owner i alone reports candidate k
        (``-inf`` if she is allocated more than her true budget).
    """
    run = _auction_function(auction)
    report_rate, eps_bar, budget = _bids(report_rate, eps_bar, budget)
    rate = np.broadcast_to(np.asarray(rate, dtype=float), report_rate.shape)
    kind = np.broadcast_to(np.asarray(kind), report_rate.shape)
    candidate_rate = np.asarray(candidate_rate, dtype=float)
    candidate_eps = (np.broadcast_to(eps_bar[..., None], candidate_rate.shape)
                     if candidate_eps is None else np.asarray(candidate_eps, dtype=float))
    n = report_rate.shape[-1]
    # batch (..., i, k, n): owner i alone reports candidate k
    eye = np.eye(n, dtype=bool)[:, None, :]
    rep_rate = np.where(eye, candidate_rate[..., :, :, None], report_rate[..., None, None, :])
    rep_eps = np.where(eye, candidate_eps[..., :, :, None], eps_bar[..., None, None, :])
    shape = rep_rate.shape
    alloc = run(np.broadcast_to(kind[..., None, None, :], shape), rep_rate, rep_eps,
                budget[..., None, None], **options)
    util = owner_utility(np.broadcast_to(kind[..., None, None, :], shape),
                         np.broadcast_to(rate[..., None, None, :], shape),
                         np.broadcast_to(eps_bar[..., None, None, :], shape), alloc, tol)
    own = np.diagonal(util, axis1=-3, axis2=-1)  # (..., K, n)
    return np.swapaxes(own, -1, -2)


def empirical_regret(
    auction: str | Callable[..., Allocation],
    kind: np.ndarray,
    rate: np.ndarray,
    eps_bar: np.ndarray,
    budget: np.ndarray | float,
    factors: np.ndarray,
    eps_factors: np.ndarray = (1.0,),
    tol: float = 1e-9,
    **options: object,
) -> Regret:
    """Each owner's best unilateral misreport on a grid: ``rate' = f rate``, ``eps_bar' = g eps_bar``.

    The grid-search counterpart of the paper's regret (Appendix A, eq. 3),
    computable for any auction (docs/models/fl_market.md#proportional-share); everybody else reports
    truthfully.  For All-in the valuation misreport is :math:`V' = f V`.

    Parameters
    ----------
    auction : str or callable
        A name in :data:`AUCTIONS`, or a function with their signature.
    kind, rate, eps_bar : numpy.ndarray, shape (..., n)
        True bids.
    budget : float or numpy.ndarray, shape (...)
        Financial budget.
    factors : array_like
        Multipliers of the reported rate.
    eps_factors : array_like
        Multipliers of the reported privacy budget (default: truthful only).
    tol : float
        A gain counts as profitable above ``tol``.
    **options
        Passed to the auction.
    """
    run = _auction_function(auction)
    rate, eps_bar, budget = _bids(rate, eps_bar, budget)
    kind = np.broadcast_to(np.asarray(kind), rate.shape)
    f, g = (a.ravel() for a in np.meshgrid(np.asarray(factors, float), np.asarray(eps_factors, float)))
    truth = owner_utility(kind, rate, eps_bar, run(kind, rate, eps_bar, budget, **options))
    own = unilateral_utilities(auction, kind, rate, eps_bar, rate, budget,
                               f * rate[..., None], g * eps_bar[..., None], tol, **options)
    best = np.argmax(own, axis=-1)
    gain = np.maximum(np.max(own, axis=-1) - truth, 0.0)
    best_factor = np.where(gain > tol, f[best], 1.0)
    return Regret(gain=gain, best_factor=best_factor, share=float(np.mean(gain > tol)),
                  mean=float(np.mean(gain)), max=float(np.max(gain)))
