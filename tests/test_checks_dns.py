"""checks/test_dns.py against a dnslib server on a loopback port serving good and broken zones."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from runner.sandbox.services import dkim_key_pair

RELAY = "192.0.2.10"
DNS_CHECKS = [
    "test_one_spf_record",
    "test_spf_authorizes_every_relay",
    "test_dkim_key_is_published[mail]",
    "test_dkim_key_is_2048_bits[mail]",
    "test_dmarc_record_is_valid",
    "test_dmarc_policy_enforces",
    "test_dmarc_report_destinations_are_valid",
    "test_mx_records_exist",
]


def dkim(bits: int | None = 2048, kind: str = "rsa") -> str:
    if bits is None:
        return "v=DKIM1; k=rsa; p="
    if bits < 1024:  # cryptography makes no key this weak: the check reads only the modulus' size
        der = (
            rsa.RSAPublicNumbers(65537, (1 << (bits - 1)) + 1)
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    if kind == "ed25519":
        raw = (
            ed25519.Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
    return dkim_key_pair(bits)[1]


GOOD = {
    ("mail.test", "TXT"): ["v=spf1 ip4:192.0.2.10 include:_spf.relay.test -all"],
    ("_spf.relay.test", "TXT"): ["v=spf1 ip4:198.51.100.0/24 -all"],
    ("mail.test", "MX"): [(10, "mx.mail.test")],
    ("mail._domainkey.mail.test", "TXT"): [dkim()],
    ("_dmarc.mail.test", "TXT"): [
        "v=DMARC1; p=reject; rua=mailto:dmarc@mail.test,mailto:reports@collector.test"
    ],
    ("mail.test._report._dmarc.collector.test", "TXT"): ["v=DMARC1"],
}


@pytest.fixture()
def zone(dns_server, target):
    resolver, port = dns_server
    resolver.records = dict(GOOD)
    resolver.servfail = set()
    target.write_profile(
        dns={
            "domain": "mail.test",
            "nameservers": ["127.0.0.1"],
            "port": port,
            "dkim_selectors": ["mail"],
            "relay_ips": [RELAY, "198.51.100.7"],
        },
        timeouts={"default_s": 2},
    )
    return resolver


def dns_run(target, run_checks):
    return run_checks(target.profile_path, "-k", "test_dns")


def test_good_zone_passes(zone, target, run_checks) -> None:
    run = dns_run(target, run_checks)
    assert run.outcomes("dns") == dict.fromkeys(DNS_CHECKS, "passed")


def test_two_spf_records_fail(zone, target, run_checks) -> None:
    zone.records[("mail.test", "TXT")] = ["v=spf1 ip4:192.0.2.10 -all", "v=spf1 mx -all"]
    check = dns_run(target, run_checks).check("test_one_spf_record")
    assert (check["outcome"], check["message"]) == (
        "failed",
        "mail.test: 2 v=spf1 records, expected exactly one",
    )


def test_no_spf_record_fails(zone, target, run_checks) -> None:
    """TXT records, none of them SPF: nothing authorizes the relays."""
    zone.records[("mail.test", "TXT")] = ["site-verification=abc"]
    run = run_checks(target.profile_path, "-k", "test_one_spf_record")
    check = run.check("test_one_spf_record")
    assert (check["outcome"], check["severity"], run.exit_code) == ("failed", "blocker", 1)
    assert check["message"] == "mail.test: 0 v=spf1 records, expected exactly one"


def test_eleven_lookups_exceed_the_limit(zone, target, run_checks) -> None:
    includes = " ".join(f"include:i{n}.test" for n in range(11))
    zone.records[("mail.test", "TXT")] = [f"v=spf1 ip4:192.0.2.10 {includes} -all"]
    for n in range(11):
        zone.records[(f"i{n}.test", "TXT")] = ["v=spf1 -all"]
    message = dns_run(target, run_checks).check("test_spf_authorizes_every_relay")["message"]
    assert "198.51.100.7: permerror" in message and "Too many DNS lookups" in message


def test_include_loop_is_a_permerror(zone, target, run_checks) -> None:
    zone.records[("mail.test", "TXT")] = ["v=spf1 include:loop.test -all"]
    zone.records[("loop.test", "TXT")] = ["v=spf1 include:mail.test -all"]
    message = dns_run(target, run_checks).check("test_spf_authorizes_every_relay")["message"]
    assert "192.0.2.10: permerror" in message


def test_relay_not_authorized_is_named(zone, target, run_checks) -> None:
    zone.records[("mail.test", "TXT")] = ["v=spf1 ip4:192.0.2.10 -all"]
    check = dns_run(target, run_checks).check("test_spf_authorizes_every_relay")
    assert check["outcome"] == "failed" and check["message"].startswith(
        "SPF of mail.test does not pass for: 198.51.100.7: fail"
    )
    # every relay that does not pass is named, each with pyspf's reason
    target.write_profile(dns={"relay_ips": [RELAY, "198.51.100.7", "203.0.113.9"]})
    run = run_checks(target.profile_path, "-k", "test_spf_authorizes_every_relay")
    message = run.check("test_spf_authorizes_every_relay")["message"]
    failing = message.removeprefix("SPF of mail.test does not pass for: ").split("; ")
    assert [part.split(" (")[0] for part in failing] == ["198.51.100.7: fail", "203.0.113.9: fail"]


def test_weak_dkim_key_warns_and_revoked_key_fails(zone, target, run_checks) -> None:
    zone.records[("mail._domainkey.mail.test", "TXT")] = [dkim(1024)]
    run = dns_run(target, run_checks)
    assert run.check("test_dkim_key_is_published[mail]")["message"] == (
        "mail._domainkey.mail.test: rsa key of 1024 bits"
    )
    check = run.check("test_dkim_key_is_2048_bits[mail]")
    assert (check["outcome"], check["severity"], run.exit_code) == ("warned", "warning", 0)
    assert check["message"] == "mail._domainkey.mail.test: RSA key of 1024 bits, 2048 recommended"

    zone.records[("mail._domainkey.mail.test", "TXT")] = [dkim(None)]
    run = dns_run(target, run_checks)
    check = run.check("test_dkim_key_is_published[mail]")
    assert (check["outcome"], check["severity"], run.exit_code) == ("failed", "blocker", 1)
    assert check["message"] == "mail._domainkey.mail.test: the key is revoked (empty p=)"
    # a revoked key has no size: the 2048-bit check says so rather than passing on nothing
    check = run.check("test_dkim_key_is_2048_bits[mail]")
    assert (check["outcome"], check["message"]) == (
        "skipped",
        "mail._domainkey.mail.test: the key is revoked (empty p=), no key size to judge",
    )


def test_rsa_key_under_1024_bits_fails(zone, target, run_checks) -> None:
    zone.records[("mail._domainkey.mail.test", "TXT")] = [dkim(768)]
    run = run_checks(target.profile_path, "-k", "test_dkim_key_is_published")
    check = run.check("test_dkim_key_is_published[mail]")
    assert (check["outcome"], check["severity"], run.exit_code) == ("failed", "blocker", 1)
    assert check["message"] == "mail._domainkey.mail.test: RSA key of 768 bits is too weak"


def test_dkim_checks_skip_without_selectors(zone, target, run_checks) -> None:
    """No selector to look up: both DKIM checks skip, naming the setting."""
    target.write_profile(dns={"dkim_selectors": []})
    run = run_checks(target.profile_path, "-k", "test_dkim_key or test_mx_records")
    reason = "dns.dkim_selectors not configured in profile profile"
    for name in ("test_dkim_key_is_published", "test_dkim_key_is_2048_bits"):
        check = run.check(f"{name}[not-configured]")
        assert (check["outcome"], check["message"]) == ("skipped", reason)
    assert run.exit_code == 0


def test_ed25519_dkim_key_is_accepted(zone, target, run_checks) -> None:
    zone.records[("mail._domainkey.mail.test", "TXT")] = [dkim(kind="ed25519")]
    run = dns_run(target, run_checks)
    assert (
        run.outcome("test_dkim_key_is_published[mail]")
        == run.outcome("test_dkim_key_is_2048_bits[mail]")
        == "passed"
    )


def test_p_none_warns(zone, target, run_checks) -> None:
    zone.records[("_dmarc.mail.test", "TXT")] = ["v=DMARC1; p=none; rua=mailto:dmarc@mail.test"]
    run = dns_run(target, run_checks)
    assert run.outcome("test_dmarc_record_is_valid") == "passed"
    check = run.check("test_dmarc_policy_enforces")
    assert (check["outcome"], check["severity"], run.exit_code) == ("warned", "warning", 0)
    assert check["message"] == "_dmarc.mail.test: p=none, nothing is enforced"


def test_p_quarantine_enforces(zone, target, run_checks) -> None:
    zone.records[("_dmarc.mail.test", "TXT")] = ["v=DMARC1; p=quarantine; rua=mailto:dmarc@mail.test"]
    run = run_checks(target.profile_path, "-k", "dmarc_record or dmarc_policy")
    assert run.check("test_dmarc_record_is_valid")["message"] == (
        "_dmarc.mail.test: one v=DMARC1 record, p=quarantine"
    )
    check = run.check("test_dmarc_policy_enforces")
    assert (check["outcome"], check["message"]) == ("passed", "_dmarc.mail.test: p=quarantine")


def test_unauthorized_external_rua_fails(zone, target, run_checks) -> None:
    del zone.records[("mail.test._report._dmarc.collector.test", "TXT")]
    check = dns_run(target, run_checks).check("test_dmarc_report_destinations_are_valid")
    assert check["outcome"] == "failed"
    assert "collector.test does not authorize reports for mail.test" in check["message"]


def test_every_bad_report_destination_is_named(zone, target, run_checks) -> None:
    del zone.records[("mail.test._report._dmarc.collector.test", "TXT")]
    zone.records[("_dmarc.mail.test", "TXT")] = [
        "v=DMARC1; p=reject; rua=mailto:reports@collector.test; ruf=https://mail.test/dmarc"
    ]
    run = run_checks(target.profile_path, "-k", "test_dmarc_report_destinations_are_valid")
    check = run.check("test_dmarc_report_destinations_are_valid")
    assert (check["outcome"], check["severity"], run.exit_code) == ("failed", "blocker", 1)
    assert check["message"].split("; ") == [
        "mailto:reports@collector.test: collector.test does not authorize reports for mail.test "
        "(no v=DMARC1 at mail.test._report._dmarc.collector.test)",
        "'https://mail.test/dmarc' is not a mailto: URI",
    ]


def test_nxdomain_servfail_and_missing_mx_are_told_apart(zone, target, run_checks) -> None:
    del zone.records[("_dmarc.mail.test", "TXT")]
    del zone.records[("mail.test", "MX")]
    zone.servfail.add("mail._domainkey.mail.test")
    run = dns_run(target, run_checks)
    assert "_dmarc.mail.test: nxdomain" in run.check("test_dmarc_record_is_valid")["message"]
    assert "servfail" in run.check("test_dkim_key_is_published[mail]")["message"]
    assert run.check("test_mx_records_exist")["message"] == "mail.test: no MX records"


def test_a_failed_lookup_shows_its_reason_not_the_check_code(zone, target, run_checks) -> None:
    """A lookup that fails is the finding: the terminal shows why, not a traceback into the check."""
    zone.servfail.update({"mail.test", "mail._domainkey.mail.test", "_dmarc.mail.test"})
    run = run_checks(
        target.profile_path, "-k", "test_dkim_key_is_published or test_dmarc_record or test_mx_records"
    )
    for name, looked_up in [
        ("test_dkim_key_is_published[mail]", "mail._domainkey.mail.test. IN TXT"),
        ("test_dmarc_record_is_valid", "_dmarc.mail.test. IN TXT"),
        ("test_mx_records_exist", "mail.test. IN MX"),
    ]:
        check = run.check(name)
        assert check["outcome"] == "failed" and f"the query {looked_up}:" in check["message"]
        assert check["message"] in run.output
    assert "pytest.fail" not in run.output and "def _key" not in run.output


def test_a_null_mx_fails(zone, target, run_checks) -> None:
    """`MX 0 .` (RFC 7505) says the domain takes no mail: receivers may refuse its senders, and
    its bounces and DMARC reports go nowhere. It is an MX record, but not a mail exchanger."""
    zone.records[("mail.test", "MX")] = [(0, ".")]
    run = run_checks(target.profile_path, "-k", "test_mx_records_exist")
    check = run.check("test_mx_records_exist")
    assert (check["outcome"], check["severity"], run.exit_code) == ("failed", "blocker", 1)
    assert check["message"] == "mail.test: a null MX (0 .): the domain accepts no mail (RFC 7505)"


def test_no_relay_to_evaluate_is_a_finding(zone, target, run_checks) -> None:
    """Without dns.relay_ips the relays are smtp.host's A records: none means nothing evaluated."""
    target.write_profile(dns={"relay_ips": []}, smtp={"host": "relay.mail.test"})
    zone.records[("relay.mail.test", "TXT")] = ["v=spf1 -all"]  # the name exists, without an A record
    run = run_checks(target.profile_path, "-k", "test_spf_authorizes_every_relay")
    check = run.check("test_spf_authorizes_every_relay")
    assert (check["outcome"], check["severity"], run.exit_code) == ("failed", "blocker", 1)
    assert check["message"].startswith(
        "no relay to evaluate SPF for: dns.relay_ips is not set and smtp.host relay.mail.test has no A record"
    )

    zone.records[("relay.mail.test", "A")] = [RELAY]
    check = run_checks(target.profile_path, "-k", "test_spf_authorizes_every_relay").check(
        "test_spf_authorizes_every_relay"
    )
    assert (check["outcome"], check["message"]) == ("passed", f"SPF of mail.test: {RELAY} pass")


