"""Local differential privacy for gradients: clipping, Laplace and Gaussian mechanisms.

FL-Market (Zheng, Cao & Yoshikawa, paper 002) lets every data owner perturb
her own clipped gradient before it leaves her device.  Gradients are clipped
in the L1 norm,

.. math::  \\operatorname{clip}(g, L) = g \\, \\min(1, L / \\lVert g \\rVert_1),

so two clipped gradients differ by at most :math:`2L` in L1 norm, and the
**Laplace mechanism** (paper Theorem 2.2)

.. math::  \\mathcal{L}^L_{\\varepsilon}(g) = g + Z, \\qquad
           Z_k \\overset{iid}{\\sim} \\operatorname{Lap}(2L/\\varepsilon),\\ k = 1..d,

is :math:`\\varepsilon`-LDP.  Each coordinate of the noise has variance
:math:`2 (2L/\\varepsilon)^2 = 8L^2/\\varepsilon^2` (proof of Lemma 4.2).

An owner with :math:`\\varepsilon_i = 0` submits nothing (her gradient would be
uniformly random; the paper gives it weight 0); the functions here return a
zero row for her and an infinite variance, never a sample of an infinite-scale
distribution.

The Gaussian mechanism is offered as an (ε, δ)-LDP alternative that the
paper does not use; see :func:`gaussian_sigma`.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.optimize import brentq
from scipy.special import log_ndtr, ndtr


def _check_bound(L: float) -> None:
    if not np.isfinite(L) or L <= 0:
        raise ValueError(f"L: gradient bound must be positive and finite, got {L}")


def _check_epsilon(epsilon: np.ndarray) -> np.ndarray:
    eps = np.asarray(epsilon, dtype=float)
    if np.any(~np.isfinite(eps)) or np.any(eps < 0):
        raise ValueError("epsilon: privacy parameters must be finite and non-negative")
    return eps


def clip_gradient(gradient: np.ndarray, L: float) -> np.ndarray:
    """Clip gradients to L1 norm at most ``L`` (paper Sec. 2).

    Parameters
    ----------
    gradient : numpy.ndarray, shape (..., d)
        One gradient per row (last axis is the gradient dimension).
    L : float
        The gradient bound.

    Returns
    -------
    numpy.ndarray
        :math:`g \\min(1, L/\\lVert g \\rVert_1)` row by row.
    """
    _check_bound(L)
    g = np.asarray(gradient, dtype=float)
    norm1 = np.abs(g).sum(axis=-1, keepdims=True)
    scale = np.minimum(1.0, L / np.maximum(norm1, np.finfo(float).tiny))
    return g * scale


def laplace_scale(epsilon: np.ndarray, L: float) -> np.ndarray:
    """Scale :math:`b = 2L/\\varepsilon` of the Laplace noise (Theorem 2.2); ``inf`` where ε = 0."""
    _check_bound(L)
    eps = _check_epsilon(epsilon)
    with np.errstate(divide="ignore"):
        return np.where(eps > 0, 2.0 * L / eps, np.inf)


def laplace_variance(epsilon: np.ndarray, L: float) -> np.ndarray:
    """Per-coordinate noise variance :math:`8L^2/\\varepsilon^2` (proof of Lemma 4.2); ``inf`` where ε = 0."""
    return 2.0 * laplace_scale(epsilon, L) ** 2


def laplace_mechanism(
    gradient: np.ndarray, epsilon: np.ndarray, L: float, rng: np.random.Generator
) -> np.ndarray:
    """Perturb each owner's clipped gradient with Laplace noise (Theorem 2.2).

    Parameters
    ----------
    gradient : numpy.ndarray, shape (n, d)
        The owners' gradients; they are clipped to L1 norm ``L`` first.
    epsilon : numpy.ndarray, shape (n,)
        Each owner's privacy parameter; 0 means the owner submits nothing.
    L : float
        The gradient bound (L1 sensitivity of the clipped gradient is ``2L``).
    rng : numpy.random.Generator
        Source of the noise.

    Returns
    -------
    numpy.ndarray, shape (n, d)
        :math:`\\operatorname{clip}(g_i, L) + \\operatorname{Lap}(2L/\\varepsilon_i)^d` for
        owners with :math:`\\varepsilon_i > 0`; a zero row for the others (they
        submit nothing, and every aggregation rule gives them weight 0).
    """
    g = clip_gradient(np.atleast_2d(gradient), L)
    eps = _check_epsilon(epsilon)
    if eps.shape != g.shape[:1]:
        raise ValueError(f"epsilon: needs one value per gradient row ({g.shape[0]}), got {eps.shape}")
    sold = eps > 0
    out = np.zeros_like(g)
    scale = 2.0 * L / eps[sold]
    out[sold] = g[sold] + rng.laplace(0.0, 1.0, size=g[sold].shape) * scale[:, None]
    return out


def gaussian_sigma(epsilon: np.ndarray, delta: float, L: float) -> np.ndarray:
    """Noise level of the analytic Gaussian mechanism for (ε, δ)-LDP gradients.

    Not in the paper (which uses the Laplace mechanism only).  Clipped
    gradients satisfy :math:`\\lVert g \\rVert_2 \\le \\lVert g \\rVert_1 \\le L`, so their
    L2 sensitivity is :math:`\\Delta = 2L`.  The analytic Gaussian mechanism of
    Balle & Wang (ICML 2018, Theorem 8) adds :math:`N(0, \\sigma^2 I)` with the
    smallest :math:`\\sigma` such that

    .. math::  \\Phi\\Big(\\frac{\\Delta}{2\\sigma} - \\frac{\\varepsilon\\sigma}{\\Delta}\\Big)
               - e^{\\varepsilon}\\,\\Phi\\Big(-\\frac{\\Delta}{2\\sigma} - \\frac{\\varepsilon\\sigma}{\\Delta}\\Big)
               \\le \\delta ,

    valid for every :math:`\\varepsilon > 0` (unlike the classical
    :math:`\\sigma = \\Delta\\sqrt{2\\ln(1.25/\\delta)}/\\varepsilon`, which needs
    :math:`\\varepsilon < 1`).  The left side decreases in :math:`\\sigma`; the root is
    found with :func:`scipy.optimize.brentq`, one scalar solve per distinct ε.

    Parameters
    ----------
    epsilon : numpy.ndarray
        Privacy parameters; ``inf`` noise where ε = 0.
    delta : float
        In (0, 1).
    L : float
        Gradient bound.

    Returns
    -------
    numpy.ndarray
        :math:`\\sigma` per entry of ``epsilon``.
    """
    _check_bound(L)
    if not 0 < delta < 1:
        raise ValueError(f"delta: must be in (0, 1), got {delta}")
    eps = _check_epsilon(epsilon)
    out = np.full(eps.shape, np.inf)
    for value in np.unique(eps[eps > 0]):
        out[eps == value] = _analytic_gaussian_sigma(float(value), float(delta), 2.0 * float(L))
    return out


@functools.lru_cache(maxsize=4096)
def _analytic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """The root of :func:`gaussian_sigma`'s condition for one ε (cached: runs repeat the same ε).

    The second term is evaluated as :math:`\\exp(\\varepsilon + \\log\\Phi(\\cdot))`
    so that large ε do not overflow.
    """
    def excess(log_sigma: float) -> float:
        s = np.exp(log_sigma)
        a, b = sensitivity / (2 * s), epsilon * s / sensitivity
        return float(ndtr(a - b) - np.exp(epsilon + log_ndtr(-a - b)) - delta)

    return float(np.exp(brentq(excess, -30.0, 30.0, xtol=1e-12)))


def gaussian_mechanism(
    gradient: np.ndarray, epsilon: np.ndarray, delta: float, L: float, rng: np.random.Generator
) -> np.ndarray:
    """Perturb clipped gradients with analytic Gaussian noise, (ε, δ)-LDP (see :func:`gaussian_sigma`).

    Rows of owners with ε = 0 are zero (they submit nothing).
    """
    g = clip_gradient(np.atleast_2d(gradient), L)
    eps = _check_epsilon(epsilon)
    if eps.shape != g.shape[:1]:
        raise ValueError(f"epsilon: needs one value per gradient row ({g.shape[0]}), got {eps.shape}")
    sigma = gaussian_sigma(eps, delta, L)
    sold = eps > 0
    out = np.zeros_like(g)
    out[sold] = g[sold] + rng.standard_normal(g[sold].shape) * sigma[sold, None]
    return out
