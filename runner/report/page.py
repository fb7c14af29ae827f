"""report.html: the page a person opens first, months later. Rendered from report.json (and
the archive's recent history), self-contained: no script, no external file, prints as shown.

The verdict comes first, with why; then what needs attention, grouped by cause (checks that
failed with the same message, because the database refused the login say, appear once with
the list of checks it blocked); then every check by area; then the charts. pytest-html's
per-test page stays beside it as details.html.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runner.report.archive import ended_why
from runner.report.chart import days_chart, size_chart
from runner.report.html import render

AREAS = {
    "database": "Database",
    "migrations": "Migrations",
    "schema": "Schema drift",
    "backups": "Backups",
    "smtp": "Mail",
    "mail_journeys": "Mail journeys",
    "dns": "DNS",
    "tls": "TLS",
    "http": "HTTP",
    "env": "Environment",
    "containers": "Containers",
}


def verdict(report: dict[str, Any]) -> str:
    """`FAILED: 2 blockers (test_nothing_pending; test_backup_is_fresh[app])`, or why it ended."""
    why = ended_why(report)
    if why:
        return why
    blockers = [c["id"].split("::", 1)[1] for c in report["checks"] if c["outcome"] in ("failed", "error")]
    if blockers:
        return f"{len(blockers)} blocker(s): " + "; ".join(blockers)
    warned = sum(c["outcome"] == "warned" for c in report["checks"])
    return f"every blocker held ({warned} warning(s))" if warned else "every check held"


def causes(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Failures and errors, then warnings, each message once with the checks that share it."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for check in report["checks"]:
        if check["outcome"] in ("failed", "error", "warned"):
            grouped.setdefault((check["outcome"], check["message"]), []).append(check["id"])
    out = [{"outcome": kind, "message": message, "checks": ids} for (kind, message), ids in grouped.items()]
    return sorted(out, key=lambda c: c["outcome"] == "warned")


def render_report(report: dict[str, Any], recent: list[dict[str, Any]]) -> str:
    areas: dict[str, list[dict[str, Any]]] = {}
    for check in report["checks"]:
        areas.setdefault(check["area"], []).append(check)
    ordered = [
        (AREAS.get(a, a.title()), areas[a]) for a in [*AREAS, *sorted(set(areas) - set(AREAS))] if a in areas
    ]
    server = next(
        (c["details"].get("version") for c in report["checks"] if c["details"].get("version")), None
    )
    grouped = causes(report)
    return render(
        "report.html.j2",
        report=report,
        verdict=verdict(report),
        causes=grouped,
        shared={cause["message"] for cause in grouped if len(cause["checks"]) > 1},
        areas=ordered,
        server=server,
        charts=_charts(report),
        recent=recent[-30:],
        rendered=datetime.now(UTC),
    )


def _charts(report: dict[str, Any]) -> list[str]:
    charts = []
    finished = datetime.fromisoformat(report["finished_at"].replace("Z", "+00:00"))
    for check in report["checks"]:
        details = check["details"]
        if "sizes" in details:
            points = [(datetime.fromisoformat(t), size) for t, size in details["sizes"]]
            charts.append(
                size_chart(
                    f"backup sizes: {check['id'].split('[', 1)[-1].rstrip(']')}",
                    points,
                    details.get("threshold"),
                    now=finished,
                )
            )
    expiring = [
        (c["id"].split("[", 1)[-1].rstrip("]"), c["details"])
        for c in report["checks"]
        if "expires_at" in c["details"] and "fail_days" in c["details"]
    ]
    if expiring:
        rows = [
            (name, (datetime.fromisoformat(d["expires_at"]) - finished).total_seconds() / 86400)
            for name, d in expiring
        ]
        charts.append(days_chart(rows, expiring[0][1]["warn_days"], expiring[0][1]["fail_days"]))
    return [chart for chart in charts if chart]
