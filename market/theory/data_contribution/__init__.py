"""Paper 001: value functions of pooled data, equilibria, value shaping and the fairness baselines."""
