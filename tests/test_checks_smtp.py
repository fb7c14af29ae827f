"""checks/test_smtp.py and `deploycheck smtp test` against aiosmtpd: STARTTLS, implicit TLS, AUTH,
a server without STARTTLS, a wrong password, and one that accepts and never speaks."""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest
import trustme

from tests.conftest import deploycheck
from tests.mail_servers import (
    AUTH_ATTEMPTS,
    PASSWORD,
    RECEIVER_SAYS_PASS,
    USER,
    Inbox,
    dovecot_server,
)

SMTP_CHECKS = [
    "test_smtp_session_is_encrypted_as_configured",
    "test_no_auth_before_starttls",
    "test_login_is_accepted",
    "test_relay_accepts_the_test_email",
]
DELIVERY_CHECKS = [
    "test_test_email_is_delivered",
    "test_receiver_authenticates_the_test_email",
    "test_dkim_signature_verifies_and_aligns",
]


def smtp_profile(target, port: int, ca, **smtp) -> None:
    target.write_profile(
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "user": USER,
            "password": PASSWORD,
            "from": "noreply@mail.test",
            "test_recipient": "ops@mail.test",
            "ca_file": str(ca),
            **smtp,
        },
        timeouts={"default_s": 2},
    )


def test_starttls_relay_with_auth_passes(target, run_checks, relay, pki) -> None:
    port, inbox = relay("starttls")
    smtp_profile(target, port, pki[1])
    run = run_checks(target.profile_path, "-k", "test_smtp")
    assert run.outcomes("smtp") == {
        **dict.fromkeys(SMTP_CHECKS, "passed"),
        **dict.fromkeys(DELIVERY_CHECKS, "skipped"),
    }
    token = run.check("test_relay_accepts_the_test_email")["details"]["token"]
    (message,) = inbox.messages  # sent although there is no mailbox to confirm it in
    assert f"Subject: deploycheck test {token}".encode() in message
    assert run.check("test_test_email_is_delivered")["message"].endswith(
        "smtp.imap not configured in profile profile"
    )
    details = run.check("test_smtp_session_is_encrypted_as_configured")["details"]["smtp"]
    assert (
        details["tls"].startswith("TLSv1.")
        and "auth" in details["capabilities"]
        and details["banner"].startswith("220")
    )


def test_implicit_tls_relay_passes(target, run_checks, relay, pki) -> None:
    port, _ = relay("tls")
    smtp_profile(target, port, pki[1], security="tls")
    run = run_checks(target.profile_path, "-k", "test_smtp and not email and not dkim")
    assert run.outcomes("smtp") == {
        "test_smtp_session_is_encrypted_as_configured": "passed",
        "test_no_auth_before_starttls": "skipped",
        "test_login_is_accepted": "passed",
    }
    assert run.check("test_no_auth_before_starttls")["message"].endswith("smtp.security is tls")
    assert run.check("test_smtp_session_is_encrypted_as_configured")["details"]["smtp"]["tls"].startswith(
        "TLSv1."
    )


def test_passed_smtp_checks_say_what_they_saw(target, run_checks, relay, pki) -> None:
    """A passed check's message is its evidence, whole: the relay, its TLS, what it accepted."""
    port, _ = relay("starttls")
    smtp_profile(target, port, pki[1])
    run = run_checks(target.profile_path, "-k", "test_smtp")
    session = run.check("test_smtp_session_is_encrypted_as_configured")["details"]["smtp"]
    tls, cipher = session["tls"], session["cipher"]
    assert tls.startswith("TLSv1.") and cipher
    token = run.check("test_relay_accepts_the_test_email")["details"]["token"]
    assert len(token) == 16
    assert {name: run.check(name)["message"] for name in SMTP_CHECKS} == {
        "test_smtp_session_is_encrypted_as_configured": (
            f"127.0.0.1:{port} answered; smtp.security starttls, {tls} ({cipher})"
        ),
        "test_no_auth_before_starttls": "127.0.0.1: the EHLO before STARTTLS offers no AUTH",
        "test_login_is_accepted": f"127.0.0.1: the login of smtp.user was accepted over {tls}",
        "test_relay_accepts_the_test_email": (
            f"127.0.0.1 accepted the test email {token} for smtp.test_recipient"
        ),
    }


