"""One result printer for every subpackage: strict one-line JSON, or readable text."""

from __future__ import annotations

import json
import math

from dltheory.cli.output import echo_result


def test_json_is_one_strict_line(capsys):
    echo_result({"loss": math.nan, "acc": 0.5, "rows": [math.inf, 1]}, as_json=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c))) == {
        "loss": None,
        "acc": 0.5,
        "rows": [None, 1],
    }


def test_a_record_prints_aligned_lines_and_hides_fields(capsys):
    echo_result({"acc": 0.123456, "step": 3, "config": {"lr": 1}}, as_json=False, hide=("config",))
    assert capsys.readouterr().out.splitlines() == [" acc: 0.1235", "step: 3"]


def test_records_print_as_a_titled_table(capsys):
    echo_result([{"n": 1, "err": 0.25}, {"n": 2, "err": 0.125}], as_json=False, title="scan")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "## scan"
    assert lines[1].replace(" ", "") == "|n|err|"
    assert "0.125" in lines[-1]
