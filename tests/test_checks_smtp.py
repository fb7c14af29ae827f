"""checks/test_smtp.py and `deploycheck smtp test` against aiosmtpd: STARTTLS, implicit TLS, AUTH,
a server without STARTTLS, a wrong password, and one that accepts and never speaks."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import socket
import ssl
import subprocess
import sys
import time

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from runner.mariadb_server import free_port
from tests.conftest import deploycheck

USER, PASSWORD = "mailer", "Smtp-Secret-Passw0rd"
SMTP_CHECKS = [
    "test_smtp_session_is_encrypted_as_configured",
    "test_no_auth_before_starttls",
    "test_login_is_accepted",
]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("smtp-pki")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context, folder / "ca.pem"


@pytest.fixture()
def relay(pki):
    """Starts aiosmtpd in the mode asked for; returns (port, inbox)."""
    context, _ = pki
    started = []

    def start(mode: str = "starttls") -> tuple[int, Inbox]:
        inbox = Inbox()
        port = free_port()
        kwargs = dict(hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=True)
        if mode == "starttls":
            controller = Controller(inbox, tls_context=context, require_starttls=True, **kwargs)
        elif mode == "tls":
            controller = Controller(inbox, ssl_context=context, **kwargs)
        else:  # no STARTTLS offered at all
            controller = Controller(
                inbox, auth_require_tls=False, hostname="127.0.0.1", port=port, authenticator=authenticator
            )
        if mode == "tls":
            controller.start = _start_without_probe(controller)
        controller.start()
        started.append(controller)
        return port, inbox

    yield start
    for controller in started:
        controller.stop()


def _start_without_probe(controller):
    """aiosmtpd's readiness probe speaks plain SMTP, which an implicit-TLS server does not answer."""
    original = controller.start

    def start() -> None:
        controller.ready_timeout = 5
        with contextlib.suppress(TimeoutError):
            original()

    return start


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
    port, _ = relay("starttls")
    smtp_profile(target, port, pki[1])
    run = run_checks(target.profile_path, "-k", "test_smtp")
    assert run.outcomes("smtp") == dict.fromkeys(SMTP_CHECKS, "passed")
    details = run.check("test_smtp_session_is_encrypted_as_configured")["details"]["smtp"]
    assert (
        details["tls"].startswith("TLSv1.")
        and "auth" in details["capabilities"]
        and details["banner"].startswith("220")
    )


def test_relay_without_starttls_fails(target, run_checks, relay, pki) -> None:
    port, _ = relay("none")
    smtp_profile(target, port, pki[1])
    message = run_checks(target.profile_path, "-k", "test_smtp").check("test_login_is_accepted")["message"]
    assert message == f"127.0.0.1:{port} does not offer STARTTLS (security: starttls)"


def test_untrusted_certificate_fails(target, run_checks, relay, tmp_path) -> None:
    port, _ = relay("starttls")
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    smtp_profile(target, port, other)
    message = run_checks(target.profile_path, "-k", "test_smtp").check("test_login_is_accepted")["message"]
    assert "TLS certificate not accepted" in message


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


def test_notify_mails_failed_backup_checks_and_only_then(target, relay, pki, tmp_path) -> None:
    port, inbox = relay("starttls")
    smtp_profile(target, port, pki[1], notify_to=["oncall@mail.test"])
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / "202601010300.app.sql").write_text("-- a dump whose gzip failed")
    target.write_profile(backups={"source": str(folder), "databases": ["app"], "schedule": "0 3 * * *"})
    reports = tmp_path / "reports"
    result = _verify(target, reports, "-k", "test_backups or test_smtp", "--notify")
    assert result.returncode == 1 and "notify: mailed oncall@mail.test" in result.stdout, result.stdout[
        -1500:
    ]
    (raw,) = inbox.messages
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    body = mail.get_content()
    assert mail["Subject"] == "deploycheck: 3 backup check(s) failed on test"
    assert "test_no_leftover_uncompressed_dumps" in body and "202601010300.app.sql" in body
    assert PASSWORD.encode() not in raw and PASSWORD not in body

    preview = deploycheck("smtp", "preview", "--profile", str(target.profile_path), "--reports", str(reports))
    assert preview.returncode == 0 and "X-Deploycheck-Token: 0123456789abcdef" in preview.stdout
    assert "test_no_leftover_uncompressed_dumps" in preview.stdout and len(inbox.messages) == 1

    (folder / "202601010300.app.sql").unlink()
    quiet = _verify(target, reports, "-k", "leftover", "--notify")
    assert "every backup check held; no mail sent" in quiet.stdout and len(inbox.messages) == 1
