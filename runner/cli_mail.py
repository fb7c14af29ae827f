"""`deploycheck smtp test` (send a test email) and `deploycheck smtp preview` (print the mails, send nothing)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from runner.errors import DeploycheckError, UsageError
from runner.notify import failure_message
from runner.profile import Smtp
from runner.profile_loader import load_profile
from runner.smtp_probe import SmtpRefused, build_test_message, send_test


def cmd_smtp(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = load_profile(args.profile)
    if profile.smtp is None:
        raise UsageError(f"{profile.path}: smtp: section is required for `deploycheck smtp`")
    if args.action == "preview":
        return _preview(profile.smtp, profile.name, args.reports, out)
    print(f"smtp test: sending a test email through {profile.smtp.host}:{profile.smtp.port}", file=err)
    try:
        token, session = send_test(profile.smtp, profile.timeouts.default_s, args.to, args.log)
    except SmtpRefused as exc:
        raise DeploycheckError(str(exc)) from None
    print(
        f"sent; token {token} (search the recipient's mailbox for it); {session.tls_version or 'no TLS'}; "
        f"logged in {args.log}",
        file=out,
    )
    return 0


def _preview(cfg: Smtp, profile_name: str, reports: Path, out: TextIO) -> int:
    recipient = cfg.test_recipient or "ops@example.invalid"
    print("--- the test email (`deploycheck smtp test`) ---", file=out)
    print(build_test_message(cfg, recipient, "0123456789abcdef").as_string(), file=out)
    runs = sorted((reports / profile_name).glob("*/report.json"))
    print("--- the failure notification (`deploycheck verify --notify`) ---", file=out)
    if not runs:
        print(f"(no archived report in {reports / profile_name}: run `deploycheck verify` first)", file=out)
        return 0
    report = json.loads(runs[-1].read_text(encoding="utf-8"))
    message = failure_message(cfg, report, runs[-1].with_name("report.html"))
    if message is None:
        print(f"(none: every backup check held in {runs[-1].parent.name})", file=out)
    else:
        print(message.as_string(), file=out)
    return 0
