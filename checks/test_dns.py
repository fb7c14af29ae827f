"""Mail authentication in DNS: SPF authorizes the relays, DKIM keys are published and strong,
DMARC enforces a policy and its reports may be sent where it says, MX exists."""

from __future__ import annotations

import pytest

from runner.errors import DnsProblem, MailError
from runner.mail import records


def test_one_spf_record(profile, dns_resolver, evidence) -> None:
    """The domain publishes exactly one v=spf1 record."""
    found = records.spf_records(dns_resolver, profile.dns.domain)
    evidence(f"{profile.dns.domain}: {'; '.join(found)}")
    assert len(found) == 1, f"{profile.dns.domain}: {len(found)} v=spf1 records, expected exactly one"


def test_spf_authorizes_every_relay(profile, dns_resolver, relay_ips, record_detail, evidence) -> None:
    """Each outbound relay IP evaluates to pass (syntax, the 10-lookup and 2-void-lookup limits
    are part of the RFC 7208 evaluation); no relay to evaluate is a finding, not a pass."""
    assert relay_ips, (
        f"no relay to evaluate SPF for: dns.relay_ips is not set and smtp.host {profile.smtp.host} has no "
        "A record; list the relay's addresses in dns.relay_ips"
    )
    results = {ip: records.spf_result(dns_resolver, profile.dns.domain, ip) for ip in relay_ips}
    record_detail("spf", {ip: result for ip, (result, _) in results.items()})
    bad = [f"{ip}: {result} ({why})" for ip, (result, why) in results.items() if result != "pass"]
    evidence(
        f"SPF of {profile.dns.domain}: " + ", ".join(f"{ip} {result}" for ip, (result, _) in results.items())
    )
    assert not bad, f"SPF of {profile.dns.domain} does not pass for: " + "; ".join(bad)


def _key(profile, dns_resolver, selector):
    if selector is None:
        pytest.skip(f"dns.dkim_selectors not configured in profile {profile.name}")
    try:
        return records.dkim_key(dns_resolver, profile.dns.domain, selector)
    except MailError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_dkim_key_is_published(profile, dns_resolver, dkim_selector, evidence) -> None:
    """The selector publishes a parseable, unrevoked key (RSA of at least 1024 bits, or ed25519)."""
    key = _key(profile, dns_resolver, dkim_selector)
    name = f"{dkim_selector}._domainkey.{profile.dns.domain}"
    assert not key.revoked, f"{name}: the key is revoked (empty p=)"
    evidence(f"{name}: {key.kind} key of {key.bits} bits")
    assert key.kind == "ed25519" or key.bits >= 1024, f"{name}: RSA key of {key.bits} bits is too weak"


@pytest.mark.severity("warning")
def test_dkim_key_is_2048_bits(profile, dns_resolver, dkim_selector, evidence) -> None:
    """RSA keys have at least 2048 bits; a revoked key has no size to judge (the check above
    fails on it) and skips."""
    key = _key(profile, dns_resolver, dkim_selector)
    name = f"{dkim_selector}._domainkey.{profile.dns.domain}"
    if key.revoked:
        pytest.skip(f"{name}: the key is revoked (empty p=), no key size to judge")
    evidence(f"{name}: {key.kind} key of {key.bits} bits")
    assert key.kind == "ed25519" or key.bits >= 2048, f"{name}: RSA key of {key.bits} bits, 2048 recommended"


def _dmarc(profile, dns_resolver):
    try:
        return records.dmarc(dns_resolver, profile.dns.domain)
    except MailError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_dmarc_record_is_valid(profile, dns_resolver, evidence) -> None:
    """Exactly one DMARC record, with a policy of none, quarantine or reject."""
    record = _dmarc(profile, dns_resolver)
    evidence(f"_dmarc.{profile.dns.domain}: one v=DMARC1 record, p={record.policy}")
    assert record.policy in ("none", "quarantine", "reject"), (
        f"_dmarc.{profile.dns.domain}: p={record.policy!r}"
    )


@pytest.mark.severity("warning")
def test_dmarc_policy_enforces(profile, dns_resolver, evidence) -> None:
    """The policy is quarantine or reject; p=none only monitors."""
    record = _dmarc(profile, dns_resolver)
    evidence(f"_dmarc.{profile.dns.domain}: p={record.policy}")
    assert record.policy in ("quarantine", "reject"), (
        f"_dmarc.{profile.dns.domain}: p={record.policy}, nothing is enforced"
    )


def test_dmarc_report_destinations_are_valid(profile, dns_resolver, evidence) -> None:
    """rua/ruf are mailto: URIs, and destinations outside the domain authorize the reports;
    a record that names none skips (nothing to judge)."""
    record = _dmarc(profile, dns_resolver)
    destinations = record.report_addresses()
    if not destinations:
        pytest.skip(f"_dmarc.{profile.dns.domain} names no report destination (no rua= or ruf=)")
    problems = records.report_problems(dns_resolver, profile.dns.domain, record)
    evidence(f"_dmarc.{profile.dns.domain}: reports go to {', '.join(destinations)}")
    assert not problems, "; ".join(problems)


def test_mx_records_exist(profile, dns_resolver, evidence) -> None:
    """The domain has MX records, and no null MX: `0 .` (RFC 7505) says it takes no mail, so
    receivers may refuse mail from it and its bounces and reports go nowhere."""
    try:
        found = records.lookup(dns_resolver, profile.dns.domain, "MX")
    except DnsProblem as exc:
        pytest.fail(str(exc), pytrace=False)
    evidence(f"{profile.dns.domain}: MX {', '.join(found)}")
    assert found, f"{profile.dns.domain}: no MX records"
    null = [mx for mx in found if mx.split()[1] == "."]
    assert not null, (
        f"{profile.dns.domain}: a null MX ({', '.join(null)}): the domain accepts no mail (RFC 7505)"
    )
