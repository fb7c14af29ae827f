"""`deploycheck smtp test` (send a test email), `deploycheck smtp preview` (print the mails, send
nothing) and `deploycheck smtp journey NAME` (one of the application's own emails, end to end)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from runner.errors import UsageError
from runner.mail.delivery import confirm
from runner.mail.journey import run as run_journey
from runner.mail.notify import decide, message
from runner.mail.smtp import build_test_message, send_test
from runner.profile.loader import load_profile
from runner.profile.model import Profile, Smtp
from runner.redact import for_profile


def cmd_smtp(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = load_profile(args.profile)
    if args.name and args.action != "journey":
        raise UsageError(f"smtp {args.action} takes no NAME (only `smtp journey NAME` does)")
    if profile.smtp is None and args.action != "journey":
        raise UsageError(f"{profile.path}: smtp: section is required for `deploycheck smtp`")
    if args.action == "preview":
        return _preview(profile.smtp, profile.name, args.reports, out)
    if args.action == "journey":
        return _journey(profile, args.name, out, err)
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


def _journey(profile: Profile, name: str | None, out: TextIO, err: TextIO) -> int:
    journeys = {journey.name: journey for journey in profile.mail_journeys or []}
    if not journeys:
        raise UsageError(f"{profile.path}: no mail_journeys in the profile")
    if name not in journeys:
        said = f"no journey {name!r}" if name else "name a journey"
        raise UsageError(f"{said}: the profile has {', '.join(journeys)}")
    journey = journeys[name]
    mask = for_profile(profile).mask
    print(
        mask(
            f"smtp journey {name}: {journey.request.method} {journey.request.url}, then waiting up to "
            f"{journey.wait_s:g} s for the mail to {journey.expect.to}"
        ),
        file=err,
    )
    result = run_journey(profile, journey)
    problems = result.problems()
    for problem in problems:
        print(mask(f"FAILED: {problem}"), file=out)
    if not problems:
        print(mask(result.summary()), file=out)
    for link in result.links:
        print(mask(f"link {link.url}" + (f": {link.status}" if link.status else "")), file=out)
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
