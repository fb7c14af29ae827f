"""The report archive: reports/<profile>/<UTC timestamp>/, history.jsonl and index.html."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.report import write_atomically


def new_run_dir(root: Path, profile: str, now: datetime | None = None) -> Path:
    """A fresh folder for one run, named by its UTC start time (sortable, unique)."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    base = root / profile
    base.mkdir(parents=True, exist_ok=True)
    candidate = base / stamp
    n = 1
    while candidate.exists():
        n += 1
        candidate = base / f"{stamp}-{n}"
    candidate.mkdir()
    return candidate


def record_run(run_dir: Path, report: dict[str, Any]) -> None:
    """Append the run to history.jsonl and rebuild index.html from it."""
    profile_dir = run_dir.parent
    line = {
        "run": run_dir.name,
        "started_at": report["started_at"],
        "finished_at": report["finished_at"],
        "outcome": report["outcome"],
        "exit_code": report["exit_code"],
        "summary": report["summary"],
        "attention": [
            {"id": c["id"], "outcome": c["outcome"]}
            for c in report["checks"]
            if c["outcome"] in ("failed", "error", "warned")
        ],
    }
    with (profile_dir / "history.jsonl").open("a", encoding="utf-8") as history:
        history.write(json.dumps(line) + "\n")
    write_atomically(profile_dir / "index.html", render_index(profile_dir.name, read_history(profile_dir)))


def read_history(profile_dir: Path) -> list[dict[str, Any]]:
    path = profile_dir / "history.jsonl"
    if not path.exists():
        return []
    runs = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            runs.append(json.loads(raw))
        except json.JSONDecodeError:
            continue  # a line cut by a crash mid-write; the runs around it still count
    return runs


_STYLE = """body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
.passed{color:#176f2c}.failed{color:#b3261e;font-weight:bold}.error{color:#8a4b00;font-weight:bold}
.warned{color:#8a6d00}td{vertical-align:top}"""


def render_index(profile: str, runs: list[dict[str, Any]]) -> str:
    rows = []
    for run in reversed(runs):
        s = run.get("summary", {})
        counts = ", ".join(
            f"{s.get(k, 0)} {k}" for k in ("passed", "failed", "warned", "skipped", "waived", "errors")
        )
        name = html.escape(run["run"])
        outcome = html.escape(run["outcome"])
        attention = "<br>".join(
            f'<span class="{html.escape(c["outcome"])}">{html.escape(c["outcome"])}</span> '
            f"{html.escape(c['id'].split('::')[-1])}"
            # failures before warnings; runs recorded before this column have none
            for c in sorted(run.get("attention", []), key=lambda c: c["outcome"] == "warned")
        )
        rows.append(
            f'<tr><td><a href="{name}/report.html">{html.escape(run["started_at"])}</a></td>'
            f'<td class="{outcome}">{outcome}</td><td>{run["exit_code"]}</td><td>{html.escape(counts)}</td>'
            f"<td>{attention}</td>"
            f'<td><a href="{name}/report.json">json</a> <a href="{name}/junit.xml">junit</a></td></tr>'
        )
    title = f"deploycheck runs: {html.escape(profile)}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_STYLE}</style>"
        f"</head><body><h1>{title}</h1><p>{len(runs)} run(s), newest first.</p><table>"
        "<tr><th>started (UTC)</th><th>outcome</th><th>exit</th><th>checks</th><th>needs attention</th>"
        "<th>files</th></tr>" + "".join(rows) + "</table></body></html>\n"
    )
