"""`deploycheck verify`: run the check suite against a profile and archive the reports."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

import pytest

from runner.archive import new_run_dir, record_run
from runner.errors import DeploycheckError, UsageError
from runner.notify import failure_message, send
from runner.profile import Profile
from runner.profile_loader import load_profile

CHECKS_DIR = Path(__file__).resolve().parent.parent / "checks"


def verify(
    profile_spec: str | None,
    *,
    strict: bool,
    reports_root: Path,
    pytest_args: list[str],
    out: TextIO,
    notify: bool = False,
) -> int:
    """Run the checks, write report.html/json and junit.xml into a new archive folder, return the exit code."""
    profile = load_profile(profile_spec)
    run_dir = new_run_dir(reports_root, profile.name)
    args = [
        str(CHECKS_DIR),
        "-c",
        os.devnull,  # the suite's own settings, not those of whatever project we run from
        "--rootdir",
        str(CHECKS_DIR.parent),
        "-p",
        "runner.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--deploy-profile",
        str(profile.path),
        "--deploy-report-dir",
        str(run_dir),
        f"--html={run_dir / 'report.html'}",
        "--self-contained-html",
        f"--junitxml={run_dir / 'junit.xml'}",
        "-o",
        "junit_suite_name=deploycheck",
        "-o",
        "junit_family=xunit2",
        "-rfEs",
        "--tb=short",
        *(["--deploy-strict"] if strict else []),
        *pytest_args,
    ]
    code = pytest.main(args)
    report_path = run_dir / "report.json"
    if not report_path.exists():
        print(
            f"deploycheck verify: the check run stopped before writing a report (pytest exit {code})",
            file=out,
        )
        return 2 if code in (pytest.ExitCode.USAGE_ERROR, 2) else 1
    report = json.loads(report_path.read_text(encoding="utf-8"))
    record_run(run_dir, report)
    s = report["summary"]
    print(
        f"\ndeploycheck verify: {report['outcome'].upper()} (exit {report['exit_code']}) - "
        f"{s['passed']} passed, {s['failed']} failed, {s['warned']} warned, {s['waived']} waived, "
        f"{s['skipped']} skipped, {s['errors']} errors\nreport: {run_dir / 'report.html'}",
        file=out,
    )
    if notify:
        _notify(profile, report, run_dir / "report.html", out)
    return int(report["exit_code"])


def _notify(profile: Profile, report: dict[str, Any], html: Path, out: TextIO) -> None:
    if profile.smtp is None:
        raise UsageError(f"{profile.path}: --notify needs an smtp section")
    message = failure_message(profile.smtp, report, html)
    if message is None:
        print("notify: every backup check held; no mail sent", file=out)
        return
    try:
        send(profile.smtp, profile.timeouts.default_s, message)
    except DeploycheckError as exc:
        raise DeploycheckError(
            f"the report is archived, but the failure notification was not sent: {exc}"
        ) from None
    print(f"notify: mailed {message['To']}: {message['Subject']}", file=out)
