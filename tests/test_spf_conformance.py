"""The RFC 7208 test suite (tests/conformance/spf, a copy of ../shared/conformance/spf with
its licence, kept equal to it by a test) through deploycheck's SPF evaluation.

Each scenario's zone is served by a real dnslib server on a loopback port, and every case
goes through `mail_dns.spf_check`: dnspython with the profile's resolver settings, the
adapter that hands pyspf its answers, and pyspf itself. The zone data follows the
suite's conventions, as its reference driver (pyspf's testspf.py) reads them:

- `SPF: ...` is also served as TXT, unless the name lists a TXT entry (`TXT: NONE` lists
  one and serves nothing);
- `TIMEOUT` makes a query for that name go unanswered, unless a record of the queried
  type comes before it in the list; the resolver then times out (a temperror).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import spf
import yaml
from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A
from dnslib.dns import DNSError
from dnslib.server import BaseResolver

from runner.mail.records import resolver, spf_check
from runner.profile.model import Dns
from runner.sandbox.services import ZoneServer

SUITE = Path(__file__).parent / "conformance" / "spf" / "rfc7208-tests.yml"
# How long an unanswered query takes to become a temperror here: short in the scenarios that
# leave queries unanswered (each of their timeouts is spent), generous where every query is
# answered, so that a slow answer on a loaded machine is never taken for a timeout.
TIMEOUT_S = 2.0
ANSWERED_S = 30.0
_TIMEOUT = "TIMEOUT"


with SUITE.open(encoding="utf-8") as _suite:
    SCENARIOS = list(yaml.safe_load_all(_suite))
# Cases this stack cannot pass, and why; strict: one that starts passing fails the run.
DEVIATIONS = {
    "null-text": (
        "the zone holds a TXT record with no strings, which RFC 1035 does not allow on the wire: "
        "dnspython rejects the whole answer (FormError), the valid record with it, so the "
        "evaluation sees a DNS error (temperror); pyspf's own driver never puts it on the wire"
    ),
}
CASES = [
    pytest.param(
        index,
        name,
        id=name,
        marks=[pytest.mark.xfail(reason=DEVIATIONS[name], strict=True)] if name in DEVIATIONS else [],
    )
    for index, scenario in enumerate(SCENARIOS)
    for name in sorted(scenario["tests"])
]


class SuiteZone(BaseResolver):
    """Answers one scenario's zonedata as an authoritative server with a resolver in front
    would: CNAMEs are followed, unknown names are NXDOMAIN."""

    def __init__(self) -> None:
        self.names: dict[str, list[Any]] = {}

    def load(self, zonedata: dict[str, list[Any]]) -> None:
        self.names = {name.rstrip(".").lower(): list(_entries(records)) for name, records in zonedata.items()}

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        qtype = QTYPE[request.q.qtype]
        name = _name(request.q.qname)
        seen: set[str] = set()
        while name not in seen:
            seen.add(name)
            entries = self.names.get(name)
            if entries is None:
                if not reply.rr:
                    reply.header.rcode = RCODE.NXDOMAIN
                return reply
            target = next((v for t, v in entries if t == "CNAME"), None) if qtype != "CNAME" else None
            if target is None:
                for value in _answers(entries, qtype):
                    reply.add_answer(RR(name, request.q.qtype, rdata=_rdata(qtype, value), ttl=60))
                return reply
            reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(target), ttl=60))
            name = target.rstrip(".").lower()
        return reply  # a CNAME loop: what the chain gave, and no answer


def _name(qname: Any) -> str:
    """The name as its bytes spell it (the suite has names with spaces and percent signs)."""
    return b".".join(qname.label).decode("latin-1").lower()


def _entries(records: list[Any]) -> Iterator[tuple[str, Any]]:
    """The suite's records in order, with SPF records repeated as TXT at the end when the name
    lists no TXT entry."""
    generated = []
    has_txt = False
    for record in records:
        if record == _TIMEOUT:
            yield _TIMEOUT, None
            continue
        for rtype, value in record.items():
            if rtype == "TXT":
                has_txt = True
            elif rtype == "SPF":
                generated.append(("TXT", value))
            if value != "NONE":
                yield rtype, value
    if not has_txt:
        yield from generated


def _answers(entries: list[Any], qtype: str) -> list[Any]:
    found = []
    for rtype, value in entries:
        if rtype == _TIMEOUT:
            if not found:
                raise DNSError("the suite says this query times out")  # the server sends nothing
            break
        if rtype == qtype:
            found.append(value)
    return found


def _rdata(qtype: str, value: Any) -> Any:
    if qtype in ("TXT", "SPF"):
        strings = value if isinstance(value, list) else [value]
        return TXT([_txt_bytes(s) for s in strings])
    if qtype == "MX":
        return MX(value[1], value[0])
    if qtype == "PTR":
        return PTR(value)
    if qtype == "AAAA":
        return AAAA(value)
    return A(value)


def _txt_bytes(text: str) -> bytes:
    """The suite writes raw bytes as \\xNN escapes (a UTF-8 BOM, say): send those bytes."""
    return text.encode("latin-1") if all(ord(c) < 256 for c in text) else text.encode()


@pytest.fixture(scope="module")
def suite_dns() -> Iterator[tuple[SuiteZone, Dns]]:
    zone = SuiteZone()
    server = ZoneServer(zone)
    server.start()
    try:
        yield zone, Dns(domain="example.com", nameservers=["127.0.0.1"], port=server.port)
    finally:
        server.stop()


@pytest.mark.parametrize(("scenario", "name"), CASES)
def test_rfc7208_suite(suite_dns: tuple[SuiteZone, Dns], scenario: int, name: str) -> None:
    zone, dns_cfg = suite_dns
    zone.load(SCENARIOS[scenario]["zonedata"])
    case = SCENARIOS[scenario]["tests"][name]
    allowed = case["result"] if isinstance(case["result"], list) else [case["result"]]

    zonedata = SCENARIOS[scenario]["zonedata"]
    silent = any(_TIMEOUT in records for records in zonedata.values())
    result, explanation = spf_check(
        resolver(dns_cfg, TIMEOUT_S if silent else ANSWERED_S),
        case["host"],
        case.get("mailfrom", ""),
        case["helo"],
    )

    assert result in allowed, f"{case.get('spec')}: {case.get('description', '').strip()}"
    if "explanation" in case and result == "fail":
        expected = case["explanation"]
        if expected == "DEFAULT":
            expected = spf.query(i="192.0.2.1", s="", h="example.com").exps["fail"]
        assert explanation == expected


def _shared_suite() -> Path | None:
    """../shared/conformance/spf beside the checkout (or beside a folder of worktrees)."""
    for folder in Path(__file__).resolve().parents[1].parents:
        if (folder / "shared" / "conformance" / "spf").is_dir():
            return folder / "shared" / "conformance" / "spf"
    return None


def test_the_copy_is_the_shared_suite() -> None:
    """The copy keeps the suite in the wheel and in CI without ../shared; where ../shared is
    there, the copy must not have drifted from it."""
    shared = _shared_suite()
    if shared is None:
        pytest.skip("no ../shared/conformance/spf beside this checkout to compare the copy with")
    copy = SUITE.parent
    files = sorted(p.relative_to(shared) for p in shared.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(copy) for p in copy.rglob("*") if p.is_file())
    assert [f for f in files if (shared / f).read_bytes() != (copy / f).read_bytes()] == []