def test_report_destinations_skip_when_dmarc_names_none(zone, target, run_checks) -> None:
    """Without rua= or ruf= there is no destination to judge: the check skips, saying so."""
    zone.records[("_dmarc.mail.test", "TXT")] = ["v=DMARC1; p=reject"]
    run = dns_run(target, run_checks)
    check = run.check("test_dmarc_report_destinations_are_valid")
    assert check["outcome"] == "skipped"
    assert check["message"].endswith("_dmarc.mail.test names no report destination (no rua= or ruf=)")
    assert run.outcome("test_dmarc_record_is_valid") == "passed" and run.exit_code == 0


def test_a_policy_dmarc_does_not_know_fails(zone, target, run_checks) -> None:
    zone.records[("_dmarc.mail.test", "TXT")] = ["v=DMARC1; p=rejekt; rua=mailto:dmarc@mail.test"]
    run = dns_run(target, run_checks)
    check = run.check("test_dmarc_record_is_valid")
    assert (check["outcome"], check["severity"], run.exit_code) == ("failed", "blocker", 1)
    assert check["message"] == "_dmarc.mail.test: p='rejekt'"


def test_passed_dns_checks_say_what_they_read(zone, target, run_checks) -> None:
    zone.records[("mail.test", "MX")] = [(10, "mx.mail.test"), (20, "mx2.mail.test")]
    run = dns_run(target, run_checks)
    assert run.check("test_one_spf_record")["message"] == (
        "mail.test: v=spf1 ip4:192.0.2.10 include:_spf.relay.test -all"
    )
    check = run.check("test_spf_authorizes_every_relay")
    assert (check["message"], check["details"]) == (
        f"SPF of mail.test: {RELAY} pass, 198.51.100.7 pass",
        {"spf": {RELAY: "pass", "198.51.100.7": "pass"}},
    )
    assert run.check("test_dkim_key_is_published[mail]")["message"] == (
        "mail._domainkey.mail.test: rsa key of 2048 bits"
    )
    assert run.check("test_dkim_key_is_2048_bits[mail]")["message"] == (
        "mail._domainkey.mail.test: rsa key of 2048 bits"
    )
    assert run.check("test_dmarc_record_is_valid")["message"] == (
        "_dmarc.mail.test: one v=DMARC1 record, p=reject"
    )
    assert run.check("test_dmarc_policy_enforces")["message"] == "_dmarc.mail.test: p=reject"
    assert run.check("test_dmarc_report_destinations_are_valid")["message"] == (
        "_dmarc.mail.test: reports go to mailto:dmarc@mail.test, mailto:reports@collector.test"
    )
    assert (
        run.check("test_mx_records_exist")["message"] == "mail.test: MX 10 mx.mail.test., 20 mx2.mail.test."
    )
