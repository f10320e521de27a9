"""``dltheory reproduce``: run each subpackage's reproduction and write one report.

Each subpackage runs in its own process (``python -m dltheory.cli <name> reproduce --scale S``),
so one failing reproduction cannot take the others down. Each writes ``<out>/<name>/manifest.json``
(see ``dltheory.core.report``) and ``<out>/<name>/claims.json`` (see ``dltheory.core.claims``).
This module merges the claims into ``<out>/claims.json`` and writes ``index.html`` and
``README.md`` with the claims scoreboard on top. A plugin that fails now never shows the figures
of an earlier run: its old manifest and claims are removed before it starts.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from dltheory.cli.claims import declared_claims
from dltheory.cli.plugins import Plugin, discover_plugins, load_plugin, selected_plugins


@dataclass
class Outcome:
    name: str
    distribution: str
    status: str  # "ok", "failed", "broken"
    seconds: float = 0.0
    detail: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)


def plugins_with_reproduce(only: str | None) -> tuple[list[Plugin], list[Outcome]]:
    """Installed plugins offering ``reproduce``; broken plugins are reported, not run."""
    plugins = selected_plugins(discover_plugins(), only)
    runnable, broken = [], []
    for plugin in plugins.values():
        command = load_plugin(plugin)
        if not isinstance(command, click.Group):
            reason = getattr(command, "import_error", None)
            if reason is not None:
                broken.append(
                    Outcome(
                        plugin.name,
                        plugin.distribution,
                        "broken",
                        detail=f"failed to import: {reason}",
                    )
                )
            continue
        if "reproduce" in command.list_commands(click.Context(command)):
            runnable.append(plugin)
    return runnable, broken


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _read_manifest(path: Path) -> tuple[dict[str, Any], str]:
    """The manifest, or {} and why it cannot be used."""
    if not path.exists():
        return {}, "wrote no manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return {}, f"unreadable manifest.json: {str(exc).splitlines()[0]}"
    if not isinstance(data, dict):
        return {}, "manifest.json does not hold an object"
    return data, ""


def _claims_of(
    plugin: Plugin, target: Path, scale: str, failure: str
) -> tuple[list[dict[str, Any]], str]:
    """The plugin's claims records; when it failed or wrote none, its declared claims as not-run."""
    from dltheory.core.claims import ClaimError, not_run, read_claims

    path = target / "claims.json"
    problem = failure
    if not failure and path.exists():
        try:
            return read_claims(path), ""
        except ClaimError as exc:
            problem = str(exc)
    elif not failure:
        problem = "wrote no claims.json"
    try:
        declared = declared_claims(plugin)
    except Exception as exc:
        return [], f"{problem}; its claims cannot be read: {exc}"
    reason = f"the {plugin.name} reproduction {problem}" if failure else f"{plugin.name}: {problem}"
    return [not_run(c, scale, reason) for c in declared], problem


def _run_one(plugin: Plugin, out: Path, scale: str, device: str | None) -> Outcome:
    target = out / plugin.name
    target.mkdir(parents=True, exist_ok=True)
    for stale in ("manifest.json", "claims.json"):
        (target / stale).unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "dltheory.cli",
        plugin.name,
        "reproduce",
        "--out",
        str(target),
        "--scale",
        scale,
    ]
    if device:
        cmd += ["--device", device]
    click.echo(f"==> {plugin.name}: {' '.join(cmd[2:])}", err=True)
    start = time.perf_counter()
    log_path = target / "log.txt"
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ
        )
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            sys.stderr.write(f"[{plugin.name}] {line}")
        code = process.wait()
    seconds = time.perf_counter() - start
    if code != 0:
        detail = f"exit {code}: {_first_line(log_path.read_text(encoding='utf-8'))}"
        claims, _ = _claims_of(plugin, target, scale, f"failed ({detail})")
        return Outcome(plugin.name, plugin.distribution, "failed", seconds, detail, {}, claims)
    manifest, problem = _read_manifest(target / "manifest.json")
    claims, claim_problem = _claims_of(plugin, target, scale, "")
    problems = "; ".join(p for p in (problem, claim_problem) if p)
    status = "failed" if problems else "ok"
    return Outcome(plugin.name, plugin.distribution, status, seconds, problems, manifest, claims)


