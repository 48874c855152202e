"""Training MURBA's network by RegretNet's augmented Lagrangian (paper 002, Appendix A); needs PyTorch.

PyTorch is an optional extra (``pip install "privmarket[learned]"``) and is
imported only when a function here runs; without it they raise
:class:`TorchMissing`, whose one-line message names the extra.  The trained
network runs without PyTorch (:class:`market.theory.fl_market.murba.MURBAModel`).

**What is trained.**  The MBR network of :mod:`market.theory.fl_market.murba` for the owners
and the auction of an ``fl_market`` scenario (:class:`TrainingMarket`): its
number of owners n, its owner distribution (the population's types, or its
explicit owners), the auction budget :math:`B = (1 - c)\\,` ``round_budget``,
``M``, the aggregation rule, ``L`` and the error measure.

**Objective (P3).**  For a batch of K true profiles and the network
:math:`\\theta`, with the owner utility :math:`u_i = p_i - v_i(\\varepsilon_i)`
(true valuation at the allocated :math:`\\varepsilon_i = \\sum_m z_{im}\\bar\\varepsilon'_i/m`,
docs/models/fl_market.md#murba-open):

* :math:`\\widehat{ERR}` (eq. 5): the mean error bound
  :math:`d_{var}\\mathrm{VAR} + \\mathrm{BIAS}^2` of the aggregation rule
  (:func:`market.theory.fl_market.aggregation.error_bound`; every owner wins under MURBA, so
  BiasOpt and data-size weighting are uniform (size-weighted with data-size inputs,
  docs/models/fl_market.md#murba-data-sizes) and VarOpt is
  :math:`\\lambda \\propto \\varepsilon^2`);
* :math:`\\widehat{rgv}_i` (eq. 3): the mean over profiles of
  :math:`\\max(0, u_i(b'_i; b_{-i}) - u_i(b_i; b_{-i}))`, where the misreport
  :math:`b'_i` is found by R steps of gradient ascent on :math:`u_i` (eq. 2,
  step :math:`\\gamma`);
* :math:`\\widehat{irv}_i` (eq. 4): the mean of :math:`\\max(0, -u_i(b_i; b_{-i}))`;
* the augmented Lagrangian, as printed (the quadratic terms square the *sum*
  over owners, docs/models/fl_market.md#alg-5):

  .. math::  C = \\widehat{ERR} + \\sum_i \\phi_{rgv,i}\\widehat{rgv}_i
             + \\tfrac{\\rho_{rgv}}{2}\\Big(\\sum_i \\widehat{rgv}_i\\Big)^2
             + \\sum_i \\phi_{irv,i}\\widehat{irv}_i
             + \\tfrac{\\rho_{irv}}{2}\\Big(\\sum_i \\widehat{irv}_i\\Big)^2 ,

  minimised over :math:`\\theta` (eq. 6); every Q iterations
  :math:`\\phi_{rgv} \\mathrel{+}= \\rho_{rgv}\\widehat{rgv}` and
  :math:`\\phi_{irv} \\mathrel{+}= \\rho_{irv}\\widehat{irv}`; :math:`\\rho_{rgv}`
  and :math:`\\rho_{irv}` start at 1 and 4 and grow by 1 and 3 every 2 epochs.

**Misreports.**  A misreport of owner i is any M+1 network inputs (her M
sub-bid values and her budget), searched in the network's scaled input
space and projected after every step onto non-negative values and a
reported budget :math:`\\bar\\varepsilon'_i \\le \\bar\\varepsilon_i` (over-reporting
risks the utility :math:`-\\infty`; docs/models/fl_market.md#murba-open, the "clamp"
option).  As in RegretNet, each training profile's misreports start as bids
drawn from the owner distribution (another profile's) and are kept from one
visit to the next (warm start): starting from the truth finds only nearby
misreports, and the trained network then pays for far ones (measured: mean
shading regret 0.070 instead of 0.030 after 1,000 iterations).

**Choices the paper leaves open** (docs/models/fl_market.md#murba-open), with the paper's
value where it gives one: two tanh hidden layers of 64 units per network;
Adam with learning rate :math:`\\psi = 0.001` (RegretNet's optimiser; the
paper writes a plain gradient step); ascent step :math:`\\gamma = 0.1`,
Q = 10, :math:`\\phi^1 = 1` (paper).  The paper's scale
(100,000 profiles, batches of K = 1000, 100 epochs, two GPUs) is cut to run in
minutes on a CPU: 12,800 profiles, K = 128, R = 10 ascent steps per batch
(paper 25) with warm starts, and 1,000 iterations by default
(:class:`TrainingConfig`).  Float32 throughout
training; the exported weights are evaluated in float64.

**Evaluation** (:func:`evaluate`) is on held-out profiles (1,000 by default,
as in the paper): fresh misreports by ascent from the truth and from random
bids, then the regret, IR violation, budget excess and error bound of the
exported network computed in numpy, and the regret of the simulated owners'
own deviations (shading the reported valuation on the scenario's grid).
Gradient ascent finds local misreports only, so its regret is a lower bound
(as in RegretNet).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from market.core.population import sample_owners
from market.theory.fl_market.aggregation import aggregate, error_bound, error_optimal_weights
from market.theory.fl_market.auctions import (
    EXP,
    LINEAR,
    QUADRATIC,
    SQRT,
    VALUATIONS,
    bid_transformation,
    empirical_regret,
    valuation,
)
from market.theory.fl_market.murba import MURBAModel, TORCH_HINT
from scenarios.schema import apply_overrides, dict_label, read_raw, validate

#: Aggregation rules MURBA can be trained for (their error bound is differentiable in epsilon).
TRAINABLE_AGGREGATIONS = ("var_opt", "bias_opt", "data_size", "error_opt")
#: Smallest reported privacy budget a misreport may take.
MIN_REPORTED_BUDGET = 1e-3


class TorchMissing(ImportError):
    """PyTorch is not installed; the message is :data:`market.theory.fl_market.murba.TORCH_HINT`."""


def require_torch() -> Any:
    """The ``torch`` module, or :class:`TorchMissing` with the one-line install hint."""
    try:
        import torch  # lazy: PyTorch is optional (extra "learned")
    except ImportError:
        raise TorchMissing(TORCH_HINT) from None
    return torch


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of MURBA's training (paper values in brackets, Appendix A).

    Attributes
    ----------
    steps : int
        Training iterations, one batch each [T x epochs = 10,000].
    batch : int
        Profiles per batch K [1000].
    profiles : int
        Training sample size; an epoch is ``profiles // batch`` iterations [100,000].
    misreport_steps : int
        Gradient-ascent steps R per batch on the (warm-started) misreports [25].
    misreport_lr : float
        Ascent step :math:`\\gamma` in the scaled input space [0.1].
    lr : float
        Adam learning rate :math:`\\psi` [0.001, plain gradient descent].
    update_every : int
        Q: iterations between multiplier updates [10].
    phi : float
        Initial Lagrange multipliers [1.0].
    rho_rgv, rho_irv : float
        Initial quadratic penalties [1.0, 4.0].
    rho_rgv_step, rho_irv_step : float
        Their increments every ``rho_every`` epochs [1.0, 3.0 every 2].
    rho_every : int
        Epochs between penalty increments [2].
    hidden : tuple of int
        Hidden layer widths of each network [not given].
    test_profiles : int
        Held-out profiles of the final evaluation [1000].
    test_misreport_steps : int
        Ascent steps of each of the evaluation's misreport searches.
    test_restarts : int
        Searches of the evaluation that start from a bid drawn from the owner
        distribution, besides the one that starts from the truth.
    threads : int
        PyTorch threads while training and evaluating.  The networks are small:
        measured, a second thread trains 1.2 times faster on an idle 2-core
        machine and about 5 times slower on a busy one.
    budget_range : tuple of float
        ``(low, high)``: every training profile's auction budget is drawn from
        :math:`U[low, high]`, so one network serves that whole range (the budget is
        an input); empty: the scenario's one budget [the paper trains per budget].
    dummy_payment : bool
        Give the payment softmax an extra "unspent" node, so the budget need not
        be spent [RegretNet option of the authors' code; off in the paper].
    normalise : bool
        Standardise the :math:`\\log(1+x)` inputs with the training sample's mean
        and deviation [not in the paper]; ``False`` feeds plain :math:`\\log(1+x)`.
    data_size_inputs : bool
        Give the network the owners' data sizes :math:`|D_i|` as n more inputs
        (:math:`\\log|D_i|`, drawn from the scenario's owners) and measure the error
        bound's bias against the size-weighted target :math:`w_i = |D_i|/\\sum_j|D_j|`
        [option of the authors' code].  Their first-layer weights start at zero,
        so when every size is 1 the network trains exactly as one without them.
    """

    steps: int = 1000
    batch: int = 128
    profiles: int = 12_800
    misreport_steps: int = 10
    misreport_lr: float = 0.1
    lr: float = 1e-3
    update_every: int = 10
    phi: float = 1.0
    rho_rgv: float = 1.0
    rho_irv: float = 4.0
    rho_rgv_step: float = 1.0
    rho_irv_step: float = 3.0
    rho_every: int = 2
    hidden: tuple[int, ...] = (64, 64)
    test_profiles: int = 1000
    test_misreport_steps: int = 50
    test_restarts: int = 1
    threads: int = 1
    budget_range: tuple[float, ...] = ()
    dummy_payment: bool = False
    normalise: bool = True
    data_size_inputs: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "profiles", "update_every", "rho_every", "test_profiles", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.profiles < self.batch:
            raise ValueError(f"profiles: needs at least one batch ({self.batch}), got {self.profiles}")
        if min(self.misreport_steps, self.test_misreport_steps, self.test_restarts) < 0:
            raise ValueError("misreport steps and restarts: must be non-negative")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden: needs at least one layer of positive width, got {self.hidden}")
        if self.budget_range and not (len(self.budget_range) == 2
                                      and 0 < self.budget_range[0] <= self.budget_range[1] < np.inf):
            raise ValueError(f"budget_range: needs 0 < low <= high, got {self.budget_range}")

    def budgets(self, market: TrainingMarket, rng: np.random.Generator, size: int) -> np.ndarray:
        """Auction budgets of ``size`` profiles: the market's one budget, or draws from ``budget_range``."""
        if not self.budget_range:
            return np.full(size, market.budget)
        return rng.uniform(self.budget_range[0], self.budget_range[1], size)


