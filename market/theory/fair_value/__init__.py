"""Paper 000: the privacy game, fair (Shapley) values of data, and the mean-estimation utilities."""
