"""The mail relay: reachable with the configured security, STARTTLS enforced, login accepted."""

from __future__ import annotations

import pytest


def test_smtp_session_is_encrypted_as_configured(profile, smtp_session, record_detail) -> None:
    """The relay answers and, unless security is plain, the session runs over verified TLS."""
    record_detail("smtp", smtp_session.details())
    if profile.smtp.security != "plain":
        assert smtp_session.tls_version, f"{profile.smtp.host}: the session is not encrypted"


def test_no_auth_before_starttls(profile, smtp_session) -> None:
    """With STARTTLS, AUTH is not offered on the unencrypted connection."""
    if profile.smtp.security != "starttls":
        pytest.skip(f"smtp.security is {profile.smtp.security}")
    assert not smtp_session.auth_before_tls, f"{profile.smtp.host}: AUTH is offered before STARTTLS"


def test_login_is_accepted(profile, smtp_session) -> None:
    """The configured user logs in (a wrong password fails with the server's reply)."""
    if not profile.smtp.user:
        pytest.skip(f"smtp.user not configured in profile {profile.name}")
    if profile.smtp.security == "plain":
        pytest.skip("smtp.security is plain: deploycheck never sends a password unencrypted")
    assert smtp_session.authenticated, smtp_session.login_refused


def test_relay_accepts_the_test_email(test_email, record_detail) -> None:
    """With smtp.test_recipient, the relay accepts deploycheck's test email (its sender and
    recipient); a refusal fails with the server's reply. `smtp.send_test: false` turns it off."""
    record_detail("token", test_email.token)
    assert not test_email.refused, test_email.refused


def test_test_email_is_delivered(delivery, record_detail) -> None:
    """With smtp.imap, the test email arrives in the recipient's mailbox within smtp.imap.wait_s.

    The `delivery` fixture fails this check when it does not, naming the token and the mailbox."""
    record_detail("delivery", delivery.details())


def test_receiver_authenticates_the_test_email(delivery) -> None:
    """The receiving server's Authentication-Results say spf=pass, dkim=pass and dmarc=pass."""
    problem = delivery.authentication_problem()
    assert problem is None, problem


def test_dkim_signature_verifies_and_aligns(delivery) -> None:
    """A DKIM signature of the test email verifies again here (dkimpy) and its d= is aligned with From."""
    problem = delivery.dkim_problem()
    assert problem is None, problem
