"""MURBA, the learned multi-unit budget-feasible auction of FL-Market (paper 002, Sec. 5.2): inference.

MURBA (Algorithm 5) turns each reported bid :math:`b'_i = (v'_i, \\bar\\varepsilon'_i)`
into M sub-bids for the harmonic grid of privacy levels
:math:`\\bar\\varepsilon'_i/m`, ``m = 1..M`` (:func:`market.theory.fl_market.auctions.bid_transformation`),
and feeds the :math:`n(M+1)+1` numbers
:math:`v'_i(\\bar\\varepsilon'_i/1), \\dots, v'_i(\\bar\\varepsilon'_i/M), \\bar\\varepsilon'_i`
(per owner) and :math:`B` to the MBR network (Fig. 3): two fully connected
networks with tanh hidden layers,

* the **allocation network**, whose output is a softmax over M+1 nodes per
  owner: :math:`z_{i0}` (the dummy node, "lose") and :math:`z_{i1..iM}`, so
  :math:`\\sum_{m \\ge 1} z_{im} \\le 1` -- each owner wins with at most one
  sub-bid, in expectation;
* the **payment network**, whose output is a softmax over the n owners,
  :math:`\\bar p_i \\in (0, 1)`, :math:`\\sum_i \\bar p_i = 1`, and
  :math:`p_i = \\bar p_i B`: **budget feasible by construction** (docs/models/fl_market.md#g10),
  with every owner paid something.

The privacy parameter is the expected grid value (step 3),
:math:`\\varepsilon_i = \\sum_{m=1}^M z_{im}\\, \\bar\\varepsilon'_i/m
\\le \\bar\\varepsilon'_i (1 - z_{i0})`, so every owner sells some privacy
(:math:`\\varepsilon_i > 0`) and an owner is never asked for more than she
reported.  Truthfulness and IR are only approximate: they are what training
(:mod:`market.training.murba`, which needs PyTorch) buys.

This module is the trained mechanism: numpy only, no PyTorch.  A trained
network is a :class:`MURBAModel`; it is an auction with the signature of
:data:`market.theory.fl_market.auctions.AUCTIONS`, ``model(kind, rate, eps_bar, budget)``.

**Input scaling** (not in the paper, docs/models/fl_market.md#murba-open): every input is
mapped to :math:`\\log(1 + x)` and standardised with the mean and standard
deviation of the training sample, which the weights file stores (training
with ``normalise = False`` stores mean 0 and scale 1: plain :math:`\\log(1+x)`).

**Budget.** :math:`B` is an input of both networks, so a network trained on
profiles whose budgets are drawn from a range (``budget_range`` of
:class:`market.murba_training.TrainingConfig`) serves every budget in that
range; its range is in ``info["budget_range"]``.

**Dummy payment node** (RegretNet's option, in the authors' released code):
the payment network may have :math:`n + 1` outputs; the softmax then runs
over the owners and one "unspent" node, so :math:`\\sum_i p_i \\le B` and the
budget need not be spent.  :attr:`MURBAModel.dummy_payment` tells which.

**Data-size inputs** (an option, as in the authors' released code): the network may
take the owners' data sizes :math:`|D_i|` as n more inputs after :math:`B`, fed as
:math:`\\log|D_i|` (0 when every size is 1) and standardised like the others.
Sizes are not bids: owners report them truthfully, and the bid transformation
and payments are unchanged; the sizes only inform the allocation and payment
networks.  :attr:`MURBAModel.data_size_inputs` tells which; a network without
them ignores sizes.

**Weights file.**  One ``.npz`` file (read with ``allow_pickle=False``):
the arrays ``allocation.<k>.weight`` / ``.bias`` and ``payment.<k>.weight``
/ ``.bias`` (layer ``k``, PyTorch's ``(out, in)`` layout), ``feature_mean``
and ``feature_scale``, and ``architecture``, a JSON text with the format tag,
``n``, ``M``, the number of layers and the training record (scenario,
steps, seed, the measured regret and IR violation).
"""

from __future__ import annotations

import functools
import json
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from market.theory.fl_market.auctions import Allocation, bid_transformation

#: The one-line message for every MURBA request that needs PyTorch.
TORCH_HINT = 'MURBA needs PyTorch: pip install "privmarket[learned]"'
#: Format tag of the weights file.
FORMAT = "privmarket-murba/1"
#: Where weights shipped with the built-in scenarios live.
BUILTIN_PACKAGE = "scenarios.builtin"

Layers = tuple[tuple[np.ndarray, np.ndarray], ...]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _mlp(layers: Layers, x: np.ndarray) -> np.ndarray:
    """Fully connected network: tanh hidden layers, linear output (weights in ``(out, in)`` layout)."""
    for weight, bias in layers[:-1]:
        x = np.tanh(x @ weight.T + bias)
    weight, bias = layers[-1]
    return x @ weight.T + bias


