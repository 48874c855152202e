"""The simulator core: owner arrays and population draws, the social network, the mechanism and
decision-rule interfaces, and the named value-function and payoff families.

Imports only :mod:`market.theory`; everything above (mechanisms, rules, simulation) builds on it.
"""
