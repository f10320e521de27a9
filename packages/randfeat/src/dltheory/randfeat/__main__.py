from dltheory.cli.app import run_app
from dltheory.randfeat.cli import app

run_app(app, "randfeat")
