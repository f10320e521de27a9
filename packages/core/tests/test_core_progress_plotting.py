from __future__ import annotations

import csv
import io
import json

from dltheory.core.plotting import new_figure, save_figure, save_table
from dltheory.core.progress import ProgressLog, progress
from dltheory.core.report import ReproduceReport


def test_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    items = list(progress(range(50), description="epoch 1", stream=stream, every_fraction=0.5))
    assert items == list(range(50))
    lines = stream.getvalue().strip().splitlines()
    assert 2 <= len(lines) <= 4
    assert lines[-1].startswith("[epoch 1] 50/50")


def test_metrics_appear_and_other_ranks_are_silent():
    stream = io.StringIO()
    with ProgressLog(4, "train", stream=stream, every_fraction=0.25) as log:
        for i in range(4):
            log.update(1, loss=1.0 / (i + 1))
    assert "loss=0.25" in stream.getvalue()
    quiet = io.StringIO()
    with ProgressLog(4, "train", stream=quiet, enabled=False) as log:
        log.update(4)
    assert quiet.getvalue() == ""


def test_rich_bar_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    with ProgressLog(10, "bar", stream=stream) as log:
        log.update(10, acc=0.5)
    assert "bar" in stream.getvalue()
    assert "10/10" in stream.getvalue()


def test_save_figure_writes_png_and_csv(tmp_path):
    fig, ax = new_figure()
    ax.plot([1, 2, 3], [4, 5, 6])
    png = save_figure(
        fig, tmp_path / "sub" / "curve", data={"x": [1, 2, 3], "y": [4, 5, 6], "z": [7]}
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.reader((tmp_path / "sub" / "curve.csv").open()))
    assert rows == [["x", "y", "z"], ["1", "4", "7"], ["2", "5", ""], ["3", "6", ""]]


def test_save_table_and_report(tmp_path):
    md = save_table(
        [{"model": "a", "acc": 0.91234}, {"model": "b", "acc": 0.5, "extra": 1}], tmp_path / "t"
    )
    assert "| model | acc | extra |" in md
    assert "0.9123" in md
    assert json.loads((tmp_path / "t.json").read_text())[1]["extra"] == 1
    report = ReproduceReport(tmp_path, "Title")
    report.add_figure(tmp_path / "sub" / "curve.png", "a curve")
    report.add_table(tmp_path / "t.md", "a table")
    report.add_metric("accuracy", 0.9)
    manifest = json.loads(report.write().read_text())
    assert manifest["figures"][0]["path"] == "sub/curve.png"
    assert manifest["metrics"] == {"accuracy": 0.9}
    assert manifest["title"] == "Title"
