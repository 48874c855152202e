"""The learning platform's policies: bandit algorithms over mechanism parameters, one module each.

``learner`` the uniform interface (``propose`` / ``learn``); ``exp3``, ``ucb1``, ``thompson``,
``epsilon_greedy`` (grids) and ``zeroth_order`` (ranges); ``parameters`` which mechanism parameters are
learnt and how they are posted (:meth:`market.core.mechanism.Mechanism.set_params`); ``controller``
blocks of rounds, reward normalisation, recorded columns and regret.  The names a ``[platform]`` table
may use are :data:`market.registry.PLATFORM_LEARNERS`; the table itself is :mod:`scenarios.platform`,
the regret's counterfactual markets :mod:`analysis.platform_regret` and the full-information benchmark
:mod:`analysis.first_best`.
"""
