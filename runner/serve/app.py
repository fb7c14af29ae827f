"""The server behind `deploycheck serve`: the standard library's threading HTTP server, read-only.

A Site is the targets one server answers for. Each target's routes live under `/t/NAME/`:
`/t/NAME/` the dashboard; `api/runs?limit=N&before=RUN`, `api/runs/latest` (that run's
report.json), `api/migrations` (as `status --json`, live and read-only), `api/backups` (the
listing with freshness), and the archive's own pages and reports under `archive/`. Site-wide:
`/` (the overview of every target, or, when the site has one target, that target's dashboard,
whose routes then also answer at the root as they did before there were several), `/api/targets`,
`/metrics` (every target, labelled `profile`), `/healthz`. Only targets the site was built with
are answered, found by name, and only files of archived runs, found by name, so no path leaves
the archive. With a token, every route but /healthz wants `Authorization: Bearer TOKEN`,
compared in constant time. Everything it writes out passes the secret masking of every
target's profile.

Hostile clients are limited in runner.serve.limits (Host names, request deadline, bounded
workers). The live panels are read at most once per LIVE_TTL_S, by one thread at a time, so a
busy page cannot use more than one of the target's connections. A damaged archive (a cut
history line, a cut report.json, a missing run folder) is answered with a status and a message
naming what could not be read, and /metrics says `deploycheck_archive_readable 0` for it.
"""

from __future__ import annotations

import io
import json
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs

import pymysql
from pydantic import BaseModel, ValidationError

from runner.atomic import read_within
from runner.backups.listing import list_backups
from runner.backups.schedule import freshness
from runner.backups.source import open_source
from runner.db import connect
from runner.errors import DeploycheckError, TargetUnreachable
from runner.migrations.engine import Migrator
from runner.profile.model import Profile, Timeouts
from runner.redact import EXPOSITION, for_profile
from runner.report.archive import RUN_NAME, History, Stamp, newest_runs
from runner.report.html import render
from runner.report.metrics import archive_readable, exposition_of, measures, series, unix_time
from runner.serve.limits import (
    BoundedHTTPServer,
    DeadlineReader,
    HostAllowList,
    TooSlow,
    bearer_matches,
    unbracketed,
)

_ARCHIVED = {"report.html", "details.html", "report.json", "junit.xml"}
_JSON = "application/json"
_HTML = "text/html; charset=utf-8"
ATTENTION = ("failed", "error", "warned")  # the outcomes a dashboard lists under "Needs attention"
_KEPT_REPORTS = 64  # report.json files a target keeps parsed
LIVE_TTL_S = 5.0  # how long a live panel's answer is reused
T = TypeVar("T")


class _Check(BaseModel):
    id: str
    area: str
    outcome: str
    severity: str
    details: dict[str, Any] = {}


class _Readable(BaseModel):
    """What the routes read of a report.json; one without it is damaged."""

    profile: str
    started_at: Stamp
    finished_at: Stamp
    outcome: str
    exit_code: int
    checks: list[_Check]


def _readable(raw: bytes) -> dict[str, Any]:
    """A report.json's data, or ValueError saying briefly why it is damaged: a lone surrogate
    (a valid JSON escape no answer could encode) or a details value the metrics could not show
    would otherwise fail every scrape of /metrics and the overview, for every target."""
    try:
        data = json.loads(raw)
    except ValueError as exc:  # cut JSON, not UTF-8
        raise ValueError(str(exc).split(":")[0]) from None
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ValueError("a lone surrogate: not text") from None
    try:
        checks = _Readable.model_validate(data).checks
    except ValidationError:
        raise ValueError("not a report") from None
    for check in checks:
        measures(check.id, check.details)
    return data


