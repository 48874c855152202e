"""Training of learned mechanisms for a scenario's market (MURBA, paper 002); needs PyTorch at run time."""
