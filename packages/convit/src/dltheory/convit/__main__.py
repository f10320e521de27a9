from dltheory.cli.app import run_app
from dltheory.convit.cli import app

run_app(app, "convit")
