"""The archive at scale: index pages of 100 written once, prune, and concurrent runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.errors import DeploycheckError
from runner.report.archive import PAGE, prune, publish, read_history, staging_dir
from tests.conftest import deploycheck


def fake_report(n: int, outcome: str = "passed", start: datetime | None = None) -> dict:
    started = (start or datetime(2026, 1, 1, tzinfo=UTC)) + timedelta(hours=n)
    stamp = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    failed = outcome == "failed"
    return {
        "target": "t",
        "profile": "p",
        "started_at": stamp,
        "finished_at": stamp,
        "outcome": outcome,
        "exit_code": 1 if failed else 0,
        "summary": {"passed": 1, "failed": int(failed), "warned": 0, "skipped": 0, "waived": 0, "errors": 0},
        "checks": [
            {
                "id": "checks/test_x.py::test_y",
                "outcome": "failed" if failed else "passed",
                "severity": "blocker",
                "details": {},
            }
        ],
    }


def archive_of(root: Path, count: int, failing: set[int] = frozenset()) -> Path:
    for n in range(count):
        staged = staging_dir(root, "p")
        (staged / "report.json").write_text("{}")
        publish(staged, fake_report(n, "failed" if n in failing else "passed"))
    return root / "p"


def test_the_index_shows_the_newest_page_and_links_pages_written_once(tmp_path) -> None:
    base = archive_of(tmp_path, 2 * PAGE + 30)
    pages = sorted(p.name for p in (base / "pages").iterdir())
    assert pages == ["page-00001.html", "page-00002.html"]
    first = (base / "pages" / "page-00001.html").read_text()
    assert first.count("/report.html") == PAGE and "Runs 1 to 100" in first
    written = (base / "pages" / "page-00001.html").stat().st_mtime_ns
    archive_of(tmp_path, 5)  # more runs: the full pages are not written again
    assert (base / "pages" / "page-00001.html").stat().st_mtime_ns == written
    index = (base / "index.html").read_text()
    assert index.count("/report.html") == PAGE and "235 run(s); the newest 100 here" in index
    assert 'href="pages/page-00002.html">101–200</a>' in index
    newest = read_history(base)[-1]["run"]
    assert index.index(newest) < index.index(read_history(base)[-2]["run"])  # newest first


def test_prune_keeps_the_newest_and_the_newest_failing_run(tmp_path) -> None:
    base = archive_of(tmp_path, 30, failing={3})
    result = prune(base, keep=5)
    kept = [run["run"] for run in read_history(base)]
    assert len(kept) == 6 and result.kept == 6 and len(result.removed) == 24
    assert read_history(base)[0]["outcome"] == "failed"  # the newest failing run stays
    assert sorted(p.name for p in base.iterdir() if p.is_dir() and p.name[0].isdigit()) == sorted(kept)
    assert (base / "index.html").read_text().count("/report.html") == 6


def test_prune_by_age_from_the_command_line(tmp_path, target) -> None:
    now = datetime.now(UTC)
    root = tmp_path / "reports"
    for n in range(10):
        staged = staging_dir(root, "profile")
        publish(staged, fake_report(-24 * (9 - n), start=now))  # one run a day, the last today
    result = deploycheck(
        "archive",
        "prune",
        "--keep-days",
        "3.5",
        "--profile",
        str(target.profile_path),
        "--reports",
        str(root),
    )
    assert result.returncode == 0, result.stderr
    assert "archive prune: removed 6 run(s) (" in result.stdout and "4 kept" in result.stdout
    assert len(read_history(root / "profile")) == 4
    both = deploycheck(
        "archive", "prune", "--keep", "1", "--keep-days", "1", "--profile", str(target.profile_path)
    )
    assert both.returncode == 2 and "exactly one of --keep N or --keep-days N" in both.stderr


@pytest.mark.slow
def test_eight_overlapping_runs_leave_eight_complete_runs(target, tmp_path) -> None:
    target.add("V1__t.sql", "CREATE TABLE t (id INT PRIMARY KEY);\n")
    target.migrate()
    reports = tmp_path / "reports"
    command = [
        sys.executable,
        "-m",
        "runner",
        "verify",
        "--profile",
        str(target.profile_path),
        "--reports",
        str(reports),
        "-k",
        "test_database",
        "--quiet",
    ]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=target.root)
        for _ in range(8)
    ]
    codes = [proc.wait(timeout=120) for proc in procs]
    for proc in procs:
        proc.stdout.close()
        proc.stderr.close()
    assert codes == [0] * 8
    base = reports / "profile"
    runs = [p for p in base.iterdir() if p.is_dir() and p.name[0].isdigit()]
    assert len(runs) == 8 and not [p for p in base.iterdir() if p.name.startswith(".run-")]
    for run in runs:
        assert {p.name for p in run.iterdir()} == {"report.html", "details.html", "report.json", "junit.xml"}
    history = read_history(base)
    assert len(history) == 8 and sorted(h["run"] for h in history) == sorted(r.name for r in runs)
    index = (base / "index.html").read_text()
    assert index.count("/report.html") == 8 and index.rstrip().endswith("</html>")
    assert all(json.loads((r / "report.json").read_text())["outcome"] == "passed" for r in runs)


@pytest.mark.parametrize(
    "named", ["../../victim", "VICTIM_ABSOLUTE", "", ".", "2026-01-01T00-00-00Z/../../../victim"]
)
def test_prune_deletes_only_run_folders_it_finds_never_a_path_from_history(tmp_path, named) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    root = tmp_path / "deep" / "reports"
    base = archive_of(root, 4)
    linked = base / "2020-01-01T00-00-00Z"  # a run-shaped name that is a symlink to the victim
    linked.symlink_to(victim, target_is_directory=True)
    forged = [
        {**fake_report(-50), "run": str(victim) if named == "VICTIM_ABSOLUTE" else named},
        {**fake_report(-40), "run": linked.name},
    ]
    history = base / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in forged) + history.read_text())
    profile = tmp_path / "p.yml"
    profile.write_text("target: t\n")
    result = deploycheck("archive", "prune", "--keep", "1", "--profile", str(profile), "--reports", str(root))
    assert result.returncode == 0, result.stderr
    assert (victim / "keep.txt").read_text() == "precious" and linked.is_symlink()
    assert "skipped 1 line(s)" in result.stderr and "nothing of theirs was deleted" in result.stderr
    remaining = read_history(base)
    assert remaining[0]["run"] == forged[0]["run"]  # reported, left where it was
    assert sorted(
        p.name for p in base.iterdir() if p.is_dir() and not p.is_symlink() and p.name[0] == "2"
    ) == [remaining[-1]["run"]]


def test_prune_rebuilds_pages_in_the_archive_not_where_a_planted_link_points(tmp_path) -> None:
    base = archive_of(tmp_path / "reports", PAGE + 3)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "page-00001.html").write_text("precious")
    shutil.rmtree(base / "pages")
    (base / "pages").symlink_to(victim, target_is_directory=True)
    prune(base, keep=PAGE + 2)
    assert (victim / "page-00001.html").read_text() == "precious"
    assert not (base / "pages").is_symlink() and (base / "pages" / "page-00001.html").is_file()


def test_prune_reads_odd_history_lines_without_a_traceback(tmp_path) -> None:
    """A hand-edited history: a start time without zone (read as UTC), lines that are JSON but
    no object, objects that name no run."""
    root = tmp_path / "reports"
    base = archive_of(root, 3)
    history = base / "history.jsonl"
    lines = history.read_text().splitlines()
    naive = {**json.loads(lines[0]), "started_at": "2026-01-01T00:00:00"}
    run_shaped = {"run": "2025-01-01T00-00-00Z", "started_at": "2025-01-01T00:00:00Z"}
    odd = [
        *("[1, 2]", '"text"', "null", "{}", json.dumps({"run": 5, "outcome": ["x"]})),
        json.dumps({**run_shaped, "summary": 5, "attention": [1, {"id": 2}]}),
    ]
    history.write_text("\n".join([json.dumps(naive), *lines[1:], *odd]) + "\n")
    profile = tmp_path / "p.yml"
    profile.write_text("target: t\n")
    for option in (["--keep-days", "1"], ["--keep", "1"]):
        result = deploycheck("archive", "prune", *option, "--profile", str(profile), "--reports", str(root))
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert [run["run"] for run in read_history(base) if isinstance(run.get("run"), str)] == [
        json.loads(lines[-1])["run"]
    ]
    assert (base / "index.html").read_text().rstrip().endswith("</html>")


def test_a_forged_history_line_is_not_linked_from_the_index(tmp_path) -> None:
    """Whoever can append to history.jsonl must not put a link of their choosing on the page
    the team opens: only lines that name a run as publish names it are shown."""
    root = tmp_path / "reports"
    base = archive_of(root, 1)
    forged = {**fake_report(-5), "run": "javascript:alert(document.cookie)//"}
    with (base / "history.jsonl").open("a") as history:
        history.write(json.dumps(forged) + "\n")
    archive_of(root, 1)  # the next run renders the index
    index = (base / "index.html").read_text()
    assert "javascript:" not in index and index.count("/report.html") == 2
    prune(base, keep=5)
    assert "javascript:" not in (base / "index.html").read_text()


@pytest.mark.parametrize("planted", ["history.jsonl", ".lock"])
def test_the_archive_appends_to_no_file_through_a_planted_link(tmp_path, planted) -> None:
    """history.jsonl and the lock are appended to: a link planted in their place (a reports
    volume others can write) is refused, naming it, and what it points at stays as it was."""
    base = archive_of(tmp_path / "reports", 1)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (base / planted).unlink()
    (base / planted).symlink_to(victim)
    staged = staging_dir(tmp_path / "reports", "p")
    (staged / "report.json").write_text("{}")
    with pytest.raises(DeploycheckError, match=rf"{planted} is a symbolic link"):
        publish(staged, fake_report(1))
    assert victim.read_text() == "precious\n"
