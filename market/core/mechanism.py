"""The mechanism interface: pure rules from owners' actions to payments.

A mechanism is the platform's payment and allocation rule. It sees only numpy
arrays (the owners' actions and attributes) and a :class:`RoundContext`; it
never touches agents or the model, so every mechanism can be tested alone.

Every mechanism provides

* ``action_space`` -- what an owner may choose (a finite set of privacy levels,
  or a continuous interval discretised on a grid for learning rules);
* :meth:`Mechanism.settle` -- the round's :class:`Outcome` for an action
  profile (payments, privacy costs, owner utilities, platform utility and any
  mechanism-specific metrics);
* :meth:`Mechanism.deviation_utilities` -- for every owner and every candidate
  action, the utility the owner would get by switching alone to that candidate
  while the others keep their actions.  Every decision rule is built on this
  matrix, which is why every rule works with every mechanism;
* optionally :meth:`Mechanism.best_response`, an exact best response where a
  closed form or a scalar solver beats the candidate grid;
* the owner's **outside option** (``outside_option``, :meth:`Mechanism.outside_utility`):
  what not participating is worth, the participation constraint that the
  information rent is measured against (``docs/measures.md#information-rent``);
* ``shared_good``: whether owners share a good whose value grows with the
  others' contributions, the only markets where free-riding is measured
  (``docs/measures.md#free-riding``);
* optionally :meth:`Mechanism.regime_classes`, the qualitative regimes the
  theory of the mechanism names (``docs/measures.md#regimes``).

New mechanisms subclass :class:`Mechanism` in one module of
:mod:`market.mechanisms` (file name = registered name), declare their
parameters as a dataclass ``Params``, and get one line in
:data:`market.registry.MECHANISMS`; a scenario then selects them by ``name``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from market.core.population import OwnerArrays


@dataclass(frozen=True)
class ActionSpace:
    """The actions an owner may take.

    Parameters
    ----------
    values : numpy.ndarray
        Candidate actions, sorted ascending. For ``kind="levels"`` these are
        the privacy levels themselves (e.g. ``[0, 1, 2]``); for
        ``kind="continuous"`` they are the grid on which learning rules and
        the generic best response search.
    kind : {"levels", "continuous"}
        Whether the actions are a finite set or a discretised interval.
    labels : tuple of str, optional
        Short names of the levels, used for column names in the output
        (``share_<label>``).
    meanings : tuple of str, optional
        What each level means, short, for legends and tables (``"shares nothing"``,
        ``"paid 0.5/unit"``); default ``"level <label>"``.  :meth:`legend_labels`
        puts label and meaning together.
    """

    values: np.ndarray
    kind: str = "levels"
    labels: tuple[str, ...] = ()
    meanings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=float)
        if values.ndim != 1 or values.size == 0:
            raise ValueError("an action space needs a non-empty 1-d array of values")
        if np.any(np.diff(values) <= 0):
            raise ValueError("action values must be strictly increasing")
        object.__setattr__(self, "values", values)
        if self.kind not in ("levels", "continuous"):
            raise ValueError(f"unknown action-space kind {self.kind!r}")
        if not self.labels:
            object.__setattr__(
                self, "labels", tuple(_label(v) for v in values) if self.kind == "levels" else ()
            )
        if not self.meanings:
            object.__setattr__(self, "meanings", tuple(f"level {label}" for label in self.labels))
        if len(self.meanings) != len(self.labels):
            raise ValueError("an action space needs one meaning per level")

    def legend_labels(self) -> tuple[str, ...]:
        """``"<label>: <meaning>"`` of every level (just the label where the meaning adds nothing)."""
        return tuple(label if meaning == f"level {label}" else f"{label}: {meaning}"
                     for label, meaning in zip(self.labels, self.meanings))

    @property
    def size(self) -> int:
        """Number of candidate actions."""
        return int(self.values.size)

    def index_of(self, action: np.ndarray) -> np.ndarray:
        """Index of the nearest candidate for every action (for share counts)."""
        idx = np.searchsorted(self.values, action)
        idx = np.clip(idx, 1, self.size - 1) if self.size > 1 else np.zeros_like(idx)
        if self.size > 1:
            left = self.values[idx - 1]
            right = self.values[idx]
            idx = np.where(np.abs(action - left) <= np.abs(right - action), idx - 1, idx)
        return idx.astype(np.int64)


def _label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass
class RoundContext:
    """What a mechanism may know about the round besides the owners.

    Attributes
    ----------
    round : int
        Round number, starting at 1.
    time : float
        Simulated time of the round event.
    rng : numpy.random.Generator
        The stream for any randomness the mechanism needs (derived from the
        model's seed, so runs are reproducible).
    buyer_budgets : numpy.ndarray
        Remaining budget of each active buyer (empty when no buyer is present).
    buyer_valuations : numpy.ndarray
        Each active buyer's valuation of one round's output.
    network : market.core.network.SocialNetwork or None
        The owners' social graph (rows = owner rows), for rules that use
        local information such as imitation; ``None`` outside a model.
    buyer_spend : numpy.ndarray or None
        Strategic buyers' chosen spend this round, one per active buyer
        (:mod:`agents.buyer_strategy`); ``None``: the mechanism's own rule.
    """

    round: int
    time: float
    rng: np.random.Generator
    buyer_budgets: np.ndarray = field(default_factory=lambda: np.zeros(0))
    buyer_valuations: np.ndarray = field(default_factory=lambda: np.zeros(0))
    network: Any = None
    buyer_spend: np.ndarray | None = None


@dataclass
class Outcome:
    """The result of settling one round.

    Attributes
    ----------
    payment : numpy.ndarray
        Payment to each owner (may be negative where a mechanism says so).
    cost : numpy.ndarray
        Each owner's privacy cost of its action.
    utility : numpy.ndarray
        Each owner's utility (payment plus any value received minus cost).
    platform_utility : float
        The platform's utility this round (value extracted minus payments,
        plus buyer revenue where the mechanism sells to buyers).
    buyer_payments : numpy.ndarray
        What each active buyer paid this round (same order as
        ``RoundContext.buyer_budgets``; never more than its budget).
    metrics : dict of str to float
        Mechanism-specific per-round metrics; each key becomes a column of
        ``model.parquet`` (a standard column's name is not allowed).
    deviation : numpy.ndarray, optional
        :meth:`Mechanism.deviation_utilities` of the settled profile when the
        settlement computed them anyway, so that the per-round measures
        (:mod:`market.simulation.deviation_measures`) need not compute them again.
    buyer_accuracy : numpy.ndarray or None
        The quality in [0, 1] of what each active buyer received, which scales
        its valuation in the buyer surplus; ``None``: every buyer gets the full
        output (1).
    """

    payment: np.ndarray
    cost: np.ndarray
    utility: np.ndarray
    platform_utility: float
    buyer_payments: np.ndarray = field(default_factory=lambda: np.zeros(0))
    metrics: dict[str, float] = field(default_factory=dict)
    buyer_accuracy: np.ndarray | None = None
    deviation: np.ndarray | None = None

    @property
    def buyer_spend(self) -> float:
        """Total paid by buyers this round."""
        return float(np.sum(self.buyer_payments))


class Mechanism(ABC):
    """Base class of all mechanisms (see the module docstring).

    Subclasses set ``name`` and ``description``, define a ``Params``
    dataclass with defaults and a docstring per field, and may list owner
    attributes they need beyond ``sensitivity`` and ``data_size`` in
    ``owner_attributes`` (name -> default value).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    owner_attributes: ClassVar[dict[str, float]] = {}
    #: Whether buyers may choose their per-round spend (:meth:`buyer_outcomes`).
    strategic_buyers: ClassVar[bool] = False
    #: Index into ``action_space.values`` of the action that means not participating (the
    #: outside option), or ``None`` when not participating is no action of the mechanism
    #: (then :meth:`outside_utility` gives its value).
    outside_option: ClassVar[int | None] = 0
    #: Whether the owners share a good (a jointly trained model, a common estimate) whose value
    #: to each grows with the others' contributions: only then is free-riding defined.
    shared_good: ClassVar[bool] = False

    @dataclass(frozen=True)
    class Params:
        """No parameters."""

    def __init__(self, params: Any) -> None:
        self.params = params
        self.validate()

    def validate(self) -> None:
        """Check parameter values; raise ``ValueError("key: problem")``."""

    def set_params(self, **changes: Any) -> None:
        """Change parameters in place and re-run :meth:`validate` (which rebuilds the derived arrays).

        The one way a running mechanism's parameters change, e.g. a learning
        platform posting a new price (:mod:`market.rules.platform`).  State
        the mechanism keeps across rounds and that :meth:`validate` does not
        set (a payout share, a learnt curve) is kept.  On an invalid value the
        previous parameters are restored and the ``ValueError`` re-raised.

        Parameters
        ----------
        **changes
            New values by parameter name (tuples for list parameters).
        """
        previous = self.params
        self.params = dataclasses.replace(previous, **changes)
        try:
            self.validate()
        except ValueError:
            self.params = previous
            self.validate()
            raise

    @property
    @abstractmethod
    def action_space(self) -> ActionSpace:
        """The actions owners choose from."""

    def check_population(self, owners: int, churn: bool) -> None:
        """Check that the mechanism can serve a population of ``owners`` (with ``churn``: owners join or leave).

        Raise ``ValueError("key: problem")``; the default accepts any population.
        """

    @property
    def initial_action(self) -> float:
        """Owners' action before their first revision when the scenario gives none (the lowest action)."""
        return float(self.action_space.values[0])

    @abstractmethod
    def settle(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> Outcome:
        """Payments, costs and utilities for the action profile ``action``."""

    @abstractmethod
    def deviation_utilities(
        self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext
    ) -> np.ndarray:
        """Utility of each owner (rows) for each candidate action (columns).

        Entry ``[i, k]`` is owner *i*'s utility if it alone switched to
        ``action_space.values[k]`` while the others keep ``action``.
        """

    def best_response(
        self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext
    ) -> np.ndarray:
        """Each owner's best response to the others' current actions.

        The default is the argmax of :meth:`deviation_utilities` over the
        candidates, ties broken towards the lowest action (``numpy.argmax``
        returns the first maximum). Mechanisms with an exact best response
        override this.
        """
        util = self.deviation_utilities(action, owners, ctx)
        return self.action_space.values[np.argmax(util, axis=1)]

    def buyer_outcomes(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext,
                       spend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For strategic buyers: each active buyer's accuracy and payment had it spent ``spend[k]``.

        Returns two arrays of shape ``(buyers, len(spend))``, the others'
        spends and the owners' actions fixed.  Mechanisms whose buyers can
        choose their spend set ``strategic_buyers = True`` and override this.
        """
        raise NotImplementedError(f"{self.name}: buyers cannot choose their spend")
    def best_response_of(
        self, rows: np.ndarray, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext
    ) -> np.ndarray:
        """The best responses of the owners in ``rows`` only (the revising owners of a round).

        The default is :meth:`best_response` for everyone, restricted to
        ``rows``; a mechanism under which an owner's utilities do not depend on
        the others' actions overrides it to do only the rows' work.
        """
        return self.best_response(action, owners, ctx)[rows]

    def outside_utility(self, deviation: np.ndarray, owners: OwnerArrays) -> np.ndarray:
        """Each owner's utility at its outside option, the others' actions fixed: :math:`u_i(o_i, a_{-i})`.

        The default reads column ``outside_option`` of ``deviation``; a
        mechanism whose outside option is not one of its actions
        (``outside_option = None``) overrides this with its value.

        Parameters
        ----------
        deviation : numpy.ndarray
            :meth:`deviation_utilities` of the current profile, shape ``(n, K)``.
        owners : OwnerArrays
            The owners.
        """
        if self.outside_option is None:
            raise NotImplementedError(f"{self.name}: outside_option is None but outside_utility is not defined")
        return deviation[:, self.outside_option]

    def regime_classes(self, table: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """The theory's regime class of every round, or ``None`` where the theory names none.

        Parameters
        ----------
        table : mapping of str to numpy.ndarray
            Columns of ``model.parquet`` (one entry per round).

        Returns
        -------
        numpy.ndarray of str or None
            One class name per round; ``""`` marks a round in no regime (e.g.
            still moving).  ``None`` (the default): regimes are stationary
            levels of the headline series (:mod:`analysis.regimes`).
        """
        return None

    def update(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> None:
        """Between-round adaptation of the platform (e.g. re-choosing a payout share).

        The default does nothing; the model calls it after each settlement.
        """

    def state(self) -> dict[str, float]:
        """Platform-side state to record per round (e.g. the payout share)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Facts about the mechanism's model worth keeping with a run (JSON data, in ``summary.json``).

        Empty by default; e.g. a value function measured on a learning task
        reports its curve and the correction that made it monotone and concave.
        """
        return {}


def param_fields(cls: type[Mechanism]) -> dict[str, dataclasses.Field]:
    """The parameter fields of a mechanism class, by name."""
    return {f.name: f for f in dataclasses.fields(cls.Params)}
