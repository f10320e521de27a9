"""dltheory.randfeat: exact random-features theory (double descent, ensembling, triple descent, data
structure) with finite-size simulations that confirm it.

The theory (:mod:`dltheory.randfeat.theory`) is numpy/scipy only; simulations live in
:mod:`dltheory.randfeat.simulate` (torch). Names are imported lazily so that the command line stays
light: ``from dltheory.randfeat import rf_ridge`` works as usual.
"""

from __future__ import annotations

import importlib

_ERRORS = ("ConvergenceWarning", "RandfeatInputError", "RidgeAtBoundWarning")
_THEORY = "dltheory.randfeat.theory"  # its ``__all__`` is the theory API exported here


def __getattr__(name: str):
    if name in _ERRORS:
        return getattr(importlib.import_module("dltheory.randfeat.errors"), name)
    if name.startswith("__") and name != "__all__":  # probes such as __wrapped__ load nothing
        raise AttributeError(f"module 'dltheory.randfeat' has no attribute {name!r}")
    theory = importlib.import_module(_THEORY)
    if name == "__all__":
        return [*_ERRORS, *theory.__all__]
    if name in theory.__all__:
        return getattr(theory, name)
    raise AttributeError(f"module 'dltheory.randfeat' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__getattr__("__all__")])
