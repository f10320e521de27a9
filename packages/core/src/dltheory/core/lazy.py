"""Lazy package exports (PEP 562): ``from dltheory.dfa import mlp`` works, while importing
``dltheory.dfa.cli`` or ``dltheory.dfa.claims`` does not pull in torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` exposing ``name -> module`` lazily.

    A module starting with a dot is relative to ``package`` (``".engine"``); others are absolute.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = f"{package}{module}" if module.startswith(".") else module
        return getattr(importlib.import_module(target), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
