"""dltheory.cli: the ``dltheory`` command, a lazy host for the subpackages' Typer apps.

Importing this package imports neither torch nor any plugin.
"""

__version__ = "0.1.0"
