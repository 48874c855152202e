"""The platform learner interface: one bandit algorithm per class, one uniform interface.

A learning platform (:mod:`market.rules.platform.controller`) does not know
the owners' privacy costs; it observes only its own realised utility (and the
owners' actions).  Which mechanism parameter to post next is a bandit problem
over the candidate parameters, and every algorithm here solves it behind the
same two calls (in the style of the Axelrod library's strategies):

``propose(rng)``
    the parameter vector to post for the next block of rounds;
``learn(reward)``
    the block's mean utility, normalised to ``[0, 1]`` by the controller.

Discrete learners (:class:`DiscreteLearner`) choose one row of a candidate
grid of shape ``(K, d)`` (``d`` parameters set jointly: a menu); continuous
learners (:class:`ContinuousLearner`) choose a point of the box
``[low, high]`` in ``d`` dimensions.  A learner's state is numpy arrays and
numbers only, so checkpoints save it generically (:mod:`market.simulation.checkpoint`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


class PlatformLearner(ABC):
    """Base class of the platform's bandit algorithms.

    Subclasses set ``name`` and ``description``, define a frozen ``Params``
    dataclass (its fields are read from the scenario's ``[platform]`` table)
    and implement :meth:`propose` and :meth:`learn`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: True for learners over a box ``[low, high]``, False for learners over a grid.
    continuous: ClassVar[bool] = False

    @dataclass(frozen=True)
    class Params:
        """No parameters."""

    def __init__(self, params: object) -> None:
        self.params = params
        self.validate()

    def validate(self) -> None:
        """Check parameter values; raise ``ValueError("key: problem")``."""

    @abstractmethod
    def propose(self, rng: np.random.Generator) -> np.ndarray:
        """The parameter vector (shape ``(d,)``) to post for the next block of rounds."""

    @abstractmethod
    def learn(self, reward: float) -> None:
        """Update with the normalised reward in ``[0, 1]`` of the last proposal."""


class DiscreteLearner(PlatformLearner):
    """A learner over the rows of a candidate grid (arms).

    Attributes
    ----------
    grid : numpy.ndarray
        Candidate parameter vectors, shape ``(K, d)``.
    arm : int
        Index of the last proposed row (-1 before the first proposal).
    counts, sums : numpy.ndarray
        Number of rewards and their sum per arm.
    """

    def __init__(self, params: object) -> None:
        super().__init__(params)
        self.grid = np.zeros((0, 0))
        self.arm = -1
        self.counts = np.zeros(0)
        self.sums = np.zeros(0)

    def setup(self, grid: np.ndarray) -> None:
        """Attach the candidate grid (``(K, d)``); called once before the first proposal."""
        self.grid = np.asarray(grid, dtype=float)
        self.counts = np.zeros(self.grid.shape[0])
        self.sums = np.zeros(self.grid.shape[0])

    @property
    def n_arms(self) -> int:
        """Number of candidates K."""
        return int(self.grid.shape[0])

    @property
    def t(self) -> int:
        """Number of rewards learnt so far."""
        return int(self.counts.sum())

    def means(self) -> np.ndarray:
        """Empirical mean reward per arm (0 for an arm never played)."""
        return np.divide(self.sums, self.counts, out=np.zeros_like(self.sums), where=self.counts > 0)

    def untried(self) -> int:
        """The first arm never played, or -1."""
        idle = np.flatnonzero(self.counts == 0)
        return int(idle[0]) if idle.size else -1

    def propose(self, rng: np.random.Generator) -> np.ndarray:
        """Choose an arm (:meth:`choose_arm`) and return its parameter vector."""
        self.arm = int(self.choose_arm(rng))
        return self.grid[self.arm].copy()

    @abstractmethod
    def choose_arm(self, rng: np.random.Generator) -> int:
        """Index of the next arm."""

    def learn(self, reward: float) -> None:
        """Add the reward to the played arm's count and sum."""
        self.counts[self.arm] += 1.0
        self.sums[self.arm] += reward


class ContinuousLearner(PlatformLearner):
    """A learner over the box ``[low, high]`` (``d`` dimensions), in unit coordinates inside."""

    continuous = True

    def __init__(self, params: object) -> None:
        super().__init__(params)
        self.low = np.zeros(0)
        self.high = np.zeros(0)

    def setup(self, low: np.ndarray, high: np.ndarray) -> None:
        """Attach the box; called once before the first proposal."""
        self.low = np.asarray(low, dtype=float)
        self.high = np.asarray(high, dtype=float)

    def to_params(self, unit: np.ndarray) -> np.ndarray:
        """Map a point of ``[0, 1]^d`` to the parameter box."""
        return self.low + unit * (self.high - self.low)
