"""``dltheory reproduce``: run each subpackage's reproduction and write one report.

Each subpackage runs in its own process (``python -m dltheory.cli <name> reproduce``), so one
failing reproduction cannot take the others down. Each writes ``<out>/<name>/manifest.json``
(see ``dltheory.core.report``); this module turns the manifests into ``index.html`` and
``README.md``.
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

import click

from dltheory.cli.plugins import Plugin, discover_plugins, load_plugin


@dataclass
class Outcome:
    name: str
    distribution: str
    status: str  # "ok", "failed", "broken"
    seconds: float = 0.0
    detail: str = ""
    manifest: dict = field(default_factory=dict)


def plugins_with_reproduce(only: str | None) -> tuple[list[Plugin], list[Outcome]]:
    """Installed plugins offering ``reproduce``; broken plugins are reported, not run."""
    plugins = discover_plugins()
    if only:
        wanted = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in plugins]
        if unknown:
            raise click.UsageError(
                f"--only names {', '.join(unknown)}, not installed (installed: {', '.join(plugins) or 'none'})"
            )
        plugins = {n: plugins[n] for n in wanted}
    runnable, broken = [], []
    for plugin in plugins.values():
        command = load_plugin(plugin)
        if not isinstance(command, click.Group):
            if (command.help or "").startswith("(broken)"):
                broken.append(Outcome(plugin.name, plugin.distribution, "broken", detail="failed to import"))
            continue
        if "reproduce" in command.list_commands(click.Context(command)):
            runnable.append(plugin)
    return runnable, broken


def _run_one(plugin: Plugin, out: Path, quick: bool, device: str | None) -> Outcome:
    target = out / plugin.name
    target.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "dltheory.cli", plugin.name, "reproduce", "--out", str(target)]
    if quick:
        cmd.append("--quick")
    if device:
        cmd += ["--device", device]
    click.echo(f"==> {plugin.name}: {' '.join(cmd[2:])}", err=True)
    start = time.perf_counter()
    log_path = target / "log.txt"
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ)
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            sys.stderr.write(f"[{plugin.name}] {line}")
        code = process.wait()
    seconds = time.perf_counter() - start
    manifest_path = target / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    if code != 0:
        tail = log_path.read_text(encoding="utf-8").strip().splitlines()[-1:] or [""]
        return Outcome(plugin.name, plugin.distribution, "failed", seconds, f"exit {code}: {tail[0]}", manifest)
    return Outcome(plugin.name, plugin.distribution, "ok", seconds, "", manifest)


def _rel(out: Path, name: str, path: str) -> str:
    return f"{name}/{path}"


def write_markdown(out: Path, outcomes: list[Outcome], quick: bool) -> Path:
    lines = ["# dltheory reproduction report", ""]
    lines.append(f"Mode: {'quick (CPU scale)' if quick else 'full'}.")
    lines += ["", "| subpackage | status | seconds | detail |", "|---|---|---|---|"]
    for o in outcomes:
        lines.append(f"| {o.name} | {o.status} | {o.seconds:.1f} | {o.detail} |")
    for o in outcomes:
        m = o.manifest
        lines += ["", f"## {o.name}: {m.get('title', o.distribution)}", ""]
        for key, value in m.get("metrics", {}).items():
            lines.append(f"- {key}: {value}")
        for note in m.get("notes", []):
            lines += ["", note]
        for fig in m.get("figures", []):
            lines += ["", f"![{fig.get('caption', '')}]({_rel(out, o.name, fig['path'])})", "", f"*{fig.get('caption', '')}*"]
        for table in m.get("tables", []):
            path = out / o.name / table["path"]
            lines += ["", f"**{table.get('caption', '')}** ([{table['path']}]({_rel(out, o.name, table['path'])}))", ""]
            if path.suffix == ".md" and path.exists():
                lines.append(path.read_text(encoding="utf-8"))
        lines += ["", f"Log: [{o.name}/log.txt]({o.name}/log.txt)"]
    path = out / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_html(out: Path, outcomes: list[Outcome], quick: bool) -> Path:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>dltheory reproduction</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:100%}"
        "td,th{border:1px solid #ccc;padding:4px}table{border-collapse:collapse}"
        ".ok{color:green}.failed,.broken{color:#b00}</style></head><body>",
        "<h1>dltheory reproduction report</h1>",
        f"<p>Mode: {'quick (CPU scale)' if quick else 'full'}.</p>",
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
        parts.append(f"<h2 id='{esc(o.name)}'>{esc(o.name)}: {esc(str(m.get('title', o.distribution)))}</h2>")
        if m.get("metrics"):
            parts.append("<ul>" + "".join(f"<li>{esc(str(k))}: {esc(str(v))}</li>" for k, v in m["metrics"].items()) + "</ul>")
        parts += [f"<p>{esc(n)}</p>" for n in m.get("notes", [])]
        for fig in m.get("figures", []):
            src = esc(_rel(out, o.name, fig["path"]))
            parts.append(f"<figure><img src='{src}'><figcaption>{esc(fig.get('caption', ''))}</figcaption></figure>")
        for table in m.get("tables", []):
            path = out / o.name / table["path"]
            body = esc(path.read_text(encoding="utf-8")) if path.exists() and path.suffix in {".md", ".csv"} else ""
            parts.append(
                f"<h3>{esc(table.get('caption', ''))}</h3><p><a href='{esc(_rel(out, o.name, table['path']))}'>"
                f"{esc(table['path'])}</a></p><pre>{body}</pre>"
            )
        parts.append(f"<p><a href='{esc(o.name)}/log.txt'>log</a></p>")
    parts.append("</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def reproduce_all(out: Path, quick: bool, only: str | None, device: str | None) -> int:
    """Run the reproductions; exit code 0 when all ran (or none is installed), 1 if any failed."""
    runnable, broken = plugins_with_reproduce(only)
    if not runnable and not broken:
        click.echo("no dltheory subpackage with a reproduce command is installed; nothing to do", err=True)
        return 0
    out.mkdir(parents=True, exist_ok=True)
    outcomes = [_run_one(plugin, out, quick, device) for plugin in runnable] + broken
    md = write_markdown(out, outcomes, quick)
    page = write_html(out, outcomes, quick)
    failed = [o for o in outcomes if o.status != "ok"]
    for o in outcomes:
        click.echo(f"{o.name:10s} {o.status:7s} {o.seconds:7.1f}s {o.detail}", err=True)
    click.echo(f"report: {page} and {md}", err=True)
    return 1 if failed else 0
