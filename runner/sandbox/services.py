"""The demo target's mail, DNS and TLS side: a mail relay (aiosmtpd: STARTTLS, then AUTH) that
signs with the domain's DKIM key and hands the mail to a receiving side that checks it and
delivers it into the demo mailbox, the demo domain's zone (dnslib: SPF, DKIM, DMARC, MX) and the
certificates of its HTTPS endpoint, relay and mailbox, issued by a throwaway CA (trustme). The
same zone server answers in the tests."""

from __future__ import annotations

import base64
import logging
import secrets
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dkim
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dnslib import MX, QTYPE, RCODE, RR, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from runner.mail.delivery import from_domain, txt_lookup
from runner.mail.records import resolver, spf_check
from runner.profile.model import Dns
from runner.sandbox.mailbox import Mailbox
from runner.sandbox.mariadb import free_port

DOMAIN = "catalogue-genetics.org"
SMTP_USER = f"app@{DOMAIN}"
OLD_SMTP_PASSWORD = "rotated-away-last-week"  # what a fault leaves in place of the relay's password
RELAY_IP = "127.0.0.1"


def _not_login_data(record: logging.LogRecord) -> bool:
    """aiosmtpd itself sets its deprecated Session.login_data on every login, and logs that it is
    deprecated: noise for whoever runs the demo, about code that is not theirs."""
    return "Session.login_data is deprecated" not in record.getMessage()


