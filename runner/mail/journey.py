"""A mail journey: one of the application's own emails (a password reset, a signup notice),
proved from the request that triggers it to its arrival, authenticated, in the mailbox.

The mailbox's UIDNEXT is read before the request is sent, and only messages with a UID from
there on are considered: an older message that matches is never taken for the new one. The
message is then judged as the test email is (Authentication-Results, DKIM verified again and
aligned with From), its links listed with their tokens masked and, with `links_ok`, each
asked for with HEAD (GET where HEAD is refused) without following it anywhere, and deleted.

Whoever can mail the test mailbox chooses its links, so a link is asked for only when the mail
passed the judgement, only over https and only on a host the profile names (`expect.link_hosts`,
by default the host the journey's request went to): never an address of the sender's choosing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import httpx

from runner.errors import MailRefused
from runner.mail.delivery import Delivery, delete, fetch, judge, opened, poll, txt_lookup, where
from runner.mail.records import resolver
from runner.profile.model import JourneyRequest, MailJourney, Profile
from runner.redact import MASK
from runner.trust import client_context, connection_failure

_LINK = re.compile(r"""https?://[^\s<>"'()\[\]{}]+""")
MAX_LINKS = 20
_INVALID = "not a valid URL (its host or port cannot be read): not asked for"
# A path segment or query key shown: lower-case words of up to 15 letters joined by `_ . -`, 24 in
# all, or a number of up to 4 digits. A longer run of letters or digits may be a token (a 6-digit
# code, a lower-case random string), so it is masked.
_WORD = re.compile(r"(?=[a-z_.-]{1,24}$)[a-z]{1,15}(?:[_.-][a-z]{1,15})*[_.-]?|\d{1,4}")


@dataclass(frozen=True)
class Link:
    url: str  # its token part masked
    status: int | None = None
    problem: str = ""


@dataclass
class JourneyResult:
    """What happened: the application's answer, the mail (or what arrived instead), its judgement."""

    name: str
    request: str  # "POST https://app.example.org/api/auth/password-reset"
    status: int | None = None
    answer_problem: str = ""  # the request failed, or was answered outside 2xx
    arrival_problem: str = ""  # no matching mail, or one from the wrong sender
    others: list[str] = field(default_factory=list)  # subjects of other mail that arrived meanwhile
    subject: str = ""
    sender: str = ""
    delivery: Delivery | None = None
    links: list[Link] = field(default_factory=list)
    links_ok: bool = False  # every link must answer: a mail without one proves nothing

    def problems(self) -> list[str]:
        if self.answer_problem or self.arrival_problem:
            return [self.answer_problem or self.arrival_problem]
        assert self.delivery is not None
        unlinked = [f"links_ok is set, but {self.delivery.what} holds no link to check"]
        return (
            self.delivery.problems()
            + [f"link {link.url}: {link.problem}" for link in self.links if link.problem]
            + (unlinked if self.links_ok and not self.links else [])
        )

    def summary(self) -> str:
        if self.delivery is None:
            return "; ".join(self.problems())
        checked = [link for link in self.links if link.status is not None]
        links = (
            f"; {len(checked)} link(s) answered {', '.join(str(link.status) for link in checked)}"
            if checked
            else ""
        )
        return (
            f"{self.request} answered {self.status}; {self.subject!r} from {self.sender}: "
            + self.delivery.summary()
            + links
        )

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"request": self.request, "status": self.status}
        if self.others:
            out["other_mail"] = self.others
        if self.delivery is not None:
            out.update(
                subject=self.subject,
                sender=self.sender,
                delivery=self.delivery.details(),
                links=[
                    {"url": link.url, "status": link.status, "problem": link.problem} for link in self.links
                ],
            )
        return out


