"""pytest wiring of the verification suite: profile option, fixtures, severity, waivers,
secret masking and report.json. Active only when a profile is given (--deploy-profile or
$DEPLOYCHECK_PROFILE), so the project's own tests run without it.

Kept as a module of `runner` rather than in conftest.py so that `deploycheck verify`
can load it wherever the package is installed, and tests can drive it with pytester.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Hashable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from runner import PROFILE_ENV, bundled
from runner.errors import DeploycheckError
from runner.profile.loader import load_profile
from runner.redact import for_profile
from runner.report.archive import ended_why
from runner.report.html import render
from runner.report.model import CheckResult, RunReport
from runner.suite.policy import SEVERITIES, judge_failure, severity_of, waiver_for
from runner.suite.state import EVIDENCE, STATE, RunState

pytest_plugins = ["runner.suite.fixtures"]
LOG_WIDTH = 120  # columns of output that goes to a log, not a terminal


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
    checks_dir = bundled("checks").resolve()
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
        self.collected: list[str] = []
        self._fixture_probes: dict[str, set[Hashable]] = {}  # probes a shared fixture's setup asked for
        self._asked_before = 0  # len(probes.asked) when the current check began
        self._phases = 0.0  # the current check's setup and call time so far

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Start every probe the selected checks will need, all at once."""
        # imported here, after pytest registered the module (via pytest_plugins) for assertion rewriting
        from runner.suite.fixtures import FIXTURE_PROBES, PARAM_PROBES

        self.collected = [check_id(item) for item in session.items]
        pool = self.state.probes
        for item in session.items:
            params = item.callspec.params if hasattr(item, "callspec") else {}
            for name, probe_of in PARAM_PROBES.items():
                if params.get(name) is not None:
                    pool.start(*probe_of(self.state, params[name]))
        needs = set().union(*(item.fixturenames for item in session.items)) if session.items else set()
        for name, probe_of in FIXTURE_PROBES.items():
            probe = probe_of(self.state) if name in needs else None
            if probe is not None:
                pool.start(*probe)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Run from the checks folder (`deploycheck verify`), the progress lines and -v name the
        checks as the node ids do, not by the way there from the working folder; and output that is
        not a terminal (a CI log, a pipe) is not fitted to a guessed 80 columns."""
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and session.config.rootpath.resolve() == bundled("checks").resolve():
            reporter.startpath = session.config.rootpath
            session.config.cwd_relative_nodeid = str  # type: ignore[method-assign]  # -v: ids as they are
            if not reporter.isatty:  # a bool before pytest 8.4, a callable bool since
                session.config.get_terminal_writer().fullwidth = LOG_WIDTH

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._asked_before, self._phases = len(self.state.probes.asked), 0.0
        marker = item.get_closest_marker("severity")
        if marker is not None and (len(marker.args) != 1 or marker.args[0] not in SEVERITIES):
            # a misspelt level must not make the check's failures warnings: it errs, naming it
            pytest.fail(
                f"the check is marked severity{marker.args!r}: the check module must use one of "
                f"{', '.join(SEVERITIES)}",
                pytrace=False,
            )

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> Iterator[Any]:
        """A shared fixture probes once, for the first check that needs it: remember which probes,
        so every check that uses it counts their time."""
        before = len(self.state.probes.asked)
        try:
            return (yield)
        finally:
            if fixturedef.scope != "function":
                asked = self.state.probes.asked[before:]
                self._fixture_probes[fixturedef.argname] = {key for key, _ in asked}

    def _duration(self, item: pytest.Item) -> float:
        """The check's own time, without its waits for probes, plus the own time of every probe
        it used: what its verdict took, although the probes ran concurrently, ahead of it."""
        probes = self.state.probes
        asked = probes.asked[self._asked_before :]
        used = {key for key, _ in asked}.union(
            *(self._fixture_probes.get(name, set()) for name in getattr(item, "fixturenames", ()))
        )
        own = max(0.0, self._phases - sum(waited for _, waited in asked))
        return round(own + sum(probes.took.get(key, 0.0) for key in used), 3)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if report.when != "teardown":
            self._phases += report.duration
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
        report.user_properties = [(k, self.state.redactor.mask_data(v)) for k, v in report.user_properties]

    def _record(self, item: pytest.Item, report: pytest.TestReport, message: str) -> None:
        cid = check_id(item)
        names = (cid, item.name, getattr(item, "originalname", item.name))
        checks = self.state.profile.checks
        marker = item.get_closest_marker("severity")
        severity = severity_of(checks, names, marker.args[0] if marker and marker.args else None)
        if report.skipped:
            result = "skipped"
        elif report.when != "call" and report.failed:
            result = "error"
        elif report.failed:
            judged = judge_failure(severity, waiver_for(checks, names), message, date.today())
            result, message = judged.outcome, judged.message
            if judged.note and result != "waived":
                report.longrepr = f"{report.longrepr}\n{judged.note}"
            if result == "waived" or (result == "warned" and not self.state.report.strict):
                _as_expected(report, result, judged.note or f"{severity}: {message.splitlines()[0]}")
        else:
            result = "passed"
            message = self.state.redactor.mask(item.stash.get(EVIDENCE, ""))
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
            duration_s=self._duration(item),
            message=message,
            details={k: v for k, v in report.user_properties},
        )

    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        kind = getattr(report, "deploycheck_outcome", None)
        if kind == "waived":
            return "waived", "w", "WAIVED"
        if kind == "warned":
            return "warned", "W", "WARNED"
        return None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Iterator[None]:
        """pytest-html and junitxml name the files they wrote; in the report folder those are
        staged, renamed when the run is archived: whoever staged them names the final paths."""
        staged = self.state.report_dir
        if staged is None:
            return (yield)
        write_sep = terminalreporter.write_sep
        folder = Path(os.path.abspath(staged))
        hidden = (str(folder), folder.as_uri())

        def shown_sep(sep: str, title: str | None = None, **kw: Any) -> None:
            if not any(path in (title or "") for path in hidden):
                write_sep(sep, title, **kw)

        terminalreporter.write_sep = shown_sep
        try:
            return (yield)
        finally:
            terminalreporter.write_sep = write_sep

    def pytest_keyboard_interrupt(self) -> None:
        self.state.report.interrupted = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        report = self.state.report
        report.finished_at = datetime.now(UTC)
        report.checks = list(self.state.results.values())
        report.not_run = [cid for cid in self.collected if cid not in self.state.results]
        if session.exitstatus == pytest.ExitCode.INTERRUPTED:
            report.interrupted = True
        if not report.interrupted and all(check.outcome == "skipped" for check in report.checks):
            # a gate never passes on nothing: no report, exit 2 (a usage error: fix the selection
            # or the profile)
            why, reasons = _nothing_judged(session.config, report.checks)
            said = f"deploycheck: {why}: a run that checks nothing is not a pass{reasons}"
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(said, red=True)
            else:
                print(said, file=sys.stderr)
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        if self.state.report_dir is not None:
            self.state.report_dir.mkdir(parents=True, exist_ok=True)
            report.write_json(self.state.report_dir / "report.json", self.state.redactor.mask_data)
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
        run = self.state.report
        run.checks = list(self.state.results.values())
        outcome, code = run.gate()
        data = run.to_dict()
        prefix.append(
            render(
                "summary.html.j2",
                run=run,
                outcome=outcome,
                exit_code=code,
                reason=ended_why(data),
                counts=", ".join(f"{n} {k}" for k, n in run.summary().items()),
                took=(datetime.now(UTC) - run.started_at).total_seconds(),
                attention=[c for c in run.checks if c.outcome in ("failed", "error", "warned")],
            )
        )


def _as_expected(report: pytest.TestReport, outcome: str, reason: str) -> None:
    """Show a non-blocking failure as such: xfail-like for pytest, junit and pytest-html."""
    report.deploycheck_outcome = outcome  # type: ignore[attr-defined]
    report.outcome = "skipped"
    report.wasxfail = reason  # type: ignore[attr-defined]


def _nothing_judged(config: pytest.Config, skipped: list[CheckResult]) -> tuple[str, str]:
    """Why no check ran to a verdict (nothing selected, or every selected check skipped), and
    the skips' reasons, one per line."""
    if not skipped:
        return f"no check selected{_selection(config)}", ""
    reasons = "".join(f"\n  {reason}" for reason in dict.fromkeys(check.message for check in skipped))
    return f"no check ran to a verdict (all {len(skipped)} skipped)", reasons


def _selection(config: pytest.Config) -> str:
    """` by -k nomatch -m slow`: what narrowed the run, for the message that it ran nothing."""
    parts = [
        f"-k {config.option.keyword}" if config.option.keyword else "",
        f"-m {config.option.markexpr}" if config.option.markexpr else "",
    ]
    shown = " ".join(p for p in parts if p)
    return f" by {shown}" if shown else ""


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
