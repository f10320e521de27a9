"""Shared fixtures of the jamming tests."""

import pytest


@pytest.fixture
def small_search() -> dict:
    """One small N* search (P = 40, d = 4, LM after 400 Adam steps), for the search and CLI tests."""
    return {
        "n_train": 40,
        "d": 4,
        "max_steps": 400,
        "n_grid": 5,
        "max_factor": 4.0,
        "min_factor": 0.1,
        "n_bisect": 2,
        "optimizer": "lm",
        "lm_max_iter": 300,
        "lm_escape_rounds": 1,
        "search": "descend",
    }