def run(profile: Profile, journey: MailJourney) -> JourneyResult:
    """Send the request, wait for its mail, judge it and delete it. A mailbox that cannot be
    read raises (MailRefused, TargetUnreachable); everything else is in the result."""
    cfg = profile.mailbox_of(journey)
    timeout_s = profile.timeouts.default_s
    ca = profile.tls.ca_file if profile.tls else None
    request = journey.request
    result = JourneyResult(journey.name, f"{request.method} {request.url}", links_ok=journey.expect.links_ok)
    what = f"the {journey.name} mail"
    with opened(cfg, timeout_s) as client:
        first_uid = _uidnext(client)
        sent_at = time.monotonic()
        result.status, result.answer_problem = _send(request, timeout_s, ca)
        if result.answer_problem:
            return result
        seen: set[bytes] = set()

        def matching() -> tuple[bytes, bytes, EmailMessage] | None:
            _, data = client.uid("SEARCH", f"UID {first_uid}:*")
            for uid in (data[0] or b"").split():
                if int(uid) < first_uid or uid in seen:  # n:* always names the newest message
                    continue
                seen.add(uid)
                raw = fetch(client, uid)
                message = message_from_bytes(raw, policy=policy.default)
                assert isinstance(message, EmailMessage)
                if _matches(journey, message):
                    return uid, raw, message
                result.others.append(str(message.get("Subject", "(no subject)")))
            return None

        found = poll(client, matching, sent_at + journey.wait_s)
        if found is None:
            result.arrival_problem = _nothing_arrived(journey, where(cfg), result)
            return result
        uid, raw, message = found
        waited = time.monotonic() - sent_at
        deleted = delete(client, uid)
    result.subject = str(message.get("Subject", ""))
    result.sender = parseaddr(str(message.get("From", "")))[1]
    wanted = journey.expect.from_
    if wanted and result.sender.lower() != wanted.lower():
        result.arrival_problem = (
            f"{what} arrived after {waited:.1f} s from {result.sender or '(no From)'}, expected from {wanted}"
        )
        return result
    result.delivery = Delivery("", where(cfg), waited, deleted, what=what)
    judge(result.delivery, raw, cfg.authserv_id, txt_lookup(resolver(profile.dns, timeout_s)))
    urls = links_in(message)
    if journey.expect.links_ok and not result.delivery.problems():
        hosts = {_origin(host) for host in journey.expect.link_hosts or [urlsplit(request.url).netloc]}
        result.links = [_check_link(url, hosts, timeout_s, ca) for url in urls]
    else:  # not asked for: a mail that failed its judgement may come from anyone
        result.links = [Link(mask_link(url)) for url in urls]
    return result


def _uidnext(client: Any) -> int:
    """The UID the next message will get, from SELECT's answer (RFC 3501 requires it there)."""
    _, data = client.response("UIDNEXT")
    if not data or not data[0]:
        raise MailRefused("the IMAP server does not say which UID the next message gets (UIDNEXT)")
    return int(data[0])


def _http(timeout_s: float, ca: Path | None) -> httpx.Client:
    """Verified TLS (tls.ca_file, else the default store), the timeout, no redirect followed."""
    return httpx.Client(timeout=timeout_s, verify=client_context(ca) if ca else True, follow_redirects=False)


def _send(request: JourneyRequest, timeout_s: float, ca: Path | None) -> tuple[int | None, str]:
    """(status, problem): the application's answer to the journey's request."""
    headers = {"User-Agent": "deploycheck", **{k: v.get_secret_value() for k, v in request.headers.items()}}
    try:
        with _http(timeout_s, ca) as client:
            response = client.request(
                request.method, request.url, headers=headers, json=request.json_, data=request.form
            )
    except httpx.TimeoutException:
        return None, f"{request.method} {request.url}: no answer within {timeout_s:g} s"
    except httpx.TransportError as exc:
        return None, f"{request.method} {request.url}: {connection_failure(exc)[1]}"
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    excerpt = " ".join(response.text.split())[:200]
    return response.status_code, (
        f"{request.method} {request.url} answered {response.status_code}"
        + (f": {excerpt}" if excerpt else "")
        + " (no mail is awaited after a refused request)"
    )


def _matches(journey: MailJourney, message: EmailMessage) -> bool:
    """Addressed to expect.to, with the expected Subject and body (From is judged after)."""
    expect = journey.expect
    headers = [str(value) for value in message.get_all("To", []) + message.get_all("Cc", [])]
    recipients = {addr.lower() for _, addr in getaddresses(headers)}
    if expect.to.lower() not in recipients:
        return False
    if expect.subject and not re.search(expect.subject, str(message.get("Subject", ""))):
        return False
    return not expect.body_contains or bool(re.search(expect.body_contains, body_text(message)))


