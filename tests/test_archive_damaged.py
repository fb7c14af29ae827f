"""A damaged archive (a crash mid-write, a full disk, a hand edit): cut history lines, cut JSON,
bytes that are not UTF-8 and a missing run folder. The next run still lands, index writing,
prune and `serve` keep working and say what they left out, and /metrics shows the damage."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import httpx
import pytest

from runner.profile.loader import load_profile
from runner.report.archive import newest_runs, prune, publish, read_history, staging_dir
from runner.serve.app import ROUTES, SITE_ROUTES, Dashboard, serve
from tests.test_archive import fake_report


def archive_of(root: Path, count: int) -> Path:
    """`count` runs with a real report.json and report.html each."""
    for n in range(count):
        staged = staging_dir(root, "p")
        report = fake_report(n, "failed" if n % 2 else "passed")
        for check in report["checks"]:
            check.update(area="x", title="y", duration_s=0.1, message="")
        (staged / "report.json").write_text(json.dumps(report))
        (staged / "report.html").write_text(f"<html><body>run {n}</body></html>")
        (staged / "details.html").write_text("<!DOCTYPE html><html><body>details</body></html>")
        (staged / "junit.xml").write_text("<testsuites/>")
        publish(staged, report)
    return root / "p"


def cut_last_line(base: Path) -> None:
    history = base / "history.jsonl"
    data = history.read_bytes()
    history.write_bytes(data[: len(data) - 40])  # a crash mid-write: no newline, half a line


def test_a_run_after_a_cut_line_is_recorded_whole(tmp_path) -> None:
    base = archive_of(tmp_path, 3)
    cut_last_line(base)
    before = {p.name for p in base.glob("20*")}
    archive_of(tmp_path, 1)  # the next verify
    (new,) = {p.name for p in base.glob("20*")} - before
    history = newest_runs(base)
    assert history.runs[-1]["run"] == new
    assert len(history.runs) == 3 and history.total == 4 and history.unreadable == [3]
    assert "line 3" in (base / "index.html").read_text()  # the index says what it left out


@pytest.mark.parametrize(
    "junk",
    [
        b"42",
        b'"text"',
        b"[]",
        b"{}",
        b'{"run": "../../etc", "started_at": "x", "outcome": "passed"}',
        b'{"run": "2026-01-01T00-00-00Z", "started_at": "yesterday", "outcome": "passed"}',
        b'{"run": "2026-01-01T00-00-00Z", "started_at": "2026-01-01T00:00:00Z", "outcome": "passed", '
        b'"attention": [{"outcome": "failed"}]}',
        '{"run": "2026-01-01T00-00-00Z", "outcome": "caf\u00e9"'.encode("latin-1"),
        b"\xff\xfe\x00",
        b"",
    ],
)
def test_unreadable_lines_are_skipped_and_counted_by_every_reader(tmp_path, junk) -> None:
    base = archive_of(tmp_path, 2)
    with (base / "history.jsonl").open("ab") as history:
        history.write(junk + b"\n")
    archive_of(tmp_path, 1)  # the index is written again over the damaged line
    history = newest_runs(base)
    assert len(history.runs) == 3 and history.unreadable == [3]
    assert "1 line(s) could not be read" in (base / "index.html").read_text()
    assert len(newest_runs(base, 2).runs) == 1 and newest_runs(base, 2).unreadable == [3]
    result = prune(base, keep=1)  # prune reads the same history: it does not crash on it
    assert result.kept >= 1 and read_history(base)


def test_run_folders_follow_the_umask(tmp_path) -> None:
    """A web server running as another user can serve the archive when the umask lets it."""
    old = os.umask(0o022)
    try:
        base = archive_of(tmp_path, 1)
    finally:
        os.umask(old)
    (run,) = base.glob("20*")
    assert stat.S_IMODE(run.stat().st_mode) == 0o755
    assert stat.S_IMODE((run / "report.json").stat().st_mode) == 0o644


@pytest.fixture()
def served(tmp_path):
    """`serve` over an archive of three runs, profile `p`, nothing live configured."""
    (tmp_path / "p.yml").write_text("target: t\ntimeouts: {default_s: 3}\n")
    base = archive_of(tmp_path / "reports", 3)
    running = serve(
        Dashboard(load_profile(str(tmp_path / "p.yml")), tmp_path / "reports"), "127.0.0.1", 0, None
    )
    yield base, f"http://127.0.0.1:{running.server_address[1]}"
    running.shutdown()
    running.server_close()


def _every_route_answers(url: str, run: str) -> dict[str, httpx.Response]:
    answers = {}
    for path in [
        *ROUTES,
        *SITE_ROUTES,
        "/archive/index.html",
        f"/archive/{run}/report.html",
        f"/archive/{run}/report.json",
    ]:
        answer = httpx.get(url + path, timeout=30)
        assert answer.status_code in (200, 204, 404, 503), (path, answer.status_code)
        assert answer.content or answer.status_code == 204 or path.startswith("/archive/"), (
            path
        )  # files as they are
        answers[path] = answer
    return answers


def _damaged(good: dict) -> list[bytes]:
    """report.json cut, emptied, not UTF-8, or with fields of the wrong shape."""
    return [
        json.dumps(good).encode()[:200],
        b"",
        b"{}",
        json.dumps(good).encode().replace(b'"p"', b'"\xff"'),
        json.dumps({**good, "finished_at": "yesterday"}).encode(),
        json.dumps({**good, "finished_at": 1767225600}).encode(),
        json.dumps({**good, "checks": None}).encode(),
        json.dumps({**good, "checks": [{"id": "x"}]}).encode(),
        json.dumps({**good, "checks": [{**good["checks"][0], "details": None}]}).encode(),
    ]


@pytest.mark.parametrize("which", range(9))
def test_serve_names_a_cut_report_and_metrics_say_the_archive_is_damaged(served, which) -> None:
    base, url = served
    runs = sorted(p.name for p in base.glob("20*"))
    good = json.loads((base / runs[-1] / "report.json").read_text())
    (base / runs[-1] / "report.json").write_bytes(_damaged(good)[which])
    answers = _every_route_answers(url, runs[-1])
    latest = answers["/api/runs/latest"]
    assert latest.status_code == 503 and "report.json: cannot be read" in latest.json()["error"]
    assert latest.json()["last_readable_run"] == runs[-2]
    metrics = answers["/metrics"].text
    assert 'deploycheck_archive_readable{profile="p"} 0.0' in metrics
    assert 'deploycheck_last_run_exit_code{profile="p"} 1.0' in metrics  # the last readable run
    page = answers["/"].text
    assert "The archive is damaged" in page and f"{runs[-1]}/report.json" in page


def test_serve_answers_a_cut_history_line_and_a_missing_run_folder(served) -> None:
    base, url = served
    runs = sorted(p.name for p in base.glob("20*"))
    assert 'deploycheck_archive_readable{profile="p"} 1.0' in httpx.get(f"{url}/metrics").text
    shutil.rmtree(base / runs[-1])
    answers = _every_route_answers(url, runs[-1])
    assert answers["/api/runs/latest"].status_code == 503
    assert "folder or its report.json is missing" in answers["/api/runs/latest"].json()["error"]
    assert 'deploycheck_archive_readable{profile="p"} 0.0' in answers["/metrics"].text
    cut_last_line(base)
    answers = _every_route_answers(url, runs[-2])
    listed = answers["/api/runs"].json()
    assert listed["unreadable_lines"] == [3] and "could not be read" in listed["note"]
    assert [run["run"] for run in listed["runs"]] == runs[-2::-1]
    assert 'deploycheck_archive_readable{profile="p"} 0.0' in answers["/metrics"].text


def test_serve_answers_a_page_that_is_not_utf8_and_details_as_html(served) -> None:
    base, url = served
    run = sorted(p.name for p in base.glob("20*"))[-1]
    (base / run / "report.html").write_bytes(b"<html><body>caf\xe9 \xff</body></html>")
    (base / "index.html").write_bytes(b"\xfe\xff<html>")
    page = httpx.get(f"{url}/archive/{run}/report.html", timeout=30)
    assert page.status_code == 200 and "caf\ufffd" in page.text
    assert httpx.get(f"{url}/archive/index.html", timeout=30).status_code == 200
    details = httpx.get(f"{url}/archive/{run}/details.html", timeout=30)
    assert details.status_code == 200 and details.headers["content-type"].startswith("text/html")
    (base / run / "report.json").write_bytes(b'{"profile": "caf\xe9"}')
    latest = httpx.get(f"{url}/api/runs/latest", timeout=30)
    assert latest.status_code == 503 and "cannot be read" in latest.json()["error"]
