"""Local information: an owner observes only its neighbours' actions and payoffs.

Rules built on the mechanism's deviation utilities (best response, logit,
fictitious play, regret matching, Hedge) assume *global* information: each
owner knows what every candidate would pay it against the whole profile.
With ``information = "local"`` in the scenario's ``[decision]`` table they
instead learn from what they can see on the social graph
(:class:`market.core.network.SocialNetwork`): after each round, owner *i*
observes the actions and realised utilities of its closed neighbourhood
:math:`N[i] = N(i) \\cup \\{i\\}` and estimates the payoff of candidate *k* as
the mean utility of those who played it,

.. math::  \\hat u_i(k) = \\frac{\\sum_{j \\in N[i]} \\mathbb 1[a_j = k]\\, u_j}
                               {\\sum_{j \\in N[i]} \\mathbb 1[a_j = k]},

undefined (NaN) when nobody in :math:`N[i]` played *k*.  With the one-hot
matrix :math:`X_{jk} = \\mathbb 1[a_j = k]` (continuous actions: the nearest
grid point) and the adjacency matrix *A* this is
:math:`\\hat u = \\big((A + I)(X \\circ u)\\big) / \\big((A + I) X\\big)`, two
sparse products per round, vectorized over owners.  Without a ``[network]``
table (the complete graph) the sums are column sums: every owner sees every
owner's realised payoff, but still no counterfactual payoff.

The estimate is the payoff *others* realised with *k*; among heterogeneous
owners it is not the owner's own payoff of *k* (a more sensitive owner
overrates the actions its less sensitive neighbours profit from).  That is
the social-learning reading of local information (observational learning,
Ellison & Fudenberg 1993, *J. Polit. Econ.* 101, "rules of thumb"); with
homogeneous owners and a mechanism where owners do not interact the
estimate of every observed candidate is exact, so a strictly dominant action
that some neighbour plays is recognised.  How each rule uses the estimate
(and what it does with candidates it has not observed) is documented with
the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from market.core.mechanism import ActionSpace, Mechanism, RoundContext
from market.core.population import OwnerArrays
from market.rules.learning import LearningRule, softmax

#: Values of the ``information`` parameter of the rules that support it.
INFORMATION = ("global", "local")


@dataclass(frozen=True)
class InformationParams:
    """The parameter shared by the rules that can learn from global or local information.

    Attributes
    ----------
    information : str
        ``"global"``: the mechanism's deviation utilities (every candidate's
        payoff against the whole profile); ``"local"``: only the neighbours'
        actions and realised payoffs (:mod:`market.rules.local`).
    """

    information: str = "global"


def check_information(information: str) -> None:
    """Raise ``ValueError("information: ...")`` unless ``information`` is one of :data:`INFORMATION`."""
    if information not in INFORMATION:
        raise ValueError(f"information: must be one of {', '.join(INFORMATION)}, got {information!r}")


def observe(space: ActionSpace, owners: OwnerArrays, ctx: RoundContext) -> np.ndarray:
    """This round's :func:`neighbourhood_payoffs` estimate for every owner, on the graph ``ctx.network``."""
    return neighbourhood_payoffs(space.index_of(owners.action), owners.utility, space.size, ctx.network)[0]


def imputed(estimate: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The estimate with each unobserved candidate set to the owner's own realised utility ``own``.

    Used by the no-regret rules: a candidate nobody nearby played gives no
    evidence of regret (its regret increment is 0), and Hedge moves it like
    the action the owner actually played.
    """
    return np.where(np.isnan(estimate), own[:, None], estimate)


def neighbourhood_payoffs(played: np.ndarray, utility: np.ndarray, k: int,
                          network: object = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean realised utility of each candidate in each owner's closed neighbourhood.

    Parameters
    ----------
    played : numpy.ndarray of int
        Candidate index of each owner's action.
    utility : numpy.ndarray
        Each owner's realised utility.
    k : int
        Number of candidates.
    network : market.core.network.SocialNetwork, optional
        The social graph over the owners' rows; ``None`` or an implicit
        complete graph means everyone observes everyone.

    Returns
    -------
    mean : numpy.ndarray, shape (n, k)
        :math:`\\hat u_i(k)` (module docstring); NaN where nobody in
        :math:`N[i]` played *k*.
    count : numpy.ndarray, shape (n, k)
        How many owners of :math:`N[i]` played *k*.
    """
    n = played.size
    onehot = np.zeros((n, k))
    onehot[np.arange(n), played] = 1.0
    paid = onehot * utility[:, None]
    adjacency = getattr(network, "adjacency", None)
    if adjacency is None:
        count = np.broadcast_to(onehot.sum(axis=0), (n, k)).copy()
        total = np.broadcast_to(paid.sum(axis=0), (n, k)).copy()
    else:
        closed = sp.csr_array(adjacency + sp.eye_array(n, format="csr"))
        count = np.asarray(closed @ onehot)
        total = np.asarray(closed @ paid)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1.0), np.nan)
    return mean, count


def argmax_observed(estimate: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Index of the best observed candidate per row (ties to the lowest); ``current`` where none is observed."""
    seen = ~np.isnan(estimate)
    best = np.argmax(np.where(seen, estimate, -np.inf), axis=1)
    return np.where(seen.any(axis=1), best, current)


def logit_observed(estimate: np.ndarray, temperature: float, current: np.ndarray) -> np.ndarray:
    """Logit choice probabilities over the observed candidates of each row.

    Softmax of ``estimate / temperature`` over the candidates that are not
    NaN (the others get probability 0); ``temperature = 0`` puts probability
    1 on :func:`argmax_observed`.  A row with no observed candidate keeps its
    ``current`` candidate with probability 1.
    """
    n, k = estimate.shape
    seen = ~np.isnan(estimate)
    prob = np.zeros((n, k))
    blind = ~seen.any(axis=1)
    if temperature == 0:
        prob[np.arange(n), argmax_observed(estimate, current)] = 1.0
        return prob
    rows = ~blind
    prob[rows] = softmax(np.where(seen[rows], estimate[rows] / temperature, -np.inf))
    prob[np.flatnonzero(blind), current[blind]] = 1.0
    return prob


class LastObservation(LearningRule):
    """Base of response rules (best response, logit) that, with local information, act on the last observation.

    Under global information it keeps no state.  Under local information its
    state is ``estimate``, the (n, k) :func:`neighbourhood_payoffs` of the
    last settled round (NaN for a newcomer that has observed nothing yet).
    Subclasses' ``Params`` derive from :class:`InformationParams`.
    """

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"estimate": (self.space.size,)} if self.params.information == "local" else {}

    def initial_state(self, name: str, n: int) -> np.ndarray:
        return np.full((n, self.space.size), np.nan)

    def observe(self, mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> None:
        """With local information, record what each neighbourhood played and earned this round."""
        if self.params.information == "local":
            self.sync(len(owners))
            self.estimate = observe(self.space, owners, ctx)
