"""Real servers for the mail tests: a dnslib server answering from a dict of zones (the demo's
zone server), dovecot (the demo's mailbox), and the handlers of the aiosmtpd relays the tests
start (`relay` in conftest): one that keeps what it gets, one that signs and delivers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dkim
from aiosmtpd.smtp import AuthResult, LoginPassword

from runner.sandbox.mailbox import Mailbox, dovecot_server
from runner.sandbox.services import ZoneResolver, ZoneServer

__all__ = ["Mailbox", "ZoneResolver", "dns_server", "dovecot_server"]

USER, PASSWORD = "mailer", "Smtp-Secret-Passw0rd"  # the relay's account


@contextlib.contextmanager
def dns_server() -> Iterator[tuple[ZoneResolver, int]]:
    server = ZoneServer()
    server.start()
    try:
        yield server.zone, server.port
    finally:
        server.stop()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


AUTH_ATTEMPTS: list[str] = []


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    AUTH_ATTEMPTS.append(mechanism)
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def start_without_probe(controller):
    """aiosmtpd's readiness probe speaks plain SMTP, which an implicit-TLS server does not answer."""
    original = controller.start

    def start() -> None:
        controller.ready_timeout = 5
        with contextlib.suppress(TimeoutError):
            original()

    return start


RECEIVER_SAYS_PASS = (
    "mx.mail.test; spf=pass smtp.mailfrom=noreply@mail.test; "
    "dkim=pass header.d=mail.test header.s=mail; dmarc=pass header.from=mail.test"
)


class Receiver(Inbox):
    """The way from the relay to the recipient: the relay signs with DKIM, the receiving server
    stamps its Authentication-Results, and its delivery agent puts the mail into dovecot.
    Each attribute breaks that way in one place."""

    def __init__(self, dovecot, keys) -> None:
        super().__init__()
        self.dovecot, self.keys = dovecot, keys
        self.sign_as: str | None = "mail.test"
        self.also_sign_as: list[str] = []  # more signatures, each by its own domain, added above it
        self.results: list[str] = [RECEIVER_SAYS_PASS]  # topmost first
        self.footer = b""  # added after signing, as a mailing list footer would
        self.drop = False

    async def handle_DATA(self, server, session, envelope) -> str:
        raw = envelope.content
        if self.sign_as:
            headers = [b"from", b"to", b"subject", b"message-id"]
            signed = b""
            for domain in [self.sign_as, *self.also_sign_as]:
                private, _ = self.keys[domain]
                signed = dkim.sign(raw, b"mail", domain.encode(), private, include_headers=headers) + signed
            raw = signed + raw
        raw += self.footer
        stamps = b"".join(f"Authentication-Results: {r}\r\n".encode() for r in self.results)
        if not self.drop:
            self.dovecot.deliver(stamps + raw)
        return "250 OK"
