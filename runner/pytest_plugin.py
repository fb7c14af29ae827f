"""pytest wiring of the verification suite: profile option, fixtures, severity, waivers,
secret masking and report.json. Active only when a profile is given (--deploy-profile or
$DEPLOYCHECK_PROFILE), so the project's own tests run without it.

Kept as a module of `runner` rather than in conftest.py so that `deploycheck verify`
can load it wherever the package is installed, and tests can drive it with pytester.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from runner import http_probe, mail_dns, smtp_probe, tls_probe
from runner.backup_verify import BackupCheck, check_in_source
from runner.backups import BackupListing, list_backups
from runner.db import connect
from runner.dbfacts import ServerFacts, read_facts
from runner.envcheck import read_environment
from runner.errors import DeploycheckError, TargetUnreachable
from runner.http_probe import HttpResult
from runner.migrate import Migrator
from runner.migration_files import MigrationSet
from runner.migration_status import MigrationStatus
from runner.probes import Probes
from runner.profile import HttpCheck, Profile
from runner.profile_loader import PROFILE_ENV, load_profile
from runner.redact import Redactor, for_profile
from runner.report import CheckResult, RunReport

SEVERITIES = ("blocker", "warning", "info")
STATE = pytest.StashKey["RunState"]()


@dataclass
class RunState:
    """Everything one verification run shares: profile, secrets, probes, results."""

    profile: Profile
    redactor: Redactor
    report: RunReport
    report_dir: Path | None
    probes: Probes = field(default_factory=Probes)
    results: dict[str, CheckResult] = field(default_factory=dict)
    log_filter: logging.Filter | None = None


# -- options and activation ---------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("deploycheck", "deploycheck verification")
    group.addoption("--deploy-profile", metavar="P", help=f"profile name or path (default ${PROFILE_ENV})")
    group.addoption("--deploy-strict", action="store_true", help="failed warnings fail the run too (exit 1)")
    group.addoption("--deploy-report-dir", metavar="DIR", help="write report.json into DIR")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "severity(level): blocker (default), warning or info")
    spec = config.getoption("--deploy-profile", None) or os.environ.get(PROFILE_ENV)
    if not spec:
        return
    try:
        profile = load_profile(spec)
    except DeploycheckError as exc:
        pytest.exit(f"deploycheck: {exc}", returncode=exc.exit_code)
    redactor = for_profile(profile)
    report_dir = config.getoption("--deploy-report-dir", None)
    state = RunState(
        profile=profile,
        redactor=redactor,
        report=RunReport(
            profile.name,
            profile.target,
            datetime.now(UTC),
            strict=bool(config.getoption("--deploy-strict", False)),
        ),
        report_dir=Path(report_dir) if report_dir else None,
    )
    config.stash[STATE] = state
    state.log_filter = redactor.logging_filter()
    logging.getLogger().addFilter(state.log_filter)
    config.pluginmanager.register(_ActiveRun(state), "deploycheck-run")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None and state.log_filter is not None:
        logging.getLogger().removeFilter(state.log_filter)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Checks without a profile would all skip and the run would look green: refuse instead."""
    if STATE in config.stash:
        return
    checks_dir = Path(__file__).resolve().parent.parent / "checks"
    if any(Path(str(item.path)).resolve().parent == checks_dir for item in items):
        pytest.exit(
            f"deploycheck: no profile given: pass --deploy-profile NAME or set {PROFILE_ENV}", returncode=2
        )


def _state(request: pytest.FixtureRequest) -> RunState:
    state = request.config.stash.get(STATE, None)
    if state is None:
        pytest.skip(f"no deploycheck profile: pass --deploy-profile NAME or set {PROFILE_ENV}")
    return state


# -- fixtures the checks use --------------------------------------------------


@pytest.fixture(scope="session")
def deploy(request: pytest.FixtureRequest) -> RunState:
    return _state(request)


@pytest.fixture(scope="session")
def profile(deploy: RunState) -> Profile:
    return deploy.profile


def section(profile: Profile, name: str) -> Any:
    """The profile section `name`, or skip: a missing section never makes a check pass."""
    value = getattr(profile, name)
    if value is None:
        pytest.skip(f"{name} not configured in profile {profile.name}")
    return value


@pytest.fixture(scope="session")
def db(deploy: RunState) -> Iterator[Any]:
    """A read-only session on the target database; checks never write."""
    section(deploy.profile, "database")
    conn = _probe_or_fail(deploy, "db-connection", lambda: _connect_read_only(deploy))
    yield conn
    conn.close()


