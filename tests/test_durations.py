"""duration_s is what a check's verdict took, its probe's time included, although the probes
run concurrently ahead of the checks: an endpoint that answers slowly, a relay that keeps the
line silent, show in every check that used them."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

DELAY_S = 0.6


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(DELAY_S)
        data = json.dumps({"status": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def slow_app():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def silent_relay():
    """An SMTP port that says nothing for DELAY_S, then hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            stop.wait(DELAY_S)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_a_slow_endpoint_shows_in_its_checks_duration(target, run_checks, slow_app) -> None:
    target.write_profile(http=[{"name": "a", "url": f"{slow_app}/a"}, {"name": "b", "url": f"{slow_app}/b"}])
    run = run_checks(target.profile_path, "-k", "test_http")
    for name in ("test_endpoint_answers[a]", "test_endpoint_answers[b]"):
        check = run.check(name)
        assert check["outcome"] == "passed" and check["duration_s"] >= DELAY_S, check


def test_a_shared_probe_counts_for_every_check_that_used_it(target, run_checks, silent_relay) -> None:
    """One SMTP session serves three checks: each says what the session cost, not only the first."""
    target.write_profile(smtp={"host": "127.0.0.1", "port": silent_relay, "security": "plain"})
    run = run_checks(target.profile_path, "-k", "test_smtp")
    used = (
        "test_smtp_session_is_encrypted_as_configured",
        "test_no_auth_before_starttls",
        "test_login_is_accepted",
    )
    for name in used:
        check = run.check(name)
        assert check["outcome"] == "error" and check["duration_s"] >= DELAY_S, check
    assert run.check("test_relay_accepts_the_test_email")["duration_s"] < DELAY_S  # it used no session
