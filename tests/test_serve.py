"""`deploycheck serve` and `verify --metrics`: the dashboard, the JSON API, Prometheus metrics,
token auth, no path out of the archive, no secret served."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.profile.loader import load_profile
from runner.report.metrics import write_textfile
from runner.serve.app import Dashboard, serve
from tests.conftest import deploycheck

pytestmark = pytest.mark.slow


@pytest.fixture()
def archived(target, tmp_path):
    """A target with one passing and one failing run archived (a pending migration)."""
    target.add("V1__t.sql", "CREATE TABLE t (id INT PRIMARY KEY);\n")
    target.migrate()
    reports = tmp_path / "reports"
    for _ in range(2):
        result = deploycheck(
            "verify",
            "--profile",
            str(target.profile_path),
            "--reports",
            str(reports),
            "-k",
            "test_migrations or test_database",
            "--metrics",
            str(tmp_path / "deploycheck.prom"),
            cwd=target.root,
        )
        target.add("V2__new.sql", "SELECT 1;")
    assert result.returncode == 1
    target.reports = reports
    return target


@pytest.fixture()
def server(archived):
    running = serve(
        Dashboard(load_profile(str(archived.profile_path)), archived.reports), "127.0.0.1", 0, None
    )
    yield f"http://127.0.0.1:{running.server_address[1]}"
    running.shutdown()
    running.server_close()


def test_the_api_answers_from_the_archive_and_the_target(archived, server) -> None:
    latest = httpx.get(f"{server}/api/runs/latest").json()
    assert latest["outcome"] == "failed" and latest["schema"] == 1
    runs = httpx.get(f"{server}/api/runs?limit=1").json()["runs"]
    assert len(runs) == 1 and runs[0]["outcome"] == "failed"
    older = httpx.get(f"{server}/api/runs", params={"before": runs[0]["run"]}).json()["runs"]
    assert [r["outcome"] for r in older] == ["passed"]
    migrations = httpx.get(f"{server}/api/migrations").json()
    assert [(m["filename"], m["state"]) for m in migrations["migrations"]] == [
        ("V1__t.sql", "applied"),
        ("V2__new.sql", "pending"),
    ]
    assert httpx.get(f"{server}/healthz").text == "ok\n"
    assert httpx.get(f"{server}/api/backups").status_code == 404  # no backups section


def test_metrics_in_prometheus_exposition_format(archived, server, tmp_path) -> None:
    text = httpx.get(f"{server}/metrics").text
    assert (
        'deploycheck_check_ok{area="migrations",check="checks/test_migrations.py::test_nothing_pending",profile="profile",severity="blocker"} 0.0'
        in text
    )
    assert 'deploycheck_pending_migrations{profile="profile"} 1.0' in text
    assert 'deploycheck_last_run_exit_code{profile="profile"} 1.0' in text
    assert "deploycheck_last_run_timestamp_seconds" in text
    textfile = (tmp_path / "deploycheck.prom").read_text()  # verify --metrics, the same exposition
    assert 'deploycheck_pending_migrations{profile="profile"} 1.0' in textfile


def samples(prom: Path, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The textfile's samples of one family, by their labels."""
    (family,) = [f for f in text_string_to_metric_families(prom.read_text()) if f.name == name]
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_a_run_that_archives_nothing_keeps_its_series_with_its_exit_code(archived, tmp_path) -> None:
    """A single-target run that archived nothing (here: judged nothing, exit 2) left the textfile
    as it was, saying the last run failed with exit 1, or wrote none at all: its series stay, with
    exit 2 and outcome error, and its last-run time is not refreshed (DeploycheckNoRecentRun), as
    with several targets."""
    prom, fresh = tmp_path / "deploycheck.prom", tmp_path / "fresh.prom"
    before = samples(prom, "deploycheck_last_run_timestamp_seconds")
    for path in (prom, fresh):
        result = deploycheck(
            "verify",
            *("--profile", str(archived.profile_path), "--reports", str(archived.reports)),
            *("-k", "nomatch", "--metrics", str(path)),
            cwd=archived.root,
        )
        assert result.returncode == 2 and "no run was archived" in result.stdout, (
            result.stdout + result.stderr
        )
        assert samples(path, "deploycheck_last_run_exit_code") == {(("profile", "profile"),): 2}
        outcomes = samples(path, "deploycheck_last_run_outcome")
        assert {dict(labels)["outcome"] for labels, v in outcomes.items() if v == 1} == {"error"}
    assert samples(prom, "deploycheck_last_run_timestamp_seconds") == before
    failed = [dict(labels)["check"] for labels, v in samples(prom, "deploycheck_check_ok").items() if v == 0]
    assert failed == ["checks/test_migrations.py::test_nothing_pending"]  # its blocker still alerts
    assert 'deploycheck_pending_migrations{profile="profile"} 1.0' in prom.read_text()
    assert "deploycheck_last_run_timestamp_seconds{" not in fresh.read_text()  # no run: no time


