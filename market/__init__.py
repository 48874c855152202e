"""privmarket's market: the model, the mechanisms, and value/privacy math.

The public entry points::

    from market import DataMarket, run
"""

from market.model import DataMarket
from market.runner import RunResult, run

__all__ = ["DataMarket", "RunResult", "run"]