class ZoneResolver(BaseResolver):
    """Answers from a dict {(name, type): [values]}; names listed in `servfail` answer SERVFAIL."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[Any]] = {}
        self.servfail: set[str] = set()

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        if name in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        for value in self.records.get((name, qtype), []):
            if qtype == "TXT":
                data = value if isinstance(value, bytes) else value.encode()  # bytes: as they are
                rdata = TXT([data[i : i + 255] for i in range(0, len(data), 255)])
            elif qtype == "MX":
                rdata = MX(value[1], value[0])
            else:
                rdata = A(value)
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=60))
        if not reply.rr and not any(key[0] == name for key in self.records):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class ZoneServer:
    """A dnslib server on a loopback UDP port answering from a ZoneResolver, or from `resolver`
    (one that raises dnslib's DNSError sends no reply: a timeout)."""

    def __init__(self, resolver: BaseResolver | None = None) -> None:
        self.zone = ZoneResolver()
        self.port = free_port()
        quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")
        self._server = DNSServer(resolver or self.zone, port=self.port, address="127.0.0.1", logger=quiet)
        self._running = False

    def start(self) -> None:
        self._server.start_thread()
        self._running = True

    def stop(self) -> None:
        if self._running:  # shutdown() of a server that never served would wait forever
            self._server.stop()
            self._running = False
        self._server.server.server_close()


def dkim_key_pair(bits: int = 2048) -> tuple[bytes, str]:
    """An RSA signing key (PEM, as dkimpy takes it) and the TXT record that publishes it."""
    key = rsa.generate_private_key(65537, bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


class _Receiving:
    """The way from the demo relay to the recipient, as it is in production but in one place:
    the relay signs mail from the demo domain with its DKIM key; the receiving server checks
    SPF (pyspf, against the demo zone), the DKIM signature (dkimpy) and DMARC alignment,
    stamps its Authentication-Results and delivers into the demo mailbox."""

    def __init__(self, services: DemoServices) -> None:
        self.services = services

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mailbox = self.services.mailbox
        if mailbox is None:
            return "250 OK: accepted (no demo mailbox: delivered nowhere)"
        raw = envelope.content
        if _aligned(from_domain(raw)):
            headers = [b"from", b"to", b"subject", b"date", b"message-id"]
            raw = (
                dkim.sign(raw, b"mail", DOMAIN.encode(), self.services.dkim_key, include_headers=headers)
                + raw
            )
        stamp = self.services.authentication_results(
            raw, session.peer[0], envelope.mail_from, session.host_name
        )
        mailbox.deliver(f"Authentication-Results: {stamp}\r\n".encode() + raw)
        return "250 OK: delivered"


def _aligned(domain: str) -> bool:
    return domain == DOMAIN or domain.endswith("." + DOMAIN)


class DemoServices:
    """Relay, zone and certificates of the demo target; `fault` breaks one of them."""

    def __init__(self, root: Path, fault: str | None) -> None:
        self.root = root
        self.fault = fault
        self.ca = trustme.CA()
        self.relay_password = secrets.token_urlsafe(18)
        self.dns = ZoneServer()
        self.relay: Controller | None = None
        self.relay_port = free_port()
        self.dkim_key, self._dkim_record = dkim_key_pair()
        self.mailbox: Mailbox | None = None  # where the receiving side delivers

    def start(self) -> None:
        (self.root / "ca.pem").write_bytes(self.ca.cert_pem.bytes())
        # the application's copy of the relay password; the fault leaves it at an old value
        known = OLD_SMTP_PASSWORD if self.fault == "smtp-wrong-password" else self.relay_password
        (self.root / "secrets").mkdir(exist_ok=True)
        (self.root / "secrets" / "smtp_password").write_text(known + "\n")
        self.dns.zone.records = self._zone()
        self.dns.start()
        context = self.server_context(expires_in_days=365)
        self.relay = Controller(
            _Receiving(self),
            hostname="127.0.0.1",
            port=self.relay_port,
            tls_context=context,
            require_starttls=True,
            auth_require_tls=True,
            authenticator=self._authenticate,
        )
        logging.getLogger("mail.log").addFilter(_not_login_data)  # aiosmtpd's logger; added once
        self.relay.start()

    def server_context(self, expires_in_days: int) -> ssl.SSLContext:
        """A server context for 127.0.0.1 whose certificate the demo CA issued."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf = self.ca.issue_cert(
            "127.0.0.1", "localhost", not_after=datetime.now(UTC) + timedelta(days=expires_in_days)
        )
        leaf.configure_cert(context)
        return context

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            self.relay_password.encode(),
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    def _zone(self) -> dict[tuple[str, str], list[Any]]:
        relay = "192.0.2.10" if self.fault == "spf-missing-relay" else RELAY_IP
        return {
            (DOMAIN, "TXT"): [f"v=spf1 ip4:{relay} -all"],
            (DOMAIN, "MX"): [(10, f"mx.{DOMAIN}")],
            (f"mail._domainkey.{DOMAIN}", "TXT"): [self._dkim_record],
            (f"_dmarc.{DOMAIN}", "TXT"): [f"v=DMARC1; p=reject; rua=mailto:dmarc@{DOMAIN}"],
        }

    def authentication_results(self, raw: bytes, ip: str, mail_from: str, helo: str | None) -> str:
        """What the receiving server concludes about a message, as an Authentication-Results value."""
        zone = resolver(Dns(domain=DOMAIN, nameservers=["127.0.0.1"], port=self.dns.port), 3)
        spf, _ = spf_check(zone, ip, mail_from, helo or ip)
        signed = dkim.verify(raw, dnsfunc=txt_lookup(zone))
        sender = from_domain(raw)
        aligned = _aligned(sender) and (signed or (spf == "pass" and _aligned(mail_from.rpartition("@")[2])))
        return (
            f"mx.{DOMAIN}; spf={spf} smtp.mailfrom={mail_from}; "
            f"dkim={'pass' if signed else 'fail'} header.d={DOMAIN} header.s=mail; "
            f"dmarc={'pass' if aligned else 'fail'} header.from={sender}"
        )

    @property
    def environment(self) -> dict[str, str]:
        return {
            "DEPLOYCHECK_DEMO_SMTP_PORT": str(self.relay_port),
            "DEPLOYCHECK_DEMO_DNS_PORT": str(self.dns.port),
        }

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        self.dns.stop()
