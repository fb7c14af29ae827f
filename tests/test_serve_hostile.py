"""`deploycheck serve` against hostile requests and a hostile browser: foreign Host names (DNS
rebinding), encoded and doubled paths, huge and negative query values, idle and slow clients,
a flood of requests against a target whose database allows 10 connections, and token files
and Authorization headers of every shape. Each asserts an answer within the timeouts and no
data where none is due."""

from __future__ import annotations

import re
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from runner.profile.loader import load_profile
from runner.sandbox.mariadb import MariaDBServer
from runner.serve.app import Dashboard, serve
from runner.serve.limits import WORKERS
from tests.conftest import Target, deploycheck
from tests.fleet import serving
from tests.test_archive_damaged import archive_of

DEADLINE_S = 2  # the profile's timeouts.default_s in these tests
LATE_S = DEADLINE_S + 20  # an answer later than this is no answer (a slow, shared machine)


def start(tmp_path, profile: str = "", token: str | None = None) -> tuple[str, int, object]:
    (tmp_path / "p.yml").write_text(f"target: t\ntimeouts: {{default_s: {DEADLINE_S}}}\n{profile}")
    archive_of(tmp_path / "reports", 2)
    server = serve(
        Dashboard(load_profile(str(tmp_path / "p.yml")), tmp_path / "reports"), "127.0.0.1", 0, token
    )
    return "127.0.0.1", server.server_address[1], server


@pytest.fixture()
def port(tmp_path):
    _, number, server = start(tmp_path, "serve: {allowed_hosts: [dash.internal]}\n")
    yield number
    server.shutdown()
    server.server_close()


def raw(port: int, request: bytes, pause_s: float = 0) -> tuple[int, bytes, float]:
    """Send `request` as is (one byte per `pause_s` when given); (status, body, seconds taken).
    Status 0: the server closed the connection without an answer."""
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=LATE_S) as sock:
        try:
            for piece in [request[i : i + 1] for i in range(len(request))] if pause_s else [request]:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered before the request was whole
                sock.sendall(piece)
                time.sleep(pause_s)
        except OSError:
            pass  # the server gave up on us first; its answer is below
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    return status, body, time.monotonic() - began


def get(path: str, host: str = "127.0.0.1", *headers: str) -> bytes:
    extra = "".join(f"{header}\r\n" for header in headers)
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode()


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8484",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "dash.internal.evil.example",
        "10.0.0.1",
        "[::1]:8484",
        "[::1",
        "127.0.0.1:abc",
        "",
        "%6cocalhost",
    ],
)
def test_a_foreign_host_gets_no_data(port, host) -> None:
    status, body, _ = raw(port, get("/api/runs/latest", host))
    assert status in (400, 421) and b"outcome" not in body and b"2026-" not in body


def test_no_host_and_two_hosts_get_no_data(port) -> None:
    status, body, _ = raw(port, b"GET /api/runs HTTP/1.0\r\n\r\n")
    assert status == 421 and b"runs" not in body
    status, body, _ = raw(port, get("/api/runs", "127.0.0.1", "Host: evil.example"))
    assert status == 421 and b"runs" not in body


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:1234", "localhost", "LOCALHOST:1", "dash.internal"])
def test_the_bound_address_localhost_and_allowed_hosts_are_answered(port, host) -> None:
    status, body, _ = raw(port, get("/api/runs/latest", host))
    assert status == 200 and b'"outcome"' in body


@pytest.mark.parametrize(
    "path",
    [
        "//evil.example/api/runs/latest",
        "/api//runs/latest",
        "/%61pi/runs/latest",
        "/api%2fruns%2flatest",
        "/api/runs/latest/",
        "/api/runs/latest%00",
        "/archive//index.html",
        "/archive/%2e%2e%2fhistory.jsonl",
        "/archive/pages/page-..%2f..%2fhistory.jsonl",
        "/archive/2026-01-01T00-00-00Z/../history.jsonl",
        "/archive/2026-01-01T00-00-00Z//report.json",
        "http://127.0.0.1/api/runs/latest",
        "*",
    ],
)
def test_encoded_and_doubled_paths_get_no_data(port, path) -> None:
    status, body, _ = raw(port, get(path))
    assert status in (400, 404) and b'"outcome"' not in body and b'"run"' not in body


