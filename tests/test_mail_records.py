"""runner/mail/records.py against the dnslib zone server, without a check run around it: each
kind of record read and judged, and each way a lookup fails told apart (quick enough for a
mutation run)."""

from __future__ import annotations

import base64
import socket

import dns.resolver
import pytest
import spf
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from runner.errors import DnsProblem, RecordProblem
from runner.mail import records
from runner.profile.model import Dns
from runner.sandbox.services import dkim_key_pair

PYSPF_LOOKUP = spf.DNSLookup


@pytest.fixture()
def zone(dns_server):
    server, port = dns_server
    server.records = {}
    server.servfail = set()
    return server, records.resolver(Dns(domain="mail.test", nameservers=["127.0.0.1"], port=port), 5)


def test_the_resolver_takes_the_profiles_nameservers_port_and_timeout() -> None:
    res = records.resolver(Dns(domain="x.test", nameservers=["127.0.0.9"], port=5353), 7)
    assert (res.nameservers, res.port, res.lifetime, res.timeout) == (["127.0.0.9"], 5353, 7, 7)


def test_without_a_dns_section_the_system_resolver_is_used() -> None:
    res = records.resolver(None, 3)
    assert res.nameservers == dns.resolver.Resolver().nameservers and res.lifetime == 3


def test_a_silent_server_is_a_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # takes queries, never answers
        silent.bind(("127.0.0.1", 0))
        cfg = Dns(domain="mail.test", nameservers=["127.0.0.1"], port=silent.getsockname()[1])
        with pytest.raises(DnsProblem) as waited:
            records.lookup(records.resolver(cfg, 1), "mail.test", "TXT")
    assert (waited.value.kind, str(waited.value)) == ("timeout", "mail.test: timeout (no answer within 1 s)")


def test_a_txt_record_longer_than_one_string_is_read_whole(zone) -> None:
    server, res = zone
    long_spf = "v=spf1 " + " ".join(f"ip4:192.0.2.{n}" for n in range(40)) + " -all"  # > 255: two strings
    server.records = {("long.test", "TXT"): [long_spf]}
    assert records.lookup(res, "long.test", "TXT") == [long_spf]


def test_a_txt_record_that_is_not_utf8_is_read_with_replacements(zone) -> None:
    """TXT data is bytes: a byte that is no UTF-8 becomes U+FFFD, it does not end the lookup."""
    server, res = zone
    server.records = {("bytes.test", "TXT"): [b"v=spf1 \xff\xfe -all"]}
    assert records.lookup(res, "bytes.test", "TXT") == ["v=spf1 \ufffd\ufffd -all"]


def test_lookups_tell_no_answer_nxdomain_and_servfail_apart(zone) -> None:
    server, res = zone
    server.records = {
        ("mail.test", "TXT"): ["v=spf1 -all", "other"],
        ("mail.test", "MX"): [(10, "mx.mail.test")],
    }
    server.servfail = {"broken.test"}
    assert records.lookup(res, "mail.test", "TXT") == ["v=spf1 -all", "other"]
    assert records.lookup(res, "mail.test", "MX") == ["10 mx.mail.test."]
    assert records.lookup(res, "mail.test", "A") == []  # the name exists, without an address
    with pytest.raises(DnsProblem) as missing:
        records.lookup(res, "nothing.test", "TXT")
    assert (missing.value.kind, str(missing.value)) == (
        "nxdomain",
        "nothing.test: nxdomain (the name does not exist)",
    )
    with pytest.raises(DnsProblem) as failed:
        records.lookup(res, "broken.test", "TXT")
    assert failed.value.kind == "servfail" and str(failed.value).startswith(
        "broken.test: servfail (no server"
    )


def test_spf_records_are_the_v_spf1_ones_and_evaluate_per_relay(zone) -> None:
    server, res = zone
    server.records = {
        ("mail.test", "TXT"): ["google-site-verification=x", "V=SPF1 ip4:192.0.2.10 include:i.test -all"],
        ("i.test", "TXT"): ["v=spf1 ip4:198.51.100.0/24 ~all"],
    }
    assert records.spf_records(res, "mail.test") == ["V=SPF1 ip4:192.0.2.10 include:i.test -all"]
    assert records.spf_result(res, "mail.test", "192.0.2.10")[0] == "pass"
    assert records.spf_result(res, "mail.test", "198.51.100.7")[0] == "pass"
    assert records.spf_result(res, "mail.test", "203.0.113.1")[0] == "fail"
    server.servfail = {"i.test"}
    assert records.spf_result(res, "mail.test", "203.0.113.1")[0] == "temperror"
    assert spf.DNSLookup is PYSPF_LOOKUP  # pyspf's own lookup is back for anyone else


