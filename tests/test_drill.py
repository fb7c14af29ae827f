"""The restore drill (`deploycheck backups drill`, checks/test_backups.py with backups.drill) and
the room left on the backup volume: real dumps of the throwaway MariaDB, restored on a scratch
server, broken in the ways restores break."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.backups.dump import find_binary
from tests.conftest import confined_scratch, deploycheck
from tests.test_backups import TRICKY_ROWS

pytestmark = pytest.mark.slow

APP_MIGRATIONS = {
    "V1__base.sql": (
        "CREATE TABLE gene (id INT PRIMARY KEY, symbol VARCHAR(32) NOT NULL UNIQUE, note TEXT);\n"
        "CREATE TABLE entity (id INT PRIMARY KEY, gene_id INT NOT NULL,"
        " CONSTRAINT fk_gene FOREIGN KEY (gene_id) REFERENCES gene (id));\n"
    ),
    "V2__view_and_routines.sql": (
        "CREATE VIEW gene_symbols AS SELECT id, symbol FROM gene;\n"
        "DELIMITER //\nCREATE PROCEDURE gene_count() BEGIN SELECT COUNT(*) FROM gene; END //\n"
        "CREATE TRIGGER gene_bi BEFORE INSERT ON gene FOR EACH ROW SET NEW.symbol = UPPER(NEW.symbol) //\n"
        "DELIMITER ;\n"
    ),
}


def _dump(target, folder: Path, name: str | None = None) -> Path:
    """mariadb-dump of the target database, gzipped into `folder` under fradelg's name."""
    raw = subprocess.run(
        [
            find_binary("mariadb-dump", "mysqldump"),
            "--no-defaults",
            f"--socket={target.server.socket}",
            "-uroot",
            "--single-transaction",
            "--routines",
            "--triggers",
            target.database,
        ],
        check=True,
        capture_output=True,
    ).stdout
    folder.mkdir(exist_ok=True)
    path = folder / (name or f"{datetime.now(UTC):%Y%m%d%H%M}.{target.database}.sql.gz")
    path.write_bytes(gzip.compress(raw))
    return path


@pytest.fixture()
def app(target, tmp_path):
    """A migrated database with tricky rows, a view, a procedure, a trigger and the ledger; its
    backups folder; the session server as the team's scratch server."""
    for name, sql in APP_MIGRATIONS.items():
        target.add(name, sql)
    target.migrate()
    with target.server.connect(target.database) as conn, conn.cursor() as cur:
        for n, text in enumerate(TRICKY_ROWS[:10] * 30, 1):
            cur.execute("INSERT INTO gene VALUES (%s, %s, %s)", (n, f"g{n}", text))
        cur.execute("INSERT INTO entity SELECT id, id FROM gene WHERE id % 3 = 0")
        cur.execute("CREATE TABLE blobs (id INT PRIMARY KEY, raw VARBINARY(300))")  # bytes that are not UTF-8
        cur.executemany("INSERT INTO blobs VALUES (%s, %s)", [(n, bytes(range(n, 256))) for n in range(40)])
    target.write_profile(
        backups={
            "source": "backup",
            "databases": [target.database],
            "required_tables": ["gene", "entity"],
            "drill": {"queries": ["SELECT COUNT(*) >= 300 FROM gene", "SELECT COUNT(*) = 100 FROM entity"]},
        },
        scratch=confined_scratch(target.server, f"scratch_{target.database}_"),
    )
    target.backup = _dump(target, tmp_path / "backup")
    return target


def _scratch_databases(target) -> list[str]:
    return [name for (name,) in target.query("SHOW DATABASES") if name.startswith("scratch_")]


