"""FL-Market on a real learning task: auctions buy privacy, the buyer's model learns from real gradients.

``fl_market_task`` is the FL-Market mechanism of :mod:`market.mechanisms.fl_market`
(same auctions, aggregation rules, payments, owner utilities and metrics)
with a real federated learning task behind it (:mod:`market.theory.learning.task`).
Every auction of the round sets the owners' privacy parameters
:math:`\\varepsilon_{k,i}`; then the owners compute the gradient of the
buyers' model on their own data, clip it to L1 norm ``L``, perturb it at
:math:`\\varepsilon_{k,i}` (Laplace, Theorem 2.2 of paper 002, or the analytic
Gaussian mechanism), the broker aggregates with the auction's weights
:math:`\\lambda_k` (eq. 1), and the model steps
:math:`\\theta \\leftarrow \\theta - \\eta\\sum_i\\lambda_{k,i}\\tilde g_{k,i}`, one step per
auction in buyer order.  All buyers train one model, the platform's (the
built-in scenarios have one buyer, so it is *the buyer's model*); an auction
without winners gives no step.

Owners' data: owner *i* holds ``round(data_size_i)`` training rows of the
data set, split IID or with Dirichlet label skew (:func:`market.theory.learning.task.partition`)
when the owner is first seen; a departing owner's rows return to the free
pool.  With ``error_measure = "vector_mse"`` the variance multiplier is the
number of model parameters (the parameter ``d`` is ignored).

Extra per-round metrics (columns of ``model.parquet``):

``test_accuracy``   the model's accuracy on the held-out test split after the round
``test_loss``       its mean cross-entropy on the test split
``model_steps``     gradient steps taken so far (auctions with a winner)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.mechanism import Outcome, RoundContext
from market.core.population import OwnerArrays
from market.mechanisms.fl_market import FLMarket
from market.theory.fl_market.aggregation import aggregate
from market.theory.learning.task import (
    DATASETS,
    FederatedTask,
    LocalData,
    MODELS,
    PARTITIONS,
    PERTURBATIONS,
    load_dataset,
    make_classifier,
    owner_sizes,
    partition,
)


class FLMarketTask(FLMarket):
    """FL-Market auctions buying real LDP gradients of a model trained on a real data set."""

    name = "fl_market_task"
    description = "FL-Market auctions buying real LDP gradients; the buyer's model accuracy on a real data set"

    @dataclass(frozen=True)
    class Params(FLMarket.Params):
        """Parameters of FL-Market (see ``fl_market``) plus the learning task.

        Attributes
        ----------
        dataset : str
            ``"digits"`` or ``"breast_cancer"`` (shipped with scikit-learn).
        components : int
            Principal components of the features (0: the raw standardised features).
        test_fraction : float
            Share of the data held out for the buyer's test metrics.
        model : str
            ``"logistic"`` (multinomial logistic regression) or ``"mlp"`` (one hidden layer).
        hidden : int
            Hidden units of ``mlp``.
        l2 : float
            L2 penalty of the training loss.
        partition : str
            ``"iid"`` or ``"dirichlet"`` (label skew).
        concentration : float
            Dirichlet concentration of the label skew (small = strong skew).
        perturbation : str
            ``"laplace"`` (paper), ``"gaussian"`` or ``"none"`` (clipping only).
        delta : float
            :math:`\\delta` of the Gaussian mechanism.
        learning_rate : float
            The buyer's step size :math:`\\eta`.
        task_seed : int
            Seed of the train/test split, the owners' data and the initial model.
        """

        dataset: str = "digits"
        components: int = 0
        test_fraction: float = 0.2
        model: str = "logistic"
        hidden: int = 32
        l2: float = 1e-3
        partition: str = "iid"
        concentration: float = 1.0
        perturbation: str = "laplace"
        delta: float = 1e-5
        learning_rate: float = 1.0
        task_seed: int = 0

    def validate(self) -> None:
        super().validate()
        p = self.params
        if p.dataset not in DATASETS:
            raise ValueError(f"dataset: unknown data set {p.dataset!r} (known: {', '.join(DATASETS)})")
        if p.model not in MODELS:
            raise ValueError(f"model: unknown model {p.model!r} (known: {', '.join(MODELS)})")
        if p.partition not in PARTITIONS:
            raise ValueError(f"partition: unknown scheme {p.partition!r} (known: {', '.join(PARTITIONS)})")
        if not p.concentration > 0:
            raise ValueError(f"concentration: must be positive, got {p.concentration}")
        if p.perturbation not in PERTURBATIONS:
            raise ValueError(f"perturbation: unknown mechanism {p.perturbation!r} "
                             f"(known: {', '.join(PERTURBATIONS)})")
        data = load_dataset(p.dataset, p.test_fraction, int(p.task_seed), int(p.components))
        model = make_classifier(p.model, data.n_features, data.n_classes, p.l2, p.hidden)
        self.task = FederatedTask(data, model, p.L, p.perturbation, p.delta, p.learning_rate)
        if p.error_measure == "vector_mse":
            self._d_var = model.n_params
        self._rng = np.random.default_rng(int(p.task_seed))
        self.theta = model.init(self._rng)
        self.steps = 0
        self.holder = np.full(data.y_train.size, -1, dtype=np.int64)

    def local_data(self, owners: OwnerArrays) -> LocalData:
        """The current owners' training rows, in ``owners`` order.

        ``holder[r]`` is the id of the owner holding training row ``r`` (-1:
        free).  Rows of departed owners return to the free pool; owners seen
        for the first time draw theirs from the free rows with
        :func:`market.theory.learning.task.partition`.  The state is one integer
        array, so checkpoints save it as it is.
        """
        held = self.holder >= 0
        self.holder[held & ~np.isin(self.holder, owners.ids)] = -1
        new = ~np.isin(owners.ids, self.holder)
        if new.any():
            sizes = owner_sizes(owners.data_size[new])
            blocks = partition(self.task.dataset.y_train, sizes, self._rng, self.params.partition,
                               self.params.concentration, np.flatnonzero(self.holder < 0))
            self.holder[np.concatenate(blocks)] = np.repeat(owners.ids[new], sizes)
        rows = np.flatnonzero(self.holder >= 0)
        by_id = np.argsort(owners.ids)
        position = by_id[np.searchsorted(owners.ids, self.holder[rows], sorter=by_id)]
        order = np.argsort(position, kind="stable")
        return LocalData(rows[order], np.bincount(position, minlength=len(owners)))

    def settle(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> Outcome:
        """FL-Market's settlement, then one model step per auction with a winner (module docstring)."""
        outcome = super().settle(action, owners, ctx)
        budgets = self._budgets(ctx)
        held = budgets > 0
        if len(owners) and held.any():
            local = self.local_data(owners)
            eps = self._run(action, owners, budgets[held]).epsilon
            weights = aggregate(self.params.aggregation, eps, self.params.L, self._d_var,
                                local.counts.astype(float))
            for k in range(eps.shape[0]):          # one step per auction (buyer), not per owner
                if np.any(weights[k] > 0):
                    self.theta = self.task.step(self.theta, local, eps[k], weights[k], ctx.rng)
                    self.steps += 1
        accuracy, loss = self.task.evaluate(self.theta)
        outcome.metrics.update(test_accuracy=accuracy, test_loss=loss, model_steps=float(self.steps))
        return outcome
