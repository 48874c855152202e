"""Mechanisms: one module per registered mechanism (file name = registered name), each adapting a paper's
theory (:mod:`market.theory`) to :class:`market.core.mechanism.Mechanism`.

The registry of names is :data:`market.registry.MECHANISMS`; adding a mechanism is one module here plus one
line there.  :mod:`market.mechanisms.data_contribution` is the shared base of paper 001's four mechanisms.
"""
