"""Decision rules, one module each; importing this package registers them in :data:`RULES`."""

from agents.rules.base import RULES, DecisionRule, register
from agents.rules import best_response  # noqa: F401  (registers)
from agents.rules import logit  # noqa: F401  (registers)
from agents.rules import fictitious_play  # noqa: F401  (registers)
from agents.rules import regret_matching  # noqa: F401  (registers)
from agents.rules import hedge  # noqa: F401  (registers)
from agents.rules import q_learning  # noqa: F401  (registers)
from agents.rules import imitation  # noqa: F401  (registers)
from agents.rules import uniform_random  # noqa: F401  (registers)

__all__ = ["RULES", "DecisionRule", "register"]
