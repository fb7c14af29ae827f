"""Did the test email arrive, and does the receiving side trust it? (The mailbox session, the
polling and the judgement here serve the mail journeys too.)

The receiving server's Authentication-Results say what it concluded about SPF, DKIM and
DMARC. The DKIM signature is then verified again here with dkimpy, so a receiver that
stamps "pass" carelessly cannot hide a broken signature. The test message is deleted once
it has been read, so the mailbox does not fill up with them.
"""

from __future__ import annotations

import contextlib
import functools
import imaplib
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.utils import parseaddr
from typing import TypeVar

import authres
import dkim
import dkim.util
import dns.resolver
from publicsuffixlist import PublicSuffixList

from runner.errors import DnsProblem, MailRefused, TargetUnreachable
from runner.mail.records import lookup, resolver
from runner.mail.smtp import TOKEN_HEADER
from runner.profile.model import Imap, Profile
from runner.trust import client_context

REQUIRED = ("spf", "dkim", "dmarc")
T = TypeVar("T")
_POLL_DELAYS_S = (0.5, 1, 2, 4, 8)  # then every 10 s: quick for a fast relay, gentle for a slow one


@dataclass(frozen=True)
class DkimSignature:
    domain: str
    selector: str
    problem: str  # empty when the signature verified and d= is aligned with From


@dataclass
class Delivery:
    """A message (the test email, or a journey's mail) as the recipient's mailbox received it."""

    token: str
    mailbox: str
    waited_s: float
    deleted: bool
    what: str = "the test email"  # how messages name it: the test email, or a journey's mail
    from_domain: str = ""
    authserv_id: str = ""
    results: dict[str, str] = field(default_factory=dict)
    results_problem: str = ""  # why no usable Authentication-Results were found
    signatures: list[DkimSignature] = field(default_factory=list)

    def authentication_problem(self) -> str | None:
        if self.results_problem:
            return self.results_problem
        bad = [f"{m}={self.results.get(m, 'none')}" for m in REQUIRED if self.results.get(m) != "pass"]
        if not bad:
            return None
        return f"the receiving server {self.authserv_id} reports {', '.join(bad)} for {self.what}"

    def dkim_problem(self) -> str | None:
        if not self.signatures:
            return f"{self.what} arrived without a DKIM-Signature: the relay does not sign for this sender"
        if any(not s.problem for s in self.signatures):
            return None
        return "; ".join(f"DKIM d={s.domain} s={s.selector}: {s.problem}" for s in self.signatures)

    def problems(self) -> list[str]:
        return [p for p in (self.authentication_problem(), self.dkim_problem()) if p]

    def summary(self) -> str:
        verified = [f"d={s.domain} s={s.selector}" for s in self.signatures if not s.problem]
        results = ", ".join(f"{m}={self.results.get(m, 'none')}" for m in REQUIRED)
        return (
            f"delivered to {self.mailbox} after {self.waited_s:.1f} s; {self.authserv_id or 'the receiver'} "
            f"reports {results}; "
            f"DKIM signature {', '.join(verified) or 'none'} verified again; "
            + (f"{self.what} was deleted" if self.deleted else f"{self.what} is flagged \\Deleted")
        )

    def details(self) -> dict[str, object]:
        return {
            **({"token": self.token} if self.token else {}),
            "mailbox": self.mailbox,
            "waited_s": round(self.waited_s, 2),
            "authserv_id": self.authserv_id,
            "results": self.results,
            "dkim": [{"d": s.domain, "s": s.selector, "problem": s.problem} for s in self.signatures],
            "deleted": self.deleted,
        }


def confirm(profile: Profile, token: str) -> Delivery:
    """Wait for the message carrying `token`, delete it, and judge its authentication."""
    smtp = profile.smtp
    assert smtp is not None and smtp.imap is not None
    cfg = smtp.imap
    timeout_s = profile.timeouts.default_s
    raw, waited, deleted = _fetch_and_delete(cfg, token, timeout_s)
    delivery = Delivery(token, where(cfg), waited, deleted)
    judge(delivery, raw, cfg.authserv_id, txt_lookup(resolver(profile.dns, timeout_s)))
    return delivery


def from_domain(raw: bytes) -> str:
    """The domain of the From address, lower case (empty without one)."""
    return parseaddr(message_from_bytes(raw).get("From", ""))[1].rpartition("@")[2].lower()