def test_plain_relay_says_it_has_no_tls_and_why_no_login(target, run_checks, relay, pki) -> None:
    port, _ = relay("none")
    smtp_profile(target, port, pki[1], security="plain")
    run = run_checks(target.profile_path, "-k", "test_smtp_session or test_login")
    assert run.check("test_smtp_session_is_encrypted_as_configured")["message"] == (
        f"127.0.0.1:{port} answered; smtp.security plain, no TLS"
    )
    login = run.check("test_login_is_accepted")
    assert login["outcome"] == "skipped"
    assert login["message"] == "smtp.security is plain: deploycheck never sends a password unencrypted"


def test_login_without_a_user_skips_naming_the_setting(target, run_checks, relay, pki) -> None:
    """No smtp.user: nothing to log in with, which the check says instead of passing on nothing."""
    port, _ = relay("starttls")
    smtp_profile(target, port, pki[1], user=None, password=None)
    run = run_checks(target.profile_path, "-k", "test_smtp_session or test_login")
    login = run.check("test_login_is_accepted")
    assert (login["outcome"], login["message"]) == (
        "skipped",
        "smtp.user not configured in profile profile",
    )
    assert run.outcome("test_smtp_session_is_encrypted_as_configured") == "passed"


def failed(run, check: str, outcome: str = "failed") -> str:
    """The check failed as a blocker (or errored: its probe failed) and the run exits 1, as a
    warning would not; its message."""
    __tracebackhide__ = True
    found = run.check(check)
    assert (found["outcome"], found["severity"], run.exit_code) == (outcome, "blocker", 1), found
    return found["message"]


def test_implicit_tls_against_a_starttls_port_fails(target, run_checks, relay, pki) -> None:
    port, _ = relay("starttls")
    smtp_profile(target, port, pki[1], security="tls")
    message = failed(run_checks(target.profile_path, "-k", "test_login"), "test_login_is_accepted", "error")
    assert message.startswith(f"127.0.0.1:{port}:") and "SSL" in message


def test_auth_offered_before_starttls_fails(target, run_checks, relay, pki) -> None:
    port, _ = relay("auth-before-tls")
    smtp_profile(target, port, pki[1])
    AUTH_ATTEMPTS.clear()
    run = run_checks(target.profile_path, "-k", "test_smtp and not email and not dkim")
    assert failed(run, "test_no_auth_before_starttls") == "127.0.0.1: AUTH is offered before STARTTLS"
    assert run.outcome("test_login_is_accepted") == "passed"  # after STARTTLS: the password stayed encrypted
    assert run.outcome("test_smtp_session_is_encrypted_as_configured") == "passed"


def test_wrong_password_fails_with_the_servers_reply(target, run_checks, relay, pki) -> None:
    port, _ = relay("starttls")
    smtp_profile(target, port, pki[1], password="not-the-smtp-password")
    run = run_checks(target.profile_path, "-k", "test_smtp")
    message = failed(run, "test_login_is_accepted")
    assert message == "login as 'mailer' refused: 535 5.7.8 Authentication credentials invalid"
    assert run.outcome("test_smtp_session_is_encrypted_as_configured") == "passed"  # TLS did hold
    assert "not-the-smtp-password" not in json.dumps(run.report) + run.output


def test_plain_relay_is_used_without_auth(target, run_checks, relay, pki) -> None:
    port, _ = relay("none")
    smtp_profile(target, port, pki[1], security="plain")
    AUTH_ATTEMPTS.clear()
    run = run_checks(target.profile_path, "-k", "test_smtp and not email and not dkim")
    assert run.outcomes("smtp") == {
        "test_smtp_session_is_encrypted_as_configured": "passed",
        "test_no_auth_before_starttls": "skipped",
        "test_login_is_accepted": "skipped",
    }
    assert "never sends a password unencrypted" in run.check("test_login_is_accepted")["message"]
    assert AUTH_ATTEMPTS == []  # the server offers AUTH in the clear; it is not used


def test_relay_without_starttls_fails(target, run_checks, relay, pki) -> None:
    port, _ = relay("none")
    smtp_profile(target, port, pki[1])
    run = run_checks(target.profile_path, "-k", "test_smtp")
    refusal = f"127.0.0.1:{port} does not offer STARTTLS (security: starttls)"
    assert failed(run, "test_smtp_session_is_encrypted_as_configured") == refusal  # the check's own verdict
    assert failed(run, "test_login_is_accepted") == refusal  # no password on a plain connection


def test_untrusted_certificate_fails(target, run_checks, relay, tmp_path) -> None:
    port, _ = relay("starttls")
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    smtp_profile(target, port, other)
    message = failed(run_checks(target.profile_path, "-k", "test_smtp"), "test_login_is_accepted", "error")
    assert "TLS certificate not accepted" in message


