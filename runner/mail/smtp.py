"""The mail relay as the application uses it: connect with the profile's security, refuse
unencrypted AUTH, log in; and the test email with a token a person can search for.

smtplib verifies nothing without a context and waits forever without a timeout: every
connection here gets a verifying context (system store or smtp.ca_file, host name checked)
and the profile's timeout.
"""

from __future__ import annotations

import json
import secrets
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from runner.atomic import open_appending
from runner.errors import MailRefused, TargetUnreachable, UsageError
from runner.profile.model import Smtp
from runner.trust import client_context

TOKEN_HEADER = "X-Deploycheck-Token"  # what the mailbox is searched for


@dataclass
class SmtpSession:
    banner: str = ""
    capabilities: dict[str, str] = field(default_factory=dict)
    auth_before_tls: bool = False
    tls_version: str = ""
    cipher: str = ""
    authenticated: bool = False
    login_refused: str = ""  # the server's reply when it refused the login
    unencrypted: str = ""  # why a session that should be encrypted is not (no STARTTLS offered)

    @property
    def refused(self) -> str:
        """Why nothing may be sent through this session, or empty when it may."""
        return self.unencrypted or self.login_refused

    def details(self) -> dict[str, object]:
        return {
            "banner": self.banner,
            "capabilities": sorted(self.capabilities),
            "tls": self.tls_version,
            "cipher": self.cipher,
            "authenticated": self.authenticated,
        }


@contextmanager
def connected(cfg: Smtp, timeout_s: float) -> Iterator[tuple[smtplib.SMTP, SmtpSession]]:
    """Connected, encrypted as configured and logged in (when a user is configured); said
    goodbye to (QUIT, or a close when the server is gone) however the block ends."""
    client, session = _session(cfg, timeout_s)
    if session.refused:
        raise MailRefused(session.refused)
    try:
        yield client, session
    finally:
        _close(client)


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _session(cfg: Smtp, timeout_s: float) -> tuple[smtplib.SMTP, SmtpSession]:
    """Like connected(), but a refused login or a missing STARTTLS is recorded in the session
    instead of raised (the client is then closed), so each check judges what it is about."""
    context = client_context(cfg.ca_file)
    session = SmtpSession()
    try:
        if cfg.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(timeout=timeout_s, context=context)
        else:
            client = smtplib.SMTP(timeout=timeout_s)
        # smtplib takes the TLS server name from _host, set only by its constructor, which
        # would connect before we could read the banner: the certificate must name cfg.host
        client._host = cfg.host
        code, banner = client.connect(cfg.host, cfg.port)
        session.banner = f"{code} {banner.decode(errors='replace')}"
        client.ehlo("deploycheck")
        if cfg.security == "starttls":
            session.auth_before_tls = client.has_extn("auth")
            if not client.has_extn("starttls"):
                client.close()
                session.unencrypted = f"{cfg.host}:{cfg.port} does not offer STARTTLS (security: starttls)"
                return client, session
            client.starttls(context=context)
            client.ehlo("deploycheck")
        session.capabilities = dict(client.esmtp_features)
        sock = client.sock
        if isinstance(sock, ssl.SSLSocket):
            session.tls_version = sock.version() or ""
            session.cipher = (sock.cipher() or ("",))[0]
        if cfg.user and cfg.security != "plain":
            password = cfg.password.get_secret_value() if cfg.password else ""
            try:
                client.login(cfg.user, password, initial_response_ok=False)
            except smtplib.SMTPAuthenticationError as exc:
                client.close()
                session.login_refused = (
                    f"login as {cfg.user!r} refused: {exc.smtp_code} {_text(exc.smtp_error)}"
                )
                return client, session
            session.authenticated = True
    except ssl.SSLCertVerificationError as exc:
        raise MailRefused(
            f"{cfg.host}:{cfg.port}: TLS certificate not accepted: {exc.verify_message}"
        ) from None
    except TimeoutError:
        raise TargetUnreachable(f"{cfg.host}:{cfg.port}: no SMTP answer within {timeout_s:g} s") from None
    except smtplib.SMTPServerDisconnected as exc:
        if "timed out" in str(exc):  # smtplib reports a read timeout as a disconnect
            raise TargetUnreachable(f"{cfg.host}:{cfg.port}: no SMTP answer within {timeout_s:g} s") from None
        raise TargetUnreachable(f"{cfg.host}:{cfg.port}: the server closed the connection ({exc})") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise TargetUnreachable(f"{cfg.host}:{cfg.port}: {exc}") from None
    return client, session


def probe(cfg: Smtp, timeout_s: float) -> SmtpSession:
    client, session = _session(cfg, timeout_s)
    if not session.refused:
        _close(client)
    return session


def build_test_message(cfg: Smtp, recipient: str, token: str) -> EmailMessage:
    sender = cfg.from_ or cfg.user
    if not sender:
        raise UsageError("smtp.from is required to send a test email")
    domain = sender.rpartition("@")[2] or "deploycheck.invalid"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"deploycheck test {token}"
    message["Message-ID"] = make_msgid(idstring=f"deploycheck-{token}", domain=domain)
    message[TOKEN_HEADER] = token
    message.set_content(f"A test message from deploycheck, token {token}. It can be deleted.\n")
    return message


def send_test(
    cfg: Smtp, timeout_s: float, recipient: str | None, log: Path | None
) -> tuple[str, SmtpSession]:
    """Send the test email; append the send to the delivery log (JSON lines); return its token."""
    recipient = recipient or cfg.test_recipient
    if not recipient:
        raise UsageError("no recipient: set smtp.test_recipient or pass --to ADDRESS")
    token = secrets.token_hex(8)
    message = build_test_message(cfg, recipient, token)
    with connected(cfg, timeout_s) as (client, session):
        try:
            refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
        except smtplib.SMTPResponseException as exc:
            raise MailRefused(
                f"{cfg.host}:{cfg.port} refused the test email: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
    if refused:
        raise MailRefused(
            f"{cfg.host}:{cfg.port} refused "
            + "; ".join(f"{to}: {code} {_text(text)}" for to, (code, text) in refused.items())
        )
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open_appending(log, "a", encoding="utf-8") as out:
            entry = {
                "sent_at": datetime.now(UTC).isoformat(),
                "token": token,
                "to": recipient,
                "message_id": message["Message-ID"],
                "server": f"{cfg.host}:{cfg.port}",
            }
            out.write(json.dumps(entry) + "\n")
    return token, session


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