def judge(delivery: Delivery, raw: bytes, authserv_id: str | None, txt: Callable[..., bytes | None]) -> None:
    message = message_from_bytes(raw)
    delivery.from_domain = from_domain(raw)
    _read_authentication_results(delivery, message.get_all("Authentication-Results") or [], authserv_id)
    delivery.signatures = _dkim_signatures(raw, delivery.from_domain, txt)


def where(cfg: Imap) -> str:
    return f"{cfg.user} at {cfg.host}:{cfg.port}/{cfg.folder}"


# -- IMAP --------------------------------------------------------------------


def _fetch_and_delete(cfg: Imap, token: str, timeout_s: float) -> tuple[bytes, float, bool]:
    started = time.monotonic()
    with opened(cfg, timeout_s) as client:

        def newest_with_token() -> bytes | None:
            _, data = client.uid("SEARCH", "HEADER", TOKEN_HEADER, token)
            uids = data[0].split() if data and data[0] else []
            return uids[-1] if uids else None

        uid = poll(client, newest_with_token, started + cfg.wait_s)
        if uid is None:
            raise MailRefused(
                f"the test email (token {token}) did not arrive in {where(cfg)} within {cfg.wait_s:g} s"
            )
        return fetch(client, uid), time.monotonic() - started, delete(client, uid)


@contextlib.contextmanager
def opened(cfg: Imap, timeout_s: float) -> Iterator[imaplib.IMAP4]:
    """The mailbox, logged in over verified TLS with `cfg.folder` selected; a refusal or a
    broken connection is named; logged out however the block ends."""
    context = client_context(cfg.ca_file)
    address = f"IMAP {cfg.host}:{cfg.port}"
    try:
        client = _open(cfg, context, timeout_s, address)
    except ssl.SSLCertVerificationError as exc:
        raise MailRefused(f"{address}: TLS certificate not accepted: {exc.verify_message}") from None
    except TimeoutError:
        raise TargetUnreachable(f"{address}: no answer within {timeout_s:g} s") from None
    except OSError as exc:
        raise TargetUnreachable(f"{address}: {exc.strerror or exc}") from None
    try:
        try:
            client.login(cfg.user, cfg.password.get_secret_value())
        except imaplib.IMAP4.error as exc:
            raise MailRefused(f"{address}: login as {cfg.user!r} refused: {_text(exc)}") from None
        status, data = client.select(_quoted(cfg.folder))
        if status != "OK":
            raise MailRefused(f"{address}: cannot open folder {cfg.folder!r}: {_text(data)}")
        yield client
    except TimeoutError:
        raise TargetUnreachable(f"{address}: no answer within {timeout_s:g} s") from None
    except (imaplib.IMAP4.abort, OSError) as exc:
        raise TargetUnreachable(f"{address}: the connection broke: {_text(exc)}") from None
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()


def fetch(client: imaplib.IMAP4, uid: bytes) -> bytes:
    """The whole message, without marking it \\Seen."""
    _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
    return next(part[1] for part in parts if isinstance(part, tuple))


def _open(cfg: Imap, context: ssl.SSLContext, timeout_s: float, address: str) -> imaplib.IMAP4:
    """A connection encrypted before the login; STARTTLS that the server does not offer is an
    error, never a reason to log in unencrypted."""
    if cfg.security == "tls":
        return imaplib.IMAP4_SSL(cfg.host, cfg.port, ssl_context=context, timeout=timeout_s)
    client = imaplib.IMAP4(cfg.host, cfg.port, timeout=timeout_s)
    try:
        if "STARTTLS" not in client.capabilities:
            raise MailRefused(
                f"{address} does not offer STARTTLS (it offers {' '.join(client.capabilities)}); "
                "deploycheck logs in only over TLS: use its implicit-TLS port with "
                "smtp.imap.security: tls"
            )
        try:
            client.starttls(ssl_context=context)
        except imaplib.IMAP4.error as exc:
            raise MailRefused(f"{address}: STARTTLS refused: {_text(exc)}") from None
    except BaseException:
        client.shutdown()
        raise
    return client


def poll(client: imaplib.IMAP4, find: Callable[[], T | None], deadline: float) -> T | None:
    """What `find` finds, asked again with backoff until `deadline`."""
    attempt = 0
    while True:
        client.noop()  # lets the server report messages that arrived since the last search
        found = find()
        if found is not None:
            return found
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        delay = _POLL_DELAYS_S[attempt] if attempt < len(_POLL_DELAYS_S) else 10
        time.sleep(min(delay, remaining))
        attempt += 1


