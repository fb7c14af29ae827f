"""`deploycheck verify`: run the check suite against a profile and archive the reports.

The run writes into a hidden staging folder; only a run that produced its report.json is
published under its start time and added to the history. A run that selected no check, or
that pytest refused to start, leaves nothing in the archive.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import pytest

from runner import bundled
from runner.atomic import write_atomically
from runner.errors import DeploycheckError
from runner.mail import notify
from runner.profile.loader import load_profile
from runner.profile.model import Profile
from runner.report.archive import discard, ended_why, newest_runs, publish, staging_dir
from runner.report.metrics import write_textfile
from runner.report.page import causes, render_report


def checks_dir() -> Path:
    """The checks/ folder this installation runs."""
    return bundled("checks")


def run_checks(
    profile_spec: str | None,
    *,
    strict: bool,
    reports_root: Path,
    pytest_args: list[str],
    out: TextIO,
    notify: bool = False,
    quiet: bool = False,
    metrics: Path | None = None,
) -> int:
    """Run the checks, archive report.html (ours), details.html (pytest-html's), report.json and
    junit.xml as one new run, and return the exit code."""
    profile = load_profile(profile_spec)
    checks = checks_dir()
    staged = staging_dir(reports_root, profile.name)
    archived: dict[str, Any] | None = None  # the report of the run published
    code = 1  # until known: an error of deploycheck's own exits 1 with its traceback
    try:
        args = [
            str(checks),
            "-c",
            os.devnull,  # the suite's own settings, not those of whatever project we run from
            "--confcutdir",  # nor its conftest.py files: installed in an app's .venv, the app's own
            str(checks),  # test fixtures would run in the production gate
            # node ids relative to the checks, wherever they are installed: -k matches the
            # checks' names, never a folder on the way to them (venv, site-packages, checks)
            "--rootdir",
            str(checks),
            "-p",
            "runner.suite.plugin",
            *(arg for plugin in _GATE_PLUGINS for arg in ("-p", plugin)),
            "-p",
            "no:cacheprovider",
            "--deploy-profile",
            str(profile.path),
            "--deploy-report-dir",
            str(staged),
            f"--html={staged / 'details.html'}",  # pytest-html's page; report.html is ours
            "--self-contained-html",
            f"--junitxml={staged / 'junit.xml'}",
            "-o",
            "junit_suite_name=deploycheck",
            "-o",
            "junit_family=xunit2",
            *_terminal(pytest_args, quiet),
            *(["--deploy-strict"] if strict else []),
            *pytest_args,
        ]
        with _gate_environment(out):
            ended = pytest.main(args)
        report_path = staged / "report.json"
        if not report_path.exists():
            interrupted = ended == pytest.ExitCode.INTERRUPTED
            why = "it was interrupted before it judged anything" if interrupted else "nothing was judged"
            print(f"deploycheck verify: no run was archived: {why}", file=out)
            code = 130 if interrupted else 2
            return code
        report = json.loads(report_path.read_text(encoding="utf-8"))
        recent = newest_runs(staged.parent, 29)
        if recent.note():
            print(f"deploycheck verify: {recent.note()}", file=out)
        this = {"run": "", "started_at": report["started_at"], "outcome": report["outcome"]}
        write_atomically(staged / "report.html", render_report(report, [*recent.runs, this]))
        run_dir = publish(staged, report)
        archived = report
    except DeploycheckError as exc:
        code = exc.exit_code
        raise
    except KeyboardInterrupt:
        code = 130
        raise
    finally:
        discard(staged)  # gone already once published
        if metrics is not None:  # node_exporter's textfile collector reads *.prom
            write_textfile(metrics, [(profile.name, archived, code)])
    print(summary(report, quiet, evidence=_verbose(pytest_args)), file=out)
    print(f"report: {run_dir / 'report.html'} (beside it: report.json, junit.xml, details.html)", file=out)
    if notify:
        _notify(profile, report, run_dir / "report.html", out)
    # The report judges the run (an interrupted one is an error, exit 1 in it); the process
    # says it was interrupted, as every command does.
    return 130 if report.get("interrupted") else int(report["exit_code"])


# The plugins the gate runs with, and no others: pytest plugins installed beside deploycheck (an
# app's venv: rerunfailures, randomly, django, xdist, ...) would otherwise load into the gate and
# could change what it runs or how a failure counts.
_GATE_PLUGINS = (
    "pytest_metadata.plugin",
    "pytest_html.fixtures",
    "pytest_html.plugin",
)  # fixtures first: plugin imports it
_IGNORED_VARIABLES = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")


@contextmanager
def _gate_environment(out: TextIO) -> Iterator[None]:
    """pytest as the command line says, whatever the environment holds: PYTEST_ADDOPTS (a CI
    job's settings for its own tests, `--deselect`, `-p`) and PYTEST_PLUGINS would change the
    gate's selection or load code into it unseen; plugin autoloading is off (see _GATE_PLUGINS)."""
    saved = {name: os.environ.get(name) for name in (*_IGNORED_VARIABLES, "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    ignored = [name for name in _IGNORED_VARIABLES if os.environ.get(name)]
    if ignored:
        print(
            f"deploycheck verify: ignoring {' and '.join(ignored)} from the environment; give pytest "
            "options on the verify command line",
            file=out,
        )
    for name in _IGNORED_VARIABLES:
        os.environ.pop(name, None)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _terminal(pytest_args: list[str], quiet: bool) -> list[str]:
    """pytest's own output: its progress line only (the summary below names what broke, in
    words); its usual detail with -v; nothing with --quiet. Never its header: where pytest
    found the checks is no concern of the user's."""
    if quiet:
        return ["-p", "no:terminal"]
    if _verbose(pytest_args):
        return ["--no-header", "-rfEs", "--tb=short"]
    return ["--no-header", "-rN", "--tb=no", "-p", "no:warnings"]


def _verbose(pytest_args: list[str]) -> bool:
    return any(a in ("-v", "-vv", "--verbose") for a in pytest_args)


def summary(report: dict[str, Any], quiet: bool = False, evidence: bool = False) -> str:
    """Each cause of a failure, error or warning once, with its whole message and the checks it
    blocked (a refused login fails every database check: one cause); then the verdict, naming
    the blockers (or why the run ended in error). `evidence`: first what each passed check
    measured, where it says."""
    lines = []
    if evidence and not quiet:
        for check in (c for c in report["checks"] if c["outcome"] == "passed" and c["message"]):
            first, *rest = check["message"].splitlines()
            lines.append(f"{'passed':>7} {check['id']}: {first}")
            lines += [f"{'':>8}{line}" for line in rest]
    if not quiet:
        for cause in causes(report):
            ids = cause["checks"]
            first, *rest = (cause["message"] or "(no message)").splitlines()
            lines.append(
                f"{cause['outcome']:>7} {ids[0] if len(ids) == 1 else f'{len(ids)} checks'}: {first}"
            )
            lines += [f"{'':>8}{line}" for line in rest]
            if len(ids) > 1:
                lines.append(f"{'':>8}checks: {', '.join(i.removeprefix('checks/') for i in ids)}")
    s = report["summary"]
    counts = (
        f"{s['passed']} passed, {s['failed']} failed, {s['warned']} warned, {s['waived']} waived, "
        f"{s['skipped']} skipped, {s['errors']} errors"
    )
    lines.append(f"deploycheck verify: {verdict(report)} - {counts}")
    return ("\n" if not quiet else "") + "\n".join(lines)


def verdict(report: dict[str, Any]) -> str:
    """`FAILED (exit 1): blocked by test_x`: the outcome, the exit code and why, naming the blockers
    (or why the run ended in error)."""
    blockers = [c["id"].split("::", 1)[1] for c in report["checks"] if c["outcome"] in ("failed", "error")]
    why = ended_why(report) or (f"blocked by {', '.join(blockers)}" if blockers else "")
    return f"{report['outcome'].upper()} (exit {report['exit_code']})" + (f": {why}" if why else "")


def _notify(profile: Profile, report: dict[str, Any], html: Path, out: TextIO) -> None:
    """Alert on a failed blocker and once on recovery; what was alerted is kept beside the archive."""
    folder = html.parent.parent
    moment = notify.now()
    alert = notify.decide(report, notify.read_state(folder), profile.notify.repeat_hours, moment)
    if alert is None:
        print(
            "notify: nothing new to alert (the same failures were alerted less than "
            "notify.repeat_hours ago, or everything passes)",
            file=out,
        )
        return
    try:
        done = notify.deliver(profile, alert, html)
    except DeploycheckError as exc:
        raise DeploycheckError(f"the report is archived, but the alert was not sent: {exc}") from None
    notify.write_state(folder, alert, moment)
    print(f"notify: {alert.subject()}; {', '.join(done)}", file=out)
