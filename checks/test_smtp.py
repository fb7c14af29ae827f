"""The mail relay: reachable with the configured security, STARTTLS enforced, login accepted."""

from __future__ import annotations

import pytest


def test_smtp_session_is_encrypted_as_configured(profile, smtp_session, record_detail, evidence) -> None:
    """The relay answers and, unless security is plain, the session runs over verified TLS."""
    record_detail("smtp", smtp_session.details())
    encrypted = (
        f"{smtp_session.tls_version} ({smtp_session.cipher})" if smtp_session.tls_version else "no TLS"
    )
    evidence(
        f"{profile.smtp.host}:{profile.smtp.port} answered; smtp.security {profile.smtp.security}, {encrypted}"
    )
    if profile.smtp.security != "plain":
        assert smtp_session.tls_version, (
            smtp_session.unencrypted or f"{profile.smtp.host}: the session is not encrypted"
        )


def test_no_auth_before_starttls(profile, smtp_session, evidence) -> None:
    """With STARTTLS, AUTH is not offered on the unencrypted connection."""
    if profile.smtp.security != "starttls":
        pytest.skip(f"smtp.security is {profile.smtp.security}")
    evidence(f"{profile.smtp.host}: the EHLO before STARTTLS offers no AUTH")
    assert not smtp_session.auth_before_tls, f"{profile.smtp.host}: AUTH is offered before STARTTLS"


def test_login_is_accepted(profile, smtp_session, evidence) -> None:
    """The configured user logs in (a wrong password fails with the server's reply)."""
    if not profile.smtp.user:
        pytest.skip(f"smtp.user not configured in profile {profile.name}")
    if profile.smtp.security == "plain":
        pytest.skip("smtp.security is plain: deploycheck never sends a password unencrypted")
    evidence(f"{profile.smtp.host}: the login of smtp.user was accepted over {smtp_session.tls_version}")
    assert smtp_session.authenticated, smtp_session.refused


def test_relay_accepts_the_test_email(profile, test_email, record_detail, evidence) -> None:
    """With smtp.test_recipient, the relay accepts deploycheck's test email (its sender and
    recipient); a refusal fails with the server's reply. `smtp.send_test: false` turns it off."""
    record_detail("token", test_email.token)
    evidence(f"{profile.smtp.host} accepted the test email {test_email.token} for smtp.test_recipient")
    assert not test_email.refused, test_email.refused


def test_test_email_is_delivered(delivery, record_detail, evidence) -> None:
    """With smtp.imap, the test email arrives in the recipient's mailbox within smtp.imap.wait_s.

    The `delivery` fixture fails this check when it does not, naming the token and the mailbox."""
    record_detail("delivery", delivery.details())
    evidence(f"the test email {delivery.token} was {delivery.summary()}")


def test_receiver_authenticates_the_test_email(delivery, evidence) -> None:
    """The receiving server's Authentication-Results say spf=pass, dkim=pass and dmarc=pass."""
    evidence(
        f"{delivery.authserv_id or 'the receiver'} reports "
        + ", ".join(f"{method}={result}" for method, result in sorted(delivery.results.items()))
    )
    problem = delivery.authentication_problem()
    assert problem is None, problem


def test_dkim_signature_verifies_and_aligns(delivery, evidence) -> None:
    """A DKIM signature of the test email verifies again here (dkimpy) and its d= is aligned with From."""
    verified = [f"d={s.domain} s={s.selector}" for s in delivery.signatures if not s.problem]
    evidence(f"DKIM signature {', '.join(verified)} verified again, aligned with From {delivery.from_domain}")
    problem = delivery.dkim_problem()
    assert problem is None, problem
