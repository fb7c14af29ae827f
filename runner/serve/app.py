"""The server behind `deploycheck serve`: the standard library's threading HTTP server, read-only.

Routes: `/` the dashboard; `/api/runs?limit=N&before=RUN`, `/api/runs/latest` (that run's
report.json), `/api/migrations` (as `status --json`, live and read-only), `/api/backups` (the
listing with freshness); `/metrics`; `/healthz`; and the archive's own pages and reports under
`/archive/`. Only files of archived runs are served, found by name, so no path leaves the
archive. With a token, every route but /healthz wants `Authorization: Bearer TOKEN`, compared
in constant time. Everything it writes out passes the profile's secret masking.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from runner.backups.listing import list_backups
from runner.backups.schedule import freshness
from runner.db import connect
from runner.errors import DeploycheckError
from runner.migrations.engine import Migrator
from runner.profile.model import Profile
from runner.redact import for_profile
from runner.report.archive import newest_runs, read_history
from runner.report.html import render
from runner.report.metrics import exposition

_ARCHIVED = {"report.html", "details.html", "report.json", "junit.xml"}
_RUN_NAME = re.compile(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ(?:-\d+)?")  # as archive.publish names them
_JSON = "application/json"


class Dashboard:
    """What the routes read: the profile, its archive folder, live status on demand."""

    def __init__(self, profile: Profile, reports: Path) -> None:
        self.profile = profile
        self.base = reports / profile.name
        self.redactor = for_profile(profile)

    # -- the archive ------------------------------------------------------------

    def latest(self) -> dict[str, Any] | None:
        _, runs = newest_runs(self.base, 1)
        return self.report(runs[-1]["run"]) if runs else None

    def report(self, run: str) -> dict[str, Any] | None:
        path = self.archived(run, "report.json")
        return self.redactor.mask_data(json.loads(path.read_text(encoding="utf-8"))) if path else None

    def archived(self, run: str, name: str) -> Path | None:
        """A file of an archived run: `run` must be a run folder's name (its UTC start time) and
        `name` one of the files a run holds, so no request can name a path of its own."""
        if name not in _ARCHIVED or not _RUN_NAME.fullmatch(run):
            return None
        path = self.base / run / name
        return path if path.is_file() else None

    def runs(self, limit: int, before: str | None) -> list[dict[str, Any]]:
        history = read_history(self.base)[::-1]
        if before:
            names = [run["run"] for run in history]
            history = history[names.index(before) + 1 :] if before in names else []
        return history[:limit]

    # -- live, read-only ---------------------------------------------------------

    def migrations(self) -> dict[str, Any]:
        migrator = Migrator(self.profile)
        timeout_s = self.profile.timeouts.default_s
        assert self.profile.database is not None
        with connect(self.profile.database, timeout_s, read_timeout_s=timeout_s, read_only=True) as conn:
            status = migrator.status(conn=conn)
        return {
            "profile": self.profile.name,
            "summary": status.counts(),
            "migrations": [r.to_dict() for r in status.rows],
        }

    def backups(self) -> dict[str, Any]:
        cfg = self.profile.backups
        assert cfg is not None
        listing = list_backups(cfg)
        now = datetime.now(UTC)
        databases = cfg.databases or ([self.profile.database.name] if self.profile.database else [])
        fresh = {db: freshness(listing, db, cfg, now).describe() for db in databases} if cfg.schedule else {}
        return {
            "directory": listing.directory,
            "files": [f.to_dict() for f in listing.files],
            "freshness": fresh,
        }

    def dashboard(self) -> str:
        latest = self.latest()
        _, recent = newest_runs(self.base, 30)
        panels = {}
        for name, reader, needed in (
            ("migrations", self.migrations, self.profile.migrations and self.profile.database),
            ("backups", self.backups, self.profile.backups),
        ):
            if needed:
                try:
                    panels[name] = self.redactor.mask_data(reader())
                except (DeploycheckError, OSError) as exc:
                    panels[name] = {"error": str(exc)}
        certificates = [
            (c["id"].split("[", 1)[-1].rstrip("]"), c["details"]["expires_at"])
            for c in (latest or {}).get("checks", [])
            if c["id"].split("::")[-1].startswith("test_certificates_are_valid_now[")
            and "expires_at" in c["details"]
        ]
        return render(
            "dashboard.html.j2",
            profile=self.profile,
            latest=latest,
            attention=[
                c for c in (latest or {}).get("checks", []) if c["outcome"] in ("failed", "error", "warned")
            ],
            recent=recent[::-1],
            panels=panels,
            certificates=certificates,
            mail=[c for c in (latest or {}).get("checks", []) if c["area"] in ("smtp", "mail_journeys")],
        )


def handler(dashboard: Dashboard, token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "deploycheck"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/healthz" and token is not None and not self._authorized():
                self._send(401, b"a bearer token is required\n", "text/plain", {"WWW-Authenticate": "Bearer"})
                return
            route = ROUTES.get(url.path)
            try:
                if route is not None:
                    status, body, kind = route(dashboard, parse_qs(url.query))
                else:
                    status, body, kind = _archive(dashboard, url.path)
            except (DeploycheckError, OSError) as exc:
                status, body, kind = 503, json.dumps({"error": str(exc)}).encode(), _JSON
            self._send(status, dashboard.redactor.mask_body(body, kind), kind)

        def _authorized(self) -> bool:
            given = self.headers.get("Authorization", "")
            return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

        def _send(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a dashboard polled every minute would fill the log."""

    return Handler