class RefusingSender(Inbox):
    async def handle_MAIL(self, server, session, envelope, address, options) -> str:
        return "553 5.7.1 <noreply@mail.test>: Sender address rejected: not owned by user mailer"


def test_relay_that_refuses_the_sender_fails_the_acceptance_check(target, run_checks, relay, pki) -> None:
    """Login and TLS hold, but the relay will not take mail from smtp.from: only sending shows it."""
    port, inbox = relay("starttls", RefusingSender())
    smtp_profile(target, port, pki[1])
    run = run_checks(target.profile_path, "-k", "test_smtp")
    assert run.outcome("test_login_is_accepted") == "passed"
    assert run.outcome("test_relay_accepts_the_test_email") == "failed"
    assert run.check("test_relay_accepts_the_test_email")["message"] == (
        f"127.0.0.1:{port} refused the test email: 553 5.7.1 <noreply@mail.test>: "
        "Sender address rejected: not owned by user mailer"
    )
    assert inbox.messages == []


def test_send_test_false_sends_nothing(target, run_checks, relay, pki) -> None:
    port, inbox = relay("starttls")
    smtp_profile(target, port, pki[1], send_test=False)
    run = run_checks(target.profile_path, "-k", "test_smtp")
    check = run.check("test_relay_accepts_the_test_email")
    assert check["outcome"] == "skipped" and check["message"].endswith(
        "smtp.send_test is false in profile profile"
    )
    assert run.outcome("test_login_is_accepted") == "passed" and inbox.messages == []


def test_without_a_test_recipient_nothing_is_sent_and_the_checks_say_why(
    target, run_checks, relay, pki
) -> None:
    port, inbox = relay("starttls")
    smtp_profile(target, port, pki[1], test_recipient=None)
    run = run_checks(target.profile_path, "-k", "test_smtp")
    sending = ["test_relay_accepts_the_test_email", *DELIVERY_CHECKS]
    assert {name: (run.outcome(name), run.check(name)["message"]) for name in sending} == dict.fromkeys(
        sending, ("skipped", "smtp.test_recipient not configured in profile profile")
    )
    assert (run.exit_code, inbox.messages) == (0, [])


def test_silent_server_fails_within_the_timeout(target, run_checks, pki) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        smtp_profile(target, silent.getsockname()[1], pki[1])
        started = time.monotonic()
        run = run_checks(target.profile_path, "-k", "test_smtp")
    assert time.monotonic() - started < 8
    assert "no SMTP answer within 2 s" in run.check("test_login_is_accepted")["message"]


def test_smtp_test_sends_a_token_and_logs_it(target, relay, pki, tmp_path) -> None:
    port, inbox = relay("starttls")
    smtp_profile(target, port, pki[1])
    log = tmp_path / "deliveries.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "smtp",
            "test",
            "--profile",
            str(target.profile_path),
            "--to",
            "someone@mail.test",
            "--log",
            str(log),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (entry,) = [json.loads(line) for line in log.read_text().splitlines()]
    (message,) = inbox.messages
    assert f"X-Deploycheck-Token: {entry['token']}".encode() in message
    assert f"Subject: deploycheck test {entry['token']}".encode() in message
    assert entry["token"] in entry["message_id"] and entry["to"] == "someone@mail.test"
    assert PASSWORD not in result.stdout + result.stderr


# -- the failure notification ---------------------------------------------------


def _verify(target, reports, *args: str) -> subprocess.CompletedProcess[str]:
    return deploycheck("verify", "--profile", str(target.profile_path), "--reports", str(reports), *args)