def test_an_overlong_request_line_gets_no_data_and_the_server_goes_on(port) -> None:
    status, body, _ = raw(port, get("/api/runs?" + "a" * 70000))
    assert status in (0, 414) and b'"run"' not in body  # 0: closed before the client read the 414
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=LATE_S).status_code == 200


@pytest.mark.parametrize(
    "query, status, count",
    [
        ("limit=-5", 200, 1),
        ("limit=0", 200, 1),
        ("limit=" + "9" * 30, 200, 2),
        ("limit=" + "9" * 5000, 400, None),
        ("limit=1e3", 400, None),
        ("limit=%00", 400, None),
        ("limit=1&limit=-1", 200, 1),
        ("before=" + "x" * 5000, 200, 0),
        ("before=%ff%fe", 200, 0),
        ("&&&=&" * 1000, 200, 2),
    ],
)
def test_huge_and_negative_query_values(port, query, status, count) -> None:
    answer = httpx.get(f"http://127.0.0.1:{port}/api/runs?{query}", timeout=LATE_S)
    assert answer.status_code == status
    if count is not None:
        assert len(answer.json()["runs"]) == count
    else:
        assert "limit" in answer.json()["error"]


@pytest.mark.parametrize(
    "request_bytes, pause_s",
    [
        (b"", 0),  # connects and sends nothing
        (b"GET /api/ru", 0),  # half a request line
        (b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n", 0),  # headers never end
        (b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"y" * 40, 0.1),  # drips bytes
    ],
)
def test_idle_and_slow_clients_are_answered_within_the_deadline(port, request_bytes, pause_s) -> None:
    status, body, took = raw(port, request_bytes, pause_s)
    assert status == 408 and b"did not arrive within 2 s" in body
    assert took < LATE_S


def test_more_idle_clients_than_workers_do_not_lock_others_out(port) -> None:
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(WORKERS + 8)]
    try:
        began = time.monotonic()
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3 * LATE_S)
        assert answer.status_code == 200 and time.monotonic() - began < 3 * LATE_S
    finally:
        for sock in idle:
            sock.close()


def test_threads_stay_bounded_under_a_flood(port) -> None:
    before = threading.active_count()
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(60)]
    try:
        time.sleep(1)
        assert threading.active_count() - before <= WORKERS
    finally:
        for sock in sockets:
            sock.close()