@dataclass(frozen=True)
class TrainingMarket:
    """The owners and the auction of an ``fl_market`` scenario that MURBA is trained for.

    Attributes
    ----------
    name : str
        The scenario's name.
    n, M : int
        Owners per auction and sub-bids.
    budget : float
        The auction's budget :math:`(1 - c)\\,` ``round_budget``.
    aggregation : str
        Aggregation rule of the error bound (one of :data:`TRAINABLE_AGGREGATIONS`).
    L : float
        Gradient bound.
    d_var : int
        Variance multiplier of the error bound (``d`` for ``vector_mse``, else 1).
    shading : tuple of float
        The owners' shading factors (their actions in the simulator).
    types : list of dict
        The population's owner types (empty for an explicit population).
    owners : dict of str to numpy.ndarray
        The explicit owners' attributes, shape (n,) (empty for types).
    """

    name: str
    n: int
    M: int
    budget: float
    aggregation: str
    L: float
    d_var: int
    shading: tuple[float, ...]
    types: list[dict[str, Any]]
    owners: dict[str, np.ndarray]

    @classmethod
    def from_scenario(cls, scenario: Any) -> TrainingMarket:
        """Read a validated :class:`scenarios.schema.Scenario`.

        Raises
        ------
        ValueError
            ``"<file>: <key>: <problem>"`` if the scenario is not a market
            MURBA can be trained for (another mechanism, M = 0, churn, an
            aggregation rule that is not differentiable).
        """
        def fail(key: str, problem: str) -> ValueError:
            return ValueError(f"{scenario.source}: {key}: {problem}")

        mech = scenario.mechanism
        if mech.name != "fl_market":
            raise fail("mechanism.name", f"MURBA is trained for fl_market scenarios, not {mech.name!r}")
        p = mech.params
        if p.M < 1:
            raise fail("mechanism.M", "MURBA needs at least one sub-bid (M >= 1)")
        if p.aggregation not in TRAINABLE_AGGREGATIONS:
            raise fail("mechanism.aggregation", f"MURBA is trained for {', '.join(TRAINABLE_AGGREGATIONS)}, "
                       f"not {p.aggregation!r}")
        if scenario.churn.active:
            raise fail("churn", "MURBA is trained for a fixed number of owners; remove the churn")
        pop = scenario.population
        owners: dict[str, np.ndarray] = {}
        if pop.owner:
            counts = np.array([o["count"] for o in pop.owner])
            owners = {k: np.repeat([float(o[k]) for o in pop.owner], counts)
                      for k in ("valuation", "sensitivity", "eps_bar")}
            owners["data_size"] = np.repeat([float(o.get("data_size", 1.0)) for o in pop.owner], counts)
        n = pop.size
        return cls(name=scenario.name, n=n, M=int(p.M), budget=float(p.round_budget * (1.0 - p.commission)),
                   aggregation=p.aggregation, L=float(p.L),
                   d_var=int(p.d) if p.error_measure == "vector_mse" else 1, shading=tuple(p.shading),
                   types=list(pop.types), owners=owners)

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``size`` true bid profiles ``(kind, rate, eps_bar)``, each of shape ``(size, n)``.

        Owners are independent draws from the population's types (the
        simulator draws its owners the same way), or the explicit owners.

        Raises
        ------
        ValueError
            If a drawn valuation id is not an integer in 0..4 or a drawn
            budget is not positive.
        """
        attrs = self._draw(rng, size, ("valuation", "sensitivity", "eps_bar"))
        return attrs["valuation"], attrs["sensitivity"], attrs["eps_bar"]

    def sample_sizes(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
        """``size`` true profiles with data sizes: ``(kind, rate, eps_bar, data_size)``, each ``(size, n)``.

        Like :meth:`sample`, with the sizes drawn jointly (so :meth:`sample`'s
        own random stream is unchanged).

        Raises
        ------
        ValueError
            As :meth:`sample`, or if a drawn data size is not positive.
        """
        attrs = self._draw(rng, size, ("valuation", "sensitivity", "eps_bar", "data_size"))
        if np.any(~(attrs["data_size"] > 0)):
            raise ValueError("data_size: owners' data sizes must be positive")
        return attrs["valuation"], attrs["sensitivity"], attrs["eps_bar"], attrs["data_size"]

    def _draw(self, rng: np.random.Generator, size: int, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The attributes ``keys`` of ``size`` profiles, checked; the valuation ids as integers."""
        if self.owners:
            attrs = {k: np.broadcast_to(self.owners[k], (size, self.n)) for k in keys}
        else:
            drawn, _ = sample_owners(self.types, size * self.n, rng, keys)
            attrs = {k: v.reshape(size, self.n) for k, v in drawn.items()}
        kind = attrs["valuation"]
        if np.any(kind != np.round(kind)) or np.any((kind < 0) | (kind >= len(VALUATIONS))):
            raise ValueError(f"valuation: owner valuation ids must be integers 0..{len(VALUATIONS) - 1}")
        if np.any(~(attrs["eps_bar"] > 0)):
            raise ValueError("eps_bar: privacy budgets must be positive")
        return {k: (v.astype(np.int64) if k == "valuation" else v.astype(float)) for k, v in attrs.items()}