class Webhook:
    """A local incoming-webhook receiver (as Slack or Mattermost run one): records each JSON POST."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        received = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/Secret-Hook-Token-77"


@pytest.fixture()
def webhook():
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


def test_alerts_on_a_failure_once_on_a_new_one_and_once_on_recovery(
    target, relay, pki, tmp_path, webhook
) -> None:
    port, inbox = relay("starttls")
    smtp_profile(target, port, pki[1], notify_to=["oncall@mail.test"], send_test=False)
    folder = tmp_path / "backup"
    folder.mkdir()
    leftover = folder / "202601010300.app.sql"
    leftover.write_text("-- a dump whose gzip failed")
    os.utime(leftover, (1767236400, 1767236400))  # untouched since 2026-01-01 03:00: not a run still going
    target.write_profile(
        backups={"source": str(folder), "databases": ["app"], "schedule": "0 3 * * *"},
        notify={"webhook_url": webhook.url},
    )
    reports = tmp_path / "reports"
    selection = ("-k", "test_no_leftover_uncompressed_dumps or test_latest_links or test_nothing_pending")

    first = _verify(target, reports, *selection, "--notify")
    assert first.returncode == 1 and "notify: deploycheck: 1 blocker(s) failing on test" in first.stdout
    (raw,) = inbox.messages
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == "deploycheck: 1 blocker(s) failing on test"
    body = mail.get_content()
    assert (
        "Newly failing:" in body
        and "test_no_leftover_uncompressed_dumps" in body
        and "202601010300.app.sql" in body
    )
    assert len(webhook.posts) == 1 and "1 blocker(s) failing on test" in webhook.posts[0]["text"]

    again = _verify(target, reports, *selection, "--notify")  # an hour later, say: the same failure
    assert (
        "notify: nothing new to alert" in again.stdout
        and len(inbox.messages) == 1
        and len(webhook.posts) == 1
    )

    target.add("V1__new.sql", "SELECT 1;")  # a new failure: pending migration
    worse = _verify(target, reports, *selection, "--notify")
    assert len(inbox.messages) == 2
    body = email.message_from_bytes(inbox.messages[1], policy=email.policy.default).get_content()
    assert body.index("Newly failing:") < body.index("test_nothing_pending") < body.index("Still failing:")
    assert "(1 new)" in worse.stdout

    leftover.unlink()
    (target.migrations / "V1__new.sql").unlink()
    recovered = _verify(target, reports, *selection, "--notify")
    assert recovered.returncode == 0 and "notify: deploycheck: test is back to passing" in recovered.stdout
    assert len(inbox.messages) == 3 and "back to passing" in webhook.posts[-1]["text"]
    assert "Fixed since the last alert:" in webhook.posts[-1]["text"]
    quiet = _verify(target, reports, *selection, "--notify")
    assert "nothing new to alert" in quiet.stdout and len(inbox.messages) == 3  # recovery said once

    for output in (first, again, worse, recovered, quiet):
        assert "Secret-Hook-Token-77" not in output.stdout + output.stderr and PASSWORD not in output.stdout
    assert all(PASSWORD.encode() not in m for m in inbox.messages)

    preview = deploycheck("smtp", "preview", "--profile", str(target.profile_path), "--reports", str(reports))
    assert preview.returncode == 0 and "X-Deploycheck-Token: 0123456789abcdef" in preview.stdout
    assert "(none: no blocker failed in" in preview.stdout and len(inbox.messages) == 3


def test_the_same_failure_is_alerted_again_after_repeat_hours(target, relay, pki, tmp_path) -> None:
    port, inbox = relay("starttls")
    smtp_profile(target, port, pki[1], notify_to=["oncall@mail.test"], send_test=False)
    target.add("V1__new.sql", "SELECT 1;")
    target.write_profile(notify={"repeat_hours": 0.000001})
    for _ in range(2):
        _verify(target, tmp_path / "reports", "-k", "test_nothing_pending", "--notify")
    assert len(inbox.messages) == 2


# -- delivery confirmation through IMAP ---------------------------------------------


@pytest.fixture()
def mailpath(target, mail_route, pki):
    """A profile whose test email goes through aiosmtpd, is signed and delivered into dovecot."""
    smtp_profile(target, mail_route.relay_port, pki[1], imap={**mail_route.imap, "wait_s": 3})
    dns_port = mail_route.dns_port
    target.write_profile(
        dns={"domain": "mail.test", "nameservers": ["127.0.0.1"], "port": dns_port},
        timeouts={"default_s": 5},  # dovecot answers a wrong password after 2 s, as servers do
    )
    return mail_route.receiver


def delivery_run(target, run_checks):
    return run_checks(target.profile_path, "-k", "test_smtp")


def test_delivered_authenticated_email_passes_and_is_deleted(mailpath, target, run_checks, dovecot) -> None:
    run = delivery_run(target, run_checks)
    assert run.outcomes("smtp") == dict.fromkeys(SMTP_CHECKS + DELIVERY_CHECKS, "passed"), run.output[-2000:]
    details = run.check("test_test_email_is_delivered")["details"]["delivery"]
    assert details["results"] == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert details["dkim"] == [{"d": "mail.test", "s": "mail", "problem": ""}]
    assert details["authserv_id"] == "mx.mail.test" and details["deleted"] is True
    assert dovecot.count() == 0
    report = json.dumps(run.report)
    assert dovecot.password not in report and PASSWORD not in report


def test_passed_delivery_checks_say_what_they_saw(mailpath, target, run_checks) -> None:
    """The evidence, whole: the delivery's summary, the receiver's results, the signatures verified
    again. Three signatures: by the From domain, by a sibling subdomain (both aligned: both named)
    and by the relay's own domain (verifies, not aligned: left out, and no reason to fail)."""
    mailpath.also_sign_as = ["relay.test", "news.mail.test"]
    run = delivery_run(target, run_checks)
    assert {name: run.outcome(name) for name in DELIVERY_CHECKS} == dict.fromkeys(DELIVERY_CHECKS, "passed")
    details = run.check("test_test_email_is_delivered")["details"]["delivery"]
    assert [s["d"] for s in details["dkim"]] == ["news.mail.test", "relay.test", "mail.test"]
    token, mailbox = details["token"], details["mailbox"]
    summary = run.check("test_test_email_is_delivered")["message"]
    assert re.fullmatch(
        rf"the test email {token} was delivered to {re.escape(mailbox)} after \d+\.\d s; "
        r"mx\.mail\.test reports spf=pass, dkim=pass, dmarc=pass; DKIM signature d=news\.mail\.test s=mail, "
        r"d=mail\.test s=mail verified again; the test email was deleted",
        summary,
    ), summary
    assert run.check("test_receiver_authenticates_the_test_email")["message"] == (
        "mx.mail.test reports dkim=pass, dmarc=pass, spf=pass"
    )
    assert run.check("test_dkim_signature_verifies_and_aligns")["message"] == (
        "DKIM signature d=news.mail.test s=mail, d=mail.test s=mail verified again, aligned with From mail.test"
    )


