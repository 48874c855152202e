"""Paper 002 (FL-Market): auctions, gradient aggregation, local differential privacy, MURBA inference."""
