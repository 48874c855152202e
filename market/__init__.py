"""privmarket's market: the model, the mechanisms, and value/privacy math.

The public entry points::

    from market import DataMarket, run

They are imported lazily, so that the pure modules (mechanisms, value and
privacy math) load without the model and its agents.
"""

from importlib import import_module

_EXPORTS = {"DataMarket": "market.model", "RunResult": "market.runner", "run": "market.runner"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'market' has no attribute {name!r}")
