"""The mail deploycheck sends when backup checks fail (`deploycheck verify --notify`)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from runner.errors import UsageError
from runner.mail.smtp import connected
from runner.profile.model import Smtp


def recipients(cfg: Smtp) -> list[str]:
    found = list(cfg.notify_to) or ([cfg.test_recipient] if cfg.test_recipient else [])
    if not found:
        raise UsageError("--notify needs smtp.notify_to (or smtp.test_recipient)")
    return found


def failure_message(cfg: Smtp, report: dict[str, Any], report_html: Path) -> EmailMessage | None:
    """The summary of failed backup checks, or None when every backup check held."""
    failed = [c for c in report["checks"] if c["area"] == "backups" and c["outcome"] in ("failed", "error")]
    if not failed:
        return None
    sender = cfg.from_ or cfg.user or "deploycheck@localhost"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients(cfg))
    message["Subject"] = f"deploycheck: {len(failed)} backup check(s) failed on {report['target']}"
    message["Message-ID"] = make_msgid(
        idstring="deploycheck-notify", domain=sender.rpartition("@")[2] or None
    )
    lines = [f"Backups of {report['target']} (profile {report['profile']}) need attention.", ""]
    for check in failed:
        lines += [
            f"- {check['id']}: {check['outcome']}",
            *(f"    {m}" for m in check["message"].splitlines()),
            "",
        ]
    lines += [
        f"Run started {report['started_at']}; outcome {report['outcome']} (exit {report['exit_code']}).",
        f"Full report: {report_html}",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


def send(cfg: Smtp, timeout_s: float, message: EmailMessage) -> None:
    with connected(cfg, timeout_s) as (client, _):
        client.send_message(message)
