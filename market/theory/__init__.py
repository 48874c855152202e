"""The papers' mathematics, pure numpy/scipy, one subpackage per model.

``fair_value`` (paper 000), ``data_contribution`` (001), ``fl_market`` (002), ``contribution_game`` (003),
``value_of_privacy`` (004) and ``learning`` (a real learning task and empirical value curves).  Nothing here
imports the simulator.
"""
