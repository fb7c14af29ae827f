"""duration_s is what a check's verdict took, its probe's time included, although the probes
run concurrently ahead of the checks: an endpoint that answers slowly, a relay that keeps the
line silent, show in every check that used them."""

from __future__ import annotations

import socket
import threading

import pytest

DELAY_S = 0.6
HTTP_OK = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture()
def slow_server():
    """A port that keeps each connection silent for DELAY_S, then sends `reply` and hangs up."""
    listeners = []

    def serve(reply: bytes) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def answer(conn: socket.socket) -> None:
            with conn:
                stop.wait(DELAY_S)
                if reply:  # an HTTP request came first; an SMTP client waits for the banner
                    conn.recv(65536)
                    conn.sendall(reply)

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=answer, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return listener.getsockname()[1]

    stop = threading.Event()
    yield serve
    stop.set()
    for listener in listeners:
        listener.close()


def test_a_slow_endpoint_shows_in_its_checks_duration(target, run_checks, slow_server) -> None:
    app = f"http://127.0.0.1:{slow_server(HTTP_OK)}"
    target.write_profile(http=[{"name": "a", "url": f"{app}/a"}, {"name": "b", "url": f"{app}/b"}])
    run = run_checks(target.profile_path, "-k", "test_http")
    for name in ("test_endpoint_answers[a]", "test_endpoint_answers[b]"):
        check = run.check(name)
        assert check["outcome"] == "passed" and check["duration_s"] >= DELAY_S, check


def test_a_shared_probe_counts_for_every_check_that_used_it(target, run_checks, slow_server) -> None:
    """One SMTP session serves three checks: each says what the session cost, not only the first."""
    target.write_profile(smtp={"host": "127.0.0.1", "port": slow_server(b""), "security": "plain"})
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
