"""The simulation: the :class:`DataMarket` model, its recorder and round metrics, and checkpoints.

Depends on the core, the registry, the agents and the scenarios; nothing in :mod:`analysis`.
"""

from market.simulation.model import DataMarket

__all__ = ["DataMarket"]
