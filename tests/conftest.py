"""Shared fixtures: small scenarios built as dicts."""

import copy
import os

import pytest
from hypothesis import settings

os.environ.setdefault("MPLBACKEND", "Agg")  # figures render headless in tests and CI

# Property tests draw the same examples on every run, so a red CI is always reproducible (and a green one
# is not luck); `HYPOTHESIS_PROFILE=explore pytest ...` draws fresh random examples to hunt for new cases.
settings.register_profile("reproducible", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "reproducible"))

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