def test_email_that_never_arrives_fails_within_wait_s(mailpath, target, run_checks) -> None:
    mailpath.drop = True
    started = time.monotonic()
    run = delivery_run(target, run_checks)
    assert time.monotonic() - started < 15
    message = run.check("test_test_email_is_delivered")["message"]
    assert "did not arrive in ops@mail.test at 127.0.0.1:" in message and "/INBOX within 3 s" in message
    assert {run.outcome(name) for name in DELIVERY_CHECKS} == {"error"}  # the fixture could not deliver
    assert run.outcome("test_login_is_accepted") == "passed"


def test_receiver_reporting_dmarc_fail_is_named(mailpath, target, run_checks) -> None:
    mailpath.results = [
        RECEIVER_SAYS_PASS.replace("dmarc=pass", "dmarc=fail").replace("spf=pass", "spf=softfail")
    ]
    run = delivery_run(target, run_checks)
    check = run.check("test_receiver_authenticates_the_test_email")
    assert check["outcome"] == "failed"
    assert (
        check["message"]
        == "the receiving server mx.mail.test reports spf=softfail, dmarc=fail for the test email"
    )
    assert run.outcome("test_dkim_signature_verifies_and_aligns") == "passed"


def test_only_the_receivers_own_results_count(mailpath, target, run_checks) -> None:
    """A pass further down was added by an earlier hop, or forged by the sender."""
    mailpath.results = ["mx.mail.test; spf=pass; dkim=pass; dmarc=fail", RECEIVER_SAYS_PASS]
    assert (
        "dmarc=fail"
        in delivery_run(target, run_checks).check("test_receiver_authenticates_the_test_email")["message"]
    )
    mailpath.results = []
    message = delivery_run(target, run_checks).check("test_receiver_authenticates_the_test_email")["message"]
    assert message.startswith("the test email arrived without an Authentication-Results header")
    mailpath.results = [RECEIVER_SAYS_PASS.replace("mx.mail.test", "forwarder.test")]
    target.data["smtp"]["imap"]["authserv_id"] = "mx.mail.test"
    target.write_profile()
    message = delivery_run(target, run_checks).check("test_receiver_authenticates_the_test_email")["message"]
    assert message == (
        "no Authentication-Results header from mx.mail.test (smtp.imap.authserv_id); "
        "the test email has them from: forwarder.test"
    )


def test_body_changed_after_signing_fails_dkim(mailpath, target, run_checks) -> None:
    mailpath.footer = b"-- \r\nSent through a list that adds a footer\r\n"
    message = delivery_run(target, run_checks).check("test_dkim_signature_verifies_and_aligns")["message"]
    assert message.startswith("DKIM d=mail.test s=mail: the signature does not verify: body hash mismatch")


