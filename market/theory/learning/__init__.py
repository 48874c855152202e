"""A real learning task (federated logistic regression) and empirical value curves measured on it."""
