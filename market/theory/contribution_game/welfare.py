"""p-mean welfare of the owners' utilities (paper 003, Section 1 and Theorem 4.1).

For utilities :math:`u_1, \\dots, u_n` and :math:`p \\le 1` the p-mean
welfare is

.. math::  W_p(u) = \\Big( \\sum_i u_i^p \\Big)^{1/p}
           \\quad\\text{(un-normalised, Section 4, Theorem 4.1, Table 1)}

or, with ``normalized=True``,

.. math::  \\bar W_p(u) = \\Big( \\frac{1}{n} \\sum_i u_i^p \\Big)^{1/p}
           \\quad\\text{(Section 1)} .

Special cases: :math:`p = 1` is the (total or average) social welfare,
:math:`p = -\\infty` the egalitarian welfare :math:`\\min_i u_i` (either
form), and :math:`p = 0` the Nash welfare.  The normalised form tends to the
geometric mean :math:`(\\prod_i u_i)^{1/n}` as :math:`p \\to 0`; the
un-normalised form diverges there (it is :math:`n^{1/p}` times the
normalised one), so for ``p = 0`` it returns the plain product
:math:`\\prod_i u_i`, which is the "Nash welfare" of the paper's Example 1
(``u_1 u_2 = 24``) and a monotone transform of the limit.

The paper uses the un-normalised form in Section 4 and Table 1 (docs/models/contribution_game.md#table-1
checks this against Table 1), so it is the default here.

Domain (the paper is silent, docs/models/contribution_game.md#welfare): ``p = 1`` accepts any
utilities; ``0 <= p < 1`` needs ``u_i >= 0``; ``p < 0`` needs ``u_i > 0``.
Utilities outside the domain raise ``ValueError`` instead of returning NaN;
a scenario keeps utilities positive with the owners' budgets :math:`B_i`.
"""

from __future__ import annotations

import numpy as np


def p_mean_welfare(utility: np.ndarray, p: float, normalized: bool = False) -> np.ndarray | float:
    """p-mean welfare :math:`W_p` of a utility vector (last axis = owners).

    Parameters
    ----------
    utility : array_like
        Owners' utilities, shape ``(n,)`` or ``(..., n)`` (e.g. rounds x owners).
    p : float
        Welfare exponent, ``p <= 1``; ``0`` is the Nash welfare and
        ``-numpy.inf`` the egalitarian welfare.
    normalized : bool, default False
        Use :math:`(\\frac1n\\sum_i u_i^p)^{1/p}` (geometric mean at ``p = 0``)
        instead of :math:`(\\sum_i u_i^p)^{1/p}` (product at ``p = 0``).

    Returns
    -------
    float or numpy.ndarray
        The welfare, one value per leading index.

    Raises
    ------
    ValueError
        If ``p > 1``, if there are no owners, or if a utility is outside the
        domain of ``p`` (negative for ``0 <= p < 1``, non-positive for ``p < 0``).

    Examples
    --------
    >>> float(p_mean_welfare([6.0, 4.0], 0.0))   # Example 1: u_1 u_2
    24.0
    >>> float(p_mean_welfare([0.85] * 10, 0.2))  # docs/models/contribution_game.md#g9, FedBR-BG at p = 0.2
    85000.00000000003
    """
    if p > 1 or np.isnan(p):
        raise ValueError(f"p: the p-mean welfare needs p <= 1, got {p}")
    return power_mean(utility, p, normalized)


def power_mean(utility: np.ndarray, p: float, normalized: bool = False) -> np.ndarray | float:
    """:math:`(\\sum_i u_i^p)^{1/p}` (``normalized``: :math:`(\\frac1n\\sum_i u_i^p)^{1/p}`) for any real ``p``.

    The one computation behind :func:`p_mean_welfare` (the paper's range ``p <= 1``) and the
    analysis layer's :func:`analysis.welfare_measures.p_mean` (every ``p``).  Domain and limits as in
    :func:`p_mean_welfare`: ``p = 1`` accepts any utilities, ``p < 0`` needs them positive, every
    other ``p`` non-negative; ``p = 0`` is the product (geometric mean when normalised) and
    ``p = -inf`` the minimum.

    Raises
    ------
    ValueError
        ``"p: ..."`` for a NaN exponent; ``"utility: ..."`` for no owners, non-finite utilities or a
        utility outside the domain of ``p``.
    """
    if np.isnan(p):
        raise ValueError("p: the exponent is NaN")
    u = np.asarray(utility, dtype=float)
    if u.ndim == 0 or u.shape[-1] == 0:
        raise ValueError("utility: needs at least one owner")
    if not np.all(np.isfinite(u)):
        raise ValueError("utility: utilities must be finite")
    n = u.shape[-1]
    if p == 1:
        total = u.sum(axis=-1)
        return _scalar(total / n if normalized else total)
    if p == -np.inf:
        return _scalar(u.min(axis=-1))
    if p < 0 and np.any(u <= 0):
        raise ValueError(
            f"utility: p-mean welfare with p={p} needs positive utilities, got min {u.min():.6g}"
        )
    if np.any(u < 0):
        raise ValueError(
            f"utility: p-mean welfare with p={p} needs non-negative utilities, got min {u.min():.6g}"
        )
    if p == 0:
        with np.errstate(divide="ignore"):
            log_sum = np.log(u).sum(axis=-1)
        return _scalar(np.exp(log_sum / n) if normalized else np.exp(log_sum))
    with np.errstate(divide="ignore"):
        power_sum = np.power(u, p).sum(axis=-1)
    if normalized:
        power_sum = power_sum / n
    return _scalar(np.power(power_sum, 1.0 / p))


def _scalar(x: np.ndarray) -> np.ndarray | float:
    return float(x) if np.ndim(x) == 0 else x