@dataclass(frozen=True)
class MURBAModel:
    """A trained MBR network (Fig. 3), evaluated in numpy (float64).

    Attributes
    ----------
    n : int
        Number of owners the network was trained for.
    M : int
        Number of sub-bids of the bid transformation.
    feature_mean, feature_scale : numpy.ndarray, shape (n(M+1)+1,) or (n(M+2)+1,)
        Standardisation of the :math:`\\log(1+x)` inputs (and of the :math:`\\log|D_i|`
        inputs of a network with :attr:`data_size_inputs`).
    allocation, payment : tuple of (weight, bias)
        The two networks' layers; the last is the linear output layer
        (``n(M+1)`` allocation logits, ``n`` payment logits).
    info : dict
        The training record stored with the weights (JSON data).
    """

    n: int
    M: int
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    allocation: Layers
    payment: Layers
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def dummy_payment(self) -> bool:
        """Whether the payment softmax has the extra "unspent" node (``n + 1`` outputs)."""
        return bool(self.payment) and self.payment[-1][0].shape[0] == self.n + 1

    @property
    def data_size_inputs(self) -> bool:
        """Whether the owners' data sizes are inputs (n more after B; module docstring)."""
        return np.size(self.feature_mean) == self.n * (self.M + 2) + 1

    @property
    def n_inputs(self) -> int:
        """:math:`n(M+1) + 1` inputs: per owner M sub-bid values and her budget, then B (then n data sizes)."""
        return self.n * (self.M + 1) + 1 + self.n * self.data_size_inputs

    def features(self, values: np.ndarray, eps_bar: np.ndarray, budget: np.ndarray,
                 data_size: np.ndarray | None = None) -> np.ndarray:
        """Network input of Algorithm 5 step 2, scaled.

        Parameters
        ----------
        values : numpy.ndarray, shape (..., n, M)
            Sub-bid values :math:`v'_i(\\bar\\varepsilon'_i/m)`.
        eps_bar : numpy.ndarray, shape (..., n)
            Reported privacy budgets.
        budget : numpy.ndarray, shape (...)
            Financial budget B.
        data_size : numpy.ndarray, shape (..., n), optional
            Owners' data sizes (default 1), used by a network with :attr:`data_size_inputs`.

        Returns
        -------
        numpy.ndarray, shape (..., n_inputs)
        """
        values = np.asarray(values, dtype=float)
        eps_bar = np.asarray(eps_bar, dtype=float)
        if values.shape[-2:] != (self.n, self.M):
            raise ValueError(f"weights: the MURBA model was trained for {self.n} owners and M = {self.M}, "
                             f"got {values.shape[-2]} owners and M = {values.shape[-1]}")
        batch = values.shape[:-2]
        owner = np.concatenate([values, eps_bar[..., None]], axis=-1).reshape(batch + (-1,))
        raw = np.concatenate([owner, np.broadcast_to(np.asarray(budget, dtype=float), batch)[..., None]], axis=-1)
        x = np.log1p(raw)
        if self.data_size_inputs:
            sizes = np.broadcast_to(np.asarray(1.0 if data_size is None else data_size, dtype=float), eps_bar.shape)
            if np.any(~(sizes > 0)):
                raise ValueError("data_size: owners' data sizes must be positive")
            x = np.concatenate([x, np.log(sizes)], axis=-1)
        return (x - self.feature_mean) / self.feature_scale

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The MBR network on scaled inputs ``x``.

        Returns
        -------
        z : numpy.ndarray, shape (..., n, M+1)
            Allocation probabilities; ``z[..., 0]`` is the dummy "lose" node.
        share : numpy.ndarray, shape (..., n)
            Payment shares :math:`\\bar p_i` (softmax over the owners, and the
            unspent node when :attr:`dummy_payment`, whose share is dropped).
        """
        logits = _mlp(self.allocation, x)
        z = _softmax(logits.reshape(logits.shape[:-1] + (self.n, self.M + 1)))
        return z, _softmax(_mlp(self.payment, x))[..., :self.n]

    def __call__(
        self, kind: np.ndarray, rate: np.ndarray, eps_bar: np.ndarray, budget: np.ndarray | float,
        data_size: np.ndarray | None = None,
    ) -> Allocation:
        """MURBA (Algorithm 5) on reported bids: the auction's privacy parameters and payments.

        Parameters
        ----------
        kind, rate, eps_bar : numpy.ndarray, shape (..., n)
            Reported valuation families, rates :math:`\\alpha'` and budgets
            :math:`\\bar\\varepsilon'` (the sub-bid values are
            :math:`\\alpha' v^f(\\bar\\varepsilon'/m)`).
        budget : float or numpy.ndarray, shape (...)
            Financial budget B.
        data_size : numpy.ndarray, shape (n,) or (..., n), optional
            Owners' data sizes: inputs of a network with :attr:`data_size_inputs`
            (default 1), ignored by one without.

        Returns
        -------
        Allocation
            :math:`\\varepsilon_i = \\sum_m z_{im}\\bar\\varepsilon'_i/m` and :math:`p_i = \\bar p_i B`.
        """
        eps_bar = np.asarray(eps_bar, dtype=float)
        if eps_bar.shape[-1] != self.n:
            raise ValueError(f"weights: the MURBA model was trained for {self.n} owners, "
                             f"the auction has {eps_bar.shape[-1]} (MURBA needs a fixed number of owners)")
        budget = np.broadcast_to(np.asarray(budget, dtype=float), eps_bar.shape[:-1])
        items, values = bid_transformation(kind, rate, eps_bar, self.M)
        z, share = self.forward(self.features(values, eps_bar, budget, data_size))
        epsilon = np.sum(z[..., 1:] * items, axis=-1)
        return Allocation(epsilon=epsilon, payment=share * budget[..., None])


def save_model(model: MURBAModel, path: str | Path) -> Path:
    """Write ``model`` to ``path`` (one ``.npz`` file, see the module docstring); return the path."""
    path = Path(path)
    arrays = {"feature_mean": model.feature_mean, "feature_scale": model.feature_scale}
    for name in ("allocation", "payment"):
        for k, (weight, bias) in enumerate(getattr(model, name)):
            arrays[f"{name}.{k}.weight"] = weight
            arrays[f"{name}.{k}.bias"] = bias
    architecture = {"format": FORMAT, "n": model.n, "M": model.M,
                    "layers": {"allocation": len(model.allocation), "payment": len(model.payment)},
                    "activation": "tanh", "input": "standardised log(1 + x)", "info": model.info}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:  # a handle: numpy would otherwise append ".npz" to the name
        np.savez(handle, architecture=np.array(json.dumps(architecture)), **arrays)
    return path


def weights_path(name: str) -> Path:
    """The weights file ``name``: a path (relative to the working directory), else one shipped with the built-ins.

    Raises
    ------
    ValueError
        If neither exists.
    """
    path = Path(name)
    if path.is_file():
        return path
    shipped = resources.files(BUILTIN_PACKAGE).joinpath(name)
    if path.name == name and shipped.is_file():
        return Path(str(shipped))
    raise ValueError(f"weights: no such file {name!r} (train one with `privmarket train-auction SCENARIO "
                     f"--out FILE`; training needs PyTorch: pip install \"privmarket[learned]\")")


def load_model(name: str | Path) -> MURBAModel:
    """Read a weights file written by :func:`save_model` (see :func:`weights_path` for the lookup).

    The file is read once per path and modification time.

    Raises
    ------
    ValueError
        If the file is missing or is not a MURBA weights file.
    """
    path = weights_path(str(name)).resolve()
    stat = path.stat()
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int) -> MURBAModel:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        arch = json.loads(str(arrays.pop("architecture")))
        if arch.get("format") != FORMAT:
            raise ValueError(f"format {arch.get('format')!r}, expected {FORMAT!r}")
        layers = {name: tuple((arrays[f"{name}.{k}.weight"], arrays[f"{name}.{k}.bias"])
                              for k in range(int(arch["layers"][name])))
                  for name in ("allocation", "payment")}
        model = MURBAModel(n=int(arch["n"]), M=int(arch["M"]), feature_mean=arrays["feature_mean"],
                           feature_scale=arrays["feature_scale"], allocation=layers["allocation"],
                           payment=layers["payment"], info=arch.get("info", {}))
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"weights: {path} is not a MURBA weights file ({exc})") from None
    for array in (model.feature_mean, model.feature_scale, *(a for layer in model.allocation + model.payment
                                                             for a in layer)):
        array.setflags(write=False)
    if not all(np.all(np.isfinite(a)) for a in (model.feature_mean, model.feature_scale,
                                                *(a for layer in model.allocation + model.payment for a in layer))):
        raise ValueError(f"weights: {path}: the network holds non-finite weights (NaN or infinity)")
    shapes = [(model.feature_mean.shape, (model.n_inputs,)), (model.feature_scale.shape, (model.n_inputs,)),
              (model.allocation[0][0].shape[1], model.n_inputs), (model.payment[0][0].shape[1], model.n_inputs),
              (model.allocation[-1][0].shape[0], model.n * (model.M + 1))]
    if any(got != expected for got, expected in shapes) or model.payment[-1][0].shape[0] not in (model.n,
                                                                                                 model.n + 1):
        raise ValueError(f"weights: {path}: layer shapes do not match n = {model.n}, M = {model.M}")
    return model
