"""Repository-wide invariants: the PEP 420 namespace and unique test file names."""

from __future__ import annotations

import collections
from pathlib import Path

import dltheory

REPO = Path(__file__).resolve().parents[1]


def test_no_distribution_ships_dltheory_init():
    offenders = [
        p
        for p in REPO.glob("**/dltheory/__init__.py")
        if not any(part.startswith(".") for part in p.relative_to(REPO).parts)
    ]
    assert offenders == []


def test_dltheory_is_a_namespace_spanning_distributions():
    assert getattr(dltheory, "__file__", None) is None  # namespace packages have no __init__ file
    paths = {Path(p).resolve() for p in dltheory.__path__}
    assert len(paths) >= 2  # cli and core at least, each from its own distribution


def test_test_file_names_are_unique():
    names = [
        p.name
        for p in REPO.glob("**/tests/test_*.py")
        if not any(part.startswith(".") for part in p.relative_to(REPO).parts)
    ]
    duplicates = [n for n, c in collections.Counter(names).items() if c > 1]
    assert duplicates == []