@dataclass(frozen=True)
class Evaluation:
    """MURBA's incentive and error figures on held-out profiles (Table 1 and eq. 5).

    Attributes
    ----------
    profiles : int
        Number of held-out profiles.
    regret_mean, regret_max : float
        Mean and largest over owners of the empirical regret
        :math:`\\widehat{rgv}_i` (eq. 3; a lower bound, see the module docstring).
    shading_regret_mean, shading_regret_max : float
        The same for the best misreport :math:`\\alpha' = s\\alpha` on the
        scenario's shading grid (the simulated owners' actions).
    ir_mean, ir_max : float
        Mean and largest over owners of the empirical IR violation :math:`\\widehat{irv}_i` (eq. 4).
    budget_excess : float
        Largest :math:`\\sum_i p_i - B` over the profiles (0 up to rounding: BF by construction).
    error_bound : float
        Mean error bound :math:`\\widehat{ERR}` of the aggregation rule.
    """

    profiles: int
    regret_mean: float
    regret_max: float
    shading_regret_mean: float
    shading_regret_max: float
    ir_mean: float
    ir_max: float
    budget_excess: float
    error_bound: float


@dataclass(frozen=True)
class Training:
    """The outcome of :func:`train`.

    Attributes
    ----------
    model : MURBAModel
        The trained network (its ``info`` records the training, with the training
        curve: ``info["curve"]``, about 100 evenly spaced iterations of ``history``).
    trained, untrained : Evaluation
        The trained and the initial network on the same held-out profiles.
    seconds : float
        Wall time of the training iterations (the evaluation excluded).
    history : dict of str to numpy.ndarray
        Per iteration: ``loss``, ``error_bound``, ``regret`` and ``ir`` (sums
        over owners of :math:`\\widehat{rgv}_i` and :math:`\\widehat{irv}_i`).
    """

    model: MURBAModel
    trained: Evaluation
    untrained: Evaluation
    seconds: float
    history: dict[str, np.ndarray]