def _stat(path: Path) -> tuple[int, int, int] | None:
    """What tells a file changed: a new file (inode), a longer one, a rewritten one."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


class ArchiveDamaged(DeploycheckError):
    """A file of the archive cannot be read: cut by a crash, or not what deploycheck wrote."""


class Live(Generic[T]):
    """A live panel: read at most once per `ttl_s` and by one thread at a time (others wait for
    that answer), its error kept as long as a value would be."""

    def __init__(self, read: Callable[[], T], ttl_s: float = LIVE_TTL_S) -> None:
        self._read, self._ttl_s = read, ttl_s
        self._lock = threading.Lock()
        self._at: float | None = None
        self._value: T | None = None
        self._error: str | None = None

    def get(self) -> T:
        with self._lock:
            if self._at is None or time.monotonic() - self._at >= self._ttl_s:
                try:
                    self._value, self._error = self._read(), None
                except (DeploycheckError, OSError) as exc:
                    self._value, self._error = None, str(exc)
                self._at = time.monotonic()
            if self._error is not None:
                raise DeploycheckError(self._error)
            return self._value  # type: ignore[return-value]


@dataclass(frozen=True)
class Latest:
    """The newest run that reads (its folder name and report) and why newer ones did not."""

    run: str | None = None
    report: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


class Dashboard:
    """What a target's routes read: its profile, its archive folder, live status on demand.
    `note` says why a target shows its archived runs only (no profile file to read live from)."""

    def __init__(self, profile: Profile, reports: Path, note: str = "") -> None:
        self.profile = profile
        self.base = reports / profile.name
        self.note = note
        self.redactor = for_profile(profile)  # a Site masks against every target's secrets
        self.overview: str | None = None  # the link back to the overview, when a Site has one
        self.live_migrations = Live(self._migrations)
        self.live_backups = Live(self._backups)
        self._history: tuple[tuple[int, int, int] | None, History] | None = None
        self._reports: dict[str, tuple[tuple[int, int, int] | None, dict[str, Any] | str]] = {}
        self._series: tuple[dict[str, Any], tuple[str, ...]] | None = None

    # -- the archive ------------------------------------------------------------

    def latest(self, history: History | None = None) -> Latest:
        """The newest run whose report reads; a cut last history line, a missing run folder or a
        cut report.json is named in `problems`, and an older run that reads is given instead."""
        history = history or self.recent()
        problems = []
        if history.unreadable and history.unreadable[-1] == history.total:
            problems.append(
                f"{self.base / 'history.jsonl'}: its last line (line {history.total}) cannot be read"
            )
        for run in reversed(history.runs):
            try:
                report = self.report(run["run"])
            except ArchiveDamaged as exc:
                problems.append(str(exc))
                continue
            if report is not None:
                return Latest(run["run"], report, problems)
            problems.append(f"{self.base / run['run']}: the run's folder or its report.json is missing")
        return Latest(problems=problems)

    def recent(self) -> History:
        """The newest 30 lines of history.jsonl, read again only when the file changed."""
        key = _stat(self.base / "history.jsonl")
        cached = self._history
        if cached is None or key is None or cached[0] != key:
            cached = self._history = (key, newest_runs(self.base, 30))
        return cached[1]

    def report(self, run: str) -> dict[str, Any] | None:
        """A run's report.json (None when there is none); ArchiveDamaged when it does not read.
        Kept, masked, while the file stays as it was: a scrape of 20 targets reads none again."""
        path = self.base / run / "report.json"
        key = _stat(path)
        cached = self._reports.get(run)
        if cached is None or cached[0] != key:
            raw = self.archived(run, "report.json")
            if raw is None:
                return None
            try:
                cached = (key, self.redactor.mask_data(_readable(raw)))
            except ValueError as exc:
                cached = (key, f"{path}: cannot be read ({exc}); the run's other files stay")
            self._reports[run] = cached
            while len(self._reports) > _KEPT_REPORTS:
                self._reports.pop(next(iter(self._reports)))
        if isinstance(cached[1], str):
            raise ArchiveDamaged(cached[1])
        return cached[1]

    def archived(self, run: str, name: str) -> bytes | None:
        """A file of an archived run: `run` must be a run folder's name (its UTC start time) and
        `name` one of the files a run holds, so no request can name a path of its own; read
        without following a link (a run folder or file linked elsewhere is not served)."""
        if name not in _ARCHIVED or not RUN_NAME.fullmatch(run):
            return None
        return read_within(self.base, run, name)

    def runs(self, limit: int, before: str | None) -> tuple[list[dict[str, Any]], History]:
        history = newest_runs(self.base)
        runs = history.runs[::-1]
        if before:
            names = [run["run"] for run in runs]
            runs = runs[names.index(before) + 1 :] if before in names else []
        return runs[:limit], history

    def summary(self, now: datetime) -> dict[str, Any]:
        """The target's row of the overview and of /api/targets: its newest readable run's
        verdict and age, what needs attention in it, and what could not be read."""
        found = self.latest()
        report = found.report or {}
        finished = report.get("finished_at")
        return {
            "name": self.profile.name,
            "target": report.get("target", self.profile.target),
            "dashboard": f"/t/{self.profile.name}/",
            "run": found.run,
            "outcome": report.get("outcome"),
            "exit_code": report.get("exit_code"),
            "finished_at": finished,
            "age_s": round(now.timestamp() - unix_time(finished)) if finished else None,
            "attention": [
                {key: check[key] for key in ("id", "area", "severity", "outcome")}
                for check in report.get("checks", [])
                if check["outcome"] in ATTENTION
            ],
            "problems": found.problems,
            "live": not self.note,
            "note": self.note,
        }

    def series(self, latest: Latest) -> tuple[str, ...]:
        """The newest readable run's metrics (runner.report.metrics.series), labelled with the
        target's name whatever its report.json says, kept while that run's report is unchanged."""
        assert latest.report is not None
        cached = self._series
        if cached is None or cached[0] is not latest.report:
            cached = self._series = (latest.report, series({**latest.report, "profile": self.profile.name}))
        return cached[1]

    # -- live, read-only ---------------------------------------------------------

    def migrations(self) -> dict[str, Any]:
        return self.live_migrations.get()

    def backups(self) -> dict[str, Any]:
        return self.live_backups.get()

    def _migrations(self) -> dict[str, Any]:
        migrator = Migrator(self.profile)
        timeout_s = self.profile.timeouts.default_s
        assert self.profile.database is not None
        try:
            with connect(self.profile.database, timeout_s, read_timeout_s=timeout_s, read_only=True) as conn:
                status = migrator.status(conn=conn)
        except pymysql.MySQLError as exc:  # connected, then the server failed or went quiet
            raise TargetUnreachable(f"reading the migrations' ledger failed: {exc.args[-1]}") from None
        return {
            "profile": self.profile.name,
            "summary": status.counts(),
            "migrations": [r.to_dict() for r in status.rows],
        }

    def _backups(self) -> dict[str, Any]:
        cfg = self.profile.backups
        assert cfg is not None
        listing = list_backups(cfg, open_source(cfg, self.profile.timeouts.default_s))
        now = datetime.now(UTC)
        databases = cfg.databases or ([self.profile.database.name] if self.profile.database else [])
        fresh = {db: freshness(listing, db, cfg, now).describe() for db in databases} if cfg.schedule else {}
        return {
            "directory": listing.directory,
            "files": [f.to_dict() for f in listing.files],
            "freshness": fresh,
        }

    def dashboard(self) -> str:
        history = self.recent()
        found = self.latest(history)
        latest, recent = found.report, history.runs
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
            attention=[c for c in (latest or {}).get("checks", []) if c["outcome"] in ATTENTION],
            note=self.note,
            overview=self.overview,
            run=found.run,
            problems=[*found.problems, *([history.note()] if history.note() else [])],
            recent=recent[::-1],
            panels=panels,
            certificates=certificates,
            mail=[c for c in (latest or {}).get("checks", []) if c["area"] in ("smtp", "mail_journeys")],
        )


class Site:
    """The targets one server answers for, by profile name. With one target, its dashboard is
    the home page and its routes answer at the root too; with several, the home page is the
    overview. Every answer is masked against the secrets of every target's profile."""

    def __init__(self, dashboards: list[Dashboard]) -> None:
        self.targets = {d.profile.name: d for d in sorted(dashboards, key=lambda d: d.profile.name)}
        self.home = dashboards[0] if len(dashboards) == 1 else None
        self.redactor = for_profile(*(d.profile for d in dashboards))
        for dashboard in dashboards:
            dashboard.redactor = self.redactor
            dashboard.overview = None if self.home else "../../"
        configured = [d.profile for d in dashboards if not d.note] or [d.profile for d in dashboards]
        self.deadline_s = min((p.timeouts.default_s for p in configured), default=Timeouts().default_s)
        self.allowed_hosts = sorted({name for p in configured for name in p.serve.allowed_hosts})

    def summaries(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        return [dashboard.summary(now) for dashboard in self.targets.values()]

    def answer(self, path: str, query: dict[str, list[str]]) -> Response:
        """The route `path` names: site-wide, a target's under /t/NAME/, or the home target's."""
        site_route = SITE_ROUTES.get(path)
        if site_route is not None and not (path == "/" and self.home is not None):
            return site_route(self, query)
        if path.startswith("/t/"):
            name, _, rest = path[3:].partition("/")
            dashboard = self.targets.get(name)
            if dashboard is None:
                return 404, b"no such target: /api/targets lists them\n", "text/plain"
            return _target(dashboard, "/" + rest, query)
        if self.home is not None:
            return _target(self.home, path, query)
        return (
            404,
            b"not found: every target's routes are under /t/NAME/ (/api/targets lists them)\n",
            "text/plain",
        )


def handler(site: Site, token: str | None, hosts: HostAllowList) -> type[BaseHTTPRequestHandler]:
    deadline_s = site.deadline_s

    class Handler(BaseHTTPRequestHandler):
        server_version = "deploycheck"
        timeout = deadline_s  # also bounds how long writing an answer may take
        requestline, request_version = "", "HTTP/1.0"  # what a 408 goes by before a request line

        def setup(self) -> None:
            super().setup()
            self.rfile.close()  # read through one deadline for the whole request instead
            self.rfile = io.BufferedReader(DeadlineReader(self.connection, deadline_s))

        def handle(self) -> None:
            try:
                super().handle()
            except TooSlow as exc:
                self._send(408, f"{exc}\n".encode(), "text/plain")

        def do_GET(self) -> None:
            named = self.headers.get_all("Host") or []
            if len(named) != 1 or not hosts.allows(named[0]):
                self._send(
                    421,
                    b"this server does not answer for that Host: name it in serve.allowed_hosts\n",
                    "text/plain",
                )
                return
            if not self.path.startswith("/"):  # absolute-form is for proxies; this is none
                self._send(400, b"a request target starts with /\n", "text/plain")
                return
            path, _, query = self.path.partition("?")
            if path != "/healthz" and token is not None and not self._authorized():
                self._send(401, b"a bearer token is required\n", "text/plain", {"WWW-Authenticate": "Bearer"})
                return
            if path.startswith("/t/") and path[3:] in site.targets:  # the dashboard's links are relative
                self._send(308, b"", "text/plain", {"Location": f"{path[3:]}/"})
                return
            try:
                status, body, kind = site.answer(path, parse_qs(query))
            except (DeploycheckError, OSError) as exc:
                status, body, kind = 503, json.dumps({"error": str(exc)}).encode(), _JSON
            except Exception:  # a defect: answered, and its traceback goes to the server's log
                self.log_error("%s", traceback.format_exc())
                status, body, kind = 500, b'{"error": "internal error: see the server\'s log"}\n', _JSON
            self._send(status, site.redactor.mask_body(body, kind), kind)

        def _authorized(self) -> bool:
            return token is not None and bearer_matches(self.headers.get("Authorization", ""), token)

        def _send(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
            self.connection.settimeout(deadline_s)  # the reader left only what remained of its deadline
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
    if latest.problems:
        return _json({"error": "; ".join(latest.problems), "last_readable_run": latest.run}, 503)
    return _json(latest.report) if latest.report else _json({"error": "no run archived yet"}, 404)


def _runs(dashboard: Dashboard, query: dict[str, list[str]]) -> Response:
    try:
        limit = max(1, min(1000, int(query.get("limit", ["30"])[0])))
    except ValueError:
        return _json({"error": "limit: a number of runs (1 to 1000)"}, 400)
    runs, history = dashboard.runs(limit, query.get("before", [None])[0])
    return _json({"runs": runs, "unreadable_lines": history.unreadable, "note": history.note()})


def _metrics(site: Site, query: dict[str, list[str]]) -> Response:
    """Every target's newest readable run, and whether its newest run read: a damaged archive
    shows as `deploycheck_archive_readable 0`, not as an answer without it an alert cannot see.
    A target's series are labelled with its name, whatever its report.json says."""
    found = {name: dashboard.latest() for name, dashboard in site.targets.items()}
    body = exposition_of(
        [site.targets[name].series(latest) for name, latest in found.items() if latest.report]
    )
    body += archive_readable({name: not latest.problems for name, latest in found.items()})
    return 200, body, f"{EXPOSITION}; charset=utf-8"


def _overview(site: Site, query: dict[str, list[str]]) -> Response:
    return 200, render("overview.html.j2", targets=site.summaries()).encode(), _HTML


SITE_ROUTES: dict[str, Callable[[Site, dict[str, list[str]]], Response]] = {
    "/": _overview,
    "/api/targets": lambda s, q: _json(s.summaries()),
    "/metrics": _metrics,
    "/healthz": lambda s, q: (200, b"ok\n", "text/plain"),
    "/favicon.ico": lambda s, q: (204, b"", "image/x-icon"),  # browsers ask; nothing to show
}

ROUTES: dict[str, Callable[[Dashboard, dict[str, list[str]]], Response]] = {
    "/": lambda d, q: (200, d.dashboard().encode(), _HTML),
    "/api/runs": _runs,
    "/api/runs/latest": _latest,
    "/api/migrations": lambda d, q: (
        _json(d.migrations()) if d.profile.migrations else _json({"error": _missing(d, "migrations")}, 404)
    ),
    "/api/backups": lambda d, q: (
        _json(d.backups()) if d.profile.backups else _json({"error": _missing(d, "backups")}, 404)
    ),
}


def _missing(dashboard: Dashboard, section: str) -> str:
    return dashboard.note or f"no {section} section"


def _target(dashboard: Dashboard, path: str, query: dict[str, list[str]]) -> Response:
    route = ROUTES.get(path)
    return route(dashboard, query) if route is not None else _archive(dashboard, path)


def _archive(dashboard: Dashboard, path: str) -> Response:
    """/archive/index.html, /archive/pages/page-NNNNN.html and /archive/RUN/FILE only."""
    parts = path.split("/")
    if parts[:2] != ["", "archive"]:
        return 404, b"not found\n", "text/plain"
    rest = parts[2:]
    if rest == ["index.html"] or (len(rest) == 2 and rest[0] == "pages" and rest[1].startswith("page-")):
        page = read_within(dashboard.base, *rest)
        if page is not None:
            return 200, page, _HTML
    elif len(rest) == 2:
        found = dashboard.archived(rest[0], rest[1])
        if found is not None:
            kind = {"report.json": _JSON, "junit.xml": "application/xml"}.get(rest[1], _HTML)
            return 200, found, kind
    return 404, b"not found\n", "text/plain"


def serve(site: Site | Dashboard, host: str, port: int, token: str | None) -> BoundedHTTPServer:
    """A started server (on its own thread); `shutdown()` stops it. Requests must arrive whole
    within the shortest timeouts.default_s of the targets' profiles and name an allowed Host."""
    site = site if isinstance(site, Site) else Site([site])
    host = unbracketed(host)
    server = BoundedHTTPServer((host, port), BaseHTTPRequestHandler)  # bound first: its address names it
    hosts = HostAllowList(str(server.server_address[0]), host, site.allowed_hosts)
    server.RequestHandlerClass = handler(site, token, hosts)
    threading.Thread(target=server.serve_forever, name="deploycheck-serve", daemon=True).start()
    return server
