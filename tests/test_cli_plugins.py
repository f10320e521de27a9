"""The root command with real (fake) plugins installed: laziness, failures, restriction."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
from dltheory.cli.app import app, run_app
try:
    run_app(app, "dltheory", ["--help"])
except SystemExit as exc:
    code = exc.code
print("@@" + json.dumps({"code": code, "modules": sorted(m for m in sys.modules
      if m.split(".")[0] in {"torch", "numpy", "dltheory_fake_good", "dltheory_fake_broken"}
      or m.startswith(("dltheory.dfa", "dltheory.convit", "dltheory.core", "dltheory.jamming",
                       "dltheory.efcn", "dltheory.querygen", "dltheory.randfeat")))}))
"""


def test_help_lists_plugins_without_importing_them_or_torch(fake_plugin_site):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLTHEORY_")}
    env["PYTHONPATH"] = str(fake_plugin_site)
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    help_text, _, payload = result.stdout.rpartition("@@")
    report = json.loads(payload)
    assert report["code"] == 0
    assert report["modules"] == [], f"--help imported {report['modules']}"
    assert "fakegood" in help_text
    assert "A working test plugin" in help_text
    assert "fakebroken" in help_text
    assert "info" in help_text
    assert "reproduce" in help_text


def test_working_plugin_runs(run_cli):
    result = run_cli("fakegood", "hello", "--name", "jamming")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello jamming"


def test_broken_plugin_explains_and_exits_1(run_cli):
    result = run_cli("fakebroken", "anything")
    assert result.returncode == 1
    assert "dltheory-fake-broken" in result.stderr
    assert "nonexistent_lib" in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_plugin_traceback_with_debug(run_cli):
    result = run_cli("fakebroken", env={"DLTHEORY_DEBUG": "1"})
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_broken_plugin_does_not_break_others(run_cli):
    assert run_cli("--help").returncode == 0
    assert run_cli("fakegood", "hello").returncode == 0
    assert run_cli("info").returncode == 0


def test_plugin_restriction(run_cli):
    result = run_cli("--help", plugins="fakegood", env={"COLUMNS": "200"})
    assert "fakegood" in result.stdout
    assert "fakebroken" not in result.stdout
    unknown = run_cli("fakebroken", plugins="fakegood")
    assert unknown.returncode == 2
    assert "No such command" in unknown.stderr


def test_user_error_is_one_line_exit_2(run_cli):
    result = run_cli("fakegood", "fail")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: the input is wrong"


def test_info_lists_versions(run_cli):
    result = run_cli("info", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for word in ("dltheory-cli", "dltheory-fake-good", "python", "torch", "torchvision", "CUDA"):
        assert word in result.stdout