def test_dkim_keys_are_read_with_their_kind_and_size(zone) -> None:
    server, res = zone
    raw = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    ec_der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    rsa_public = dkim_key_pair(1024)[1]
    server.records = {
        ("rsa._domainkey.mail.test", "TXT"): [
            rsa_public[:40] + " \t" + rsa_public[40:]
        ],  # whitespace inside p=
        ("ed._domainkey.mail.test", "TXT"): [f"v=DKIM1; K=ED25519; p={base64.b64encode(raw).decode()}"],
        ("gone._domainkey.mail.test", "TXT"): ["v=DKIM1; k=rsa; p="],
        ("two._domainkey.mail.test", "TXT"): [rsa_public, dkim_key_pair(1024)[1]],
        ("junk._domainkey.mail.test", "TXT"): ["v=DKIM1; p=bm90IGEga2V5"],
        ("bad64._domainkey.mail.test", "TXT"): [rsa_public.replace("p=", "p=!")],
        ("ec._domainkey.mail.test", "TXT"): [f"v=DKIM1; p={base64.b64encode(ec_der).decode()}"],
    }
    assert records.dkim_key(res, "mail.test", "rsa") == records.DkimKey("rsa", "rsa", 1024, False)
    assert records.dkim_key(res, "mail.test", "ed") == records.DkimKey("ed", "ed25519", 256, False)
    assert records.dkim_key(res, "mail.test", "gone") == records.DkimKey("gone", "rsa", None, True)
    with pytest.raises(
        RecordProblem, match=r"^two\._domainkey\.mail\.test: expected one DKIM key record, found 2$"
    ):
        records.dkim_key(res, "mail.test", "two")
    with pytest.raises(RecordProblem, match=r"^junk\._domainkey\.mail\.test: p= is not a rsa public key"):
        records.dkim_key(res, "mail.test", "junk")
    with pytest.raises(RecordProblem, match=r"p= is not a rsa public key \(Only base64 data is allowed\)$"):
        records.dkim_key(res, "mail.test", "bad64")
    with pytest.raises(
        RecordProblem, match=r"^ec\._domainkey\.mail\.test: k=rsa but the key is ECPublicKey$"
    ):
        records.dkim_key(res, "mail.test", "ec")


def test_dmarc_is_one_record_and_its_report_destinations_are_judged(zone) -> None:
    server, res = zone
    server.records = {
        ("_dmarc.mail.test", "TXT"): [
            "v=DMARC1; P=Reject; rua=mailto:d@mail.test, mailto:r@collector.test!10m; ruf=https://x.test/r"
        ],
        ("mail.test._report._dmarc.collector.test", "TXT"): ["v=DMARC1"],
        ("_dmarc.two.test", "TXT"): ["v=DMARC1; p=none", "v=DMARC1; p=reject"],
    }
    record = records.dmarc(res, "mail.test")
    assert record.policy == "reject"
    assert record.report_addresses() == [
        "mailto:d@mail.test",
        "mailto:r@collector.test!10m",
        "https://x.test/r",
    ]
    assert records.report_problems(res, "mail.test", record) == ["'https://x.test/r' is not a mailto: URI"]
    del server.records[("mail.test._report._dmarc.collector.test", "TXT")]
    assert records.report_problems(res, "mail.test", record)[0] == (
        "mailto:r@collector.test!10m: collector.test does not authorize reports for mail.test "
        "(no v=DMARC1 at mail.test._report._dmarc.collector.test)"
    )
    with pytest.raises(
        RecordProblem, match=r"^_dmarc\.two\.test: expected exactly one v=DMARC1 record, found 2$"
    ):
        records.dmarc(res, "two.test")
    sub = records.Dmarc("none", {"rua": "mailto:d@reports.mail.test"})
    assert records.report_problems(res, "mail.test", sub) == []  # a subdomain needs no authorization
    first_bad = records.Dmarc("none", {"rua": "https://x.test/r,mailto:r@collector.test"})
    assert len(records.report_problems(res, "mail.test", first_bad)) == 2  # each URI judged
    server.records[("_dmarc.nopolicy.test", "TXT")] = ["v=DMARC1; rua=mailto:d@nopolicy.test"]
    assert records.dmarc(res, "nopolicy.test").policy == ""
