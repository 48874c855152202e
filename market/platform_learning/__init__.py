"""A platform that learns its mechanism parameter from its own realised utility.

``learner`` the uniform bandit interface; one module per algorithm (``exp3``,
``ucb1``, ``thompson``, ``epsilon_greedy``, ``zeroth_order``);
``parameters`` which mechanism parameters are learnt and how they are set;
``controller`` blocks of rounds, reward normalisation, recorded columns and
regret; ``regret`` the counterfactual fixed-parameter markets;
``first_best`` the full-information benchmark.  :data:`LEARNERS` is the
explicit registry of the algorithms a ``[platform]`` table can name.
"""

from market.platform_learning.epsilon_greedy import EpsilonGreedy
from market.platform_learning.exp3 import Exp3
from market.platform_learning.learner import ContinuousLearner, DiscreteLearner, PlatformLearner
from market.platform_learning.thompson import Thompson
from market.platform_learning.ucb1 import UCB1
from market.platform_learning.zeroth_order import ZerothOrder

#: The platform's bandit algorithms by name (``[platform] algorithm = ...``).
LEARNERS: dict[str, type[PlatformLearner]] = {
    cls.name: cls for cls in (Exp3, UCB1, Thompson, EpsilonGreedy, ZerothOrder)
}

__all__ = ["LEARNERS", "ContinuousLearner", "DiscreteLearner", "PlatformLearner",
           "Exp3", "UCB1", "Thompson", "EpsilonGreedy", "ZerothOrder"]
