"""Twenty targets verified by one `deploycheck verify --jobs 4` against twenty `deploycheck verify`
processes one after another, in the same run.

    python bench/bench_verify_many.py [--targets 20] [--jobs 4] [--repeat 3]

The targets are cheap and real: each profile has two `http:` endpoints on a local HTTP server
(answering after 200 ms, as an application's health route might) and an `env:` section read
from a dotenv file. Both ways archive into a temporary folder, removed afterwards; they run
alternately, so a load that comes and goes on the machine falls on both.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(0.2)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def profiles(folder: Path, url: str, count: int) -> list[Path]:
    (folder / "app.env").write_text("APP_MODE=production\nAPP_URL=https://genes.clinic-lab.org\n")
    paths = []
    for n in range(count):
        path = folder / f"target{n:02}.yml"
        path.write_text(
            f"target: target{n:02}\n"
            f"http:\n  - url: {url}/health/{n}\n  - url: {url}/ready/{n}\n"
            "env: {source: 'dotenv:app.env', required: [APP_MODE, APP_URL]}\n"
        )
        paths.append(path)
    return paths


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(
            f"{' '.join(command[:6])} ... exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr}"
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    deploycheck = str(Path(sys.executable).with_name("deploycheck"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="deploycheck-bench-"))
    try:
        paths = profiles(work, f"http://127.0.0.1:{server.server_address[1]}", args.targets)
        together, one_by_one = [], []
        for _ in range(args.repeat):
            every = [arg for p in paths for arg in ("--profile", str(p))]
            together.append(timed([deploycheck, "verify", "--jobs", str(args.jobs), "-q", *every], work))
            one_by_one.append(
                sum(timed([deploycheck, "verify", "--profile", str(p), "-q"], work) for p in paths)
            )
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(work)
    for name, times in [
        (f"one `verify --jobs {args.jobs}` of {args.targets} profiles", together),
        (f"{args.targets} `verify --profile P` one after another", one_by_one),
    ]:
        shown = ", ".join(f"{t:.1f}" for t in times)
        print(f"| {name} | {statistics.median(times):.1f} | {shown} |")
    print(f"speed-up (medians): {statistics.median(one_by_one) / statistics.median(together):.2f}x")


if __name__ == "__main__":
    main()
