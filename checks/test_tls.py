"""TLS endpoints (HTTPS, SMTPS, SMTP with STARTTLS, any host:port): certificates valid now and
for long enough, a chain a client accepts, the right host, sane keys and protocol."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runner.probes import tls as tls_probe


def test_certificates_are_valid_now(profile, tls_result, record_detail, evidence) -> None:
    """No certificate the server sends is expired or not yet valid (named with its dates)."""
    now = datetime.now(UTC)
    chain = _chain(tls_result)
    record_detail("chain", [f"{c.subject} ({c.dates()})" for c in chain])
    record_detail("expires_at", min(c.not_after for c in chain).isoformat())
    record_detail("warn_days", profile.tls.warn_days)  # the report's chart of days left
    record_detail("fail_days", profile.tls.fail_days)
    evidence(
        f"{len(chain)} certificate(s) valid now: " + "; ".join(f"{c.subject} {c.dates()}" for c in chain)
    )
    bad = [f"{c.subject}: expired, {c.dates()}" for c in chain if c.not_after < now]
    bad += [f"{c.subject}: not yet valid, {c.dates()}" for c in chain if c.not_before > now]
    assert not bad, "; ".join(bad)


def test_certificates_outlast_fail_days(profile, tls_result, evidence) -> None:
    """Every certificate sent is valid for more than tls.fail_days."""
    evidence(_first_expiry(tls_result, "tls.fail_days", profile.tls.fail_days))
    short = _expiring(tls_result, profile.tls.fail_days)
    assert not short, f"expires within tls.fail_days ({profile.tls.fail_days}): " + "; ".join(short)


@pytest.mark.severity("warning")
def test_certificates_outlast_warn_days(profile, tls_result, evidence) -> None:
    """Every certificate sent is valid for more than tls.warn_days."""
    evidence(_first_expiry(tls_result, "tls.warn_days", profile.tls.warn_days))
    short = _expiring(tls_result, profile.tls.warn_days)
    assert not short, f"expires within tls.warn_days ({profile.tls.warn_days}): " + "; ".join(short)


def test_chain_and_host_name_verify(profile, tls_result, evidence) -> None:
    """A client using the trust store (or tls.ca_file) accepts the chain and the host name."""
    trust = "tls.ca_file" if profile.tls.ca_file else "the system trust store"
    evidence(
        f"{tls_result.endpoint.text}: chain and host name {tls_result.endpoint.host} verified against {trust}"
    )
    assert tls_result.verify_error is None, f"{tls_result.endpoint.text}: {tls_result.verify_error}"


def test_key_size_and_protocol(tls_result, record_detail, evidence) -> None:
    """RSA keys have at least 2048 bits and the connection uses TLS 1.2 or newer."""
    record_detail("protocol", tls_result.protocol)
    record_detail("cipher", tls_result.cipher)
    leaf = _chain(tls_result)[0]
    evidence(f"{leaf.subject}: {leaf.key} key; {tls_result.protocol} ({tls_result.cipher})")
    problems = (
        [f"{leaf.subject}: RSA key of {leaf.rsa_bits} bits (< 2048)"]
        if (leaf.rsa_bits or 2048) < 2048
        else []
    )
    if not tls_probe.protocol_ok(tls_result.protocol):
        problems.append(f"negotiated {tls_result.protocol}, older than TLS 1.2")
    assert not problems, "; ".join(problems)


def _chain(result) -> list[tls_probe.CertInfo]:
    """The certificates the server sent; none read fails the check: nothing judged is no pass."""
    assert result.chain, (
        f"{result.endpoint.text}: no certificate was read from the server, so none can be judged"
    )
    return result.chain


def _first_expiry(result, key: str, days: int) -> str:
    now = datetime.now(UTC)
    first = min(_chain(result), key=lambda c: c.not_after)
    return (
        f"the first certificate to expire, {first.subject}, expires {first.not_after:%Y-%m-%d}: "
        f"{first.days_left(now):.1f} days left, {key} is {days}"
    )


def _expiring(result, days: int) -> list[str]:
    now = datetime.now(UTC)
    return [
        f"{c.subject} in {c.days_left(now):.1f} days ({c.not_after:%Y-%m-%d})"
        for c in _chain(result)
        if now <= c.not_after and c.days_left(now) < days
    ]
