"""Mail authentication in DNS: SPF (evaluated by pyspf), DKIM keys, DMARC policy, MX.

Lookups go through dnspython with the profile's nameservers, port and timeout, so tests
point them at a local server. SERVFAIL, NXDOMAIN, no answer and timeouts are told apart.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.resolver
import spf
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from runner.errors import DnsProblem, RecordProblem
from runner.profile.model import Dns


def resolver(cfg: Dns | None, timeout_s: float) -> dns.resolver.Resolver:
    """dns.nameservers and dns.port when given, the system's resolver otherwise."""
    res = dns.resolver.Resolver(configure=cfg is None or not cfg.nameservers)
    if cfg is not None:
        if cfg.nameservers:
            res.nameservers = list(cfg.nameservers)
        res.port = cfg.port
    res.lifetime = timeout_s
    res.timeout = timeout_s
    return res


def lookup(res: dns.resolver.Resolver, name: str, rtype: str) -> list[str]:
    try:
        answer = res.resolve(name, rtype)
    except dns.resolver.NXDOMAIN:
        raise DnsProblem(name, "nxdomain", "the name does not exist") from None
    except dns.resolver.NoAnswer:
        return []
    except dns.resolver.NoNameservers as exc:
        raise DnsProblem(name, "servfail", f"no server answered: {exc}") from None
    except dns.exception.Timeout:
        raise DnsProblem(name, "timeout", f"no answer within {res.lifetime:g} s") from None
    if rtype == "TXT":
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
    return [r.to_text() for r in answer]


# -- SPF ---------------------------------------------------------------------

_SPF_LOCK = threading.Lock()


@contextmanager
def _pyspf_uses(res: dns.resolver.Resolver) -> Iterator[None]:
    """pyspf looks names up through its module-level DNSLookup: point it at our resolver."""

    def dns_lookup(name: str, qtype: str, tcpfallback: bool = True, timeout: float = 30) -> list:
        try:
            answer = res.resolve(name, qtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.resolver.NoNameservers as exc:
            if _only_cname_loops(exc):
                return []
            raise spf.TempError(f"DNS {exc}") from None
        except dns.exception.Timeout as exc:
            raise spf.TempError(f"DNS {exc}") from None
        out = []
        for rdata in answer:
            if qtype in ("A", "AAAA"):
                out.append(((name, qtype), rdata.address))
            elif qtype == "MX":
                out.append(((name, qtype), (rdata.preference, rdata.exchange)))
            elif qtype == "PTR":
                out.append(((name, qtype), rdata.target.to_text(True)))
            elif qtype in ("TXT", "SPF"):
                out.append(((name, qtype), rdata.strings))
        return out

    with _SPF_LOCK:
        saved, spf.DNSLookup = spf.DNSLookup, dns_lookup
        try:
            yield
        finally:
            spf.DNSLookup = saved


def _only_cname_loops(exc: dns.resolver.NoNameservers) -> bool:
    """Whether every server answered, with a CNAME chain that loops. dnspython, which follows
    the chain, calls that a failed server; pyspf, which expects to follow CNAMEs itself,
    reads a loop as no data (RFC 7208 5.5: such a name is skipped, not a temperror)."""
    errors = exc.kwargs.get("errors") or []
    return bool(errors) and all(isinstance(error[3], dns.message.ChainTooLong) for error in errors)


def spf_records(res: dns.resolver.Resolver, domain: str) -> list[str]:
    return [t for t in lookup(res, domain, "TXT") if t.lower().startswith("v=spf1")]


def spf_result(res: dns.resolver.Resolver, domain: str, ip: str) -> tuple[str, str]:
    """(result, explanation) of RFC 7208 evaluation for mail from `domain` sent by `ip`."""
    return spf_check(res, ip, f"postmaster@{domain}", domain)


def spf_check(res: dns.resolver.Resolver, ip: str, sender: str, helo: str) -> tuple[str, str]:
    """(result, explanation) of RFC 7208 check_host() as a receiver runs it for `sender`
    (empty: the null sender, checked as postmaster@`helo`)."""
    with _pyspf_uses(res):
        result, explanation = spf.check2(i=ip, s=sender, h=helo)
    return result, explanation


# -- DKIM --------------------------------------------------------------------


@dataclass(frozen=True)
class DkimKey:
    selector: str
    kind: str  # rsa | ed25519
    bits: int | None
    revoked: bool


def _tags(record: str) -> dict[str, str]:
    return {
        k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in record.split(";") if "=" in p)
    }


def dkim_key(res: dns.resolver.Resolver, domain: str, selector: str) -> DkimKey:
    name = f"{selector}._domainkey.{domain}"
    records = [r for r in lookup(res, name, "TXT") if "p=" in r]
    if len(records) != 1:
        raise RecordProblem(f"{name}: expected one DKIM key record, found {len(records)}")
    tags = _tags(records[0])
    kind = tags.get("k", "rsa").lower()
    data = re.sub(r"\s+", "", tags.get("p", ""))
    if not data:
        return DkimKey(selector, kind, None, True)
    try:
        raw = base64.b64decode(data, validate=True)
        if kind == "ed25519":
            ed25519.Ed25519PublicKey.from_public_bytes(raw)
            return DkimKey(selector, kind, 256, False)
        key = load_der_public_key(raw)
    except ValueError as exc:
        raise RecordProblem(f"{name}: p= is not a {kind} public key ({exc})") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise RecordProblem(f"{name}: k={kind} but the key is {type(key).__name__}")
    return DkimKey(selector, kind, key.key_size, False)


# -- DMARC -------------------------------------------------------------------


@dataclass(frozen=True)
class Dmarc:
    policy: str
    tags: dict[str, str]

    def report_addresses(self) -> list[str]:
        uris = ",".join(self.tags.get(k, "") for k in ("rua", "ruf"))
        return [u.strip() for u in uris.split(",") if u.strip()]


def dmarc(res: dns.resolver.Resolver, domain: str) -> Dmarc:
    name = f"_dmarc.{domain}"
    records = [r for r in lookup(res, name, "TXT") if r.lower().startswith("v=dmarc1")]
    if len(records) != 1:
        raise RecordProblem(f"{name}: expected exactly one v=DMARC1 record, found {len(records)}")
    tags = _tags(records[0])
    return Dmarc(tags.get("p", "").lower(), tags)


def report_problems(res: dns.resolver.Resolver, domain: str, record: Dmarc) -> list[str]:
    """rua/ruf must be mailto: URIs; a destination outside the domain must authorize it (RFC 7489 7.1)."""
    problems = []
    for uri in record.report_addresses():
        match = re.fullmatch(r"mailto:([^@\s!]+)@([^\s!]+?)(?:!\d+[kmgt]?)?", uri, re.IGNORECASE)
        if not match:
            problems.append(f"{uri!r} is not a mailto: URI")
            continue
        host = match.group(2).lower().rstrip(".")
        if host == domain or host.endswith("." + domain):
            continue
        name = f"{domain}._report._dmarc.{host}"
        try:
            granted = any(t.lower().startswith("v=dmarc1") for t in lookup(res, name, "TXT"))
        except DnsProblem:
            granted = False
        if not granted:
            problems.append(f"{uri}: {host} does not authorize reports for {domain} (no v=DMARC1 at {name})")
    return problems
