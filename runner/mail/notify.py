"""Alerts (`deploycheck verify --notify`): a mail through the profile's relay, and optionally a
JSON POST to `notify.webhook_url` (Slack and Mattermost incoming webhooks take `{"text": ...}`),
when a blocker fails, and once when everything passes again.

What was last alerted is kept beside the archive (`alerts.json`), so an hourly cron does not
repeat the same failure every hour: the same failing checks are alerted again only after
`notify.repeat_hours`; a check that starts failing is alerted at once; a recovery once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx

from runner.atomic import write_atomically
from runner.errors import MailRefused, UsageError
from runner.mail.smtp import connected
from runner.profile.model import Profile, Smtp

STATE_FILE = "alerts.json"


@dataclass(frozen=True)
class Alert:
    """What to tell: the checks newly failing, still failing, and fixed since the last alert."""

    report: dict[str, Any]
    newly: list[dict[str, Any]] = field(default_factory=list)
    still: list[dict[str, Any]] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)

    @property
    def recovered(self) -> bool:
        return not self.newly and not self.still

    def subject(self) -> str:
        target = self.report["target"]
        if self.recovered:
            return f"deploycheck: {target} is back to passing"
        count = len(self.newly) + len(self.still)
        return f"deploycheck: {count} blocker(s) failing on {target}" + (
            f" ({len(self.newly)} new)" if self.newly and self.still else ""
        )

    def text(self, report_html: Path) -> str:
        report = self.report
        lines = [f"{report['target']} (profile {report['profile']}): {self.subject().split(': ', 1)[1]}.", ""]
        for title, checks in (("Newly failing", self.newly), ("Still failing", self.still)):
            if checks:
                lines.append(f"{title}:")
                for check in checks:
                    lines.append(f"- {check['id']} ({check['outcome']})")
                    lines += [f"    {line}" for line in check["message"].splitlines()]
                lines.append("")
        if self.fixed:
            lines += ["Fixed since the last alert:", *(f"- {cid}" for cid in self.fixed), ""]
        lines += [
            f"Run started {report['started_at']}; outcome {report['outcome']} (exit {report['exit_code']}).",
            f"Full report: {report_html}",
        ]
        return "\n".join(lines) + "\n"


def decide(
    report: dict[str, Any], state: dict[str, Any] | None, repeat_hours: float, now: datetime
) -> Alert | None:
    """The alert this run calls for, given what was last alerted (`state`), or None."""
    failing = {c["id"]: c for c in report["checks"] if c["outcome"] in ("failed", "error")}
    before = set(state["failing"]) if state else set()
    fixed = sorted(before - failing.keys())
    if not failing:
        return Alert(report, fixed=fixed) if before else None
    newly = [check for cid, check in failing.items() if cid not in before]
    still = [check for cid, check in failing.items() if cid in before]
    last = datetime.fromisoformat(state["sent_at"]) if state else None
    if newly or last is None or now - last >= timedelta(hours=repeat_hours):
        return Alert(report, newly, still, fixed)
    return None


def read_state(folder: Path) -> dict[str, Any] | None:
    path = folder / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_state(folder: Path, alert: Alert, now: datetime) -> None:
    failing = [c["id"] for c in [*alert.newly, *alert.still]]
    write_atomically(folder / STATE_FILE, json.dumps({"sent_at": now.isoformat(), "failing": failing}) + "\n")


def recipients(cfg: Smtp) -> list[str]:
    found = list(cfg.notify_to) or ([cfg.test_recipient] if cfg.test_recipient else [])
    if not found:
        raise UsageError("--notify needs smtp.notify_to (or smtp.test_recipient)")
    return found


def message(cfg: Smtp, alert: Alert, report_html: Path) -> EmailMessage:
    sender = cfg.from_ or cfg.user or "deploycheck@localhost"
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(recipients(cfg))
    mail["Subject"] = alert.subject()
    mail["Message-ID"] = make_msgid(idstring="deploycheck-notify", domain=sender.rpartition("@")[2] or None)
    mail.set_content(alert.text(report_html))
    return mail


def deliver(profile: Profile, alert: Alert, report_html: Path) -> list[str]:
    """Mail the alert (when the profile has smtp) and POST it to notify.webhook_url (when set);
    what was done, in words."""
    done = []
    timeout_s = profile.timeouts.default_s
    if profile.smtp is not None and (profile.smtp.notify_to or profile.smtp.test_recipient):
        mail = message(profile.smtp, alert, report_html)
        with connected(profile.smtp, timeout_s) as (client, _):
            client.send_message(mail)
        done.append(f"mailed {mail['To']}")
    webhook = profile.notify.webhook_url
    if webhook is not None:
        url = webhook.get_secret_value()
        payload = {"text": f"*{alert.subject()}*\n{alert.text(report_html)}"}
        try:
            response = httpx.post(url, json=payload, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise MailRefused(f"notify.webhook_url: the POST failed: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise MailRefused(f"notify.webhook_url answered {response.status_code}")
        done.append("posted to notify.webhook_url")
    if not done:
        raise UsageError(
            f"{profile.path}: --notify needs smtp.notify_to (or smtp.test_recipient) or notify.webhook_url"
        )
    return done


def now() -> datetime:
    return datetime.now(UTC)