def _probe_or_fail(
    deploy: RunState, key: Hashable, probe: Callable[[], Any], *, is_target: bool = True
) -> Any:
    """The probe's result; a deploycheck error fails the check with its message (masked).
    `is_target`: not reaching it means not reaching the target at all (exit 3)."""
    try:
        return deploy.probes.get(key, probe)
    except DeploycheckError as exc:
        error = exc
    name = "database" if key == "db-connection" else str(key)
    if is_target and isinstance(error, TargetUnreachable) and name not in deploy.report.unreachable:
        deploy.report.unreachable.append(name)
    pytest.fail(deploy.redactor.mask(str(error)), pytrace=False)


@pytest.fixture(scope="session")
def db_facts(deploy: RunState, db: Any) -> ServerFacts:
    assert deploy.profile.database is not None
    with db.cursor() as cur:
        return read_facts(cur, deploy.profile.database.name)


@pytest.fixture(scope="session")
def migration_status(deploy: RunState, db: Any) -> MigrationStatus:
    section(deploy.profile, "migrations")
    return _probe_or_fail(deploy, "migration-status", lambda: Migrator(deploy.profile).status(conn=db))


@pytest.fixture(scope="session")
def migration_set(deploy: RunState) -> MigrationSet:
    section(deploy.profile, "migrations")
    return Migrator(deploy.profile).files()


@pytest.fixture(scope="session")
def environment(deploy: RunState) -> dict[str, str]:
    """The target's environment (names and values); its secret values join the masked set."""
    section(deploy.profile, "env")
    return _probe_or_fail(deploy, "env", lambda: _read_env(deploy))


def _read_env(deploy: RunState) -> dict[str, str]:
    assert deploy.profile.env is not None
    env = read_environment(deploy.profile.env.source, deploy.profile.timeouts.default_s)
    deploy.redactor.add_environment(env)
    return env


@pytest.fixture()
def http_result(deploy: RunState, http_check: HttpCheck | None) -> HttpResult:
    if http_check is None:
        pytest.skip(f"http not configured in profile {deploy.profile.name}")
    return deploy.probes.get(("http", http_check.url), _http_probe(deploy, http_check))


@pytest.fixture(scope="session")
def smtp_session(deploy: RunState) -> smtp_probe.SmtpSession:
    """One SMTP session, reused by the SMTP checks; a refusal fails them with the server's words."""
    cfg = section(deploy.profile, "smtp")
    try:
        return _probe_or_fail(
            deploy, "smtp", lambda: smtp_probe.probe(cfg, deploy.profile.timeouts.default_s), is_target=False
        )
    except smtp_probe.SmtpRefused as exc:
        error = exc
    pytest.fail(deploy.redactor.mask(str(error)), pytrace=False)


@pytest.fixture(scope="session")
def dns_resolver(deploy: RunState) -> Any:
    return mail_dns.resolver(section(deploy.profile, "dns"), deploy.profile.timeouts.default_s)


@pytest.fixture(scope="session")
def relay_ips(deploy: RunState, dns_resolver: Any) -> list[str]:
    """dns.relay_ips, or the addresses of the SMTP host."""
    cfg = section(deploy.profile, "dns")
    if cfg.relay_ips:
        return list(cfg.relay_ips)
    if deploy.profile.smtp is None:
        pytest.skip(f"neither dns.relay_ips nor smtp configured in profile {deploy.profile.name}")
    return mail_dns.lookup(dns_resolver, deploy.profile.smtp.host, "A")


@pytest.fixture()
def tls_result(deploy: RunState, tls_endpoint: str | None) -> tls_probe.TlsResult:
    if tls_endpoint is None:
        pytest.skip(f"tls not configured in profile {deploy.profile.name}")
    return _probe_or_fail(deploy, ("tls", tls_endpoint), _tls_probe(deploy, tls_endpoint), is_target=False)


def _tls_probe(deploy: RunState, endpoint: str) -> Callable[[], tls_probe.TlsResult]:
    cfg = deploy.profile.tls
    assert cfg is not None
    return lambda: tls_probe.probe(
        tls_probe.parse_endpoint(endpoint), deploy.profile.timeouts.default_s, cfg.ca_file
    )


def _http_probe(deploy: RunState, check: HttpCheck) -> Callable[[], HttpResult]:
    ca = deploy.profile.tls.ca_file if deploy.profile.tls else None
    return lambda: http_probe.probe(check.url, deploy.profile.timeouts.default_s, ca)


def _connect_read_only(deploy: RunState) -> Any:
    cfg = deploy.profile.database
    assert cfg is not None
    return connect(
        cfg,
        deploy.profile.timeouts.default_s,
        read_timeout_s=deploy.profile.timeouts.default_s,
        read_only=True,
    )


