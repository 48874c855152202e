"""A real federated learning task behind the market: data, gradients, LDP, aggregation, accuracy.

The closed-form payoffs of the papers make their theorems testable; this
module gives the market's numbers a meaning.  Owners hold real examples of a
classification data set, compute real gradients of the buyer's current
model on their own data, clip and perturb them with their privacy parameter
(:mod:`market.theory.fl_market.ldp`), the broker aggregates them with an aggregation rule
(:mod:`market.theory.fl_market.aggregation`), and the buyer's model takes a gradient step
(FedSGD, the setting of FL-Market, paper 002, Algorithm 1):

.. math::
    g_i = \\frac{1}{|D_i|}\\sum_{(x, y) \\in D_i} \\nabla_\\theta \\ell(\\theta; x, y) + \\mu\\theta, \\qquad
    \\tilde g_i = \\mathcal{M}_{\\varepsilon_i}(\\operatorname{clip}(g_i, L)), \\qquad
    \\theta \\leftarrow \\theta - \\eta \\sum_i \\lambda_i \\tilde g_i ,

with the cross-entropy loss :math:`\\ell`, the L2 penalty :math:`\\mu`, the L1
clipping of :func:`market.theory.fl_market.ldp.clip_gradient`, the Laplace (paper 002,
Theorem 2.2) or analytic Gaussian mechanism :math:`\\mathcal M`, and weights
:math:`\\lambda` on the simplex (eq. 1 of paper 002).

Data sets are those shipped inside scikit-learn (``digits``: 1,797 8x8
images, 10 classes; ``breast_cancer``: 569 cases, 30 features, 2 classes);
:func:`sklearn.datasets.load_digits` and friends read files inside the
installed package, nothing is downloaded.  Features are standardised with
the training split's mean and standard deviation.

Models (plain numpy, parameters as one flat vector :math:`\\theta`):

``logistic``  multinomial logistic regression, :math:`p = \\operatorname{softmax}(W^\\top [x; 1])`;
``mlp``       one hidden layer, :math:`p = \\operatorname{softmax}(W_2^\\top [\\tanh(W_1^\\top [x; 1]); 1])`.

Owners' data: :func:`partition` splits the training rows disjointly among
owners with the owners' sizes, either IID (a random permutation) or with
Dirichlet label skew (owner *i* draws class proportions
:math:`q_i \\sim \\operatorname{Dir}(\\alpha \\mathbf 1)` and its rows with
probabilities proportional to :math:`q_{i, y}`; small :math:`\\alpha` = strong skew).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from market.theory.fl_market.aggregation import aggregate
from market.theory.fl_market.ldp import (
    clip_gradient,
    gaussian_mechanism,
    gaussian_sigma,
    laplace_mechanism,
    laplace_variance,
)

#: LDP perturbations of the owners' clipped gradients (``none``: clipping only).
PERTURBATIONS = ("laplace", "gaussian", "none")
#: Partition schemes of the training rows among owners.
PARTITIONS = ("iid", "dirichlet")


# ------------------------------------------------------------------ data sets
@dataclass(frozen=True)
class Dataset:
    """A standardised train/test split of a classification data set.

    Attributes
    ----------
    name : str
        Name of the data set.
    X_train, X_test : numpy.ndarray
        Standardised features, shape ``(N, d)``.
    y_train, y_test : numpy.ndarray of int
        Labels ``0 .. n_classes - 1``.
    n_classes : int
        Number of classes.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return int(self.X_train.shape[1])

    @property
    def chance_accuracy(self) -> float:
        """Test accuracy of always predicting the training split's majority class."""
        major = np.bincount(self.y_train, minlength=self.n_classes).argmax()
        return float(np.mean(self.y_test == major))


def _loaders() -> dict[str, Callable]:
    from sklearn.datasets import load_breast_cancer, load_digits  # lazy: heavy, learning task only

    return {"digits": load_digits, "breast_cancer": load_breast_cancer}


#: Data sets shipped inside scikit-learn that :func:`load_dataset` knows.
DATASETS = ("digits", "breast_cancer")


