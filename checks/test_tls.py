"""TLS endpoints (HTTPS, SMTPS, SMTP with STARTTLS, any host:port): certificates valid now and
for long enough, a chain a client accepts, the right host, sane keys and protocol."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runner.probes import tls as tls_probe


def test_certificates_are_valid_now(profile, tls_result, record_detail) -> None:
    """No certificate the server sends is expired or not yet valid (named with its dates)."""
    now = datetime.now(UTC)
    record_detail("chain", [f"{c.subject} ({c.dates()})" for c in tls_result.chain])
    if tls_result.chain:
        record_detail("expires_at", min(c.not_after for c in tls_result.chain).isoformat())
        record_detail("warn_days", profile.tls.warn_days)  # the report's chart of days left
        record_detail("fail_days", profile.tls.fail_days)
    bad = [f"{c.subject}: expired, {c.dates()}" for c in tls_result.chain if c.not_after < now]
    bad += [f"{c.subject}: not yet valid, {c.dates()}" for c in tls_result.chain if c.not_before > now]
    assert not bad, "; ".join(bad)


def test_certificates_outlast_fail_days(profile, tls_result) -> None:
    """Every certificate sent is valid for more than tls.fail_days."""
    short = _expiring(tls_result, profile.tls.fail_days)
    assert not short, f"expires within tls.fail_days ({profile.tls.fail_days}): " + "; ".join(short)


@pytest.mark.severity("warning")
def test_certificates_outlast_warn_days(profile, tls_result) -> None:
    """Every certificate sent is valid for more than tls.warn_days."""
    short = _expiring(tls_result, profile.tls.warn_days)
    assert not short, f"expires within tls.warn_days ({profile.tls.warn_days}): " + "; ".join(short)


def test_chain_and_host_name_verify(tls_result) -> None:
    """A client using the trust store (or tls.ca_file) accepts the chain and the host name."""
    assert tls_result.verify_error is None, f"{tls_result.endpoint.text}: {tls_result.verify_error}"


def test_key_size_and_protocol(tls_result, record_detail) -> None:
    """RSA keys have at least 2048 bits and the connection uses TLS 1.2 or newer."""
    record_detail("protocol", tls_result.protocol)
    record_detail("cipher", tls_result.cipher)
    problems = [
        f"{c.subject}: RSA key of {c.rsa_bits} bits (< 2048)"
        for c in tls_result.chain[:1]
        if c.rsa_bits is not None and c.rsa_bits < 2048
    ]
    if not tls_probe.protocol_ok(tls_result.protocol):
        problems.append(f"negotiated {tls_result.protocol}, older than TLS 1.2")
    assert not problems, "; ".join(problems)


def _expiring(result, days: int) -> list[str]:
    now = datetime.now(UTC)
    return [
        f"{c.subject} in {c.days_left(now):.1f} days ({c.not_after:%Y-%m-%d})"
        for c in result.chain
        if now <= c.not_after and c.days_left(now) < days
    ]
