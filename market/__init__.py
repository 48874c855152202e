"""privmarket's market: paper theory, the simulator core, mechanisms, rules and the simulation.

Layers, each importing only from those below it (checked by import-linter, see ``pyproject.toml``)::

    market.cli, market.runner        the command line and the one-call API (nothing imports them)
    market.simulation                DataMarket, recorder, round metrics, checkpoint
    market.registry                  every name a scenario may use -> its class
    market.mechanisms, market.rules  payment rules and owners' decision rules
    market.core                      owner arrays, population, network, interfaces, value/payoff families
    market.theory                    the papers' mathematics (pure numpy/scipy)

The entry points::

    from market.runner import run
    from market.simulation import DataMarket
"""