def test_signature_by_the_relays_domain_is_not_aligned(mailpath, target, run_checks) -> None:
    mailpath.sign_as = "relay.test"
    message = delivery_run(target, run_checks).check("test_dkim_signature_verifies_and_aligns")["message"]
    assert message == (
        "DKIM d=relay.test s=mail: d=relay.test is not aligned with the From domain mail.test "
        "(DMARC relaxed alignment)"
    )


def test_signature_by_a_sibling_subdomain_is_aligned(mailpath, target, run_checks) -> None:
    """Relaxed alignment compares organizational domains (public suffix list): app.mail.test
    and news.mail.test are both mail.test."""
    target.write_profile(smtp={"from": "noreply@app.mail.test"})
    mailpath.sign_as = "news.mail.test"
    run = delivery_run(target, run_checks)
    assert run.outcome("test_dkim_signature_verifies_and_aligns") == "passed"
    details = run.check("test_test_email_is_delivered")["details"]["delivery"]
    assert details["dkim"] == [{"d": "news.mail.test", "s": "mail", "problem": ""}]


def test_unsigned_email_and_unpublished_key_fail(mailpath, target, run_checks, dns_server) -> None:
    mailpath.sign_as = None
    message = delivery_run(target, run_checks).check("test_dkim_signature_verifies_and_aligns")["message"]
    assert message.startswith("the test email arrived without a DKIM-Signature")
    mailpath.sign_as = "mail.test"
    dns_server[0].records.pop(("mail._domainkey.mail.test", "TXT"))
    message = delivery_run(target, run_checks).check("test_dkim_signature_verifies_and_aligns")["message"]
    assert message == "DKIM d=mail.test s=mail: no DKIM key published at mail._domainkey.mail.test"


def test_wrong_imap_password_fails_with_the_servers_reply(mailpath, target, run_checks, dovecot) -> None:
    target.data["smtp"]["imap"]["password"] = "not-the-imap-password"
    target.write_profile()
    run = delivery_run(target, run_checks)
    message = run.check("test_test_email_is_delivered")["message"]
    assert message == (
        f"IMAP 127.0.0.1:{dovecot.port}: login as 'ops@mail.test' refused: "
        "[AUTHENTICATIONFAILED] Authentication failed."
    )
    assert "not-the-imap-password" not in json.dumps(run.report) + run.output


def test_delivery_is_confirmed_over_imap_starttls(mailpath, target, run_checks, dovecot) -> None:
    target.data["smtp"]["imap"].update(security="starttls", port=dovecot.starttls_port)
    target.write_profile()
    run = delivery_run(target, run_checks)
    assert run.outcomes("smtp") == dict.fromkeys(SMTP_CHECKS + DELIVERY_CHECKS, "passed"), run.output[-2000:]
    assert dovecot.count() == 0


def test_imap_server_without_starttls_gets_no_password(mailpath, target, run_checks) -> None:
    with dovecot_server(tls=False) as plain:
        target.data["smtp"]["imap"].update(security="starttls", port=plain.port)
        target.write_profile()
        run = delivery_run(target, run_checks)
        log = (plain.ca_file.parent / "dovecot.log").read_text()
    message = run.check("test_test_email_is_delivered")["message"]
    assert message.startswith(f"IMAP 127.0.0.1:{plain.port} does not offer STARTTLS (it offers IMAP4REV1")
    assert message.endswith("use its implicit-TLS port with smtp.imap.security: tls")
    assert "no auth attempts" in log and f"user=<{plain.user}>" not in log  # the server saw no LOGIN


def test_smtp_test_confirms_the_delivery(mailpath, target, tmp_path, dovecot) -> None:
    reports = tmp_path / "reports"
    good = deploycheck("smtp", "test", "--profile", str(target.profile_path), "--reports", str(reports))
    assert good.returncode == 0, good.stdout + good.stderr
    assert (
        "reports spf=pass, dkim=pass, dmarc=pass; DKIM signature d=mail.test s=mail verified again"
        in good.stdout
    )
    assert (reports / target.profile_path.stem / "deliveries.jsonl").exists() and dovecot.count() == 0
    mailpath.footer = b"tampered\r\n"
    bad = deploycheck("smtp", "test", "--profile", str(target.profile_path), "--reports", str(reports))
    assert (
        bad.returncode == 1 and "FAILED: DKIM d=mail.test s=mail: the signature does not verify" in bad.stdout
    )
    assert dovecot.password not in bad.stdout + bad.stderr
