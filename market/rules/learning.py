"""Learning rules: decision rules with per-owner memory over the candidate actions.

Learning rules (fictitious play, regret matching, Hedge, EXP3, Q-learning)
keep one row of state per owner -- cumulative payoffs, regrets, weights or
Q-values over the ``k`` candidates of the mechanism's action space -- aligned
with the rows of :class:`~market.core.population.OwnerArrays`.  This module holds
what they share: the per-owner state that follows churn (rows appended for
newcomers, removed for leavers), the mixed strategy of a row of scores
(softmax) and a vectorized draw of one action per owner from its mixed
strategy.
"""

from __future__ import annotations

import numpy as np

from market.core.decision_rule import DecisionRule


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax :math:`p_{ik} = e^{s_{ik}} / \\sum_l e^{s_{il}}`.

    Shifted by the row maximum, so it never overflows; rows of ``-inf`` except
    one finite entry give that entry probability 1.
    """
    top = scores[:, 0].copy()
    for column in scores.T[1:]:          # over candidates, not owners: the row maxima, as np.max(axis=1)
        np.maximum(top, column, out=top)
    z = scores - top[:, None]
    np.exp(z, out=z)                     # in place: one (n, k) array in all, the same values
    z /= z.sum(axis=1, keepdims=True)
    return z


def sample_mixed(prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one candidate index per row of the (n, k) mixed-strategy matrix ``prob``.

    Inverse-CDF sampling with one uniform per row (vectorized over owners).
    The cumulative sums run candidate-major, ``(k, n)``: each step and each
    count ``cdf_j < u`` is one pass along the long owner axis (the same sums
    in the same order as a cumulative sum along each row).
    """
    if prob.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    cdf = np.cumsum(prob.T, axis=0)
    u = rng.random(prob.shape[0]) * cdf[-1]
    idx = np.zeros(prob.shape[0], dtype=np.int64)
    for below in cdf:                    # over candidates, not owners
        idx += below < u
    return np.minimum(idx, prob.shape[1] - 1)


class LearningRule(DecisionRule):
    """A decision rule with per-owner state arrays of shape ``(n_owners, *shape)``.

    Subclasses declare their arrays in :meth:`state_shapes` (name -> trailing
    shape, in candidates ``k``) and may give non-zero initial values in
    :meth:`initial_state`.  Each array is the attribute ``self.<name>``,
    row-aligned with the owners; newcomers get initial rows and leavers' rows
    are dropped.
    """

    def setup(self) -> None:
        for name, shape in self.state_shapes().items():
            setattr(self, name, np.zeros((0, *shape)))

    @property
    def state(self) -> dict[str, np.ndarray]:
        """The per-owner state arrays by name (each also an attribute, so checkpoints save it)."""
        return {name: getattr(self, name) for name in self.state_shapes()}

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Trailing shape of each per-owner state array."""
        return {}

    def initial_state(self, name: str, n: int) -> np.ndarray:
        """Initial rows of state array ``name`` for ``n`` new owners (zeros by default)."""
        return np.zeros((n, *self.state_shapes()[name]))

    @property
    def n_owners(self) -> int:
        """Number of owners the state covers."""
        state = self.state
        return next(iter(state.values())).shape[0] if state else 0

    def on_join(self, n_new: int) -> None:
        """Append initial state rows for ``n_new`` newcomers."""
        for name, arr in self.state.items():
            setattr(self, name, np.concatenate([arr, self.initial_state(name, n_new)]))

    def on_leave(self, keep: np.ndarray) -> None:
        """Keep only the state rows of the remaining owners."""
        for name, arr in self.state.items():
            setattr(self, name, arr[keep])

    def sync(self, n: int) -> None:
        """Give initial state to owners the rule has not seen (used outside a model)."""
        if n > self.n_owners:
            self.on_join(n - self.n_owners)

    def played_index(self, action: np.ndarray) -> np.ndarray:
        """Candidate index of each owner's action (nearest grid point for continuous spaces)."""
        return self.space.index_of(action)
