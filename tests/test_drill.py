"""The restore drill (`deploycheck backups drill`, checks/test_backups.py with backups.drill) and
the room left on the backup volume: real dumps of the throwaway MariaDB, restored on a scratch
server, broken in the ways restores break."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
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
            "--skip-ssl",  # the session server offers no TLS; MariaDB 11.4+ clients demand it
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


def test_a_restored_view_that_does_not_resolve_fails_check_table(app) -> None:
    """The restore runs, but a view of the copy reads a function the dump dropped after it:
    CHECK TABLE (QUICK, as the drill runs it) fails on it, by name, and the drill exits 1."""
    with app.server.connect(app.database) as conn, conn.cursor() as cur:
        cur.execute("CREATE FUNCTION twice(a INT) RETURNS INT DETERMINISTIC RETURN a * 2")
        cur.execute("CREATE VIEW doubled AS SELECT twice(id) AS d FROM gene")
    data = gzip.decompress(_dump(app, app.backup.parent, app.backup.name).read_bytes())
    app.backup.write_bytes(gzip.compress(data + b"DROP FUNCTION twice;\n"))
    result, report = drill(app, "--latest")
    assert result.returncode == 1, result.stdout + result.stderr
    blocking = [f for f in report["findings"] if f["blocking"]]
    assert blocking and all(
        f["kind"] == "check-table" and f["message"].startswith("CHECK TABLE `doubled`:") for f in blocking
    ), blocking
    assert any("twice does not exist" in f["message"] for f in blocking), blocking


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


# -- rehearsal of the pending migrations on the restored copy (--rehearse) ----------


def _checksums(target) -> dict[str, int]:
    """Every table of the target with its checksum: what "the target is never touched" means."""
    tables = [name for (name,) in target.query("SHOW TABLES")]
    return {name: target.query(f"CHECKSUM TABLE `{name}`")[0][1] for name in tables}


BREAKING_ROWS = {
    "unique over duplicates": (
        [
            "CREATE TABLE acct (id INT PRIMARY KEY, email VARCHAR(64))",
            "INSERT INTO acct VALUES (1, 'Secret-Dup@example.org'), (2, 'Secret-Dup@example.org')",
        ],
        "ALTER TABLE acct ADD UNIQUE KEY uq_email (email);\n",
        "Secret-Dup",
        ("(1062) Duplicate entry '…",),
    ),
    "not null over nulls": (
        [
            "CREATE TABLE acct (id INT PRIMARY KEY, email VARCHAR(64))",
            "INSERT INTO acct VALUES (1, 'Secret-Mail@example.org'), (2, NULL)",
        ],
        "ALTER TABLE acct MODIFY email VARCHAR(64) NOT NULL;\n",
        "Secret-Mail",
        ("(1265) Data truncated for column", "(1138) Invalid use of NULL value"),
    ),
    "foreign key over orphans": (
        [
            "CREATE TABLE acct (id INT PRIMARY KEY)",
            "CREATE TABLE login (id INT PRIMARY KEY, acct_id INT, token VARCHAR(40))",
            "INSERT INTO acct VALUES (1)",
            "INSERT INTO login VALUES (1, 1, 'Secret-Token-1'), (2, 987654, 'Secret-Token-2')",
        ],
        "ALTER TABLE login ADD CONSTRAINT fk_acct FOREIGN KEY (acct_id) REFERENCES acct (id);\n",
        "987654",
        ("(1452) Cannot add or update a child row: a foreign key constraint fails",),
    ),
    "narrowing over long values under strict sql_mode": (
        [
            "CREATE TABLE acct (id INT PRIMARY KEY, email VARCHAR(64))",
            "INSERT INTO acct VALUES (1, 'Secret-Long-Value-Past-Twenty@example.org')",
        ],
        "SET SESSION sql_mode = 'STRICT_TRANS_TABLES';\nALTER TABLE acct MODIFY email VARCHAR(20);\n",
        "Secret-Long",
        ("(1265) Data truncated for column", "(1406) Data too long for column"),
    ),
}


@pytest.mark.parametrize("case", list(BREAKING_ROWS))
def test_rows_that_break_a_pending_migration_fail_it_by_name_without_their_values(app, case) -> None:
    setup, migration, secret, errors = BREAKING_ROWS[case]
    with app.server.connect(app.database) as conn, conn.cursor() as cur:
        for sql in setup:
            cur.execute(sql)
        conn.commit()
    _dump(app, app.backup.parent, app.backup.name)
    app.add("V3__tighten.sql", migration)
    app.add("V4__after.sql", "CREATE INDEX idx_note ON gene (note(10));\n")
    before = _checksums(app)
    result, report = drill(app, "--latest", "--rehearse")
    assert result.returncode == 1, result.stdout + result.stderr
    assert report["ok"] is False
    assert not [f for f in report["findings"] if f["blocking"]]  # the restore itself is proven
    (failed,) = report["rehearsal"]
    assert (failed["migration"], failed["ok"]) == ("V3__tighten.sql", False)
    assert failed["statement"] == migration.count(";") and failed["line"] == migration.count("\n")
    assert any(failed["error"].startswith(error) for error in errors), failed["error"]
    assert report["rehearsal_not_run"] == ["V4__after.sql"]
    assert secret not in result.stdout + result.stderr
    text = deploycheck(
        "backups", "drill", "--latest", "--rehearse", "--profile", str(app.profile_path), cwd=app.root
    )
    assert text.returncode == 1 and secret not in text.stdout + text.stderr
    assert (
        f"FAILED  V3__tighten.sql: V3__tighten.sql statement {failed['statement']} (line {failed['line']}) failed: "
        in text.stdout
    )
    assert "not run V4__after.sql" in text.stdout and "rehearsal: FAILED" in text.stdout
    assert _checksums(app) == before and _scratch_databases(app) == []


# Each ALTER with the algorithm the server ran it with: the cheapest it accepts, or as named.
ALTERS = (
    "ALTER TABLE gene ADD INDEX idx_symbol_note (symbol, note(8));\n"  # NOCOPY: an index, no rebuild
    "ALTER TABLE blobs MODIFY id BIGINT -- a comment where the ALGORITHM clause would go\n;\n"  # COPY
    "ALTER TABLE gene ENGINE=InnoDB;\n"  # INPLACE: rebuilt in place
    "ALTER TABLE `blobs` ADD COLUMN algorithm INT, ALGORITHM = COPY;\n"  # named by the migration
    "ALTER TABLE entity ORDER BY gene_id;\n"  # no ALGORITHM clause may follow: not known
    "CREATE TABLE later (id INT PRIMARY KEY);\nALTER TABLE later ADD COLUMN x INT;\n"
    "SET SESSION alter_algorithm = 'COPY';\nALTER TABLE later ADD COLUMN y INT;\n"  # MariaDB's own choice
)


def test_a_clean_set_is_rehearsed_with_a_duration_per_migration(app) -> None:
    app.add("V3__alias.sql", "ALTER TABLE gene ADD COLUMN alias VARCHAR(32) NULL;\n")
    app.add("V4__index.sql", "CREATE INDEX idx_alias ON gene (alias);\n")
    app.add("V5__alters.sql", ALTERS)
    before = _checksums(app)
    result, report = drill(app, "--latest", "--rehearse")
    assert result.returncode == 0 and report["ok"] is True, result.stdout + result.stderr
    alias, index, alters = report["rehearsal"]
    assert (alias["migration"], alias["ok"], alias["altered"]) == ("V3__alias.sql", True, {"gene": 300})
    assert alias["alters"] == [{"table": "gene", "rows": 300, "algorithm": "INSTANT"}]
    assert (index["migration"], index["ok"], index["altered"]) == ("V4__index.sql", True, {})
    assert [(a["table"], a["rows"], a["algorithm"]) for a in alters["alters"]] == [
        ("gene", 300, "NOCOPY"),
        ("blobs", 40, "COPY"),
        ("gene", 300, "INPLACE"),
        ("blobs", 40, "COPY"),
        ("entity", 100, None),
        ("later", None, "INSTANT"),
        ("later", None, "COPY"),
    ]
    assert all(m["duration_s"] > 0 and m["error"] is None for m in (alias, index, alters))
    assert "scratch server" in report["rehearsal_timing"]
    assert "estimates how long it runs on production" in report["rehearsal_timing"]
    assert "COPY locks the table for writes about that long" in report["rehearsal_timing"]
    assert "INSTANT changes only metadata" in report["rehearsal_timing"]
    text = deploycheck(
        "backups", "drill", "--latest", "--rehearse", "--profile", str(app.profile_path), cwd=app.root
    )
    assert text.returncode == 0
    assert "  applied V3__alias.sql in " in text.stdout
    assert "ALTER TABLE `gene` over 300 rows (INSTANT)" in text.stdout
    assert "ALTER TABLE `blobs` over 40 rows (COPY)" in text.stdout
    assert "ALTER TABLE `entity` over 100 rows (algorithm not known)" in text.stdout
    assert "ALTER TABLE `later` (not in the restored copy) (INSTANT)" in text.stdout
    assert "NOCOPY changes it online without a rebuild" in text.stdout
    assert "  applied V4__index.sql in " in text.stdout and "rehearsal: OK" in text.stdout
    assert "may be slower or faster than production's" in text.stdout
    assert _checksums(app) == before and _scratch_databases(app) == []
    assert app.query("SHOW COLUMNS FROM gene LIKE 'alias'") == []


def test_a_migration_applied_to_the_target_after_the_backup_is_rehearsed_too(app) -> None:
    app.add("V3__alias.sql", "ALTER TABLE gene ADD COLUMN alias VARCHAR(32) NULL;\n")
    app.migrate()  # applied to the target after last night's backup (taken at V2)
    app.add("V4__index.sql", "CREATE INDEX idx_alias ON gene (alias);\n")
    before = _checksums(app)
    result, report = drill(app, "--latest", "--rehearse")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [(m["migration"], m["ok"]) for m in report["rehearsal"]] == [
        ("V3__alias.sql", True),
        ("V4__index.sql", True),
    ]
    # a backup taken after V3: only V4 is pending on its copy, V3 is not run again
    newer = _dump(app, app.backup.parent, "209901010000." + app.database + ".sql.gz")
    result, report = drill(app, newer.name, "--rehearse")
    assert result.returncode == 0 and [m["migration"] for m in report["rehearsal"]] == ["V4__index.sql"]
    assert _checksums(app) == before and _scratch_databases(app) == []


def test_the_check_passes_with_each_migrations_time_and_algorithm(app, run_checks) -> None:
    app.add("V3__alias.sql", "ALTER TABLE gene ADD COLUMN alias VARCHAR(32) NULL;\n")
    app.add("V4__index.sql", "CREATE INDEX idx_alias ON gene (alias);\n")
    drill_cfg = {**app.data["backups"]["drill"], "rehearse": True}  # type: ignore[index]
    app.write_profile(backups={**app.data["backups"], "drill": drill_cfg})  # type: ignore[dict-item]
    before = _checksums(app)
    run = run_checks(app.profile_path, "-k", "test_backups")
    check = run.check(f"test_pending_migrations_apply_to_last_nights_data[{app.database}]")
    assert check["outcome"] == "passed", check
    assert re.search(
        r"V3__alias\.sql in \d+\.\d\d s, ALTER TABLE `gene` over 300 rows \(INSTANT\); V4__index\.sql in ",
        check["message"],
    ), check["message"]
    assert "measured on scratch server" in check["message"]
    assert _checksums(app) == before and _scratch_databases(app) == []


def test_the_check_fails_naming_the_migration_and_skips_unless_configured(app, run_checks) -> None:
    app.add("V3__unique_note.sql", "ALTER TABLE gene ADD UNIQUE KEY uq_note (note(40));\n")
    check_id = f"test_pending_migrations_apply_to_last_nights_data[{app.database}]"
    run = run_checks(app.profile_path, "-k", "test_backups")
    skipped = run.check(check_id)
    assert skipped["outcome"] == "skipped" and "backups.drill.rehearse not configured" in skipped["message"]
    drill_cfg = {**app.data["backups"]["drill"], "rehearse": True}  # type: ignore[index]
    app.write_profile(backups={**app.data["backups"], "drill": drill_cfg}, scratch=None)  # type: ignore[dict-item]
    before = _checksums(app)
    run = run_checks(app.profile_path, "-k", "test_backups")
    assert run.check(f"test_newest_backup_restores[{app.database}]")["outcome"] == "passed"
    check = run.check(check_id)
    assert check["outcome"] == "failed" and check["severity"] == "blocker", check
    assert "V3__unique_note.sql statement 1 (line 1) failed: (1062) Duplicate entry '…" in check["message"]
    assert _checksums(app) == before and _scratch_databases(app) == []

    data = gzip.decompress(app.backup.read_bytes())
    app.backup.write_bytes(gzip.compress(data[: data.index(b"'semi;colon'") + 5]))  # cut inside a string
    run = run_checks(app.profile_path, "-k", "test_backups")
    assert run.check(f"test_newest_backup_restores[{app.database}]")["outcome"] == "failed"
    check = run.check(check_id)  # one cause, said once
    assert (
        check["outcome"] == "skipped"
        and "did not restore (test_newest_backup_restores says why)" in check["message"]
    )


def test_a_kept_copy_holds_the_rehearsed_migrations(app) -> None:
    """--keep with --rehearse leaves the copy as the deploy would leave production: the rehearsed
    migrations applied and in its ledger; the target has neither."""
    app.add("V3__alias.sql", "ALTER TABLE gene ADD COLUMN alias VARCHAR(32) NULL;\n")
    before = _checksums(app)
    result, report = drill(app, "--latest", "--rehearse", "--keep")
    kept = report.get("database")
    try:
        assert result.returncode == 0 and kept, result.stdout + result.stderr
        assert "the restored copy is kept (the rehearsed migrations applied): mariadb" in result.stderr
        assert app.query(f"SHOW COLUMNS FROM `{kept}`.gene LIKE 'alias'") != []
        ledger = f"`{kept}`.deploycheck_schema_history WHERE filename = 'V3__alias.sql'"
        assert app.query(f"SELECT success FROM {ledger}") == [(1,)]
        assert app.query("SHOW COLUMNS FROM gene LIKE 'alias'") == [] and _checksums(app) == before
    finally:
        if kept:
            app.query(f"DROP DATABASE `{kept}`")


def test_the_check_skips_when_nothing_is_pending_on_the_copy(app, run_checks) -> None:
    """Nothing to apply is nothing rehearsed: no pass."""
    drill_cfg = {**app.data["backups"]["drill"], "rehearse": True}  # type: ignore[index]
    app.write_profile(backups={**app.data["backups"], "drill": drill_cfg}, scratch=None)  # type: ignore[dict-item]
    run = run_checks(app.profile_path, "-k", "test_backups")
    assert run.check(f"test_newest_backup_restores[{app.database}]")["outcome"] == "passed"
    check = run.check(f"test_pending_migrations_apply_to_last_nights_data[{app.database}]")
    assert check["outcome"] == "skipped"
    assert check["message"].endswith(f"{app.backup.name}: nothing pending on its restored copy to rehearse")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_during_a_rehearsed_migration_leaves_nothing(app, signum) -> None:
    """The migration's query runs on in the copy's server after the client left, holding its
    table (BENCHMARK does not notice a closed connection): it is ended and the copy dropped at
    once all the same; the target is untouched."""
    app.add("V3__slow.sql", "SELECT BENCHMARK(4000000000, MD5('x')) FROM gene LIMIT 1;\n")
    running = "SELECT id FROM information_schema.processlist WHERE info LIKE 'SELECT BENCHMARK(4000000000%'"
    before = _checksums(app)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "backups",
            "drill",
            "--latest",
            "--rehearse",
            *("--profile", str(app.profile_path)),
        ],
        cwd=app.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not app.query(running):
            assert time.monotonic() < deadline, "the migration never started"
            time.sleep(0.1)
        process.send_signal(signum)
        assert process.wait(timeout=60) == 130
        assert app.query(running) == []
        assert _scratch_databases(app) == [] and _checksums(app) == before
    finally:
        process.kill()
        process.wait()
        for (thread,) in app.query(running):
            app.query(f"KILL {thread}")


def test_rehearse_without_migrations_is_a_bad_invocation(app) -> None:
    app.write_profile(migrations=None)
    result, report = drill(app, "--latest", "--rehearse")
    assert result.returncode == 2 and "--rehearse needs the database: and migrations: sections" in str(report)
    assert _scratch_databases(app) == []


def test_a_pending_migration_naming_the_target_changes_only_the_copy(app) -> None:
    """Names qualified with the target's database land in the copy; a DROP DATABASE is refused
    by the guard and reported as the migration's failure; the target stays as it was."""
    app.add("V3__qualified.sql", f"UPDATE `{app.database}`.gene SET note = 'rewritten';\n")
    app.add("V4__drop.sql", f"DROP DATABASE `{app.database}`;\n")
    before = _checksums(app)
    result, report = drill(app, "--latest", "--rehearse")
    assert result.returncode == 1
    qualified, dropped = report["rehearsal"]
    assert (qualified["migration"], qualified["ok"]) == ("V3__qualified.sql", True)
    assert (dropped["migration"], dropped["ok"]) == ("V4__drop.sql", False)
    assert "a database-level statement (DROP DATABASE): refused" in dropped["error"]
    assert _checksums(app) == before and _scratch_databases(app) == []


def test_a_copy_whose_ledger_blocks_migrate_is_said_so(app) -> None:
    app.add("V1__base.sql", APP_MIGRATIONS["V1__base.sql"] + "-- edited after it was applied\n")
    result, report = drill(app, "--latest", "--rehearse")
    assert result.returncode == 1 and report["rehearsal"] == [] and report["ok"] is False
    assert report["rehearsal_refused"].startswith("`deploycheck migrate` would apply nothing to this copy")
    assert "V1__base.sql: checksum-mismatch" in report["rehearsal_refused"]
    assert _scratch_databases(app) == []
