from dltheory.cli.app import run_app

from .cli import app

run_app(app, "querygen")
