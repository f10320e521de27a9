"""`dltheory claims`: declared claims without running; earlier verdicts with --from."""

from __future__ import annotations

import json

from dltheory.core.claims import RECORD_KEYS


def test_claims_json_lists_declared_claims_with_null_measurements(run_cli):
    result = run_cli("claims", "--only", "fakegood", "--json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["id"] for r in records] == ["fakegood.slope", "fakegood.big"]
    for record in records:
        assert tuple(record) == RECORD_KEYS
        assert record["measured"] is None
        assert record["verdict"] is None


def test_claims_table_and_from_dir(run_cli, tmp_path):
    table = run_cli("claims", "--only", "fakegood")
    assert table.returncode == 0, table.stderr
    assert "fakegood.slope" in table.stdout
    out = tmp_path / "report"
    run_cli("reproduce", "--only", "fakegood", "--out", str(out))
    shown = run_cli("claims", "--from", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "reproduced 1, differs 0, not-run 1" in shown.stdout


def test_claims_from_an_empty_folder_is_a_one_line_error(run_cli, tmp_path):
    result = run_cli("claims", "--from", str(tmp_path))
    assert result.returncode == 2
    assert "no claims.json" in result.stderr