def test_a_fifo_planted_at_the_textfile_path_is_no_earlier_file(tmp_path) -> None:
    """node_exporter's textfile folder is often shared: a FIFO at the path hung the run for ever
    reading what it kept (a link to /dev/zero would fill memory). Only a regular file is read."""
    path = tmp_path / "deploycheck.prom"
    os.mkfifo(path)
    writing = threading.Thread(target=write_textfile, args=(path, [("p", None, 2)]), daemon=True)
    writing.start()
    writing.join(10)
    if writing.is_alive():  # let the reader go
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        writing.join(10)
        pytest.fail("reading the FIFO blocked")
    assert 'deploycheck_last_run_exit_code{profile="p"} 2.0' in path.read_text()


def test_the_dashboard_and_the_archived_reports(archived, server) -> None:
    page = httpx.get(f"{server}/").text
    assert 'id="verdict">FAILED (exit 1)' in page and "test_nothing_pending" in page and "V2__new.sql" in page
    link = page.split('href="archive/', 1)[1].split('"', 1)[0]
    report = httpx.get(f"{server}/archive/{link}")
    assert report.status_code == 200 and "Gate: FAILED" in report.text
    assert httpx.get(f"{server}/archive/index.html").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/archive/../../etc/passwd",
        "/archive/%2e%2e/%2e%2e/etc/passwd",
        "/archive/x/../../../etc/passwd",
        "/archive/pages/../../../etc/passwd",
        "/archive/history.jsonl",
        "/archive/.lock",
        "/etc/passwd",
    ],
)
def test_nothing_outside_the_archive_is_served(server, path) -> None:
    assert httpx.get(f"{server}{path}").status_code == 404


def test_beyond_loopback_a_token_is_required_and_checked(archived, tmp_path) -> None:
    refused = deploycheck("serve", "--profile", str(archived.profile_path), "--host", "0.0.0.0")
    assert refused.returncode == 2 and "set serve.token_file" in refused.stderr
    (tmp_path / "token").write_text("Serve-Token-Secret-1\n")
    archived.write_profile(serve={"token_file": str(tmp_path / "token")})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "serve",
            "--profile",
            str(archived.profile_path),
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--reports",
            str(archived.reports),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # printed once it listens: a loaded machine may take longer than any polling bound to start it
        line = proc.stdout.readline()
        assert line.startswith("serve: http://0.0.0.0:"), line + (proc.stderr.read() if proc.stderr else "")
        url = f"http://127.0.0.1:{line.split()[1].rsplit(':', 1)[1].rstrip('/')}"
        assert httpx.get(f"{url}/healthz").status_code == 200  # for the container's health check
        assert httpx.get(f"{url}/api/runs/latest").status_code == 401
        assert (
            httpx.get(f"{url}/api/runs/latest", headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        good = httpx.get(f"{url}/api/runs/latest", headers={"Authorization": "Bearer Serve-Token-Secret-1"})
        assert good.status_code == 200 and "Serve-Token-Secret-1" not in good.text
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "Serve-Token-Secret-1" not in line + out + err and proc.returncode == 130
