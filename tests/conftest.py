"""Shared fixtures: small scenarios built as dicts."""

import copy
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")  # figures render headless in tests and CI

BASE = {
    "name": "tiny",
    "rounds": 20,
    "seed": 7,
    "population": {
        "owners": 50,
        "types": [
            {"share": 0.5, "sensitivity": {"dist": "uniform", "low": 0.0, "high": 2.0}, "data_size": 1.0},
            {"share": 0.5, "sensitivity": 3.0, "data_size": {"dist": "lognormal", "mean": 0.0, "sigma": 0.3}},
        ],
    },
    "mechanism": {"name": "posted_price", "price": [0.0, 0.5, 1.0], "privacy_cost": [0.0, 0.4, 1.0]},
    "decision": {"rule": "best_response"},
}


@pytest.fixture
def tiny():
    """A 50-owner posted-price scenario as a dict (a fresh copy per test)."""
    return copy.deepcopy(BASE)
