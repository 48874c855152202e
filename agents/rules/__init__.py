"""Decision rules, one module each; importing this package registers them in :data:`RULES`."""

from agents.rules.base import RULES, DecisionRule, register
from agents.rules import best_response  # noqa: F401  (registers)

__all__ = ["RULES", "DecisionRule", "register"]
