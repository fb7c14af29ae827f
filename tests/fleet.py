"""Two targets archived by the real `deploycheck verify`, cheaply: `shop` (its HTTP endpoint
answers 200, passing) and `blog` (its endpoint answers 404, a failed blocker), both against a
local HTTP server, their profiles in profiles/ beside reports/ as `serve` looks for them, and
each run's `--metrics` textfile in metrics/NAME.prom. And a real `deploycheck serve` process
over such an archive."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import deploycheck

PASSING, FAILING = "shop", "blog"


class _App(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/health" else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def archive_two_targets(root: Path) -> Path:
    """root/profiles/{shop,blog}.yml, root/reports with one real run of each and root/metrics;
    the reports folder."""
    app = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{app.server_address[1]}"
    (root / "profiles").mkdir(parents=True)
    (root / "metrics").mkdir()
    try:
        for name, path in ((PASSING, "/health"), (FAILING, "/gone")):
            (root / "profiles" / f"{name}.yml").write_text(
                f"target: {name}\ntimeouts: {{default_s: 5}}\nhttp:\n  - {{url: '{url}{path}', status: 200, name: home}}\n"
            )
            result = deploycheck(
                "verify",
                "--profile",
                str(root / "profiles" / f"{name}.yml"),
                "--reports",
                str(root / "reports"),
                "-q",
                "--metrics",
                str(root / "metrics" / f"{name}.prom"),
            )
            assert result.returncode == (0 if name == PASSING else 1), result.stdout + result.stderr
    finally:
        app.shutdown()
        app.server_close()
    return root / "reports"


@contextmanager
def serving(*args: str, cwd: Path | None = None) -> Iterator[str]:
    """`deploycheck serve --port 0 ARGS` as its own process; its base URL. Stopped afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serve: http://"), line + proc.stderr.read() if proc.stderr else line
        yield line.split()[1].rstrip("/")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
