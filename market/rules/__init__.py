"""Decision rules: the owners' policies (best response, logit, learning dynamics, imitation), one module each.

They are policies over the owner arrays, not agents: :class:`market.core.decision_rule.DecisionRule` is the
interface and :data:`market.registry.RULES` the names a scenario may use.
"""