# ----------------------------------------------------------------- the network in torch
def _build_network(torch: Any, n: int, M: int, hidden: tuple[int, ...], dummy_payment: bool = False,
                   data_size_inputs: bool = False) -> Any:
    """The two networks of MBR (Fig. 3) as a ``ModuleDict`` of ``Sequential`` (tanh hidden layers).

    With ``dummy_payment`` the payment network has ``n + 1`` outputs (the last: budget left unspent).
    With ``data_size_inputs`` each first layer gets n more input columns, initialised to zero after
    the usual random initialisation (which therefore draws the same numbers as without them).
    """
    def mlp(n_out: int) -> Any:
        layers, width = [], n * (M + 1) + 1
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.Tanh()]
            width = h
        net = torch.nn.Sequential(*layers, torch.nn.Linear(width, n_out))
        if data_size_inputs:
            first = net[0]
            with torch.random.fork_rng(devices=[]):   # leaves the generator as without the extra columns
                wide = torch.nn.Linear(first.in_features + n, first.out_features)
            with torch.no_grad():
                wide.weight.zero_()
                wide.weight[:, :first.in_features] = first.weight
                wide.bias.copy_(first.bias)
            net[0] = wide
        return net

    return torch.nn.ModuleDict({"allocation": mlp(n * (M + 1)), "payment": mlp(n + int(dummy_payment))})


def _linear_layers(sequential: Any) -> list[Any]:
    return [m for m in sequential if hasattr(m, "weight")]


def export_model(net: Any, template: MURBAModel, info: dict[str, Any] | None = None) -> MURBAModel:
    """The numpy :class:`MURBAModel` of a torch network (weights copied as float32)."""
    layers = {name: tuple((m.weight.detach().cpu().numpy().astype(np.float32),
                           m.bias.detach().cpu().numpy().astype(np.float32))
                          for m in _linear_layers(net[name])) for name in ("allocation", "payment")}
    return dataclasses.replace(template, allocation=layers["allocation"], payment=layers["payment"],
                               info=dict(info or {}))


def torch_network(model: MURBAModel, dtype: Any = None) -> Any:
    """A torch network with the weights of ``model`` (the inverse of :func:`export_model`)."""
    torch = require_torch()
    dtype = torch.float32 if dtype is None else dtype
    hidden = tuple(w.shape[0] for w, _ in model.allocation[:-1])
    net = _build_network(torch, model.n, model.M, hidden, model.dummy_payment, model.data_size_inputs).to(dtype)
    with torch.no_grad():
        for name in ("allocation", "payment"):
            for module, (weight, bias) in zip(_linear_layers(net[name]), getattr(model, name)):
                module.weight.copy_(torch.tensor(np.array(weight), dtype=dtype))
                module.bias.copy_(torch.tensor(np.array(bias), dtype=dtype))
    return net


def forward(net: Any, x: Any, n: int, M: int) -> tuple[Any, Any]:
    """MBR on scaled inputs in torch: allocation probabilities ``(..., n, M+1)`` and payment shares ``(..., n)``."""
    torch = require_torch()
    logits = net["allocation"](x)
    z = torch.softmax(logits.reshape(logits.shape[:-1] + (n, M + 1)), dim=-1)
    return z, torch.softmax(net["payment"](x), dim=-1)[..., :n]


def _valuation_t(torch: Any, kind: Any, rate: Any, eps: Any) -> Any:
    """:func:`market.theory.fl_market.auctions.valuation` in torch (``eps > 0``, as under MURBA)."""
    base = (eps > 0).to(eps.dtype)  # step
    for family, value in ((LINEAR, 2.0 * eps), (QUADRATIC, eps**2),
                          (SQRT, 2.0 * torch.sqrt(eps.clamp_min(1e-12))), (EXP, torch.expm1(eps))):
        base = torch.where(kind == family, value, base)
    return rate * base


