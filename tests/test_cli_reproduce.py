"""`dltheory reproduce`: runs each plugin's reproduce, reports failures, writes report and scoreboard."""

from __future__ import annotations

import json


def test_reproduce_writes_index_readme_and_scoreboard(run_cli, tmp_path):
    out = tmp_path / "report"
    result = run_cli("reproduce", "--quick", "--out", str(out))
    # The broken plugin is reported as failed, so the overall exit code is 1.
    assert result.returncode == 1, result.stderr
    index = (out / "index.html").read_text()
    readme = (out / "README.md").read_text()
    assert "fakegood/curve.png" in index
    assert "fakegood/curve.png" in readme
    assert "Fake reproduction" in readme
    assert "| 1 | 2 |" in readme
    assert "fakebroken" in index
    assert "nonexistent_lib" in readme  # the broken plugin's import error is shown, not dropped
    assert "Scale: quick." in readme
    claims = json.loads((out / "claims.json").read_text())
    by_id = {c["id"]: c for c in claims}
    assert by_id["fakegood.slope"]["verdict"] == "reproduced"
    assert by_id["fakegood.big"]["verdict"] == "not-run"
    assert "--scale paper" in by_id["fakegood.big"]["reason"]
    # The scoreboard comes before the subpackage sections.
    assert readme.index("Claims scoreboard") < readme.index("## fakegood")
    assert "**reproduced** 1" in readme


def test_a_wrong_measurement_is_judged_differs(run_cli, tmp_path):
    out = tmp_path / "report"
    result = run_cli(
        "reproduce", "--only", "fakegood", "--out", str(out), env={"FAKE_SLOPE": "0.9"}
    )
    assert result.returncode == 0, result.stderr
    record = next(
        c for c in json.loads((out / "claims.json").read_text()) if c["id"] == "fakegood.slope"
    )
    assert record["verdict"] == "differs"
    assert record["measured"] == 0.9


def test_reproduce_only_good_succeeds_at_full_scale(run_cli, tmp_path):
    out = tmp_path / "report"
    result = run_cli("reproduce", "--only", "fakegood", "--scale", "full", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Scale: full." in (out / "README.md").read_text()


def test_a_failed_plugin_never_shows_an_earlier_runs_figures(run_cli, tmp_path):
    out = tmp_path / "report"
    assert run_cli("reproduce", "--only", "fakegood", "--out", str(out)).returncode == 0
    result = run_cli("reproduce", "--only", "fakegood", "--out", str(out), env={"FAKE_FAIL": "1"})
    assert result.returncode == 1
    readme = (out / "README.md").read_text()
    assert "curve.png" not in readme
    assert "fake failure after writing" in readme
    verdicts = {c["id"]: c["verdict"] for c in json.loads((out / "claims.json").read_text())}
    assert verdicts == {"fakegood.slope": "not-run", "fakegood.big": "not-run"}


def test_a_bad_manifest_is_reported_not_fatal(run_cli, tmp_path):
    out = tmp_path / "report"
    result = run_cli("reproduce", "--out", str(out), env={"FAKE_BAD_MANIFEST": "1"})
    assert result.returncode == 1
    readme = (out / "README.md").read_text()
    assert "unreadable manifest.json" in readme
    assert "fakebroken" in readme  # the other plugins are still reported


def test_a_typo_in_dltheory_plugins_is_an_error(run_cli, tmp_path):
    result = run_cli("reproduce", "--out", str(tmp_path / "r"), plugins="nothing-here")
    assert result.returncode == 2
    assert "nothing-here" in result.stderr
    assert not (tmp_path / "r").exists()


def test_reproduce_only_unknown_is_an_error(run_cli, tmp_path):
    result = run_cli("reproduce", "--only", "nope", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "nope" in result.stderr


def test_bad_scale_is_a_one_line_error(run_cli, tmp_path):
    result = run_cli("reproduce", "--scale", "huge", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "--scale" in result.stderr