def body_text(message: EmailMessage) -> str:
    """Every text part, decoded: the plain text and the HTML alike."""
    texts = []
    for part in message.walk():
        if part.get_content_maintype() == "text" and not part.is_attachment():
            try:
                texts.append(part.get_content())
            except (LookupError, ValueError):  # an unknown charset: read what can be read
                texts.append(part.get_payload(decode=True).decode("utf-8", "replace"))
    return "\n".join(texts)


def links_in(message: EmailMessage) -> list[str]:
    found: list[str] = []
    for match in _LINK.finditer(body_text(message).replace("&amp;", "&")):
        url = match.group(0).rstrip(".,;:!?")
        if url not in found:
            found.append(url)
    return found[:MAX_LINKS]


def mask_link(url: str) -> str:
    """The link with what opens an account masked: userinfo, every query value (and a key that
    is not a word), the fragment, and the path from its first segment that is not a lower-case
    word or a small number on (a token may hold `/`, `+`, `:`, `@`, `=`, any case and digits)."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return MASK  # not a URL at all: nothing of it is shown
    segments = parts.path.split("/")
    first = next((i for i, seg in enumerate(segments) if seg and not _WORD.fullmatch(seg)), len(segments))
    path = "/".join(segments[:first] + [MASK] * (first < len(segments)))
    items = [item.partition("=") for item in parts.query.split("&") if item]  # `?token` is all value
    query = "&".join(
        f"{key if sep and _WORD.fullmatch(unquote_plus(key)) else MASK}={MASK}" for key, sep, _ in items
    )
    netloc = f"{MASK}@{host}" if "@" in parts.netloc else host
    return urlunsplit((parts.scheme, netloc, path, query, MASK if parts.fragment else ""))


def _origin(netloc: str) -> str:
    """`host:port` in lower case, 443 when no port is given: what a link's host is compared by.
    A port that is not one raises ValueError."""
    parts = urlsplit(f"//{netloc}")
    return f"{(parts.hostname or '').lower()}:{parts.port or 443}"


def _check_link(url: str, hosts: set[str], timeout_s: float, ca: Path | None) -> Link:
    """HEAD (or GET where HEAD is refused), never following a redirect: 2xx and 3xx answer.
    Asked for only over https and on `hosts`."""
    shown = mask_link(url)
    try:
        parts = urlsplit(url)
        origin = _origin(parts.netloc)
    except ValueError:
        return Link(shown, problem=_INVALID)
    if parts.scheme != "https":
        return Link(shown, problem="not over TLS (http://): the token would travel in clear")
    if origin not in hosts:
        return Link(
            shown,
            problem=f"on {origin}, not a host the profile names ({', '.join(sorted(hosts))}): not asked "
            "for (add it to expect.link_hosts if the application links there)",
        )
    try:
        with _http(timeout_s, ca) as client:
            response = client.head(url, headers={"User-Agent": "deploycheck"})
            if response.status_code in (405, 501):
                with client.stream("GET", url, headers={"User-Agent": "deploycheck"}) as streamed:
                    response = streamed
    except httpx.TimeoutException:
        return Link(shown, problem=f"no answer within {timeout_s:g} s")
    except httpx.TransportError as exc:
        return Link(shown, problem=connection_failure(exc)[1])
    except httpx.InvalidURL:
        return Link(shown, problem=_INVALID)
    if 200 <= response.status_code < 400:
        return Link(shown, response.status_code)
    return Link(shown, response.status_code, f"answered {response.status_code}")


def _nothing_arrived(journey: MailJourney, mailbox: str, result: JourneyResult) -> str:
    expect = journey.expect
    wanted = [f"to {expect.to}"]
    if expect.subject:
        wanted.append(f"with a subject matching {expect.subject!r}")
    if expect.body_contains:
        wanted.append(f"with a body matching {expect.body_contains!r}")
    meanwhile = (
        "meanwhile arrived: " + "; ".join(repr(subject) for subject in result.others[:10])
        if result.others
        else "nothing else arrived"
    )
    return (
        f"no mail {' '.join(wanted)} arrived in {mailbox} within {journey.wait_s:g} s of "
        f"{result.request} (answered {result.status}); {meanwhile}"
    )