def delete(client: imaplib.IMAP4, uid: bytes) -> bool:
    """Remove just this message: UID EXPUNGE (UIDPLUS) leaves other \\Deleted messages alone.
    Without UIDPLUS the message stays flagged \\Deleted for the mail client to expunge."""
    client.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
    _, data = client.capability()  # after login: servers announce more than in their greeting
    if b"UIDPLUS" not in (data[0] or b"").upper().split():
        return False
    status, _ = client.uid("EXPUNGE", uid)
    return status == "OK"


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value: object) -> str:
    if isinstance(value, BaseException):
        value = value.args[0] if value.args else str(value)
    if isinstance(value, list):
        value = b" ".join(v for v in value if isinstance(v, bytes))
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# -- what the receiver concluded ------------------------------------------------


def _read_authentication_results(delivery: Delivery, headers: list[str], authserv_id: str | None) -> None:
    """The topmost header (added last, by the receiving server) or the one from `authserv_id`:
    headers further down were added by earlier hops, or forged by the sender."""
    if not headers:
        delivery.results_problem = (
            f"{delivery.what} arrived without an Authentication-Results header: the receiving server "
            "does not record SPF/DKIM/DMARC results (or smtp.imap points at the wrong mailbox)"
        )
        return
    for header in headers:
        text = " ".join(str(header).split())
        try:
            parsed = authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {text}")
        except authres.AuthResError as exc:
            delivery.results_problem = f"unreadable Authentication-Results header {text!r}: {exc}"
            return
        if authserv_id is None or parsed.authserv_id.lower() == authserv_id.lower():
            delivery.authserv_id = parsed.authserv_id
            for result in parsed.results:
                # several DKIM signatures give several dkim= results: one pass is enough
                if delivery.results.get(result.method) != "pass":
                    delivery.results[result.method] = result.result
            return
    delivery.results_problem = (
        f"no Authentication-Results header from {authserv_id} (smtp.imap.authserv_id); {delivery.what} "
        f"has them from: {', '.join(_authserv_ids(headers))}"
    )


def _authserv_ids(headers: list[str]) -> list[str]:
    return [str(h).strip().split(";", 1)[0].strip() for h in headers]


# -- the DKIM signature, verified again -------------------------------------------


def _dkim_signatures(raw: bytes, from_domain: str, txt: Callable[..., bytes | None]) -> list[DkimSignature]:
    checker = dkim.DKIM(raw)
    values = [value for name, value in checker.headers if name.lower() == b"dkim-signature"]
    found = []
    for index, value in enumerate(values):
        try:
            tags = dkim.util.parse_tag_value(value)
        except dkim.util.InvalidTagValueList as exc:
            found.append(DkimSignature("?", "?", f"unreadable DKIM-Signature: {exc}"))
            continue
        domain = tags.get(b"d", b"").decode(errors="replace").lower()
        selector = tags.get(b"s", b"").decode(errors="replace")
        missing: list[str] = []

        def lookup(name: bytes, timeout: float = 5, missing: list[str] = missing) -> bytes | None:
            record = txt(name, timeout)
            if record is None:
                missing.append(name.decode(errors="replace").rstrip("."))
            return record

        try:
            verified = checker.verify(index, dnsfunc=lookup)
            problem = "" if verified else "the signature does not match the published key"
        except dkim.DKIMException as exc:
            problem = f"the signature does not verify: {exc}"
        if missing:
            problem = f"no DKIM key published at {missing[0]}"
        elif not problem and not _aligned(domain, from_domain):
            problem = (
                f"d={domain} is not aligned with the From domain {from_domain} (DMARC relaxed alignment)"
            )
        found.append(DkimSignature(domain, selector, problem))
    return found


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # parsing the bundled list takes ~30 ms: once per process


def _aligned(signing: str, from_domain: str) -> bool:
    """DMARC relaxed alignment: the same organizational domain, found with the public suffix
    list (so a.example.co.uk and b.example.co.uk align, example.co.uk and other.co.uk do not)."""
    psl = _public_suffixes()
    return (psl.privatesuffix(signing) or signing) == (psl.privatesuffix(from_domain) or from_domain)


def txt_lookup(res: dns.resolver.Resolver) -> Callable[..., bytes | None]:
    """dkimpy's DNS hook, answered through the profile's resolver (dns.nameservers, dns.port)."""

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        try:
            records = lookup(res, name.decode().rstrip("."), "TXT")
        except DnsProblem:
            return None
        return records[0].encode() if records else None

    return txt
