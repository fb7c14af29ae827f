"""What a verify run's archive update costs with 10,000 archived runs, against 1 run, in-process.

    python bench/bench_archive.py [--runs 10000] [--repeat 20] [--work DIR]

The update is what `deploycheck verify` does after the checks: give the run folder its name,
append its history line, rewrite index.html (the newest 100 runs) and, every 100 runs, write
the page that filled up. Also times rendering index.html and opening it (reading and parsing
it with the standard library's HTML parser, a stand-in for a browser's own parse).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_migrate import work_dir

from runner.report.archive import publish, staging_dir
from tests.test_archive import fake_report


def fill(root: Path, count: int, profile: str = "p", newest: dict | None = None) -> None:
    """An archive of `count` runs of `profile`, written directly (history lines and folders),
    then one publish of `newest` (by default a fake report of one check)."""
    base = root / profile
    base.mkdir(parents=True)
    with (base / "history.jsonl").open("w") as history:
        for n in range(count - 1):
            report = fake_report(n)
            name = report["started_at"].replace(":", "-")
            (base / name).mkdir()
            line = {
                "run": name,
                **{k: report[k] for k in ("started_at", "finished_at", "outcome", "exit_code", "summary")},
                "reason": "",
                "attention": [],
            }
            history.write(json.dumps(line) + "\n")
    newest = newest or fake_report(count)
    staged = staging_dir(root, profile)
    (staged / "report.json").write_text(json.dumps(newest))  # the newest run, served as latest
    publish(staged, newest)


def update_ms(root: Path, offset: int, repeat: int) -> list[float]:
    times = []
    for n in range(repeat):
        staged = staging_dir(root, "p")
        (staged / "report.json").write_text("{}")
        started = time.perf_counter()
        publish(staged, fake_report(offset + n))
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    with work_dir(args.work) as work:
        results = {}
        for count in (1, args.runs):
            root = work / f"archive-{count}"
            fill(root, count)
            results[count] = update_ms(root, count + 1, args.repeat)
        small, large = (statistics.median(results[c]) for c in (1, args.runs))
        index = work / f"archive-{args.runs}" / "p" / "index.html"
        started = time.perf_counter()
        HTMLParser().feed(index.read_text())
        parse_ms = (time.perf_counter() - started) * 1000
        print(f"\narchive update per verify run, median of {args.repeat}:\n")
        print("| archive | median ms | p90 ms |")
        print("|---|---:|---:|")
        for count in (1, args.runs):
            times = sorted(results[count])
            print(
                f"| {count:,} run(s) | {statistics.median(times):.1f} | {times[int(len(times) * 0.9) - 1]:.1f} |"
            )
        print(
            f"\nextra cost with {args.runs:,} runs: {large - small:.1f} ms; index.html {index.stat().st_size / 1e3:.0f} kB, parsed in {parse_ms:.1f} ms"
        )


if __name__ == "__main__":
    main()