# -- the token --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "planted", ["a linked file", "a linked run folder", "a linked index", "a linked page"]
)
def test_a_link_planted_in_the_archive_serves_nothing_outside_it(tmp_path, planted) -> None:
    """Whoever may write the reports volume (the app's containers, in the compose example) plants a
    link in a run's place; serve, perhaps running as root, must not read through it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "junit.xml").write_text("Outside-Secret-31")
    (outside / "page-00009.html").write_text("Outside-Secret-31")
    _, number, server = start(tmp_path, "")
    base = tmp_path / "reports" / "p"
    run = "2020-01-01T00-00-00Z"
    if planted == "a linked file":
        (base / run).mkdir()
        (base / run / "junit.xml").symlink_to(outside / "junit.xml")
        path = f"/archive/{run}/junit.xml"
    elif planted == "a linked run folder":
        (base / run).symlink_to(outside, target_is_directory=True)
        path = f"/archive/{run}/junit.xml"
    elif planted == "a linked index":
        (base / "index.html").unlink()
        (base / "index.html").symlink_to(outside / "junit.xml")
        path = "/archive/index.html"
    else:
        (base / "pages").mkdir(exist_ok=True)
        (base / "pages" / "page-00009.html").symlink_to(outside / "page-00009.html")
        path = "/archive/pages/page-00009.html"
    try:
        status, body, _ = raw(number, get(path))
    finally:
        server.shutdown()
        server.server_close()
    assert status == 404 and b"Outside-Secret" not in body


def test_a_bearer_token_in_any_case_and_of_any_script(tmp_path) -> None:
    token = "Jäger-Ключ-🔑-token"
    _, number, server = start(tmp_path, token=token)
    try:
        url = f"http://127.0.0.1:{number}/api/runs/latest"
        for scheme in ("Bearer", "bearer", "BEARER"):
            sent = f"{scheme} {token}".encode()
            status, body, _ = raw(
                number,
                get("/api/runs/latest").replace(b"\r\n\r\n", b"\r\nAuthorization: " + sent + b"\r\n\r\n"),
            )
            assert status == 200 and b'"outcome"' in body, scheme
        for wrong in (
            "Bearer",
            "Bearer ",
            "Basic " + token,
            "Bearer Jager-Ключ-🔑-token",
            "Bearer " + token[:-1],
        ):
            status, body, _ = raw(
                number,
                get("/api/runs/latest").replace(
                    b"\r\n\r\n", b"\r\nAuthorization: " + wrong.encode() + b"\r\n\r\n"
                ),
            )
            assert status == 401 and b"outcome" not in body, wrong
        assert httpx.get(url, timeout=LATE_S).status_code == 401
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("content", [b"", b"\n", b"   \r\n", b"\xff\xfe token", None])
def test_an_empty_or_unreadable_token_file_is_refused(tmp_path, content) -> None:
    token_file = tmp_path / "token"
    if content is None:
        token_file.mkdir()  # cannot be read as a file (a root test runner can read any mode)
    else:
        token_file.write_bytes(content)
    (tmp_path / "p.yml").write_text(f"target: t\nserve: {{token_file: {token_file}}}\n")
    result = deploycheck("serve", "--profile", str(tmp_path / "p.yml"), "--port", "0", timeout=60)
    assert result.returncode == 2 and str(token_file) in result.stderr
    assert "serve: http" not in result.stdout


# -- a flood against a target that allows 10 connections ----------------------------------------


@pytest.fixture()
def small_target(tmp_path):
    """A throwaway mariadbd with max_connections=10 and a target on it."""
    server = MariaDBServer(tmp_path / "mariadb", options=("--max-connections=10",))
    server.start()
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE app CHARACTER SET utf8mb4")
    target = Target(tmp_path / "target", server, "app")
    target.add("V1__t.sql", "CREATE TABLE t (id INT PRIMARY KEY);\n")
    target.migrate()
    target.write_profile(timeouts={"default_s": 5})
    yield target
    server.remove()


@pytest.mark.slow
def test_two_hundred_requests_use_one_connection_of_ten(small_target, tmp_path) -> None:
    running = serve(Dashboard(small_target.profile(), tmp_path / "reports"), "127.0.0.1", 0, None)
    url = f"http://127.0.0.1:{running.server_address[1]}"
    try:

        def fetch(n: int) -> tuple[int, str, float]:
            began = time.monotonic()
            answer = httpx.get(url + ("/api/migrations" if n % 2 else "/"), timeout=60)
            return answer.status_code, answer.text, time.monotonic() - began

        with ThreadPoolExecutor(max_workers=200) as pool:
            answers = list(pool.map(fetch, range(200)))
        with small_target.server.connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Max_used_connections'")
            used = int(cur.fetchone()[1])
    finally:
        running.shutdown()
        running.server_close()
    assert [status for status, _, _ in answers] == [200] * 200
    assert all("V1__t.sql" in text for _, text, _ in answers)
    assert max(took for _, _, took in answers) < 60
    assert used <= 3  # the migration, the test's own connection, and at most one of serve's


@pytest.mark.slow
def test_a_stalled_database_costs_its_timeout_once_and_is_answered(target, tmp_path) -> None:
    """A ledger read that never returns ends at the profile's timeout with 503 and what failed;
    the next requests within a few seconds get that answer at once instead of waiting again."""
    target.add("V1__t.sql", "CREATE TABLE t (id INT PRIMARY KEY);\n")
    target.migrate()
    target.write_profile(timeouts={"default_s": DEADLINE_S})
    running = serve(Dashboard(target.profile(), tmp_path / "reports"), "127.0.0.1", 0, None)
    url = f"http://127.0.0.1:{running.server_address[1]}/api/migrations"
    lock = target.server.connect(target.database)
    try:
        with lock.cursor() as cur:
            cur.execute("LOCK TABLES deploycheck_schema_history WRITE")
        began = time.monotonic()
        first = httpx.get(url, timeout=LATE_S)
        assert first.status_code == 503 and "ledger" in first.json()["error"]
        assert time.monotonic() - began < LATE_S
        began = time.monotonic()
        again = [httpx.get(url, timeout=LATE_S) for _ in range(5)]
        assert [a.status_code for a in again] == [503] * 5 and time.monotonic() - began < DEADLINE_S
    finally:
        lock.close()
        running.shutdown()
        running.server_close()


def test_a_silent_backup_host_costs_the_profiles_timeout_not_the_default(tmp_path) -> None:
    """/api/backups over ssh to a host that accepts and never speaks answers 503 within the
    profile's timeouts (here 1 s), once; the next request gets that answer at once."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    (tmp_path / "known_hosts").write_text("")
    profile = (
        f"backups: {{source: 'ssh://backup@127.0.0.1:{silent.getsockname()[1]}/srv/backups', "
        f"known_hosts_file: {tmp_path / 'known_hosts'}}}\n"
    )
    (tmp_path / "p.yml").write_text(f"target: t\ntimeouts: {{default_s: 1}}\n{profile}")
    server = serve(
        Dashboard(load_profile(str(tmp_path / "p.yml")), tmp_path / "reports"), "127.0.0.1", 0, None
    )
    url = f"http://127.0.0.1:{server.server_address[1]}/api/backups"
    try:
        began = time.monotonic()
        answer = httpx.get(url, timeout=60)
        assert answer.status_code == 503 and "127.0.0.1" in answer.json()["error"]
        assert time.monotonic() - began < 8  # the default 10 s would be 30 s
        began = time.monotonic()
        assert httpx.get(url, timeout=60).status_code == 503 and time.monotonic() - began < 1
    finally:
        server.shutdown()
        server.server_close()
        silent.close()


