"""Latency of `deploycheck serve` with 10,000 archived runs, under a load from a second process.

    python bench/bench_serve.py [--runs 10000] [--requests 400]

Builds an archive of `--runs` runs (bench_archive's), serves it with the demo profile's shape
(no live sections, so only the archive is read), and has a second process send the requests
one after another per route, timing each from its side.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_archive import fill

from runner.profile.model import Profile
from runner.serve.app import Dashboard, serve

CLIENT = """
import json, sys, time, httpx
url, count = sys.argv[1], int(sys.argv[2])
out = {}
with httpx.Client() as client:
    for route in ("/api/runs/latest", "/metrics"):
        times = []
        for _ in range(count):
            started = time.perf_counter()
            response = client.get(url + route)
            assert response.status_code == 200, (route, response.status_code)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        out[route] = [times[len(times) // 2], times[int(len(times) * 0.99) - 1]]
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="deploycheck-bench-"))
    fill(work, args.runs)
    profile = Profile(name="p", path=work / "p.yml")
    server = serve(Dashboard(profile, work), "127.0.0.1", 0, None)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = json.loads(
            subprocess.run(
                [sys.executable, "-c", CLIENT, url, str(args.requests)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.runs:,} archived runs, {args.requests} requests per route from a second process:\n")
    print("| route | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for route, (p50, p99) in result.items():
        print(f"| `{route}` | {p50:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