def _scoreboard_rows(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    return [r for o in outcomes for r in o.claims]


def _counts_line(records: list[dict[str, Any]]) -> str:
    from dltheory.core.claims import verdict_counts

    counts = verdict_counts(records)
    return ", ".join(f"**{v}** {n}" for v, n in counts.items())


def _cell(text: object) -> str:
    """A markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def write_markdown(out: Path, outcomes: list[Outcome], scale: str) -> Path:
    from dltheory.core.claims import format_measured
    from dltheory.core.files import atomic_write_text

    records = _scoreboard_rows(outcomes)
    lines = [
        "# dltheory reproduction report",
        "",
        f"Scale: {scale}.",
        "",
        "## Claims scoreboard",
        "",
    ]
    lines.append(f"{len(records)} claims: {_counts_line(records)}.")
    lines += [
        "",
        "| paper | claim | statement | paper value | ours | verdict | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {_cell(r['paper'])} | {_cell(r['id'])} | {_cell(r['statement'])} | {_cell(r['expected'])} | "
            f"{_cell(format_measured(r))} | **{r['verdict']}** | {_cell(r['reason'] or '')} |"
        )
    lines += [
        "",
        "## Subpackages",
        "",
        "| subpackage | status | seconds | detail |",
        "|---|---|---|---|",
    ]
    for o in outcomes:
        lines.append(f"| {o.name} | {o.status} | {o.seconds:.1f} | {_cell(o.detail)} |")
    for o in outcomes:
        m = o.manifest
        lines += ["", f"## {o.name}: {m.get('title', o.distribution)}", ""]
        for key, value in m.get("metrics", {}).items():
            lines.append(f"- {key}: {value}")
        for note in m.get("notes", []):
            lines += ["", note]
        for fig in m.get("figures", []):
            lines += [
                "",
                f"![{fig.get('caption', '')}]({o.name}/{fig['path']})",
                "",
                f"*{fig.get('caption', '')}*",
            ]
        for table in m.get("tables", []):
            path = out / o.name / table["path"]
            lines += [
                "",
                f"**{table.get('caption', '')}** ([{table['path']}]({o.name}/{table['path']}))",
                "",
            ]
            if path.suffix == ".md" and path.exists():
                lines.append(path.read_text(encoding="utf-8"))
        lines += ["", f"Log: [{o.name}/log.txt]({o.name}/log.txt)"]
    path = out / "README.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def write_html(out: Path, outcomes: list[Outcome], scale: str) -> Path:
    from dltheory.core.claims import format_measured, verdict_counts
    from dltheory.core.files import atomic_write_text

    esc = html.escape
    records = _scoreboard_rows(outcomes)
    counts = verdict_counts(records)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>dltheory reproduction</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:100%}"
        "td,th{border:1px solid #ccc;padding:4px;vertical-align:top}table{border-collapse:collapse}"
        ".ok,.reproduced{color:green}.failed,.broken,.differs{color:#b00}.not-run{color:#777}</style></head><body>",
        "<h1>dltheory reproduction report</h1>",
        f"<p>Scale: {esc(scale)}.</p>",
        "<h2>Claims scoreboard</h2>",
        "<p>" + ", ".join(f"<span class='{v}'>{v}</span>: {n}" for v, n in counts.items()) + "</p>",
        "<table><tr><th>paper</th><th>claim</th><th>statement</th><th>paper value</th><th>ours</th>"
        "<th>verdict</th><th>why</th></tr>",
    ]
    for r in records:
        parts.append(
            f"<tr><td>{esc(r['paper'])}</td><td>{esc(r['id'])}</td><td>{esc(r['statement'])}</td>"
            f"<td>{esc(r['expected'])}</td><td>{esc(format_measured(r))}</td>"
            f"<td class='{esc(r['verdict'])}'>{esc(r['verdict'])}</td><td>{esc(r['reason'] or '')}</td></tr>"
        )
    parts += [
        "</table>",
        "<h2>Subpackages</h2>",
        "<table><tr><th>subpackage</th><th>status</th><th>seconds</th><th>detail</th></tr>",
    ]
    for o in outcomes:
        parts.append(
            f"<tr><td><a href='#{esc(o.name)}'>{esc(o.name)}</a></td><td class='{o.status}'>{o.status}</td>"
            f"<td>{o.seconds:.1f}</td><td>{esc(o.detail)}</td></tr>"
        )
    parts.append("</table>")
    for o in outcomes:
        m = o.manifest
        parts.append(
            f"<h2 id='{esc(o.name)}'>{esc(o.name)}: {esc(str(m.get('title', o.distribution)))}</h2>"
        )
        if m.get("metrics"):
            parts.append(
                "<ul>"
                + "".join(f"<li>{esc(str(k))}: {esc(str(v))}</li>" for k, v in m["metrics"].items())
                + "</ul>"
            )
        parts += [f"<p>{esc(n)}</p>" for n in m.get("notes", [])]
        for fig in m.get("figures", []):
            src = esc(f"{o.name}/{fig['path']}")
            parts.append(
                f"<figure><img src='{src}'><figcaption>{esc(fig.get('caption', ''))}</figcaption></figure>"
            )
        for table in m.get("tables", []):
            path = out / o.name / table["path"]
            body = (
                esc(path.read_text(encoding="utf-8"))
                if path.exists() and path.suffix in {".md", ".csv"}
                else ""
            )
            parts.append(
                f"<h3>{esc(table.get('caption', ''))}</h3><p><a href='{esc(o.name + '/' + table['path'])}'>"
                f"{esc(table['path'])}</a></p><pre>{body}</pre>"
            )
        parts.append(f"<p><a href='{esc(o.name)}/log.txt'>log</a></p>")
    parts.append("</body></html>")
    path = out / "index.html"
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path


def write_claims(out: Path, outcomes: list[Outcome]) -> Path:
    from dltheory.core.files import atomic_write_text

    path = out / "claims.json"
    atomic_write_text(path, json.dumps(_scoreboard_rows(outcomes), indent=2) + "\n")
    return path


def reproduce_all(out: Path, scale: str, only: str | None, device: str | None) -> int:
    """Run the reproductions; exit code 0 when all ran (or none is installed), 1 if any failed."""
    runnable, broken = plugins_with_reproduce(only)
    if not runnable and not broken:
        click.echo(
            "no dltheory subpackage with a reproduce command is installed; nothing to do", err=True
        )
        return 0
    out.mkdir(parents=True, exist_ok=True)
    outcomes = [_run_one(plugin, out, scale, device) for plugin in runnable] + broken
    write_claims(out, outcomes)
    md = write_markdown(out, outcomes, scale)
    page = write_html(out, outcomes, scale)
    failed = [o for o in outcomes if o.status != "ok"]
    for o in outcomes:
        click.echo(f"{o.name:10s} {o.status:7s} {o.seconds:7.1f}s {o.detail}", err=True)
    records = _scoreboard_rows(outcomes)
    click.echo(f"claims: {_counts_line(records).replace('**', '')}", err=True)
    click.echo(f"report: {page} and {md}", err=True)
    return 1 if failed else 0