def load_dataset(name: str, test_fraction: float = 0.2, seed: int = 0, components: int = 0) -> Dataset:
    """Load a scikit-learn data set, split it (stratified) and standardise it.

    Parameters
    ----------
    name : {"digits", "breast_cancer"}
        The data set (read from files inside the installed scikit-learn).
    test_fraction : float
        Share of the rows held out for the buyer's test accuracy, in (0, 1).
    seed : int
        Seed of the split.
    components : int
        If positive, project the standardised features on their first
        ``components`` principal components of the training split
        (:class:`sklearn.decomposition.PCA`, whitened).  Fewer parameters
        mean less LDP noise in total: the noise of every coordinate does not
        shrink with the dimension while the clipped signal per coordinate does.

    Returns
    -------
    Dataset
        Features standardised with the training split's statistics
        (constant features are left centred, not scaled).
    """
    from sklearn.decomposition import PCA  # lazy: heavy, learning task only
    from sklearn.model_selection import train_test_split  # lazy: heavy, learning task only

    if name not in DATASETS:
        raise ValueError(f"dataset: unknown data set {name!r} (known: {', '.join(DATASETS)})")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction: must lie in (0, 1), got {test_fraction}")
    X, y = _loaders()[name](return_X_y=True)
    if int(components) != components or not 0 <= components <= X.shape[1]:
        raise ValueError(f"components: must be an integer in [0, {X.shape[1]}], got {components}")
    X_tr, X_te, y_tr, y_te = train_test_split(
        X.astype(float), y.astype(np.int64), test_size=test_fraction, random_state=seed, stratify=y)
    mean, sd = X_tr.mean(axis=0), X_tr.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    X_tr, X_te = (X_tr - mean) / sd, (X_te - mean) / sd
    if components:
        pca = PCA(int(components), whiten=True, random_state=seed).fit(X_tr)
        X_tr, X_te = pca.transform(X_tr), pca.transform(X_te)
    return Dataset(name, X_tr, y_tr, X_te, y_te, int(y.max()) + 1)


# --------------------------------------------------------------------- models
def _with_bias(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))])