@pytest.fixture()
def record_detail(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """Attach a fact to this check's entry in the report (`details` in report.json)."""

    def record(key: str, value: Any) -> None:
        request.node.user_properties.append((key, value))

    return record


@pytest.fixture(scope="session")
def backup_listing(deploy: RunState) -> BackupListing:
    cfg = section(deploy.profile, "backups")
    return _probe_or_fail(deploy, "backup-listing", lambda: list_backups(cfg))


@pytest.fixture(scope="session")
def newest_backups(deploy: RunState, backup_listing: BackupListing) -> dict[str, BackupCheck | None]:
    """Integrity and preview of each database's newest backup, verified concurrently."""
    cfg = deploy.profile.backups
    assert cfg is not None
    out = {}
    for database in backup_databases(deploy.profile):
        files = backup_listing.of(database)
        if files:
            deploy.probes.start(
                ("backup", files[-1].name),
                partial(check_in_source, backup_listing.source, files[-1].name, cfg.required_tables),
            )
    for database in backup_databases(deploy.profile):
        files = backup_listing.of(database)
        out[database] = deploy.probes.get(("backup", files[-1].name), lambda: None) if files else None
    return out


def backup_databases(profile: Profile) -> list[str]:
    if profile.backups is None:
        return []
    if profile.backups.databases:
        return profile.backups.databases
    return [profile.database.name] if profile.database else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per configured HTTP endpoint (its id is the URL without query or credentials)
    and per backed-up database."""
    state = metafunc.config.stash.get(STATE, None)
    if "backup_database" in metafunc.fixturenames:
        names = backup_databases(state.profile) if state else []
        metafunc.parametrize("backup_database", names or [None], ids=names or ["not-configured"])
    if "dkim_selector" in metafunc.fixturenames:
        selectors = (state.profile.dns.dkim_selectors if state and state.profile.dns else []) or [None]
        metafunc.parametrize("dkim_selector", selectors, ids=[s or "not-configured" for s in selectors])
    if "tls_endpoint" in metafunc.fixturenames:
        endpoints = (state.profile.tls.endpoints if state and state.profile.tls else []) or [None]
        metafunc.parametrize("tls_endpoint", endpoints, ids=[e or "not-configured" for e in endpoints])
    if "http_check" not in metafunc.fixturenames:
        return
    checks = (state.profile.http or []) if state else []
    if not checks:
        metafunc.parametrize("http_check", [None], ids=["not-configured"])
        return
    metafunc.parametrize("http_check", checks, ids=[c.name or _url_id(c.url) for c in checks])


def _url_id(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


# -- the run: severity, waivers, masking, results ----------------------------


def check_id(item: pytest.Item) -> str:
    """Stable across runs and machines: checks/<file>::<test name and parameters>."""
    return f"checks/{Path(str(item.path)).name}::{item.name}"


class _ActiveRun:
    def __init__(self, state: RunState) -> None:
        self.state = state

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Start every probe the selected checks will need, all at once."""
        needs = set().union(*(item.fixturenames for item in session.items)) if session.items else set()
        for item in session.items:
            check = getattr(item, "callspec", None) and item.callspec.params.get("http_check")
            if check is not None:
                self.state.probes.start(("http", check.url), _http_probe(self.state, check))
            endpoint = getattr(item, "callspec", None) and item.callspec.params.get("tls_endpoint")
            if endpoint:
                self.state.probes.start(("tls", endpoint), _tls_probe(self.state, endpoint))
        if "db" in needs and self.state.profile.database is not None:
            self.state.probes.start("db-connection", lambda: _connect_read_only(self.state))
        if "environment" in needs and self.state.profile.env is not None:
            self.state.probes.start("env", lambda: _read_env(self.state))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        message = self.state.redactor.mask(_message(report))
        self._mask(report)
        if report.when == "call" or report.outcome != "passed":
            self._record(item, report, message)

    def _mask(self, report: pytest.TestReport) -> None:
        mask = self.state.redactor.mask
        if report.longrepr is not None:
            report.longrepr = (
                mask(str(report.longrepr))
                if not isinstance(report.longrepr, tuple)
                else (report.longrepr[0], report.longrepr[1], mask(report.longrepr[2]))
            )
        report.sections = [(title, mask(text)) for title, text in report.sections]
        report.user_properties = [(k, _mask_value(v, mask)) for k, v in report.user_properties]

    def _record(self, item: pytest.Item, report: pytest.TestReport, message: str) -> None:
        cid = check_id(item)
        severity = self._severity(item, cid)
        if report.skipped:
            result = "skipped"
        elif report.when != "call" and report.failed:
            result = "error"
        elif report.failed:
            result, message = self._failed_outcome(cid, item, severity, message, report)
        else:
            result = "passed"
        previous = self.state.results.get(cid)
        if previous is not None and previous.outcome in ("failed", "error"):
            return  # a teardown after a failure does not overwrite it
        func = getattr(item, "function", None)
        doc = (getattr(func, "__doc__", None) or "").strip().splitlines()
        self.state.results[cid] = CheckResult(
            id=cid,
            area=Path(str(item.path)).stem.removeprefix("test_"),
            title=doc[0] if doc else item.name.replace("_", " "),
            severity=severity,
            outcome=result,
            duration_s=round(report.duration, 3),
            message=message,
            details={k: v for k, v in report.user_properties},
        )

    def _failed_outcome(
        self, cid: str, item: pytest.Item, severity: str, message: str, report: pytest.TestReport
    ) -> tuple[str, str]:
        waiver = self._waiver(cid, item)
        if waiver is not None:
            if waiver.until >= date.today():
                _as_expected(report, f"waived until {waiver.until}: {waiver.reason}")
                return "waived", f"{message}\nwaived until {waiver.until}: {waiver.reason}"
            message = f"{message}\nthe waiver for this check expired on {waiver.until} ({waiver.reason})"
            report.longrepr = f"{report.longrepr}\nthe waiver for this check expired on {waiver.until}"
            return "failed" if severity == "blocker" else "warned", message
        if severity != "blocker":
            if not self.state.report.strict:
                _as_expected(report, f"{severity}: {message.splitlines()[0] if message else ''}")
            return "warned", message
        return "failed", message

    def _severity(self, item: pytest.Item, cid: str) -> str:
        overrides = self.state.profile.checks.severity
        name = getattr(item, "originalname", item.name)
        for key in (cid, item.name, name):
            if key in overrides:
                return overrides[key]
        marker = item.get_closest_marker("severity")
        return marker.args[0] if marker else "blocker"

    def _waiver(self, cid: str, item: pytest.Item) -> Any:
        name = getattr(item, "originalname", item.name)
        for waiver in self.state.profile.checks.waivers:
            if waiver.id in (cid, item.name, name):
                return waiver
        return None

    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        kind = getattr(report, "deploycheck_outcome", None)
        if kind == "waived":
            return "waived", "w", "WAIVED"
        if kind == "warned":
            return "warned", "W", "WARNED"
        return None

    def pytest_keyboard_interrupt(self) -> None:
        self.state.report.interrupted = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        report = self.state.report
        report.finished_at = datetime.now(UTC)
        report.checks = list(self.state.results.values())
        if session.exitstatus == pytest.ExitCode.INTERRUPTED:
            report.interrupted = True
        if self.state.report_dir is not None:
            self.state.report_dir.mkdir(parents=True, exist_ok=True)
            report.write_json(self.state.report_dir / "report.json")
        _, exit_code = report.gate()
        session.exitstatus = exit_code

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"deploycheck: {self.state.profile.target} ({self.state.profile.name})"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        import html

        run = self.state.report
        run.checks = list(self.state.results.values())
        outcome, code = run.gate()
        counts = ", ".join(f"{n} {k}" for k, n in run.summary().items())
        took = (datetime.now(UTC) - run.started_at).total_seconds()
        failures = [c for c in run.checks if c.outcome in ("failed", "error", "warned")]
        items = "".join(
            f"<li><b>{html.escape(c.outcome)}</b> {html.escape(c.id)}: "
            f"{html.escape(c.message.splitlines()[0] if c.message else '')}</li>"
            for c in failures
        )
        prefix.extend(
            [
                f"<h2>Gate: {html.escape(outcome.upper())} (exit {code})</h2>",
                f"<p>Target <b>{html.escape(run.target)}</b>, profile {html.escape(run.profile)}; "
                f"{html.escape(counts)}; {took:.1f} s.</p>",
                f"<h3>Needs attention</h3><ul>{items}</ul>" if items else "<p>Nothing needs attention.</p>",
            ]
        )


def _as_expected(report: pytest.TestReport, reason: str) -> None:
    """Show a non-blocking failure as such: xfail-like for pytest, junit and pytest-html."""
    report.deploycheck_outcome = "waived" if reason.startswith("waived") else "warned"  # type: ignore[attr-defined]
    report.outcome = "skipped"
    report.wasxfail = reason  # type: ignore[attr-defined]


def _message(report: pytest.TestReport) -> str:
    """The human part of a failure: the assertion message, without pytest's traceback."""
    if report.passed:
        return ""
    if report.skipped and isinstance(report.longrepr, tuple):
        return report.longrepr[2].removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    text = text.removeprefix("AssertionError: ").removeprefix("Failed: ")
    return text.split("\nassert ")[0].strip()


def _mask_value(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _mask_value(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v, mask) for v in value]
    return value
