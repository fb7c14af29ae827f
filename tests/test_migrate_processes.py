"""`deploycheck migrate` as separate processes: concurrency, kill -9, a server that dies, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from runner.sandbox.mariadb import MariaDBServer
from tests.conftest import Project

pytestmark = pytest.mark.slow

TRAIL = "CREATE TABLE IF NOT EXISTS trail (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40));\n"


def wait_for(predicate, timeout_s: float = 30.0) -> None:
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"condition not met within {timeout_s} s")


def running_query(project: Project, text: str) -> bool:
    rows = project.query(
        f"SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() AND info LIKE '{text}%'"
    )
    return rows[0][0] > 0


def kill_9_while_running(project: Project, query: str) -> None:
    """Start `deploycheck migrate` and SIGKILL it while the server runs `query` for it."""
    proc = project.spawn("migrate")
    wait_for(lambda: running_query(project, query))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def test_eight_concurrent_migrates_apply_each_migration_once(project: Project) -> None:
    project.add("V1__trail.sql", TRAIL)
    for n in range(2, 13):
        # slow enough that the processes really overlap
        project.add(f"V{n}__step.sql", f"INSERT INTO trail (v) VALUES ('{n}');\nDO SLEEP(0.05);\n")
    procs = [project.spawn("migrate") for _ in range(8)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _ in results] == [0] * 8, results
    assert [row[0] for row in project.query("SELECT v FROM trail ORDER BY id")] == [
        str(n) for n in range(2, 13)
    ]
    appliers = [err for _, err in results if "applying V2__step.sql" in err]
    assert len(appliers) == 1
    assert sum("nothing to apply" in err for _, err in results) == 7


def test_kill_9_during_ddl_migration_never_claims_it_and_next_run_says_so(project: Project) -> None:
    project.add("V1__trail.sql", TRAIL)
    project.add(
        "V2__slow_ddl.sql", "CREATE TABLE slow_a (id INT);\nSELECT SLEEP(2);\nCREATE TABLE slow_b (id INT);\n"
    )
    kill_9_while_running(project, "SELECT SLEEP(2)")
    (success,) = project.query("SELECT success FROM deploycheck_schema_history WHERE version = '2'")[0]
    assert success == 0
    again = project.cli("migrate")
    assert again.returncode == 1
    assert "V2__slow_ddl.sql: failed: did not finish: the process died" in again.stderr
    assert "deploycheck repair" in again.stderr
    status = project.cli("status", "--json")
    assert status.returncode == 1
    assert json.loads(status.stdout)["summary"]["failed"] == 1


def test_kill_9_during_transactional_migration_leaves_nothing_and_next_run_applies_it(
    project: Project,
) -> None:
    project.add("V1__trail.sql", TRAIL)
    project.add("V2__data.sql", "INSERT INTO trail (v) VALUES ('2');\nSELECT SLEEP(2);\n")
    kill_9_while_running(project, "SELECT SLEEP(2)")
    wait_for(lambda: not running_query(project, "SELECT SLEEP(2)"))
    assert project.query("SELECT version FROM deploycheck_schema_history") == [("1",)]
    assert project.query("SELECT COUNT(*) FROM trail") == [(0,)]
    again = project.cli("migrate")
    assert again.returncode == 0, again.stderr
    assert project.query("SELECT v FROM trail") == [("2",)]


def test_server_killed_mid_migration_fails_fast_with_exit_3(tmp_path, database) -> None:
    with MariaDBServer(tmp_path / "doomed") as server:
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {database}")
        project = Project(tmp_path / "project", server, database)
        project.add("V1__slow.sql", "CREATE TABLE a (id INT);\nSELECT SLEEP(30);\n")
        proc = project.spawn("migrate")
        wait_for(lambda: running_query(project, "SELECT SLEEP(30)"))
        started = time.monotonic()
        server.kill()
        code = proc.wait(timeout=30)
        took = time.monotonic() - started
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 3
    assert took < 10
    assert "lost the connection to database" in err and "V1__slow.sql statement 2 (line 2)" in err
    assert "deploycheck status" in err


def test_status_exit_codes_and_json(project: Project, tmp_path) -> None:
    project.add("V1__trail.sql", TRAIL)
    pending = project.cli("status", "--json")
    assert pending.returncode == 1
    report = json.loads(pending.stdout)
    assert report["summary"]["pending"] == 1 and report["migrations"][0]["state"] == "pending"
    assert project.cli("migrate", "--quiet").returncode == 0
    clean = project.cli("status")
    assert clean.returncode == 0 and "applied" in clean.stdout
    project.write_profile(database={"socket": str(tmp_path / "nothing-here.sock")})
    unreachable = project.cli("status")
    assert unreachable.returncode == 3
    assert "cannot connect to database" in unreachable.stderr
    project.write_profile(database={"port": "not-a-port"})
    invalid = project.cli("status")
    assert invalid.returncode == 2
    assert "database.port: Input should be a valid integer" in invalid.stderr


def test_dry_run_prints_statements_and_writes_nothing(project: Project) -> None:
    project.write_profile(migrations={"placeholders": {"engine": "InnoDB"}})
    project.add(
        "V1__t.sql", "-- comment\nCREATE TABLE t (id INT) ENGINE=${engine};\nINSERT INTO t VALUES (1);\n"
    )
    result = project.cli("migrate", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE t (id INT) ENGINE=InnoDB;" in result.stdout
    assert "-- statement 2, line 3\nINSERT INTO t VALUES (1);" in result.stdout
    assert "may change sql_mode" not in result.stdout
    assert project.query("SHOW TABLES") == []


def test_dry_run_says_where_a_sql_mode_change_may_split_the_rest_differently(project: Project) -> None:
    project.add("V1__mode.sql", "SET sql_mode = 'NO_BACKSLASH_ESCAPES';\nSELECT 1;\n")
    result = project.cli("migrate", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "SET sql_mode = 'NO_BACKSLASH_ESCAPES';\n-- (may change sql_mode" in result.stdout


def test_repair_asks_first_and_yes_applies(project: Project) -> None:
    path = project.add("V1__trail.sql", TRAIL)
    assert project.cli("migrate", "-q").returncode == 0
    path.write_text(TRAIL + "-- changed\n")
    refused = project.cli("repair", stdin=subprocess.DEVNULL)
    assert refused.returncode == 1 and "nothing changed" in refused.stdout
    assert "accept the changed V1__trail.sql" in refused.stdout
    done = project.cli("repair", "--yes")
    assert done.returncode == 0 and "repaired: accept the changed V1__trail.sql" in done.stderr
    assert project.cli("status").returncode == 0


def test_profile_from_environment_and_missing_profile(project: Project) -> None:
    env = {**os.environ, "DEPLOYCHECK_PROFILE": str(project.profile_path)}
    ok = subprocess.run([sys.executable, "-m", "runner", "status"], capture_output=True, text=True, env=env)
    assert ok.returncode in (0, 1) and "profile profile" in ok.stdout
    env.pop("DEPLOYCHECK_PROFILE")
    missing = subprocess.run(
        [sys.executable, "-m", "runner", "status"], capture_output=True, text=True, env=env
    )
    assert missing.returncode == 2 and "no profile given" in missing.stderr