def error_bound_torch(eps: Any, aggregation: str, L: float, d_var: int, data_size: Any = None) -> Any:
    """:math:`d_{var}\\mathrm{VAR} + \\mathrm{BIAS}^2` of ``aggregation`` for all-positive ``eps``.

    ``data_size`` (a tensor like ``eps``; default equal sizes) sets the bias target
    :math:`w_i = |D_i|/\\sum_j|D_j|`; with every owner winning, BiasOpt and the
    data-size rule then weight by :math:`w`, as
    :func:`market.theory.fl_market.aggregation.aggregate` does.

    For ``"error_opt"`` the weights :math:`\\lambda^*(\\varepsilon)` minimise the bound
    itself (:func:`market.aggregation.error_optimal_weights`) and its gradient is that
    of the optimal value.  Implicit differentiation of the KKT system gives it in
    closed form: with :math:`f(\\lambda, \\varepsilon)` the bound and constraints
    (:math:`\\sum_j\\lambda_j = 1`, :math:`\\lambda \\ge 0`) that do not involve
    :math:`\\varepsilon`, the term :math:`\\nabla_\\lambda \\mathcal L \\cdot
    \\partial\\lambda^*/\\partial\\varepsilon` vanishes by stationarity and
    complementary slackness, so :math:`d f^*/d\\varepsilon = \\partial f/\\partial\\varepsilon
    (\\lambda^*, \\varepsilon)` (the envelope theorem; :math:`\\lambda^*` is unique since
    the variance term is strictly convex).  The solver's weights therefore enter as
    constants and autograd differentiates the bound at them -- exact, not a surrogate
    (a test checks it against finite differences of the optimal value).
    """
    torch = require_torch()
    n = eps.shape[-1]
    target = torch.full_like(eps, 1.0 / n) if data_size is None else data_size / data_size.sum(dim=-1, keepdim=True)
    if aggregation == "var_opt":
        lam = eps**2 / (eps**2).sum(dim=-1, keepdim=True)
    elif aggregation == "error_opt":
        sizes = None if data_size is None else data_size.detach().double().cpu().numpy()
        lam = torch.as_tensor(error_optimal_weights(eps.detach().double().cpu().numpy(), L, d_var, sizes),
                              dtype=eps.dtype)
    elif aggregation in ("bias_opt", "data_size"):
        lam = target  # every owner wins: the target weights, no spare weight
    else:
        raise ValueError(f"aggregation: MURBA is trained for {', '.join(TRAINABLE_AGGREGATIONS)}, "
                         f"not {aggregation!r}")
    variance = (8.0 * L**2 * lam**2 / eps**2).sum(dim=-1)
    bias = L * (lam - target).abs().sum(dim=-1)
    return d_var * variance + bias**2


@dataclass
class _Batch:
    """True profiles as tensors: scaled inputs ``x`` (K, D), bids and data sizes (K, n), budget (K,)."""

    x: Any
    kind: Any
    rate: Any
    eps_bar: Any
    budget: Any
    data_size: Any


class _Objective:
    """Utilities, misreport search and the penalty terms of one market (torch)."""

    def __init__(self, torch: Any, template: MURBAModel, market: TrainingMarket, dtype: Any) -> None:
        self.torch, self.n, self.M, self.market, self.dtype = torch, template.n, template.M, market, dtype
        m1 = self.M + 1
        self.head = self.n * m1   # the owners' bid inputs; then B (and the data sizes)
        eps_cols = np.arange(self.n) * m1 + self.M
        mean = np.asarray(template.feature_mean)[:self.head].reshape(self.n, m1)
        scale = np.asarray(template.feature_scale)[:self.head].reshape(self.n, m1)
        self.eps_mean = torch.as_tensor(np.asarray(template.feature_mean)[eps_cols], dtype=dtype)
        self.eps_scale = torch.as_tensor(np.asarray(template.feature_scale)[eps_cols], dtype=dtype)
        lower = -mean / scale  # log(1 + 0) = 0: non-negative values
        lower[:, self.M] = (np.log1p(MIN_REPORTED_BUDGET) - mean[:, self.M]) / scale[:, self.M]
        self.lower = torch.as_tensor(lower, dtype=dtype)
        self.inv_m = torch.as_tensor(1.0 / np.arange(1, m1), dtype=dtype)
        self.eye = torch.eye(self.n, dtype=torch.bool)
        self.template = template

    def batch(self, kind: np.ndarray, rate: np.ndarray, eps_bar: np.ndarray, budget: np.ndarray,
              data_size: np.ndarray | None = None) -> _Batch:
        t = self.torch
        _, values = bid_transformation(kind, rate, eps_bar, self.M)
        x = self.template.features(values, eps_bar, budget, data_size)
        sizes = np.ones_like(eps_bar) if data_size is None else np.array(np.broadcast_to(data_size, eps_bar.shape))
        return _Batch(x=t.as_tensor(x, dtype=self.dtype), kind=t.as_tensor(kind),
                      rate=t.as_tensor(rate, dtype=self.dtype), eps_bar=t.as_tensor(eps_bar, dtype=self.dtype),
                      budget=t.as_tensor(budget, dtype=self.dtype),
                      data_size=t.as_tensor(sizes, dtype=self.dtype))

    def blocks(self, b: _Batch) -> Any:
        """Each owner's M+1 scaled inputs, (K, n, M+1): the truthful reports."""
        return b.x[:, :self.head].reshape(-1, self.n, self.M + 1)

    def truthful(self, net: Any, b: _Batch) -> tuple[Any, Any]:
        """Privacy parameters and true utilities under truthful reports, (K, n) each."""
        z, share = forward(net, b.x, self.n, self.M)
        eps = (z[..., 1:] * b.eps_bar[..., None] * self.inv_m).sum(dim=-1)
        return eps, share * b.budget[:, None] - _valuation_t(self.torch, b.kind, b.rate, eps)

    def deviating(self, net: Any, b: _Batch, mis: Any) -> Any:
        """True utility of owner i when she alone reports ``mis[:, i]`` (scaled inputs), (K, n)."""
        t, n, m1 = self.torch, self.n, self.M + 1
        k = mis.shape[0]
        reports = t.where(self.eye[None, :, :, None], mis[:, :, None, :], self.blocks(b)[:, None, :, :])
        tail = b.x[:, None, self.head:]   # B and the data sizes: not misreported
        x = t.cat([reports.reshape(k, n, n * m1), tail.expand(k, n, tail.shape[-1])], dim=-1)
        z, share = forward(net, x, n, self.M)
        own = t.arange(n)
        z_own, p_own = z[:, own, own, :], share[:, own, own] * b.budget[:, None]
        reported_budget = t.expm1(mis[..., self.M] * self.eps_scale + self.eps_mean)
        eps = (z_own[..., 1:] * reported_budget[..., None] * self.inv_m).sum(dim=-1)
        return p_own - _valuation_t(t, b.kind, b.rate, eps)

    def project(self, mis: Any, b: _Batch) -> Any:
        """Non-negative reported values, reported budget in [MIN_REPORTED_BUDGET, true budget]."""
        t = self.torch
        mis = t.maximum(mis, self.lower)
        budget = t.minimum(mis[..., self.M:], self.blocks(b)[..., self.M:])
        return t.cat([mis[..., :self.M], budget], dim=-1)

    def ascend(self, net: Any, b: _Batch, mis: Any, steps: int, lr: float) -> Any:
        """Eq. 2: ``steps`` projected gradient-ascent steps of every owner's utility in her own report."""
        for _ in range(steps):
            mis = mis.detach().requires_grad_(True)
            (grad,) = self.torch.autograd.grad(self.deviating(net, b, mis).sum(), mis)
            mis = self.project(mis + lr * grad, b)
        return mis.detach()


