"""`dltheory reproduce`: runs each plugin's reproduce, reports failures, writes the report."""

from __future__ import annotations


def test_reproduce_writes_index_and_readme(run_cli, tmp_path):
    out = tmp_path / "report"
    result = run_cli("reproduce", "--quick", "--out", str(out))
    # The broken plugin is reported as failed, so the overall exit code is 1.
    assert result.returncode == 1, result.stderr
    index = (out / "index.html").read_text()
    readme = (out / "README.md").read_text()
    assert "fakegood/curve.png" in index and "fakegood/curve.png" in readme
    assert "Fake reproduction" in readme and "| 1 | 2 |" in readme
    assert "broken" in readme and "fakebroken" in index
    assert "quick: True" in readme
    assert (out / "fakegood" / "log.txt").read_text().strip() == "reproduced"


def test_reproduce_only_good_succeeds(run_cli, tmp_path):
    out = tmp_path / "report"
    result = run_cli("reproduce", "--only", "fakegood", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "quick: False" in (out / "README.md").read_text()


def test_reproduce_with_nothing_installed_says_so(run_cli, tmp_path):
    result = run_cli("reproduce", "--out", str(tmp_path / "r"), plugins="nothing-here")
    assert result.returncode == 0
    assert "nothing to do" in result.stderr
    assert not (tmp_path / "r").exists()


def test_reproduce_only_unknown_is_an_error(run_cli, tmp_path):
    result = run_cli("reproduce", "--only", "nope", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "nope" in result.stderr
