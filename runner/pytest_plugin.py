"""pytest wiring of the verification suite: profile option, fixtures, severity, waivers,
secret masking and report.json. Active only when a profile is given (--deploy-profile or
$DEPLOYCHECK_PROFILE), so the project's own tests run without it.

Kept as a module of `runner` rather than in conftest.py so that `deploycheck verify`
can load it wherever the package is installed, and tests can drive it with pytester.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from runner import PROFILE_ENV
from runner.errors import DeploycheckError
from runner.profile_loader import load_profile
from runner.redact import for_profile
from runner.report import CheckResult, RunReport
from runner.run_state import STATE, RunState

pytest_plugins = ["runner.check_fixtures"]


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


def check_id(item: pytest.Item) -> str:
    """Stable across runs and machines: checks/<file>::<test name and parameters>."""
    return f"checks/{Path(str(item.path)).name}::{item.name}"


class _ActiveRun:
    def __init__(self, state: RunState) -> None:
        self.state = state

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Start every probe the selected checks will need, all at once."""
        # imported here, after pytest registered the module (via pytest_plugins) for assertion rewriting
        from runner.check_fixtures import (
            connect_read_only,
            delivery_probe_for,
            http_probe_for,
            read_env,
            smtp_probe_for,
            tls_probe_for,
        )

        needs = set().union(*(item.fixturenames for item in session.items)) if session.items else set()
        for item in session.items:
            check = getattr(item, "callspec", None) and item.callspec.params.get("http_check")
            if check is not None:
                self.state.probes.start(("http", check.url), http_probe_for(self.state, check))
            endpoint = getattr(item, "callspec", None) and item.callspec.params.get("tls_endpoint")
            if endpoint:
                self.state.probes.start(("tls", endpoint), tls_probe_for(self.state, endpoint))
        if "db" in needs and self.state.profile.database is not None:
            self.state.probes.start("db-connection", lambda: connect_read_only(self.state))
        if "environment" in needs and self.state.profile.env is not None:
            self.state.probes.start("env", lambda: read_env(self.state))
        smtp = self.state.profile.smtp
        if "smtp_session" in needs and smtp is not None:
            self.state.probes.start("smtp", smtp_probe_for(self.state))
        if "delivery" in needs and smtp is not None and smtp.imap is not None:
            self.state.probes.start("delivery", delivery_probe_for(self.state))

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
        # the docstring's first paragraph: what the check requires, in words
        doc = (getattr(func, "__doc__", None) or "").strip().split("\n\n")[0]
        title = " ".join(doc.split()) or item.name.replace("_", " ")
        report.deploycheck_row = (result, severity, title)  # type: ignore[attr-defined]
        self.state.results[cid] = CheckResult(
            id=cid,
            area=Path(str(item.path)).stem.removeprefix("test_"),
            title=title,
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
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(1, "<th>Check</th>")

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        """deploycheck's own outcome (warned, waived: pytest-html can only say "XFailed"), the
        severity, and what the check requires, in words."""
        import html

        row = getattr(report, "deploycheck_row", None)
        text = f"<b>{row[0]}</b> ({row[1]}) {html.escape(row[2])}" if row else ""
        cells.insert(1, f'<td class="col-check">{text}</td>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        """A skipped check shows its reason, not pytest's (file, line, reason) tuple."""
        if report.skipped and isinstance(report.longrepr, tuple) and data:
            import html

            data[0] = html.escape(report.longrepr[2]) + "\n"

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
