"""Latency of `deploycheck serve` over archived runs, under a load from a second process.

    python bench/bench_serve.py [--runs 10000] [--requests 400]
    python bench/bench_serve.py --targets 20 --runs 1000 [--requests 400]

The newest run of each archive is a report of 61 checks as a real verify writes (a backup and a
certificate among them), the older ones history lines (bench_archive's). One target: an archive
of `--runs` runs served with the demo profile's shape (no live sections, so only the archive is
read); routes /api/runs/latest and /metrics. Several targets: `--targets` archives of `--runs`
runs each, every other one failing two checks, served as `deploycheck serve` without --profile serves them; routes / (the
overview), /metrics (every target), /api/targets and one target's dashboard. A second process
sends the requests one after another per route, timing each from its side.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_archive import fill

from runner.profile.model import Profile
from runner.serve.app import Dashboard, Site, serve
from runner.serve.targets import find_targets

CLIENT = """
import json, sys, time, httpx
url, count, routes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
out = {}
with httpx.Client() as client:
    for route in routes:
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
AREAS = ("database", "migrations", "schema", "backups", "env", "smtp", "dns", "tls", "http", "containers")


def real_report(profile: str, runs: int, failing: bool) -> dict:
    """The newest run of a target: 61 checks of every area, as `deploycheck verify` writes them."""
    finished = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=runs)
    checks = [
        {
            "id": f"checks/test_{AREAS[n % len(AREAS)]}.py::test_requirement_{n}",
            "area": AREAS[n % len(AREAS)],
            "title": "A requirement of the deployment, as its docstring states it in a sentence or two.",
            "severity": ("blocker", "warning", "info")[n % 3],
            "outcome": "failed" if failing and n < 2 else ("passed", "skipped")[n % 2],
            "duration_s": 0.01 * n,
            "message": f"measured {n}: what the check saw, also when it passed, in about a line of text",
            "details": {},
        }
        for n in range(59)
    ]
    checks.append(
        {**checks[3], "id": "checks/test_backups.py::test_backup_is_fresh[app]", "details": {"age_s": 3600}}
    )
    expires = (finished + timedelta(days=60)).isoformat()
    checks.append(
        {
            **checks[7],
            "id": "checks/test_tls.py::test_certificates_are_valid_now[https://app.example]",
            "details": {"expires_at": expires},
        }
    )
    stamp = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "schema": 1,
        "profile": profile,
        "target": profile,
        "started_at": stamp,
        "finished_at": stamp,
        "outcome": "failed" if failing else "passed",
        "exit_code": 1 if failing else 0,
        "summary": {
            "passed": 30,
            "failed": 2 if failing else 0,
            "warned": 0,
            "skipped": 29,
            "waived": 0,
            "errors": 0,
        },
        "checks": checks,
    }


def measure(site: Site, routes: list[str], requests: int) -> dict[str, list[float]]:
    server = serve(site, "127.0.0.1", 0, None)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        return json.loads(  # type: ignore[no-any-return]
            subprocess.run(
                [sys.executable, "-c", CLIENT, url, str(requests), *routes],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--targets", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="deploycheck-bench-"))
    try:
        if args.targets == 1:
            fill(work, args.runs, "p", real_report("p", args.runs, failing=False))
            site = Site([Dashboard(Profile(name="p", path=work / "p.yml"), work)])
            routes = ["/api/runs/latest", "/metrics"]
        else:
            for n in range(args.targets):
                name = f"t{n:02d}"
                fill(work, args.runs, name, real_report(name, args.runs, failing=n % 2 == 1))
            site = Site(find_targets(work, [])[0])
            routes = ["/", "/metrics", "/api/targets", "/t/t01/"]
        result = measure(site, routes, args.requests)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{args.targets} target(s) of {args.runs:,} archived runs, {args.requests} requests per route "
        "from a second process:\n"
    )
    print("| route | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for route, (p50, p99) in result.items():
        print(f"| `{route}` | {p50:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