class Classifier(ABC):
    """A differentiable classifier with flat parameters :math:`\\theta`.

    The objective is the mean cross-entropy plus :math:`\\tfrac{\\mu}{2}\\lVert\\theta\\rVert_2^2`.

    Parameters
    ----------
    n_features, n_classes : int
        Input dimension and number of classes.
    l2 : float
        The L2 penalty :math:`\\mu \\ge 0`.
    """

    def __init__(self, n_features: int, n_classes: int, l2: float = 1e-3) -> None:
        if n_features < 1 or n_classes < 2:
            raise ValueError("model: needs at least one feature and two classes")
        if not (np.isfinite(l2) and l2 >= 0):
            raise ValueError(f"l2: must be non-negative, got {l2}")
        self.n_features, self.n_classes, self.l2 = int(n_features), int(n_classes), float(l2)

    @property
    @abstractmethod
    def n_params(self) -> int:
        """Length of :math:`\\theta`."""

    @abstractmethod
    def init(self, rng: np.random.Generator) -> np.ndarray:
        """Initial parameters."""

    @abstractmethod
    def logits(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Class scores, shape ``(N, n_classes)``."""

    @abstractmethod
    def example_gradients(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Gradient of the cross-entropy of every example, shape ``(N, n_params)`` (no penalty)."""

    def loss(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy plus :math:`\\tfrac{\\mu}{2}\\lVert\\theta\\rVert^2`."""
        logp = log_softmax(self.logits(theta, X), axis=1)
        return float(-logp[np.arange(y.size), y].mean() + 0.5 * self.l2 * theta @ theta)

    def gradient(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Gradient of :meth:`loss`."""
        return self.example_gradients(theta, X, y).mean(axis=0) + self.l2 * theta

    def accuracy(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """Share of examples whose highest score is the true class."""
        return float(np.mean(self.logits(theta, X).argmax(axis=1) == y))

    def _residual(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        """:math:`p - e_y`, the gradient of the cross-entropy in the scores."""
        r = softmax(scores, axis=1)
        r[np.arange(y.size), y] -= 1.0
        return r


class SoftmaxRegression(Classifier):
    """Multinomial logistic regression, :math:`\\theta = \\operatorname{vec}(W)`, :math:`W \\in \\mathbb R^{(d+1)\\times C}`.

    Per-example gradient :math:`[x; 1](p - e_y)^\\top`.  Initialised at 0
    (the loss is convex).
    """

    @property
    def n_params(self) -> int:
        return (self.n_features + 1) * self.n_classes

    def init(self, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(self.n_params)

    def logits(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        return _with_bias(X) @ theta.reshape(self.n_features + 1, self.n_classes)

    def example_gradients(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        Xb = _with_bias(X)
        r = self._residual(Xb @ theta.reshape(self.n_features + 1, self.n_classes), y)
        return (Xb[:, :, None] * r[:, None, :]).reshape(X.shape[0], -1)


class OneHiddenLayer(Classifier):
    """One tanh hidden layer of ``hidden`` units: :math:`\\theta = (\\operatorname{vec} W_1, \\operatorname{vec} W_2)`.

    :math:`W_1 \\in \\mathbb R^{(d+1)\\times H}` starts at
    :math:`N(0, 1/(d+1))` entries, :math:`W_2 \\in \\mathbb R^{(H+1)\\times C}` at 0.
    """

    def __init__(self, n_features: int, n_classes: int, l2: float = 1e-3, hidden: int = 32) -> None:
        super().__init__(n_features, n_classes, l2)
        if int(hidden) != hidden or hidden < 1:
            raise ValueError(f"hidden: must be a positive integer, got {hidden}")
        self.hidden = int(hidden)

    @property
    def n_params(self) -> int:
        return (self.n_features + 1) * self.hidden + (self.hidden + 1) * self.n_classes

    def init(self, rng: np.random.Generator) -> np.ndarray:
        w1 = rng.standard_normal((self.n_features + 1) * self.hidden) / np.sqrt(self.n_features + 1)
        return np.concatenate([w1, np.zeros((self.hidden + 1) * self.n_classes)])

    def _split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = (self.n_features + 1) * self.hidden
        return (theta[:k].reshape(self.n_features + 1, self.hidden),
                theta[k:].reshape(self.hidden + 1, self.n_classes))

    def _forward(self, theta: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w1, w2 = self._split(theta)
        Xb = _with_bias(X)
        hb = _with_bias(np.tanh(Xb @ w1))
        return Xb, hb, hb @ w2

    def logits(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        return self._forward(theta, X)[2]

    def example_gradients(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        _, w2 = self._split(theta)
        Xb, hb, scores = self._forward(theta, X)
        r = self._residual(scores, y)
        dh = (r @ w2[:-1].T) * (1.0 - hb[:, :-1] ** 2)
        n = X.shape[0]
        return np.hstack([(Xb[:, :, None] * dh[:, None, :]).reshape(n, -1),
                          (hb[:, :, None] * r[:, None, :]).reshape(n, -1)])


#: Classifiers by name.
MODELS: dict[str, type[Classifier]] = {"logistic": SoftmaxRegression, "mlp": OneHiddenLayer}


def make_classifier(name: str, n_features: int, n_classes: int, l2: float = 1e-3,
                    hidden: int = 32) -> Classifier:
    """Build a classifier by name (``"logistic"`` or ``"mlp"``; ``hidden`` is used by ``mlp`` only)."""
    if name not in MODELS:
        raise ValueError(f"model: unknown model {name!r} (known: {', '.join(MODELS)})")
    if name == "mlp":
        return OneHiddenLayer(n_features, n_classes, l2, hidden)
    return MODELS[name](n_features, n_classes, l2)


def fit_centralized(model: Classifier, X: np.ndarray, y: np.ndarray, theta0: np.ndarray | None = None,
                    max_iter: int = 200) -> np.ndarray:
    """Minimise the regularised loss on pooled data with L-BFGS (:func:`scipy.optimize.minimize`).

    The centralised benchmark of federated training, and the trainer of the
    empirical value curves (:mod:`market.theory.learning.value_curves`).
    """
    if y.size == 0:
        raise ValueError("data: centralised training needs at least one example")
    x0 = np.zeros(model.n_params) if theta0 is None else np.asarray(theta0, dtype=float)
    res = minimize(lambda t: (model.loss(t, X, y), model.gradient(t, X, y)), x0, jac=True,
                   method="L-BFGS-B", options={"maxiter": max_iter})
    return res.x


# ---------------------------------------------------------------- partitions
def owner_sizes(data_size: np.ndarray) -> np.ndarray:
    """Owners' numbers of examples: ``data_size`` rounded to integers, each at least 1."""
    sizes = np.rint(np.asarray(data_size, dtype=float)).astype(np.int64)
    if np.any(sizes < 1):
        raise ValueError("data_size: every owner of a learning task needs at least one example")
    return sizes


def partition(labels: np.ndarray, sizes: np.ndarray, rng: np.random.Generator, scheme: str = "iid",
              concentration: float = 1.0, available: np.ndarray | None = None) -> list[np.ndarray]:
    """Split training rows disjointly among owners with the given sizes.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Labels of the training rows.
    sizes : numpy.ndarray of int
        Examples per owner (see :func:`owner_sizes`).
    rng : numpy.random.Generator
        Source of the split.
    scheme : {"iid", "dirichlet"}
        ``iid``: consecutive blocks of a random permutation.  ``dirichlet``:
        owner *i* draws :math:`q_i \\sim \\operatorname{Dir}(\\alpha\\mathbf 1)` and
        then its rows without replacement with probability :math:`\\propto q_{i,y}`
        among the rows still free (owners in turn: a setup step, not per round).
    concentration : float
        The Dirichlet :math:`\\alpha > 0` (``dirichlet`` only).
    available : numpy.ndarray of int, optional
        Row indices still free (all rows by default).

    Returns
    -------
    list of numpy.ndarray
        Row indices of each owner.

    Raises
    ------
    ValueError
        If the owners hold more examples than there are free rows.
    """
    if scheme not in PARTITIONS:
        raise ValueError(f"partition: unknown scheme {scheme!r} (known: {', '.join(PARTITIONS)})")
    if not (np.isfinite(concentration) and concentration > 0):
        raise ValueError(f"concentration: the Dirichlet concentration must be positive, got {concentration}")
    labels = np.asarray(labels)
    free = np.arange(labels.size) if available is None else np.asarray(available, dtype=np.int64)
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.sum() > free.size:
        raise ValueError(f"data_size: the owners hold {int(sizes.sum())} examples but only "
                         f"{free.size} training rows are free")
    if scheme == "iid":
        rows = rng.permutation(free)[:sizes.sum()]
        return np.split(rows, np.cumsum(sizes)[:-1])
    n_classes = int(labels.max()) + 1
    out = []
    for size in sizes:
        q = rng.dirichlet(np.full(n_classes, concentration))
        p = q[labels[free]] + 1e-12
        take = rng.choice(free.size, size=int(size), replace=False, p=p / p.sum())
        out.append(free[take])
        free = np.delete(free, take)
    return out


@dataclass(frozen=True)
class LocalData:
    """The owners' local data as one concatenated index (rows of owner *i* are a block).

    Attributes
    ----------
    index : numpy.ndarray of int
        Training-row indices, owner by owner.
    counts : numpy.ndarray of int
        Examples per owner (all >= 1).
    """

    index: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_blocks(cls, blocks: Sequence[np.ndarray]) -> LocalData:
        """Concatenate per-owner row arrays."""
        counts = np.array([b.size for b in blocks], dtype=np.int64)
        if np.any(counts < 1):
            raise ValueError("data_size: every owner of a learning task needs at least one example")
        return cls(np.concatenate(blocks).astype(np.int64), counts)

    @property
    def starts(self) -> np.ndarray:
        """First position of each owner's block in :attr:`index`."""
        return np.concatenate([[0], np.cumsum(self.counts)[:-1]])


# --------------------------------------------------------------------- task
class FederatedTask:
    """Owners' gradients of a buyer's model, LDP perturbation, aggregation and the model step.

    Parameters
    ----------
    dataset : Dataset
        The data (training rows are the owners', test rows the buyer's).
    model : Classifier
        The buyer's model.
    L : float
        Clipping bound of the owners' gradients (L1 norm, :func:`market.theory.fl_market.ldp.clip_gradient`).
    perturbation : {"laplace", "gaussian", "none"}
        The owners' LDP mechanism (``none``: clipped but not perturbed).
    delta : float
        The :math:`\\delta` of the Gaussian mechanism.
    learning_rate : float
        The buyer's step size :math:`\\eta`.
    """

    def __init__(self, dataset: Dataset, model: Classifier, L: float = 1.0, perturbation: str = "laplace",
                 delta: float = 1e-5, learning_rate: float = 1.0) -> None:
        if perturbation not in PERTURBATIONS:
            raise ValueError(f"perturbation: unknown mechanism {perturbation!r} (known: {', '.join(PERTURBATIONS)})")
        if not (np.isfinite(L) and L > 0):
            raise ValueError(f"L: must be positive, got {L}")
        if not 0 < delta < 1:
            raise ValueError(f"delta: must lie in (0, 1), got {delta}")
        if not (np.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate: must be positive, got {learning_rate}")
        if model.n_features != dataset.n_features or model.n_classes != dataset.n_classes:
            raise ValueError("model: its input/output sizes do not match the data set")
        self.dataset, self.model = dataset, model
        self.L, self.perturbation, self.delta = float(L), perturbation, float(delta)
        self.learning_rate = float(learning_rate)

    def owner_gradients(self, theta: np.ndarray, local: LocalData) -> np.ndarray:
        """Each owner's mean gradient on its own data (penalty included), shape ``(n, P)``.

        Vectorised over owners: per-example gradients of all owners' rows at
        once, summed per owner block with :func:`numpy.add.reduceat`.
        """
        X = self.dataset.X_train[local.index]
        y = self.dataset.y_train[local.index]
        per_example = self.model.example_gradients(theta, X, y)
        sums = np.add.reduceat(per_example, local.starts, axis=0)
        return sums / local.counts[:, None] + self.model.l2 * theta

    def noise_variance(self, epsilon: np.ndarray) -> np.ndarray:
        """Per-coordinate noise variance of each owner's perturbed gradient (``inf`` where ε = 0).

        Laplace: :math:`8L^2/\\varepsilon^2` (paper 002, proof of Lemma 4.2);
        Gaussian: :math:`\\sigma(\\varepsilon, \\delta)^2` (:func:`market.theory.fl_market.ldp.gaussian_sigma`);
        none: 0 (``inf`` where ε = 0, the owner submits nothing).
        """
        eps = np.asarray(epsilon, dtype=float)
        if self.perturbation == "laplace":
            return laplace_variance(eps, self.L)
        if self.perturbation == "gaussian":
            return gaussian_sigma(eps, self.delta, self.L) ** 2
        return np.where(eps > 0, 0.0, np.inf)

    def perturb(self, gradients: np.ndarray, epsilon: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Clip each owner's gradient to L1 norm ``L`` and perturb it at its :math:`\\varepsilon_i`.

        Owners with :math:`\\varepsilon_i = 0` submit nothing (a zero row).
        """
        eps = np.asarray(epsilon, dtype=float)
        if self.perturbation == "laplace":
            return laplace_mechanism(gradients, eps, self.L, rng)
        if self.perturbation == "gaussian":
            return gaussian_mechanism(gradients, eps, self.delta, self.L, rng)
        return np.where((eps > 0)[:, None], clip_gradient(gradients, self.L), 0.0)

    def step(self, theta: np.ndarray, local: LocalData, epsilon: np.ndarray, weights: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
        """One FedSGD round: :math:`\\theta - \\eta\\sum_i \\lambda_i \\tilde g_i` (no step if all weights are 0)."""
        weights = np.asarray(weights, dtype=float)
        if not np.any(weights > 0):
            return theta
        sold = weights > 0
        sub = local if sold.all() else _subset(local, sold)
        noisy = self.perturb(self.owner_gradients(theta, sub), np.asarray(epsilon)[sold], rng)
        return theta - self.learning_rate * weights[sold] @ noisy

    def evaluate(self, theta: np.ndarray) -> tuple[float, float]:
        """The buyer's test accuracy and test loss (mean cross-entropy, no penalty)."""
        d = self.dataset
        logp = log_softmax(self.model.logits(theta, d.X_test), axis=1)
        return (float(np.mean(logp.argmax(axis=1) == d.y_test)),
                float(-logp[np.arange(d.y_test.size), d.y_test].mean()))

    def train(self, local: LocalData, epsilon: np.ndarray, rounds: int, rng: np.random.Generator,
              aggregation: str = "data_size", theta0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Federated training with fixed privacy parameters for ``rounds`` rounds.

        Parameters
        ----------
        local : LocalData
            The owners' data.
        epsilon : numpy.ndarray
            Each owner's privacy parameter (0: the owner does not take part).
        rounds : int
            Number of FedSGD rounds.
        rng : numpy.random.Generator
            Source of the initial parameters and of the noise.
        aggregation : str
            A rule of :data:`market.theory.fl_market.aggregation.AGGREGATIONS` (weights from
            ``epsilon`` and the owners' data sizes).
        theta0 : numpy.ndarray, optional
            Initial parameters (the model's :meth:`Classifier.init` by default).

        Returns
        -------
        theta : numpy.ndarray
            Final parameters.
        history : numpy.ndarray, shape (rounds, 2)
            Test accuracy and loss after every round.
        """
        eps = np.asarray(epsilon, dtype=float)
        if eps.shape != local.counts.shape:
            raise ValueError(f"epsilon: needs one value per owner ({local.counts.size}), got {eps.shape}")
        weights = aggregate(aggregation, eps, self.L, 1, local.counts.astype(float))
        theta = self.model.init(rng) if theta0 is None else np.array(theta0, dtype=float)
        history = np.empty((int(rounds), 2))
        for t in range(int(rounds)):
            theta = self.step(theta, local, eps, weights, rng)
            history[t] = self.evaluate(theta)
        return theta, history


def _subset(local: LocalData, keep: np.ndarray) -> LocalData:
    """The owners ``keep`` (a boolean mask) of ``local``."""
    owner_of = np.repeat(np.arange(local.counts.size), local.counts)
    return LocalData(local.index[keep[owner_of]], local.counts[keep])
