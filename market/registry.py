"""Every name a scenario may use, mapped to its class: mechanisms, decision rules, value functions, payoffs.

Filled here by explicit lines, never as a side effect of importing a module.  Adding a mechanism is one
module in :mod:`market.mechanisms` (file name = registered name) plus one line in :data:`MECHANISMS`;
adding a decision rule is one module in :mod:`market.rules` plus one line in :data:`RULES`; adding a
learning platform's algorithm is one module in :mod:`market.rules.platform` plus one line in
:data:`PLATFORM_LEARNERS`.  The value
functions and payoff families are defined in :mod:`market.core.families` (the mechanisms below this
module build them by name) and re-exported here.

This module sits above :mod:`market.mechanisms` and :mod:`market.rules` and below :mod:`scenarios`.
"""

from __future__ import annotations

from market.core.decision_rule import DecisionRule
from market.core.families import PAYOFFS, VALUE_FUNCTIONS, make_payoff, make_value
from market.core.mechanism import Mechanism
from market.mechanisms.budget_balanced import BudgetBalanced
from market.mechanisms.contribution_game import ContributionGameMechanism
from market.mechanisms.fair_payment import FairPayment
from market.mechanisms.fairness_baseline import FairnessBaseline
from market.mechanisms.fl_market import FLMarket
from market.mechanisms.fl_market_task import FLMarketTask
from market.mechanisms.naive_fl import NaiveFL
from market.mechanisms.peer_prediction import PeerPrediction
from market.mechanisms.posted_price import PostedPrice
from market.mechanisms.two_type import TwoTypeScreening
from market.mechanisms.value_shaping import ValueShaping
from market.rules.best_response import BestResponse
from market.rules.fictitious_play import FictitiousPlay
from market.rules.hedge import Exp3, Hedge
from market.rules.imitation import Imitation
from market.rules.logit import Logit
from market.rules.q_learning import QLearning
from market.rules.platform.epsilon_greedy import EpsilonGreedy
from market.rules.platform.exp3 import Exp3 as PlatformExp3
from market.rules.platform.learner import PlatformLearner
from market.rules.platform.thompson import Thompson
from market.rules.platform.ucb1 import UCB1
from market.rules.platform.zeroth_order import ZerothOrder
from market.rules.regret_matching import RegretMatching
from market.rules.uniform_random import UniformRandom


def _by_name(*classes):
    table = {cls.name: cls for cls in classes}
    if len(table) != len(classes):
        raise ValueError("two classes share a registered name")
    return table


#: Mechanisms by name (``[mechanism] name = ...``), in the order ``privmarket list`` and the app show them.
MECHANISMS: dict[str, type[Mechanism]] = _by_name(
    PostedPrice,                # posted_price
    FairPayment,                # fair_payment            (paper 000)
    NaiveFL,                    # naive_fl                (paper 001)
    ValueShaping,               # value_shaping           (paper 001)
    FairnessBaseline,           # fairness_baseline       (paper 001)
    TwoTypeScreening,           # two_type                (paper 001)
    ContributionGameMechanism,  # contribution_game       (paper 003)
    BudgetBalanced,             # budget_balanced         (paper 003)
    FLMarket,                   # fl_market               (paper 002)
    PeerPrediction,             # peer_prediction         (paper 004)
    FLMarketTask,               # fl_market_task          (paper 002 on a learning task)
)

#: Decision rules by name (``[decision] rule = ...``).
RULES: dict[str, type[DecisionRule]] = _by_name(
    BestResponse,    # best_response
    Logit,           # logit
    FictitiousPlay,  # fictitious_play
    RegretMatching,  # regret_matching
    Hedge,           # hedge
    Exp3,            # exp3
    QLearning,       # q_learning
    Imitation,       # imitation
    UniformRandom,   # random
)

#: A learning platform's bandit algorithms by name (``[platform] algorithm = ...``; :mod:`market.rules.platform`).
PLATFORM_LEARNERS: dict[str, type[PlatformLearner]] = _by_name(
    PlatformExp3,   # exp3
    UCB1,           # ucb1
    Thompson,       # thompson
    EpsilonGreedy,  # epsilon_greedy
    ZerothOrder,    # zeroth_order  (a range)
)

__all__ = ["MECHANISMS", "PAYOFFS", "PLATFORM_LEARNERS", "RULES", "VALUE_FUNCTIONS", "make_payoff", "make_value"]
