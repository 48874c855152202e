"""Paper 003: the contribution game, payoff families, budget-balanced payments and p-mean welfare."""