# ------------------------------------------------------------------------- training
def training_scenario(source: str | Path | Mapping[str, Any], overrides: list[str] | None = None) -> Any:
    """Load the scenario to train MURBA for (a built-in name, a ``.toml`` path or a parsed dict; ``--set`` overrides).

    A scenario with ``auction = "murba"`` names in ``weights`` the file that
    training writes, which need not exist yet: its ``[mechanism]`` table is
    validated with that key left out and a training-free auction in MURBA's
    place (every other key is checked as usual).

    Raises
    ------
    scenarios.schema.ScenarioError
        On any invalid key or value (one line naming the file and the key).
    """
    if isinstance(source, Mapping):
        raw = copy.deepcopy(dict(source))
        label = dict_label(raw)
    else:
        raw, label = read_raw(source)
    raw = apply_overrides(raw, overrides or [], label)
    mechanism = raw.get("mechanism")
    if isinstance(mechanism, dict) and mechanism.get("auction") == "murba":
        raw["mechanism"] = {k: v for k, v in mechanism.items() if k != "weights"} | {
            "auction": "proportional_share"}
    return validate(raw, label)


def _template(market: TrainingMarket, kind: np.ndarray, rate: np.ndarray, eps_bar: np.ndarray,
              budget: np.ndarray, normalise: bool = True, data_size: np.ndarray | None = None) -> MURBAModel:
    """A network without layers whose input scaling is fitted to the training sample (identity if not ``normalise``).

    With ``data_size`` the network takes the sizes as inputs (:math:`\\log|D_i|`, after B).
    """
    _, values = bid_transformation(kind, rate, eps_bar, market.M)
    owner = np.concatenate([values, eps_bar[..., None]], axis=-1).reshape(kind.shape[0], -1)
    raw = np.log1p(np.concatenate([owner, budget[:, None]], axis=-1))
    if data_size is not None:
        raw = np.concatenate([raw, np.log(data_size)], axis=-1)
    scale = raw.std(axis=0)
    if not normalise:
        return MURBAModel(n=market.n, M=market.M, feature_mean=np.zeros(raw.shape[1]),
                          feature_scale=np.ones(raw.shape[1]), allocation=(), payment=())
    return MURBAModel(n=market.n, M=market.M, feature_mean=raw.mean(axis=0),
                      feature_scale=np.where(scale > 1e-8, scale, 1.0), allocation=(), payment=())


