"""User-facing errors of dltheory.randfeat (torch-free)."""

from __future__ import annotations

import warnings

from dltheory.core.errors import DltheoryError
from dltheory.core.errors import require_choice as _require_choice


class RandfeatInputError(DltheoryError, ValueError):
    """A theory or simulation parameter is out of its domain (explained in one line)."""


class ConvergenceWarning(RuntimeWarning):
    """A fixed point or root search stopped before reaching its tolerance."""


class RidgeAtBoundWarning(UserWarning):
    """An optimisation over the ridge ended at an end of its search interval."""


def warn_not_converged(
    what: str, n_bad: int, n_total: int, residual: float, iterations: int
) -> None:
    warnings.warn(
        f"{what}: {n_bad}/{n_total} points not converged after {iterations} iterations "
        f"(largest residual {residual:.2e}); results there are unreliable",
        ConvergenceWarning,
        stacklevel=3,
    )


def require(condition: bool, message: str) -> None:
    """Raise :class:`RandfeatInputError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise RandfeatInputError(message)


def require_choice(what: str, value, choices):
    """``value`` if it is one of ``choices``, else :class:`RandfeatInputError` naming every choice
    (``dltheory.core.errors.require_choice``)."""
    return _require_choice(what, value, choices, RandfeatInputError)
