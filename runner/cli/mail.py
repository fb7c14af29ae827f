"""`deploycheck smtp test` (send a test email) and `deploycheck smtp preview` (print the mails, send nothing)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from runner.errors import UsageError
from runner.mail.delivery import confirm
from runner.mail.notify import decide, message
from runner.mail.smtp import build_test_message, send_test
from runner.profile.loader import load_profile
from runner.profile.model import Smtp


def cmd_smtp(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = load_profile(args.profile)
    if profile.smtp is None:
        raise UsageError(f"{profile.path}: smtp: section is required for `deploycheck smtp`")
    if args.action == "preview":
        return _preview(profile.smtp, profile.name, args.reports, out)
    cfg = profile.smtp
    log = args.log or args.reports / profile.name / "deliveries.jsonl"
    print(f"smtp test: sending a test email through {cfg.host}:{cfg.port}", file=err)
    token, session = send_test(cfg, profile.timeouts.default_s, args.to, log)
    print(
        f"sent; token {token} (search the recipient's mailbox for it); {session.tls_version or 'no TLS'}; "
        f"logged in {log}",
        file=out,
    )
    if cfg.imap is None or args.no_wait:
        return 0
    if args.to and args.to != cfg.test_recipient:
        print(f"not confirming delivery: smtp.imap reads the mailbox of {cfg.test_recipient}", file=err)
        return 0
    print(f"smtp test: waiting up to {cfg.imap.wait_s:g} s for it in {cfg.imap.user}'s mailbox", file=err)
    delivery = confirm(profile, token)
    problems = delivery.problems()
    for problem in problems:
        print(f"FAILED: {problem}", file=out)
    if not problems:
        print(delivery.summary(), file=out)
    return 1 if problems else 0


def _preview(cfg: Smtp, profile_name: str, reports: Path, out: TextIO) -> int:
    recipient = cfg.test_recipient or "ops@example.invalid"
    print("--- the test email (`deploycheck smtp test`) ---", file=out)
    print(build_test_message(cfg, recipient, "0123456789abcdef").as_string(), file=out)
    runs = sorted((reports / profile_name).glob("*/report.json"))
    print("--- the alert of the newest archived run (`deploycheck verify --notify`) ---", file=out)
    if not runs:
        print(f"(no archived report in {reports / profile_name}: run `deploycheck verify` first)", file=out)
        return 0
    report = json.loads(runs[-1].read_text(encoding="utf-8"))
    alert = decide(report, None, 24, datetime.now(UTC))  # as if nothing had been alerted before
    if alert is None:
        print(f"(none: no blocker failed in {runs[-1].parent.name})", file=out)
    else:
        print(message(cfg, alert, runs[-1].with_name("report.html")).as_string(), file=out)
    return 0