def train(
    scenario: Any,
    steps: int | None = None,
    seed: int | None = None,
    config: TrainingConfig = TrainingConfig(),
    progress: bool = False,
    init: MURBAModel | None = None,
) -> Training:
    """Train MURBA for a scenario's owners and auction, then evaluate it on held-out profiles.

    Parameters
    ----------
    scenario : scenarios.schema.Scenario
        An ``fl_market`` scenario (see :class:`TrainingMarket`).
    steps : int, optional
        Training iterations (default ``config.steps``).
    seed : int, optional
        Seed of the samples, the initial weights and the batches (default: the scenario's).
    config : TrainingConfig
        Hyper-parameters.
    progress : bool
        Show a progress bar on standard error (when it is a terminal).
    init : MURBAModel, optional
        Continue training this network (same n and M) instead of a random
        initialisation: its layers, input scaling and payment node are kept
        (``config.hidden``, ``config.dummy_payment`` and ``config.normalise`` are
        then ignored), and the penalty schedule :math:`\\rho` continues from the
        iterations it was already trained for (``info["total_steps"]``); the
        multipliers :math:`\\phi` restart at ``config.phi``.  This is how a network
        is trained longer, or for another aggregation rule, in several sittings.

    Returns
    -------
    Training

    Raises
    ------
    TorchMissing
        Without PyTorch.
    ValueError
        If the scenario is not a market MURBA can be trained for.
    """
    torch = require_torch()
    config = config if steps is None else dataclasses.replace(config, steps=steps)
    market = TrainingMarket.from_scenario(scenario)
    seed = int(scenario.seed if seed is None else seed)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    sizes = config.data_size_inputs if init is None else init.data_size_inputs

    def draw(count: int) -> tuple[np.ndarray, ...]:
        return market.sample_sizes(rng, count) if sizes else (*market.sample(rng, count), None)

    kind, rate, eps_bar, size = draw(config.profiles)
    budget = config.budgets(market, rng, config.profiles)
    *test, test_size = draw(config.test_profiles)
    test_budget = config.budgets(market, rng, config.test_profiles)
    done = 0
    if init is None:
        template = _template(market, kind, rate, eps_bar, budget, config.normalise, size)
        net = _build_network(torch, market.n, market.M, config.hidden, config.dummy_payment, sizes)
    else:
        if (init.n, init.M) != (market.n, market.M):
            raise ValueError(f"init: the network was trained for {init.n} owners and M = {init.M}, "
                             f"the scenario has {market.n} owners and M = {market.M}")
        template = dataclasses.replace(init, allocation=(), payment=(), info={})
        net = torch_network(init)
        done = int(init.info.get("total_steps", init.info.get("config", {}).get("steps", 0)))
        config = dataclasses.replace(config, hidden=tuple(w.shape[0] for w, _ in init.allocation[:-1]),
                                     dummy_payment=init.dummy_payment, data_size_inputs=sizes)
    untrained = export_model(net, template)
    objective = _Objective(torch, template, market, torch.float32)
    with _threads(torch, config.threads):
        history, seconds = _optimise(net, objective, objective.batch(kind, rate, eps_bar, budget, size), config,
                                     rng, progress, done)
    info = {"scenario": market.name, "n": market.n, "M": market.M, "budget": market.budget,
            "budget_range": list(config.budget_range) or [market.budget] * 2,
            "aggregation": market.aggregation, "L": market.L, "d_var": market.d_var, "seed": seed,
            "seconds": round(seconds, 1), "torch": str(torch.__version__), "config": dataclasses.asdict(config),
            "total_steps": done + config.steps}
    if init is not None:
        info["init"] = {key: init.info.get(key) for key in ("scenario", "aggregation", "seed", "total_steps",
                                                             "seconds", "init")}
        info["init"]["total_steps"] = done
    every = max(1, config.steps // 100)
    info["curve"] = {"step": list(range(0, config.steps, every)),
                     **{key: [round(float(v), 6) for v in history[key][::every]] for key in history}}
    model = export_model(net, template, info)
    trained = evaluate(model, market, *test, config=config, seed=seed, budget=test_budget, data_size=test_size)
    model = dataclasses.replace(model, info=info | {"test": dataclasses.asdict(trained)})
    return Training(model=model, trained=trained,
                    untrained=evaluate(untrained, market, *test, config=config, seed=seed, budget=test_budget,
                                       data_size=test_size),
                    seconds=seconds, history=history)


def _optimise(
    net: Any, objective: _Objective, data: _Batch, config: TrainingConfig, rng: np.random.Generator,
    progress: bool, done: int = 0,
) -> tuple[dict[str, np.ndarray], float]:
    """The training iterations (eqs. 2-6); return the history and the wall time.

    ``done`` iterations were run before (a continued network): the penalty schedule starts where they left it.
    """
    torch, market = objective.torch, objective.market
    # RegretNet's start: each misreport is a bid drawn from the owner distribution (another training profile's)
    misreports = objective.project(objective.blocks(data)[torch.as_tensor(rng.permutation(config.profiles))], data)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    phi_rgv = torch.full((market.n,), config.phi)
    phi_irv = torch.full((market.n,), config.phi)
    per_epoch = config.profiles // config.batch
    history = {key: np.zeros(config.steps) for key in ("loss", "error_bound", "regret", "ir")}
    bar = _progress(config.steps, progress)
    start = time.perf_counter()
    order = rng.permutation(config.profiles)
    for t in range(config.steps):
        slot = t % per_epoch
        if slot == 0 and t > 0:
            order = rng.permutation(config.profiles)
        passed = (done + t) // per_epoch // config.rho_every
        rho_rgv = config.rho_rgv + config.rho_rgv_step * passed
        rho_irv = config.rho_irv + config.rho_irv_step * passed
        idx = torch.as_tensor(order[slot * config.batch:(slot + 1) * config.batch])
        b = _Batch(*(getattr(data, f.name)[idx] for f in dataclasses.fields(_Batch)))
        mis = objective.ascend(net, b, misreports[idx], config.misreport_steps, config.misreport_lr)
        misreports[idx] = mis
        eps, u_true = objective.truthful(net, b)
        rgv = torch.relu(objective.deviating(net, b, mis) - u_true).mean(dim=0)
        irv = torch.relu(-u_true).mean(dim=0)
        err = error_bound_torch(eps, market.aggregation, market.L, market.d_var,
                                b.data_size if config.data_size_inputs else None).mean()
        loss = (err + (phi_rgv * rgv).sum() + rho_rgv / 2 * rgv.sum() ** 2
                + (phi_irv * irv).sum() + rho_irv / 2 * irv.sum() ** 2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if t % config.update_every == 0:
            phi_rgv = phi_rgv + rho_rgv * rgv.detach()
            phi_irv = phi_irv + rho_irv * irv.detach()
        for key, value in (("loss", loss), ("error_bound", err), ("regret", rgv.sum()), ("ir", irv.sum())):
            history[key][t] = float(value.detach())
        if bar is not None:
            bar.update()
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    return history, seconds


def evaluate(
    model: MURBAModel,
    market: TrainingMarket,
    kind: np.ndarray,
    rate: np.ndarray,
    eps_bar: np.ndarray,
    config: TrainingConfig = TrainingConfig(),
    seed: int = 0,
    budget: np.ndarray | float | None = None,
    data_size: np.ndarray | None = None,
) -> Evaluation:
    """Regret, IR violation, budget excess and error bound of ``model`` on true profiles ``(kind, rate, eps_bar)``.

    ``budget`` is the auction budget of every profile (a number or one per
    profile; default: the market's); ``data_size`` the owners' data sizes, shape
    ``(profiles, n)`` (default equal): inputs of a network with data-size inputs and
    the bias target of the error bound.

    Each owner's misreport is the best of ``1 + config.test_restarts``
    searches in torch (``config.test_misreport_steps`` steps of eq. 2, step
    ``config.misreport_lr``), one from the truth and the others from bids drawn
    from the owner distribution (other profiles' bids, shuffled with ``seed``);
    every utility is then computed by the numpy network in float64.  The
    shading regret is an exhaustive search over the scenario's shading grid
    (:func:`market.theory.fl_market.auctions.empirical_regret`), the simulated owners' actions.
    """
    torch = require_torch()
    rng = np.random.default_rng(seed)
    objective = _Objective(torch, model, market, torch.float32)
    budget = np.broadcast_to(np.asarray(market.budget if budget is None else budget, dtype=float),
                             kind.shape[:1]).copy()
    b = objective.batch(kind, rate, eps_bar, budget, data_size)
    sizes = np.ones_like(eps_bar) if data_size is None else np.broadcast_to(data_size, eps_bar.shape)
    alloc = model(kind, rate, eps_bar, budget, sizes)
    u_true = alloc.payment - valuation(kind, rate, alloc.epsilon)
    truth = objective.blocks(b)
    starts = [truth] + [objective.project(truth[torch.as_tensor(rng.permutation(kind.shape[0]))], b)
                        for _ in range(config.test_restarts)]
    best = u_true
    net = torch_network(model)
    with _threads(torch, config.threads):
        for start in starts:
            mis = objective.ascend(net, b, start.clone(), config.test_misreport_steps, config.misreport_lr)
            best = np.maximum(best, _deviating_utilities(model, kind, rate, eps_bar, budget, sizes,
                                                         mis.double().numpy()))
    rgv, irv = (best - u_true).mean(axis=0), np.maximum(-u_true, 0.0).mean(axis=0)
    shading = np.concatenate([
        empirical_regret(_sized(model, sizes[c:c + 20]), kind[c:c + 20], rate[c:c + 20], eps_bar[c:c + 20],
                         budget[c:c + 20], market.shading).gain for c in range(0, kind.shape[0], 20)]).mean(axis=0)
    size_arg = None if data_size is None else sizes
    err = error_bound(aggregate(market.aggregation, alloc.epsilon, market.L, market.d_var, size_arg), alloc.epsilon,
                      market.L, market.d_var, size_arg)
    return Evaluation(profiles=int(kind.shape[0]), regret_mean=float(rgv.mean()), regret_max=float(rgv.max()),
                      shading_regret_mean=float(shading.mean()), shading_regret_max=float(shading.max()),
                      ir_mean=float(irv.mean()), ir_max=float(irv.max()),
                      budget_excess=float(np.max(alloc.payment.sum(axis=1) - budget)),
                      error_bound=float(err.mean()))


def _sized(model: MURBAModel, data_size: np.ndarray) -> Any:
    """``model`` as an auction of profiles ``(K, ..., n)`` whose owners have the sizes ``data_size`` (K, n)."""
    def auction(kind: np.ndarray, rate: np.ndarray, eps_bar: np.ndarray, budget: Any) -> Any:
        shape = data_size.shape[:1] + (1,) * (np.ndim(eps_bar) - 2) + data_size.shape[-1:]
        return model(kind, rate, eps_bar, budget, data_size.reshape(shape))
    return auction


def _deviating_utilities(
    model: MURBAModel, kind: np.ndarray, rate: np.ndarray, eps_bar: np.ndarray, budget: np.ndarray,
    data_size: np.ndarray, mis: np.ndarray,
) -> np.ndarray:
    """True utility (numpy, float64) of owner i when she alone reports the scaled inputs ``mis[:, i]``."""
    n, m1 = model.n, model.M + 1
    _, values = bid_transformation(kind, rate, eps_bar, model.M)
    x = model.features(values, eps_bar, budget, data_size)
    head = n * m1
    reports = np.where(np.eye(n, dtype=bool)[None, :, :, None], mis[:, :, None, :],
                       x[:, :head].reshape(-1, n, m1)[:, None, :, :])
    tail = x[:, None, head:]
    xs = np.concatenate([reports.reshape(-1, n, n * m1), np.broadcast_to(tail, (x.shape[0], n, tail.shape[-1]))],
                        axis=-1)
    z, share = model.forward(xs)
    own = np.arange(n)
    eps_cols = own * m1 + model.M
    reported_budget = np.expm1(mis[..., model.M] * model.feature_scale[eps_cols] + model.feature_mean[eps_cols])
    eps = np.sum(z[:, own, own, 1:] * reported_budget[..., None] / np.arange(1, m1), axis=-1)
    return share[:, own, own] * budget[:, None] - valuation(kind, rate, eps)


@contextlib.contextmanager
def _threads(torch: Any, n: int) -> Iterator[None]:
    """Run with ``n`` PyTorch threads, then restore the previous number."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _progress(total: int, show: bool) -> Any:
    if not show:
        return None

    return tqdm(total=total, unit="step", file=sys.stderr, leave=False, disable=not sys.stderr.isatty())


def evaluate_budgets(
    model: MURBAModel,
    market: TrainingMarket,
    budgets: np.ndarray,
    profiles: int = 200,
    config: TrainingConfig = TrainingConfig(),
    seed: int = 0,
) -> dict[float, Evaluation]:
    """:func:`evaluate` at each budget of ``budgets`` on the same ``profiles`` fresh held-out profiles.

    This is how a network trained over a ``budget_range`` is checked across it:
    regret, IR violation and budget excess at every budget.
    """
    rng = np.random.default_rng(seed)
    kind, rate, eps_bar, size = (market.sample_sizes(rng, profiles) if model.data_size_inputs
                                 else (*market.sample(rng, profiles), None))
    return {float(b): evaluate(model, market, kind, rate, eps_bar, config=config, seed=seed, budget=float(b),
                               data_size=size)
            for b in np.asarray(budgets, dtype=float)}
