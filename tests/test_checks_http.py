"""checks/test_http.py against local HTTP(S) servers: status, JSON, latency, and each way of not answering."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme

from runner.probes import http as probe

AGENTS: list[str | None] = []  # the User-Agent of each request the app answered


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/health": (200, {"status": "ok", "db": {"connected": True}}),
            "/degraded": (200, {"status": "degraded", "db": {"connected": False}}),
            "/broken": (500, {"error": "boom"}),
            "/typed": (200, {"ok": 1, "count": 3.0, "version": "2", "flags": [1, True], "none": None}),
        }
        AGENTS.append(self.headers.get("User-Agent"))
        if self.path in ("/text", "/moved"):
            self.send_response(200 if self.path == "/text" else 302)
            self.send_header("Location", "/health")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        if self.path == "/slow":
            time.sleep(0.4)
            code, body = 200, {"status": "ok"}
        else:
            code, body = routes.get(self.path, (404, {}))
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def app():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def tls_app(tmp_path_factory):
    """The same app over HTTPS with a certificate from a test CA (not in the system store)."""
    ca = trustme.CA()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ca_path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    yield f"https://127.0.0.1:{server.server_address[1]}", ca_path
    server.shutdown()
    server.server_close()


@pytest.fixture()
def blackholes():
    """Ports that accept connections and never answer; each records when it was connected to."""
    sockets, connected, accepted = [], [], []

    def accept(sock: socket.socket) -> None:
        try:
            conn, _ = sock.accept()
        except OSError:  # closed at teardown without a connection
            return
        accepted.append(time.monotonic())
        connected.append(conn)  # kept open, unanswered

    for _ in range(3):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sockets.append(sock)
    threads = [threading.Thread(target=accept, args=(sock,), daemon=True) for sock in sockets]
    for thread in threads:
        thread.start()
    yield [f"http://127.0.0.1:{s.getsockname()[1]}/health" for s in sockets], accepted
    for sock in sockets:
        with contextlib.suppress(OSError):  # wakes an accept() still waiting (Linux)
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
    for thread in threads:
        thread.join(timeout=10)
    for conn in connected:
        conn.close()


def http_run(target, run_checks, checks, timeout=5.0, tls=None):
    target.write_profile(http=checks, timeouts={"default_s": timeout}, **({"tls": tls} if tls else {}))
    return run_checks(target.profile_path, "-k", "test_http")


def only(run) -> dict:
    (check,) = [c for c in run.report["checks"] if c["area"] == "http"]
    return check


def test_healthy_endpoint_passes(target, run_checks, app) -> None:
    run = http_run(
        target,
        run_checks,
        [
            {
                "name": "health",
                "url": f"{app}/health",
                "json": {"status": "ok", "db.connected": True},
                "max_ms": 2000,
            }
        ],
    )
    check = run.check("test_endpoint_answers[health]")
    assert check["outcome"] == "passed" and check["details"]["elapsed_ms"] < 2000
    # the evidence: what answered, against what was expected (the fields as the
    # profile file lists them: write_profile's yaml.safe_dump sorts them)
    assert re.fullmatch(
        r"answered status 200 in \d+ ms \(max_ms 2000\); expected status 200, JSON fields db\.connected, status",
        check["message"],
    ), check["message"]


def test_plain_endpoint_passes_saying_what_it_expected(target, run_checks, app) -> None:
    """No JSON fields, no max_ms: the evidence names only the status."""
    check = only(http_run(target, run_checks, [{"name": "plain", "url": f"{app}/text"}]))
    message = check["message"]
    assert check["outcome"] == "passed"
    assert re.fullmatch(r"answered status 200 in \d+ ms; expected status 200", message), message


def test_wrong_status_is_named(target, run_checks, app) -> None:
    check = only(http_run(target, run_checks, [{"url": f"{app}/broken"}]))
    assert check["outcome"] == "failed" and check["message"] == "status 500, expected 200"


def test_wrong_status_and_json_are_both_named(target, run_checks, app) -> None:
    check = only(http_run(target, run_checks, [{"url": f"{app}/broken", "json": {"status": "ok"}}]))
    assert (check["outcome"], check["message"]) == (
        "failed",
        "status 500, expected 200; JSON field 'status' is missing",
    )


def test_wrong_and_missing_json_fields_are_named(target, run_checks, app) -> None:
    check = only(
        http_run(
            target,
            run_checks,
            [{"url": f"{app}/degraded", "json": {"status": "ok", "db.connected": True, "version": "1"}}],
        )
    )
    assert sorted(check["message"].split("; ")) == [
        "JSON field 'db.connected' is False, expected True",
        "JSON field 'status' is 'degraded', expected 'ok'",
        "JSON field 'version' is missing",
    ]


def test_json_values_compare_by_json_type(target, run_checks, app) -> None:
    """`{"ok": 1}` does not answer `ok: true` (Python's 1 == True); 3.0 is the number 3."""
    wrong = {"ok": True, "count": 3, "version": 2, "flags": [True, True], "none": False}
    check = only(http_run(target, run_checks, [{"url": f"{app}/typed", "json": wrong}]))
    assert check["outcome"] == "failed"
    assert sorted(check["message"].split("; ")) == [
        "JSON field 'flags' is [1, True], expected [True, True]",
        "JSON field 'none' is None, expected False (a null, not a boolean)",
        "JSON field 'ok' is 1, expected True (a number, not a boolean)",
        "JSON field 'version' is '2', expected 2 (a string, not a number)",
    ]
    right = {"ok": 1, "count": 3, "version": "2", "flags": [1, True], "none": None}
    assert only(http_run(target, run_checks, [{"url": f"{app}/typed", "json": right}]))["outcome"] == "passed"


def test_slow_answer_fails_max_ms(target, run_checks, app) -> None:
    check = only(http_run(target, run_checks, [{"url": f"{app}/slow", "max_ms": 100}]))
    assert check["outcome"] == "failed"
    assert re.fullmatch(r"answered in (\d+) ms, more than max_ms 100", check["message"]), check["message"]
    assert int(check["message"].split()[2]) >= 400  # the app waits 0.4 s


def test_refused_connection_is_told_apart(target, run_checks) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    check = only(http_run(target, run_checks, [{"url": f"http://127.0.0.1:{port}/health"}]))
    assert check["message"] == (  # the URL is named: the message stands on its own
        f"http://127.0.0.1:{port}/health: refused: connection refused (nothing listens on that port)"
    )


def test_dns_failure_is_told_apart(target, run_checks) -> None:
    check = only(http_run(target, run_checks, [{"url": "http://no-such-host.invalid/health"}]))
    assert check["message"].startswith("http://no-such-host.invalid/health: dns: DNS lookup failed")


def test_untrusted_certificate_is_a_tls_failure(target, run_checks, tls_app) -> None:
    url, _ = tls_app
    check = only(http_run(target, run_checks, [{"url": f"{url}/health"}]))
    assert check["message"].startswith(f"{url}/health: tls: TLS certificate not accepted")


def test_certificate_from_the_profile_ca_is_accepted(target, run_checks, tls_app) -> None:
    url, ca_path = tls_app
    run = http_run(
        target, run_checks, [{"url": f"{url}/health"}], tls={"endpoints": [], "ca_file": str(ca_path)}
    )
    assert only(run)["outcome"] == "passed"


def test_blackholed_endpoints_time_out_concurrently(target, run_checks, blackholes) -> None:
    urls, accepted = blackholes
    run = http_run(target, run_checks, [{"url": url} for url in urls], timeout=5.0)
    messages = [c["message"] for c in run.report["checks"] if c["area"] == "http"]
    assert messages == [f"{url}: timeout: no answer within 5 s" for url in urls]
    # probed one after the other, each endpoint would be reached only after the one before timed out
    assert len(accepted) == 3 and max(accepted) - min(accepted) < 5.0, accepted


# -- the probe itself (runner/probes/http.py), without a check run --------------------


def test_probe_reads_status_json_and_time(app) -> None:
    result = probe.probe(f"{app}/health", 5)
    assert (result.url, result.status, result.body, result.error_kind, result.error) == (
        f"{app}/health",
        200,
        {"status": "ok", "db": {"connected": True}},
        None,
        "",
    )
    assert result.answered and 0 < result.elapsed_ms < 5000 and AGENTS[-1] == "deploycheck"
    assert (probe.probe(f"{app}/broken", 5).status, probe.probe(f"{app}/broken", 5).body) == (
        500,
        {"error": "boom"},
    )
    text = probe.probe(f"{app}/text", 5)
    assert (text.status, text.body, text.answered) == (200, None, True)  # answered, not JSON
    assert probe.probe(f"{app}/moved", 5).status == 302  # a redirect is the answer, not followed


def test_probe_tells_each_way_of_not_answering_apart(tls_app, blackholes) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    refused = probe.probe(f"http://127.0.0.1:{port}/", 5)
    assert (refused.body, refused.status, refused.error_kind, refused.error, refused.answered) == (
        None,
        None,
        "refused",
        "connection refused (nothing listens on that port)",
        False,
    )
    url, ca_path = tls_app
    untrusted = probe.probe(f"{url}/health", 5)
    assert untrusted.error_kind == "tls" and untrusted.error.startswith("TLS certificate not accepted:")
    assert probe.probe(f"{url}/health", 5, ca_path).status == 200
    silent = probe.probe(blackholes[0][0], 0.5)
    assert (silent.error_kind, silent.error, silent.status) == ("timeout", "no answer within 0.5 s", None)
    assert 500 <= silent.elapsed_ms < 30_000


@pytest.mark.parametrize(
    ("expected", "body", "problems"),
    [
        ({"a": 1}, None, ["the response is not JSON"]),
        ({"a.b": 1}, {"a": {"b": 1.0}}, []),
        ({"a.b": 1}, {"a": "b"}, ["JSON field 'a.b' is missing"]),
        ({"a.b": 1, "c": 2}, {"a": {}, "c": 2}, ["JSON field 'a.b' is missing"]),
        ({"a": [1, 2]}, {"a": [1]}, ["JSON field 'a' is [1], expected [1, 2]"]),
        ({"a": {"x": 1}}, {"a": {"x": 1, "y": 2}}, ["JSON field 'a' is {'x': 1, 'y': 2}, expected {'x': 1}"]),
        ({"a": {"x": 1}}, {"a": {"x": True}}, ["JSON field 'a' is {'x': True}, expected {'x': 1}"]),
        ({"a": {}}, {"a": []}, ["JSON field 'a' is [], expected {} (a array, not a object)"]),
        ({"a": "1"}, {"a": 1}, ["JSON field 'a' is 1, expected '1' (a number, not a string)"]),
        ({"a": True}, {"a": None}, ["JSON field 'a' is None, expected True (a null, not a boolean)"]),
        (
            {"a": date(2026, 1, 2)},
            {"a": "2026-01-02"},
            ["JSON field 'a' is '2026-01-02', expected datetime.date(2026, 1, 2) (a string, not a date)"],
        ),
        ({"0": "x"}, ["x"], ["JSON field '0' is missing"]),
    ],
)
def test_probe_compares_json_fields_as_json_values(expected, body, problems) -> None:
    assert probe.json_problems(expected, body) == problems
