"""checks/test_mail_journeys.py and `deploycheck smtp journey`: a local HTTPS application whose
password-reset endpoint sends its mail through aiosmtpd, signed and delivered into dovecot."""

from __future__ import annotations

import json
import re
import secrets
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runner.mail.journey import mask_link
from tests.conftest import deploycheck
from tests.mail_servers import PASSWORD, USER

API_TOKEN = "Bearer-Api-Token-5f3c9a1e7d"  # sent as a header: never in any output
ACCOUNT = "reset-test@mail.test"  # in the request body, not secret: the one fact a missing mail needs
CHECK = "test_mail_journey[password-reset]"


class App:
    """The application: POST /api/password-reset mails a reset link through the relay; the link
    answers GET and HEAD. Each attribute breaks it in one way."""

    def __init__(self, relay_port: int, pki) -> None:
        self.relay_port, (self.server_context, self.ca_file) = relay_port, pki
        self.status = 202
        self.sends = True
        self.sender = "noreply@mail.test"
        self.subject = "Reset your password"
        self.delay_s = 0.0
        self.link_status = 200
        self.extra_links: list[str] = []  # what else a mail links to
        self.with_links = True
        self.tokens: list[str] = []
        self.link_requests: list[str] = []
        self.senders: list[threading.Thread] = []
        self.stopped = threading.Event()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Authorization") != API_TOKEN:
                    return self._answer(401, b"no token")
                if app.status >= 300:
                    return self._answer(app.status, b"<h1>Internal error</h1> the mailer is not configured")
                if app.sends:
                    to = json.loads(body)["email"]
                    app.senders.append(threading.Thread(target=app.send_reset, args=(to,), daemon=True))
                    app.senders[-1].start()
                self._answer(app.status, b'{"status": "if the account exists, a mail is on its way"}')

            def do_HEAD(self) -> None:
                app.link_requests.append(f"HEAD {self.path}")
                self._answer(app.link_status, b"", body=False)

            def do_GET(self) -> None:
                app.link_requests.append(f"GET {self.path}")
                self._answer(app.link_status, b"<form>new password</form>")

            def _answer(self, status: int, data: bytes, body: bool = True) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.socket = self.server_context.wrap_socket(self.http.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def reset_mail(self, to: str, token: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = self.subject
        message["Message-ID"] = f"<reset-{token[:8]}@mail.test>"
        if self.with_links:
            message.set_content(
                f"Someone asked to reset your password.\n\n{self.url}/reset-password/{token}\n\n"
                f"If it was not you, ignore this mail. Help: {self.url}/help\n"
                + "".join(f"{link}\n" for link in self.extra_links)
            )
        else:  # a template whose link came out empty
            message.set_content(
                f"Someone asked to reset your password: open /reset-password/ and enter {token}\n"
            )
        return message

    def send_reset(self, to: str) -> None:
        if self.stopped.wait(self.delay_s):
            return  # the test is over: nothing to send it to
        token = secrets.token_urlsafe(24)
        self.tokens.append(token)
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with smtplib.SMTP("127.0.0.1", self.relay_port, timeout=10) as client:
            client.starttls(context=context)
            client.login(USER, PASSWORD)
            client.send_message(self.reset_mail(to, token))

    def stop(self) -> None:
        self.stopped.set()
        for sender in self.senders:
            sender.join(timeout=10)
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture()
def journey(target, mail_route, pki):
    """A profile with one journey, password-reset, through an application that works."""
    app = App(mail_route.relay_port, pki)
    target.write_profile(
        smtp={"host": "127.0.0.1", "port": mail_route.relay_port, "imap": mail_route.imap},
        dns={"domain": "mail.test", "nameservers": ["127.0.0.1"], "port": mail_route.dns_port},
        tls={"endpoints": [app.url], "ca_file": str(pki[1])},
        mail_journeys=[
            {
                "name": "password-reset",
                "request": {
                    "method": "POST",
                    "url": f"{app.url}/api/password-reset",
                    "headers": {"Authorization": API_TOKEN},
                    "json": {"email": ACCOUNT},
                },
                "expect": {
                    "to": ACCOUNT,
                    "from": "noreply@mail.test",
                    "subject": "^Reset your password$",
                    "body_contains": "/reset-password/",
                    "links_ok": True,
                },
                "wait_s": 20,  # a mail that arrives ends the wait: generous for a loaded machine
            }
        ],
        timeouts={"default_s": 5},
    )
    yield app, mail_route.receiver
    app.stop()


def waiting(target, seconds: float) -> None:
    """wait_s for a test in which the mail never comes: the whole wait is spent."""
    target.data["mail_journeys"][0]["wait_s"] = seconds
    target.write_profile()


def journey_run(target, run_checks):
    run = run_checks(target.profile_path, "-k", "test_mail_journey")
    assert list(run.outcomes("mail_journeys")) == [CHECK], run.output[-2000:]
    return run


def secrets_of(app) -> list[str]:
    return [API_TOKEN, *app.tokens]


def assert_no_secret(app, *outputs: str) -> None:
    for secret in secrets_of(app):
        for output in outputs:
            assert secret not in output


def test_the_reset_mail_arrives_authenticated_and_is_deleted(journey, target, run_checks, dovecot) -> None:
    app, _ = journey
    run = journey_run(target, run_checks)
    check = run.check(CHECK)
    assert check["outcome"] == "passed", check["message"]
    details = check["details"]["journey"]
    assert details["status"] == 202 and details["subject"] == "Reset your password"
    assert details["delivery"]["results"] == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert details["delivery"]["dkim"] == [{"d": "mail.test", "s": "mail", "problem": ""}]
    assert 0 < details["delivery"]["waited_s"] < 20 and details["delivery"]["deleted"] is True
    assert details["links"] == [
        {"url": f"{app.url}/reset-password/********", "status": 200, "problem": ""},
        {"url": f"{app.url}/help", "status": 200, "problem": ""},
    ]
    assert app.link_requests == [f"HEAD /reset-password/{app.tokens[0]}", "HEAD /help"]  # asked, not followed
    assert dovecot.count() == 0
    assert_no_secret(app, json.dumps(run.report), run.output)


def test_a_passed_journey_says_what_it_saw(journey, target, run_checks) -> None:
    """The evidence, whole: the request and its answer, the mail, its delivery, the links asked."""
    app, _ = journey
    run = journey_run(target, run_checks)
    check = run.check(CHECK)
    assert (check["outcome"], run.exit_code) == ("passed", 0), check["message"]
    mailbox = check["details"]["journey"]["delivery"]["mailbox"]
    assert re.fullmatch(
        rf"POST {re.escape(app.url)}/api/password-reset answered 202; 'Reset your password' from "
        rf"noreply@mail\.test: delivered to {re.escape(mailbox)} after \d+\.\d s; mx\.mail\.test reports "
        r"spf=pass, dkim=pass, dmarc=pass; DKIM signature d=mail\.test s=mail verified again; the "
        r"password-reset mail was deleted; 2 link\(s\) answered 200, 200",
        check["message"],
    ), check["message"]


def test_a_failed_journey_is_a_blocker_unless_made_a_warning(journey, target, run_checks) -> None:
    app, _ = journey
    app.status = 503
    refused = (
        f"POST {app.url}/api/password-reset answered 503: <h1>Internal error</h1> the mailer is not "
        "configured (no mail is awaited after a refused request)"
    )
    for severity, outcome, exit_code in ((None, "failed", 1), ("warning", "warned", 0)):  # None: default
        if severity is not None:
            target.data["mail_journeys"][0]["severity"] = severity
            target.write_profile()
        run = journey_run(target, run_checks)
        check = run.check(CHECK)
        judged = (check["outcome"], check["severity"], run.exit_code, check["message"])
        assert judged == (outcome, severity or "blocker", exit_code, refused)


def test_an_error_answer_fails_with_status_and_body(journey, target, run_checks) -> None:
    app, _ = journey
    app.status = 500
    started = time.monotonic()
    message = journey_run(target, run_checks).check(CHECK)["message"]
    assert time.monotonic() - started < 10  # wait_s is 20: no mail is awaited after a refused request
    assert message == (
        f"POST {app.url}/api/password-reset answered 500: <h1>Internal error</h1> the mailer is not "
        "configured (no mail is awaited after a refused request)"
    )


def test_an_answer_without_the_mail_fails_naming_what_arrived_instead(
    journey, target, run_checks, dovecot
) -> None:
    app, _ = journey
    app.subject = "Your weekly digest"  # the application sent something, not the reset mail
    waiting(target, 3)
    started = time.monotonic()
    message = journey_run(target, run_checks).check(CHECK)["message"]
    assert 3 <= time.monotonic() - started < 3 + 15  # waited wait_s, then gave up
    assert message == (
        f"no mail to {ACCOUNT} with a subject matching '^Reset your password$' with a body matching "
        f"'/reset-password/' arrived in {dovecot.user} at 127.0.0.1:{dovecot.port}/INBOX within 3 s of "
        f"POST {app.url}/api/password-reset (answered 202); meanwhile arrived: 'Your weekly digest'"
    )


def test_a_mail_later_than_wait_s_fails(journey, target, run_checks) -> None:
    app, _ = journey
    app.delay_s = 4
    waiting(target, 3)
    message = journey_run(target, run_checks).check(CHECK)["message"]
    assert "within 3 s of" in message and message.endswith("nothing else arrived")


def test_a_mail_from_the_wrong_sender_fails(journey, target, run_checks) -> None:
    app, _ = journey
    app.sender = "root@localhost.localdomain"
    message = journey_run(target, run_checks).check(CHECK)["message"]
    assert message.startswith("the password-reset mail arrived after ")
    assert message.endswith(" s from root@localhost.localdomain, expected from noreply@mail.test")


def test_a_signature_that_does_not_verify_fails(journey, target, run_checks) -> None:
    app, receiver = journey
    receiver.footer = b"-- \r\nadded after signing\r\n"
    check = journey_run(target, run_checks).check(CHECK)
    assert check["message"].startswith(
        "DKIM d=mail.test s=mail: the signature does not verify: body hash mismatch"
    )
    # a mail that failed its judgement may come from anyone: its links are listed, never asked for
    assert app.link_requests == []
    assert [link["status"] for link in check["details"]["journey"]["links"]] == [None, None]


class Internal:
    """A service on another loopback port that no mail may make deploycheck ask anything."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.requests: list[str] = []
        internal = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                internal.requests.append(self.path)
                self.send_response(200)
                self.end_headers()

            do_GET = do_HEAD

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.socket = context.wrap_socket(self.http.socket, server_side=True)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def test_links_are_asked_for_only_over_https_on_the_profiles_hosts(journey, target, run_checks) -> None:
    """Whoever can mail the test mailbox chooses its links: one on another port, one on another
    host name, one over http and one that is not a URL are each a finding, and none is asked."""
    app, _ = journey
    internal = Internal(app.server_context)
    port = app.url.rsplit(":", 1)[1]
    elsewhere = f"https://127.0.0.1:{internal.port}/admin/drop"
    app.extra_links = [
        elsewhere,
        f"https://localhost:{port}/via-another-name",
        f"http://127.0.0.1:{port}/plain",
        "https://h:99999/",
    ]
    try:
        check = journey_run(target, run_checks).check(CHECK)
        assert internal.requests == []
        # the profile names the other host: then its links are asked for
        target.data["mail_journeys"][0]["expect"]["link_hosts"] = [
            f"127.0.0.1:{port}",
            f"127.0.0.1:{internal.port}",
        ]
        target.write_profile()
        app.extra_links = [elsewhere]
        assert journey_run(target, run_checks).outcome(CHECK) == "passed"
        assert internal.requests == ["/admin/drop"]
    finally:
        internal.stop()
    assert check["outcome"] == "failed"
    assert app.link_requests[:2] == [f"HEAD /reset-password/{app.tokens[0]}", "HEAD /help"]
    outside = "not asked for (add it to expect.link_hosts if the application links there)"
    assert [line.strip() for line in check["message"].splitlines()] == [
        f"link {elsewhere}: on 127.0.0.1:{internal.port}, not a host the profile names (127.0.0.1:{port}): "
        + outside,
        f"link https://localhost:{port}/via-another-name: on localhost:{port}, not a host the profile names "
        f"(127.0.0.1:{port}): " + outside,
        f"link http://127.0.0.1:{port}/plain: not over TLS (http://): the token would travel in clear",
        "link https://h:99999/: not a valid URL (its host or port cannot be read): not asked for",
    ]


def test_a_reset_link_that_answers_404_fails(journey, target, run_checks) -> None:
    app, _ = journey
    app.link_status = 404
    message = journey_run(target, run_checks).check(CHECK)["message"]
    assert message.splitlines()[0] == f"link {app.url}/reset-password/********: answered 404"


def test_links_ok_fails_a_mail_without_a_link(journey, target, run_checks) -> None:
    app, _ = journey
    app.with_links = False
    run = journey_run(target, run_checks)
    check = run.check(CHECK)
    assert (check["outcome"], run.exit_code) == ("failed", 1)
    assert check["message"] == "links_ok is set, but the password-reset mail holds no link to check"
    assert app.link_requests == []


def test_an_older_matching_mail_is_not_taken_for_the_new_one(journey, target, run_checks, dovecot) -> None:
    app, _ = journey
    dovecot.deliver(app.reset_mail(ACCOUNT, "older-token-" + "1" * 20).as_bytes())
    app.sends = False
    waiting(target, 3)
    message = journey_run(target, run_checks).check(CHECK)["message"]
    assert message.startswith(f"no mail to {ACCOUNT} ") and message.endswith("nothing else arrived")
    app.sends = True
    waiting(target, 20)
    assert journey_run(target, run_checks).outcome(CHECK) == "passed"
    assert dovecot.count() == 1  # the new one was deleted, the older one left alone


def test_severity_and_absence(journey, target, run_checks) -> None:
    app, _ = journey
    app.status = 503
    target.data["mail_journeys"][0]["severity"] = "warning"
    target.write_profile()
    assert journey_run(target, run_checks).outcome(CHECK) == "warned"
    target.data.pop("mail_journeys")
    target.write_profile()
    run = run_checks(target.profile_path, "-k", "test_mail_journey or test_database_is_reachable")
    check = run.check("test_mail_journey[not-configured]")
    assert check["outcome"] == "skipped" and "mail_journeys not configured" in check["message"]


def test_smtp_journey_runs_one_journey_alone(journey, target, dovecot) -> None:
    app, receiver = journey
    good = deploycheck("smtp", "journey", "password-reset", "--profile", str(target.profile_path))
    assert good.returncode == 0, good.stdout + good.stderr
    assert (
        f"POST {app.url}/api/password-reset answered 202; 'Reset your password' from noreply@mail.test"
        in good.stdout
    )
    assert "reports spf=pass, dkim=pass, dmarc=pass" in good.stdout
    assert f"link {app.url}/reset-password/********: 200" in good.stdout
    receiver.footer = b"tampered\r\n"
    bad = deploycheck("smtp", "journey", "password-reset", "--profile", str(target.profile_path))
    assert (
        bad.returncode == 1 and "FAILED: DKIM d=mail.test s=mail: the signature does not verify" in bad.stdout
    )
    unknown = deploycheck("smtp", "journey", "signup", "--profile", str(target.profile_path))
    assert unknown.returncode == 2 and "no journey 'signup': the profile has password-reset" in unknown.stderr
    assert dovecot.count() == 0
    assert_no_secret(app, good.stdout + good.stderr, bad.stdout + bad.stderr)


def test_verify_keeps_every_secret_out_of_the_archive(journey, target, tmp_path) -> None:
    app, _ = journey
    reports = tmp_path / "reports"
    result = deploycheck(
        "verify", "--profile", str(target.profile_path), "--reports", str(reports), "-k", "test_mail_journey"
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    archived = [path.read_text(errors="replace") for path in reports.rglob("*") if path.is_file()]
    assert len(archived) >= 4
    assert_no_secret(app, result.stdout + result.stderr, *archived)


def test_a_journey_needs_a_mailbox(target) -> None:
    target.write_profile(
        mail_journeys=[
            {"name": "signup", "request": {"url": "https://app.test/signup"}, "expect": {"to": "a@b.test"}}
        ]
    )
    result = deploycheck("smtp", "journey", "signup", "--profile", str(target.profile_path))
    assert result.returncode == 2
    assert "'signup' has no mailbox to read: give it an imap: block, or configure smtp.imap" in result.stderr


def test_a_journey_reads_its_own_mailbox(journey, target, run_checks) -> None:
    """`imap:` in the journey instead of smtp.imap (the test account's mailbox may be another)."""
    target.data["mail_journeys"][0]["imap"] = target.data["smtp"].pop("imap")
    target.write_profile()
    assert journey_run(target, run_checks).outcome(CHECK) == "passed"


@pytest.mark.parametrize(
    ("link", "shown", "token"),
    [
        (
            "https://app.test/reset/MQ:1rX5Yz:abcDEFghiJKLmnoPQRstuVWX/",
            "https://app.test/reset/********",
            "1rX5Yz:abcDEFghiJKLmnoPQRstuVWX",
        ),  # Django signing
        (
            "https://app.test/reset/MQ/c5b-6d8f0c0c2e1f8e9a7b3c/",
            "https://app.test/reset/********",
            "6d8f0c",
        ),
        ("https://app.test/confirm/ab3+Xy/Zk9q/w0==", "https://app.test/confirm/********", "Zk9q"),  # base64
        ("https://app.test/verify/@Tok3nAfterAt", "https://app.test/verify/********", "Tok3nAfterAt"),
        ("https://app.test/u/alice@example.org/k9Zt", "https://app.test/u/********", "k9Zt"),
        ("https://Us3r:S3cretPw@app.test/x", "https://********@app.test/x", "S3cretPw"),
        (
            "https://app.test/activate?uid=7&t=Zk9%2Bq%2Fw&k9Zt3xyz",
            "https://app.test/activate?uid=********&t=********&********=********",
            "k9Zt3xyz",
        ),
        ("https://app.test/reset#tok=Zq9Xk3", "https://app.test/reset#********", "Zq9Xk3"),
        ("https://app.test/static/logo.png", "https://app.test/static/logo.png", None),
        ("https://app.test/verify/482913", "https://app.test/verify/********", "482913"),  # a code
        ("https://app.test/r/qwhzkxmvbnrtplsd", "https://app.test/r/********", "qwhzkxmvbnrtplsd"),
        ("https://app.test/password-reset/2026/", "https://app.test/password-reset/2026/", None),
        (  # a query of one bare value is the token, however word-like
            "https://app.test/confirm?qwhzkxmvbnrtpl&next=home",
            "https://app.test/confirm?********=********&next=********",
            "qwhzkxmvbnrtpl",
        ),
        ("https://[::1/broken", "********", "broken"),
    ],
)
def test_a_links_token_is_masked_whatever_its_characters(link: str, shown: str, token: str | None) -> None:
    assert mask_link(link) == shown
    assert token is None or token not in mask_link(link)
