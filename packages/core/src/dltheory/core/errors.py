"""User-facing errors. Torch-free so that the command line can recognise them cheaply.

Every class here carries ``dltheory_user_error = True``: the ``dltheory`` command prints such an
error as one line (``error: ...``) and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


class DltheoryError(Exception):
    """An error caused by the user's input or environment, explained in one line."""

    dltheory_user_error = True


class ConfigError(DltheoryError, ValueError):
    """A configuration file or flag is invalid (unknown key, wrong type, bad value)."""


class DatasetNotFoundError(DltheoryError, FileNotFoundError):
    """A dataset is missing or not laid out as expected."""


class CheckpointError(DltheoryError):
    """A checkpoint file is missing, corrupt, or does not match the model."""


class NonFiniteLossError(DltheoryError, FloatingPointError):
    """Training produced a NaN or infinite loss; the last good checkpoint was kept."""


class DeviceError(DltheoryError):
    """The requested device or precision is unavailable."""


class RunInterrupted(DltheoryError):
    """SIGINT/SIGTERM stopped a run after its checkpoint was saved; ``--resume`` continues it."""

    exit_code = 130


def choice_error(
    what: str, value: object, choices: Iterable[object], error: type[DltheoryError] = ConfigError
) -> DltheoryError:
    """One line that names the bad value and every valid choice:
    ``unknown <what> 'x'; choose one of: a, b, c`` (an ``error`` instance, ConfigError by default)."""
    return error(f"unknown {what} {value!r}; choose one of: {', '.join(map(str, choices))}")


def require_choice(
    what: str, value: T, choices: Iterable[object], error: type[DltheoryError] = ConfigError
) -> T:
    """``value`` if it is one of ``choices``, else raise :func:`choice_error`."""
    choices = tuple(choices)
    if value not in choices:
        raise choice_error(what, value, choices, error)
    return value