Response = tuple[int, bytes, str]


def _json(data: Any, status: int = 200) -> Response:
    return status, (json.dumps(data, indent=2, default=str) + "\n").encode(), _JSON


def _latest(dashboard: Dashboard, query: dict[str, list[str]]) -> Response:
    latest = dashboard.latest()
    return _json(latest) if latest else _json({"error": "no run archived yet"}, 404)


def _runs(dashboard: Dashboard, query: dict[str, list[str]]) -> Response:
    try:
        limit = max(1, min(1000, int(query.get("limit", ["30"])[0])))
    except ValueError:
        return _json({"error": "limit: a number of runs"}, 400)
    return _json({"runs": dashboard.runs(limit, query.get("before", [None])[0])})


def _metrics(dashboard: Dashboard, query: dict[str, list[str]]) -> Response:
    latest = dashboard.latest()
    body = exposition(latest) if latest else b""
    return 200, body, "text/plain; version=0.0.4; charset=utf-8"


ROUTES: dict[str, Callable[[Dashboard, dict[str, list[str]]], Response]] = {
    "/": lambda d, q: (200, d.dashboard().encode(), "text/html; charset=utf-8"),
    "/healthz": lambda d, q: (200, b"ok\n", "text/plain"),
    "/favicon.ico": lambda d, q: (204, b"", "image/x-icon"),  # browsers ask; nothing to show
    "/api/runs": _runs,
    "/api/runs/latest": _latest,
    "/api/migrations": lambda d, q: (
        _json(d.migrations()) if d.profile.migrations else _json({"error": "no migrations section"}, 404)
    ),
    "/api/backups": lambda d, q: (
        _json(d.backups()) if d.profile.backups else _json({"error": "no backups section"}, 404)
    ),
    "/metrics": _metrics,
}


def _archive(dashboard: Dashboard, path: str) -> Response:
    """/archive/index.html, /archive/pages/page-NNNNN.html and /archive/RUN/FILE only."""
    parts = path.split("/")
    if parts[:2] != ["", "archive"]:
        return 404, b"not found\n", "text/plain"
    rest = parts[2:]
    if rest == ["index.html"] or (len(rest) == 2 and rest[0] == "pages" and rest[1].startswith("page-")):
        target = dashboard.base.joinpath(*rest)
        if (
            target.resolve().parent in (dashboard.base.resolve(), (dashboard.base / "pages").resolve())
            and target.is_file()
        ):
            return 200, target.read_bytes(), "text/html; charset=utf-8"
    elif len(rest) == 2:
        found = dashboard.archived(rest[0], rest[1])
        if found is not None:
            kind = {"report.html": "text/html; charset=utf-8", "report.json": _JSON}.get(
                rest[1], "application/xml"
            )
            return 200, found.read_bytes(), kind
    return 404, b"not found\n", "text/plain"


def serve(dashboard: Dashboard, host: str, port: int, token: str | None) -> ThreadingHTTPServer:
    """A started server (on its own thread); `shutdown()` stops it."""
    server = ThreadingHTTPServer((host, port), handler(dashboard, token))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="deploycheck-serve", daemon=True).start()
    return server