def drill(target, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    result = deploycheck(
        "backups", "drill", *args, "--json", "--profile", str(target.profile_path), cwd=target.root
    )
    return result, json.loads(result.stdout) if result.stdout.strip() else {}


def test_a_healthy_backup_restores_with_exact_counts(app) -> None:
    result, report = drill(app, "--latest")
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["ok"] is True and report["tables"] == {
        "blobs": 40,
        "gene": 300,
        "entity": 100,
        "deploycheck_schema_history": 2,
    }
    definers, note = report["findings"]  # a confined user cannot create root's objects
    assert (definers["kind"], definers["blocking"]) == ("confinement", False)
    assert "DEFINER clauses were dropped" in definers["message"]
    assert (note["kind"], note["blocking"]) == ("ledger", False)
    assert "the backup is at migration V2__view_and_routines.sql, the newest on disk" in note["message"]
    assert _scratch_databases(app) == []  # dropped afterwards
    assert "scratch server" in report["scratch"] and report["database"] is None


def test_the_kept_copy_is_the_source_byte_for_byte(app) -> None:
    """--keep leaves the copy: every table, binary columns and tricky strings included, has the
    source's checksum; the output says how to connect."""
    result, report = drill(app, "--latest", "--keep")
    assert result.returncode == 0 and report["database"].startswith(f"scratch_{app.database}_drill_")
    kept = report["database"]
    user = app.data["scratch"]["user"]  # type: ignore[index]
    assert (
        f"the restored copy is kept: mariadb --socket={app.server.socket} -u {user} {kept}" in result.stderr
    )
    try:
        for table, rows in report["tables"].items():
            assert app.query(f"SELECT COUNT(*) FROM `{table}`") == [(rows,)]
            if table != "deploycheck_schema_history":  # applied_at differs by nothing, but no need
                (ours,) = app.query(f"CHECKSUM TABLE `{app.database}`.`{table}`")
                (copy,) = app.query(f"CHECKSUM TABLE `{kept}`.`{table}`")
                assert ours[1] == copy[1], table
    finally:
        app.query(f"DROP DATABASE `{kept}`")


def test_a_remote_backup_is_drilled_by_streaming_it_over_ssh(app, sshd) -> None:
    app.write_profile(
        backups={
            **app.data["backups"],  # type: ignore[dict-item]
            "source": sshd.url(app.backup.parent),
            "identity_file": str(sshd.identity),
            "known_hosts_file": str(sshd.known_hosts),
        }
    )
    result, report = drill(app, "--latest")
    assert result.returncode == 0, result.stderr
    assert report["ok"] is True and report["tables"]["gene"] == 300 and report["backup"] == app.backup.name


def test_a_statement_that_fails_on_restore_is_named(app, tmp_path) -> None:
    data = gzip.decompress(app.backup.read_bytes())
    duplicated = data.replace(b"INSERT INTO `gene` VALUES\n(1,", b"INSERT INTO `gene` VALUES\n(2,", 1)
    assert duplicated != data
    app.backup.write_bytes(gzip.compress(duplicated))
    result, report = drill(app, app.backup.name)
    assert result.returncode == 1
    (failure,) = [f for f in report["findings"] if f["blocking"]]
    assert failure["kind"] == "restore"
    assert "the restore failed at statement" in failure["message"] and "(dump line" in failure["message"]
    # MariaDB's bulk load into an empty InnoDB table (the dump turns unique checks off) finds the
    # duplicate at COMMIT; other servers at the INSERT itself: the drill reports what the server said
    assert "(1180) Got error 1" in failure["message"] or "(1062) Duplicate entry" in failure["message"]
    assert _scratch_databases(app) == []


def test_a_view_whose_table_is_not_in_the_dump_fails(app) -> None:
    with app.server.connect(app.database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE helper (id INT)")
        cur.execute("CREATE VIEW via_helper AS SELECT id FROM helper")
    data = gzip.decompress(_dump(app, app.backup.parent, app.backup.name).read_bytes())
    start = data.index(b"--\n-- Table structure for table `helper`")
    end = data.index(b"UNLOCK TABLES;\n", start) + len(b"UNLOCK TABLES;\n")
    app.backup.write_bytes(gzip.compress(data[:start] + data[end:]))
    result, report = drill(app, "--latest")
    assert result.returncode == 1
    messages = [f["message"] for f in report["findings"] if f["blocking"]]
    assert any("helper" in m and ("1146" in m or "doesn't exist" in m) for m in messages), messages


def test_a_backup_older_than_the_newest_migration_says_what_a_restore_means(app) -> None:
    app.add("V3__alias.sql", "ALTER TABLE gene ADD COLUMN alias VARCHAR(32) NULL;\n")
    app.add("V4__index.sql", "CREATE INDEX idx_alias ON gene (alias);\n")
    app.migrate()
    result, report = drill(app, "--latest")  # the backup was taken at V2
    assert result.returncode == 0 and report["ok"] is True
    (note,) = [f for f in report["findings"] if f["kind"] == "ledger"]
    assert note["message"] == (
        "the backup is at migration V2__view_and_routines.sql; restoring it would leave 2 migration(s) "
        "pending (V3__alias.sql, V4__index.sql): run `deploycheck migrate` after a restore"
    )


def test_a_restore_over_the_time_budget_fails_with_both_numbers(app) -> None:
    app.write_profile(
        backups={**app.data["backups"], "drill": {"budget_min": 0.000001}}  # type: ignore[dict-item]
    )
    result, report = drill(app, "--latest")
    assert result.returncode == 1
    (budget,) = [f for f in report["findings"] if f["kind"] == "budget"]
    assert "more than backups.drill.budget_min 1e-06 min (the recovery time objective)" in budget["message"]
    assert re.match(r"the restore took \d+\.\d s, more than", budget["message"])  # seconds, not "0.0 min"


def test_a_false_drill_query_fails(app) -> None:
    app.write_profile(
        backups={**app.data["backups"], "drill": {"queries": ["SELECT COUNT(*) > 1000 FROM gene"]}}
    )  # type: ignore[dict-item]
    result, report = drill(app, "--latest")
    assert result.returncode == 1
    assert [f["message"] for f in report["findings"] if f["blocking"]] == [
        "drill query returned 0, expected a true first column: SELECT COUNT(*) > 1000 FROM gene"
    ]


def test_a_dump_of_several_databases_is_refused_before_it_leaves_the_scratch_database(app) -> None:
    data = gzip.decompress(app.backup.read_bytes())
    app.backup.write_bytes(gzip.compress(b"CREATE DATABASE elsewhere;\n" + data))
    result, report = drill(app, "--latest")
    assert result.returncode == 1 and report["findings"][0]["kind"] == "confinement"
    message = report["findings"][0]["message"]
    assert "line 1 (statement 1): a database-level statement (CREATE DATABASE): refused" in message
    assert "a dump of one database is expected (made without --databases or --all-databases)" in message
    assert app.query("SHOW DATABASES LIKE 'elsewhere'") == []


def test_drill_on_a_local_throwaway_server_and_the_check(app, run_checks) -> None:
    app.write_profile(scratch=None)  # the default: a throwaway local mariadbd
    run = run_checks(app.profile_path, "-k", "test_backups")
    check = run.check(f"test_newest_backup_restores[{app.database}]")
    assert check["outcome"] == "passed", check["message"]
    assert check["details"]["drill"]["tables"]["gene"] == 300
    assert "throwaway local mariadbd" in check["details"]["drill"]["scratch"]

    data = gzip.decompress(app.backup.read_bytes())
    cut = data.index(b"'semi;colon'") + 5  # the dump stops inside a string of an INSERT
    app.backup.write_bytes(gzip.compress(data[:cut]))
    run = run_checks(app.profile_path, "-k", "test_backups")
    check = run.check(f"test_newest_backup_restores[{app.database}]")
    assert check["outcome"] == "failed" and "restore: the restore failed at statement" in check["message"]
    assert "(1064)" in check["message"]


# -- room on the backup volume ------------------------------------------------------


@pytest.fixture()
def volume(tmp_path):
    """A folder whose file system is measured for real (statvfs here, `stat -f` over ssh); the
    tests make its newest backup a sparse file sized against the free space they read, so the
    volume is "full" without filling a disk or mounting anything (a refused mount cannot skip it)."""
    folder = tmp_path / "volume"
    folder.mkdir()
    return folder


def _free_bytes(folder) -> int:
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


def test_a_volume_without_room_for_three_more_backups_fails(app, volume, run_checks, sshd) -> None:
    newest = volume / f"202601010300.{app.database}.sql.gz"
    with newest.open("wb") as sparse:  # 0.6 x the free space: room for 1 more until it grows by 2/3
        sparse.truncate(int(_free_bytes(volume) * 0.6))
    app.write_profile(backups={"source": str(volume), "databases": [app.database]})
    run = run_checks(app.profile_path, "-k", "test_backup_volume_has_room")
    check = run.check("test_backup_volume_has_room")
    assert (check["outcome"], check["severity"], run.exit_code) == ("failed", "blocker", 1)
    assert check["message"].startswith("the backup volume is running out:")
    assert "in 1 file(s) a night; room for 1 more (backups.min_free_backups is 3)" in check["message"]

    app.write_profile(
        backups={
            "source": sshd.url(volume),
            "databases": [app.database],
            "identity_file": str(sshd.identity),
            "known_hosts_file": str(sshd.known_hosts),
        }
    )
    remote = run_checks(app.profile_path, "-k", "test_backup_volume_has_room").check(
        "test_backup_volume_has_room"
    )
    assert remote["outcome"] == "failed" and "room for 1 more" in remote["message"]

    app.write_profile(backups={"source": str(volume), "databases": [app.database], "min_free_backups": 1})
    check = run_checks(app.profile_path, "-k", "test_backup_volume_has_room").check(
        "test_backup_volume_has_room"
    )
    assert check["outcome"] == "passed" and "(backups.min_free_backups is 1)" in check["message"]


def test_room_judged_by_an_empty_backup_fails(app, volume, run_checks) -> None:
    """0 bytes a night would leave room for ever: a measurement of nothing is not a pass."""
    (volume / f"202601010300.{app.database}.sql.gz").write_bytes(b"")
    app.write_profile(backups={"source": str(volume), "databases": [app.database]})
    run = run_checks(app.profile_path, "-k", "test_backup_volume_has_room")
    check = run.check("test_backup_volume_has_room")
    assert (check["outcome"], run.exit_code) == ("failed", 1)
    assert check["message"].endswith(
        "the newest backups take 0 B in 1 file(s): no night's size to judge the room by"
    )
