"""Payment and allocation rules, one module per family.

Importing this package registers every built-in mechanism in
:data:`MECHANISMS` (name -> class); a scenario selects one by name.
"""

from market.mechanisms.base import (
    MECHANISMS,
    ActionSpace,
    Mechanism,
    Outcome,
    RoundContext,
    register,
)
from market.mechanisms import posted_price  # noqa: F401  (registers)
from market.mechanisms import fair_payment  # noqa: F401  (registers)
from market.mechanisms import value_shaping  # noqa: F401  (registers)
from market.mechanisms import budget_balanced  # noqa: F401  (registers)
from market.mechanisms import auction  # noqa: F401  (registers)
from market.mechanisms import peer_prediction  # noqa: F401  (registers)
from market.mechanisms import learning_market  # noqa: F401  (registers)

__all__ = ["MECHANISMS", "ActionSpace", "Mechanism", "Outcome", "RoundContext", "register"]
