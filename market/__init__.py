"""privmarket's market: the model, the mechanisms, and value/privacy math."""