def _no_ipv6_loopback() -> str:
    """Why ::1 cannot be served here ("" when it can)."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        return f"this machine has no IPv6 loopback: binding ::1 failed ({exc.strerror or exc})"
    return ""


@pytest.mark.skipif(bool(_no_ipv6_loopback()), reason=_no_ipv6_loopback() or "-")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_serve_listens_on_ipv6_loopback_and_checks_its_host_header(tmp_path, host) -> None:
    """`serve --host ::1` failed to bind (http.server binds IPv4 only): the family follows the
    host, the URL it prints brackets the address, and Host checks hold for `[::1]:PORT`."""
    (tmp_path / "p.yml").write_text("target: t\n")
    archive_of(tmp_path / "reports", 2)
    args = ("--profile", str(tmp_path / "p.yml"), "--reports", str(tmp_path / "reports"), "--host", host)
    with serving(*args) as url:
        assert re.fullmatch(r"http://\[::1\]:\d+", url), url
        assert httpx.get(f"{url}/", timeout=LATE_S).status_code == 200
        latest = httpx.get(f"{url}/api/runs/latest", timeout=LATE_S)
        assert latest.status_code == 200 and latest.json()["outcome"] == "failed"
        for foreign in ("evil.example", f"127.0.0.1:{url.rsplit(':', 1)[1]}", "[::2]"):
            refused = httpx.get(f"{url}/api/runs/latest", headers={"Host": foreign}, timeout=LATE_S)
            assert refused.status_code == 421 and b"outcome" not in refused.content, foreign


def test_a_port_already_taken_is_exit_2_naming_it(tmp_path) -> None:
    """It was a traceback from socketserver (exit 1)."""
    (tmp_path / "p.yml").write_text("target: t\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = deploycheck(
            "serve", "--profile", str(tmp_path / "p.yml"), "--reports", str(tmp_path), "--port", str(port)
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"deploycheck serve: --host 127.0.0.1 --port {port}: cannot listen there (Address already in use)\n"
    )
