"""The migration engine against a real MariaDB: order, idempotence, checksums, failures, repair."""

from __future__ import annotations

import pytest

from runner.errors import MigrationBlocked, MigrationFailed, MigrationFileError, UsageError
from runner.migrations import files as migration_files
from runner.migrations.all_or_nothing import changed_nothing
from runner.migrations.sqlsplit import Statement
from runner.migrations.status import State
from tests.conftest import deploycheck

TRAIL = "CREATE TABLE IF NOT EXISTS trail (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40));\n"


def trail(project) -> list[str]:
    return [row[0] for row in project.query("SELECT v FROM trail ORDER BY id")]


def states(project) -> dict[str, str]:
    return {row.filename: str(row.state) for row in project.migrator().status().rows}


@pytest.mark.parametrize(
    ("naming", "files", "expected"),
    [
        (
            "flyway",
            ["V10__ten.sql", "V2__two.sql", "V1.1__one_one.sql", "V1__one.sql", "V9__nine.sql"],
            ["1", "1.1", "2", "9", "10"],
        ),
        (
            "numbered",
            ["010_ten.sql", "002_two.sql", "000_zero.sql", "001_one.sql"],
            ["000", "001", "002", "010"],
        ),
        (
            "timestamp",
            ["V20260201_000000__b.sql", "V20260129_120000__a.sql", "V20260129_093000__c.sql"],
            ["20260129_093000", "20260129_120000", "20260201_000000"],
        ),
    ],
)
def test_applies_in_numeric_order_for_each_naming_style(project, naming, files, expected) -> None:
    project.write_profile(migrations={"naming": naming})
    for name in files:
        version = name.lstrip("V").split("__")[0] if naming != "numbered" else name.split("_")[0]
        project.add(name, TRAIL + f"INSERT INTO trail (v) VALUES ('{version}');\n")
    result = project.migrator().migrate()
    assert [m.version for m in result.applied] == [
        v.replace("_", ".") if naming == "flyway" else v for v in expected
    ]
    assert trail(project) == expected


def test_rerun_applies_nothing_and_status_is_clean(project) -> None:
    project.add("V1__t.sql", TRAIL + "INSERT INTO trail (v) VALUES ('1');")
    project.add("V2__u.sql", "INSERT INTO trail (v) VALUES ('2');")
    assert len(project.migrator().migrate().applied) == 2
    assert project.migrator().migrate().applied == []
    assert project.migrator().status().is_clean
    assert trail(project) == ["1", "2"]


def test_ledger_records_what_ran(project) -> None:
    project.add(
        "V1__create_things.sql", "CREATE TABLE things (id INT);\r\nINSERT INTO things VALUES (1);\r\n"
    )
    project.migrator().migrate()
    (row,) = project.query(
        "SELECT version, description, filename, checksum, applied_by, success, error"
        " FROM deploycheck_schema_history"
    )
    version, description, filename, checksum, applied_by, success, error = row
    assert (version, description, filename, success, error) == (
        "1",
        "create things",
        "V1__create_things.sql",
        1,
        None,
    )
    lf_checksum = project.migrator().files().migrations[0].checksum
    assert checksum == lf_checksum and len(checksum) == 64
    assert "deploycheck" in applied_by


def test_line_endings_do_not_change_the_checksum(project) -> None:
    project.add("V1__x.sql", "SELECT 1;\r\nSELECT 2;\r\n")
    crlf = project.migrator().files().migrations[0].checksum
    project.add("V1__x.sql", "SELECT 1;\nSELECT 2;\n")
    assert project.migrator().files().migrations[0].checksum == crlf


def test_edited_migration_is_a_checksum_mismatch_that_blocks_until_repair(project) -> None:
    path = project.add("V1__t.sql", TRAIL)
    project.migrator().migrate()
    path.write_text(TRAIL + "-- edited after it was applied\n")
    project.add("V2__next.sql", "INSERT INTO trail (v) VALUES ('2');")
    assert states(project)["V1__t.sql"] == "checksum-mismatch"
    with pytest.raises(
        MigrationBlocked, match=r"V1__t.sql: checksum-mismatch: file changed after it was applied"
    ):
        project.migrator().migrate()
    assert trail(project) == []
    migrator = project.migrator()
    actions = migrator.repair_plan()
    assert [a.kind for a in actions] == ["checksum"]
    migrator.repair(actions)
    project.migrator().migrate()
    assert trail(project) == ["2"]


def test_a_failed_migration_on_the_target_prints_and_records_no_row_value(project) -> None:
    """`Duplicate entry '<a patient's address>'`: the server quotes row values in its errors. The
    message, `status` and the ledger say file, statement, line and the error, without the value."""
    secret = "patient-Secret-4711@example.org"
    project.add(
        "V1__users.sql",
        f"CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(100) UNIQUE);\n"
        f"INSERT INTO users (email) VALUES ('{secret}');\n",
    )
    project.add("V2__copy.sql", "INSERT INTO users (email) SELECT email FROM users;\n")
    migrate = deploycheck("migrate", "--profile", str(project.profile_path), "--no-backup")
    assert migrate.returncode == 1, migrate.stderr
    assert (
        "V2__copy.sql statement 1 (line 1) failed: (1062) Duplicate entry '…' for key 'email'"
        in migrate.stderr
    )
    status = deploycheck("status", "--profile", str(project.profile_path), "--json")
    ledger = project.query("SELECT * FROM deploycheck_schema_history")
    for shown in (migrate.stdout, migrate.stderr, status.stdout, status.stderr, repr(ledger)):
        assert secret not in shown
    assert "V2__copy.sql" in status.stdout


def test_rows_written_after_ddl_commit_only_with_the_applied_row(project) -> None:
    """Autocommit is off while migrating: after a DDL statement's implicit commit, the rows a
    migration writes commit together with its "applied" row, or not at all."""
    project.add("V1__base.sql", TRAIL)
    project.add(
        "V2__table_then_rows.sql",
        """\
        CREATE TABLE settled (id INT PRIMARY KEY);
        INSERT INTO settled VALUES (1);
        INSERT INTO settled VALUES (1);
        """,
    )
    with pytest.raises(MigrationFailed, match=r"statement 3 .* Duplicate entry"):
        project.migrator().migrate()
    assert project.query("SELECT COUNT(*) FROM settled") == [(0,)]  # the DDL stays, the row does not
    project.add(
        "V2__table_then_rows.sql",
        "CREATE TABLE settled (id INT PRIMARY KEY);\nINSERT INTO settled VALUES (1);\n",
    )
    project.query("DROP TABLE settled")
    project.migrator().repair(project.migrator().repair_plan())
    project.migrator().migrate()
    assert project.query("SELECT COUNT(*) FROM settled") == [(1,)]


def test_failure_after_ddl_is_recorded_and_blocks_until_repair(project) -> None:
    project.add("V1__base.sql", TRAIL)
    bad = project.add(
        "V2__half.sql",
        """\
        CREATE TABLE half_a (id INT);
        -- the next statement is broken
        CREATE TABLE half_b (id INT,
          oops NOT_A_TYPE);
        CREATE TABLE half_c (id INT);
        """,
    )
    project.add("V3__later.sql", "INSERT INTO trail (v) VALUES ('3');")
    with pytest.raises(MigrationFailed) as caught:
        project.migrator().migrate()
    message = str(caught.value)
    assert "V2__half.sql statement 2 (line 3) failed: (4161) Unknown data type" in message
    assert "partly applied" in message and "deploycheck repair" in message
    assert project.query("SHOW TABLES LIKE 'half_%'") == [("half_a",)]
    (row,) = project.query(
        "SELECT success, failed_statement, failed_line, error FROM deploycheck_schema_history WHERE version='2'"
    )
    assert row[:3] == (0, 2, 3) and row[3].startswith("(4161)")
    with pytest.raises(MigrationBlocked, match=r"V2__half.sql: failed: at statement 2 \(line 3\): \(4161\)"):
        project.migrator().migrate()
    assert trail(project) == []
    bad.write_text("CREATE TABLE IF NOT EXISTS half_a (id INT);\nCREATE TABLE half_b (id INT);\n")
    migrator = project.migrator()
    migrator.repair(migrator.repair_plan())
    assert [m.filename for m in project.migrator().migrate().applied] == ["V2__half.sql", "V3__later.sql"]


def test_failing_transactional_migration_is_rolled_back_whole(project) -> None:
    project.add("V1__base.sql", TRAIL)
    project.add(
        "V2__data.sql", "INSERT INTO trail (v) VALUES ('a');\nINSERT INTO trail (nope) VALUES ('b');\n"
    )
    with pytest.raises(
        MigrationFailed, match=r"(?s)statement 2 \(line 2\) failed: \(1054\).*rolled back as a whole"
    ):
        project.migrator().migrate()
    assert trail(project) == []
    assert states(project)["V2__data.sql"] == "pending"


def test_verify_block_that_fails_makes_the_migration_failed(project) -> None:
    """The incident: a guarded ALTER skipped its foreign key and the migration still said applied."""
    project.add(
        "V1__tables.sql",
        """\
        CREATE TABLE parent (id INT PRIMARY KEY) ENGINE=InnoDB;
        CREATE TABLE child (id INT PRIMARY KEY, parent_id INT) ENGINE=InnoDB;
        """,
    )
    project.add(
        "V2__fk.sql",
        """\
        SET @has_col = (SELECT COUNT(*) FROM information_schema.columns
                        WHERE table_schema = DATABASE() AND table_name = 'child' AND column_name = 'parent');
        -- guarded on the wrong column name: the ALTER is silently skipped
        SET @ddl = IF(@has_col > 0, 'ALTER TABLE child ADD CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id)', 'DO 0');
        PREPARE s FROM @ddl; EXECUTE s; DEALLOCATE PREPARE s;
        """,
    )
    project.add(
        "V2__fk.verify.sql",
        """\
        SELECT COUNT(*) = 1 FROM information_schema.table_constraints
        WHERE table_schema = DATABASE() AND table_name = 'child' AND constraint_name = 'fk_parent';
        """,
    )
    with pytest.raises(MigrationFailed, match=r"verify query 1 returned 0, expected a true first column"):
        project.migrator().migrate()
    assert states(project)["V2__fk.sql"] != "applied"


def test_verify_block_that_holds_lets_the_migration_pass(project) -> None:
    project.add("V1__t.sql", TRAIL + "INSERT INTO trail (v) VALUES ('x');")
    project.add("V1__t.verify.sql", "SELECT COUNT(*) = 1 FROM trail;\nSELECT 'yes' = 'yes';\n")
    project.migrator().migrate()
    assert states(project) == {"V1__t.sql": "applied"}


def test_placeholders_are_replaced_and_unknown_ones_refused(project) -> None:
    project.write_profile(migrations={"placeholders": {"collation": "utf8mb4_unicode_ci"}})
    project.add("V1__t.sql", "CREATE TABLE p (s VARCHAR(10)) COLLATE ${collation};")
    project.migrator().migrate()
    assert project.query(
        "SELECT table_collation FROM information_schema.tables WHERE table_schema=DATABASE() AND table_name='p'"
    ) == [("utf8mb4_unicode_ci",)]
    project.add("V2__u.sql", "SELECT '${engine}';")
    with pytest.raises(MigrationFileError, match=r"V2__u.sql: unknown placeholder \$\{engine\}"):
        project.migrator().migrate()


def test_bad_files_are_all_named_before_the_database_is_touched(project) -> None:
    project.add("V1__ok.sql", "SELECT 1;")
    project.add("V1.0__same_version.sql", "SELECT 1;")
    project.add("create_users.sql", "SELECT 1;")
    project.add("V2__latin1.sql", "SELECT 'caf\xe9';".encode("latin-1"))
    project.add("V3__orphan_check.verify.sql", "SELECT 1;")
    with pytest.raises(MigrationFileError) as caught:
        project.migrator().migrate()
    message = str(caught.value)
    assert "4 problem(s)" in message
    assert "V1__ok.sql: version 1 is also used by V1.0__same_version.sql" in message
    assert "create_users.sql: name does not follow the flyway style" in message
    assert "V2__latin1.sql:1: not UTF-8 (byte 0xe9 at column 12)" in message
    assert "V3__orphan_check.verify.sql: verify file without a migration" in message
    assert project.query("SHOW TABLES") == []


def test_out_of_order_migration_is_refused_unless_allowed(project) -> None:
    project.add("V1__a.sql", TRAIL)
    project.add("V3__c.sql", "INSERT INTO trail (v) VALUES ('3');")
    project.migrator().migrate()
    project.add("V2__b.sql", "INSERT INTO trail (v) VALUES ('2');")
    with pytest.raises(
        MigrationBlocked, match=r"out-of-order migration\(s\) V2__b.sql: older than the newest"
    ):
        project.migrator().migrate()
    project.write_profile(migrations={"out_of_order": True})
    project.migrator().migrate()
    assert trail(project) == ["3", "2"]


def test_applied_migration_whose_file_is_gone_blocks(project) -> None:
    gone = project.add("V1__a.sql", TRAIL)
    project.migrator().migrate()
    gone.unlink()
    project.add("V2__b.sql", "SELECT 1;")
    assert states(project)["V1__a.sql"] == "missing-file"
    with pytest.raises(MigrationBlocked, match="repair --forget-missing"):
        project.migrator().migrate()
    migrator = project.migrator()
    assert migrator.repair_plan() == []
    migrator.repair(migrator.repair_plan(forget_missing=True))
    assert project.migrator().migrate().applied[0].filename == "V2__b.sql"


def test_to_stops_at_the_version_and_rejects_unknown_ones(project) -> None:
    for n in (1, 2, 3):
        project.add(f"V{n}__m.sql", (TRAIL if n == 1 else "") + f"INSERT INTO trail (v) VALUES ('{n}');")
    assert [m.version for m in project.migrator().migrate(to="2").applied] == ["1", "2"]
    with pytest.raises(UsageError, match="no migration with version 7"):
        project.migrator().migrate(to="7")
    assert trail(project) == ["1", "2"]


def test_baseline_records_without_running(project) -> None:
    project.add("V1__a.sql", "CREATE TABLE would_fail_if_run (id INT) ENGINE=NoSuchEngine;")
    project.add("V2__b.sql", "CREATE TABLE also_not_run (id INT) ENGINE=NoSuchEngine;")
    project.add("V3__c.sql", TRAIL)
    chosen = project.migrator().baseline("2")
    assert [m.version for m in chosen] == ["1", "2"]
    assert states(project) == {"V1__a.sql": "applied", "V2__b.sql": "applied", "V3__c.sql": "pending"}
    assert project.migrator().migrate().applied[0].filename == "V3__c.sql"


def test_schema_version_ledger_adopts_an_existing_deployment(project) -> None:
    """The SysNDD layout: filename-keyed schema_version rows written before deploycheck existed."""
    project.write_profile(migrations={"naming": "numbered", "ledger": "schema_version"})
    project.add("000_initialize_base_schema.sql", TRAIL)
    project.add("001_add_about_content.sql", "INSERT INTO trail (v) VALUES ('001');")
    project.add("002_new.sql", "INSERT INTO trail (v) VALUES ('002');")
    with project.server.connect(project.database) as conn, conn.cursor() as cur:
        cur.execute(TRAIL)
        cur.execute(
            "CREATE TABLE schema_version (filename VARCHAR(255) PRIMARY KEY,"
            " applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, success BOOLEAN DEFAULT TRUE)"
        )
        cur.execute(
            "INSERT INTO schema_version (filename) VALUES"
            " ('000_initialize_base_schema.sql'), ('001_add_about_content.sql')"
        )
    assert states(project) == {
        "000_initialize_base_schema.sql": "applied",
        "001_add_about_content.sql": "applied",
        "002_new.sql": "pending",
    }
    applied = project.migrator().migrate().applied
    assert [m.filename for m in applied] == ["002_new.sql"]
    assert trail(project) == ["002"]
    assert project.query("SELECT success FROM schema_version WHERE filename='002_new.sql'") == [(1,)]
    migrator = project.migrator()
    assert len(migrator.repair_plan()) == 2  # record the two missing checksums
    migrator.repair(migrator.repair_plan())
    assert project.query("SELECT COUNT(checksum) FROM schema_version_deploycheck") == [(3,)]


def test_status_reads_without_creating_the_ledger(project) -> None:
    project.add("V1__a.sql", TRAIL)
    status = project.migrator().status()
    assert not status.ledger_exists and [r.state for r in status.rows] == [State.PENDING]
    assert project.query("SHOW TABLES") == []


def test_streamed_migrations_apply_in_order_and_stop_at_a_file_error(project, monkeypatch) -> None:
    """Files too large to keep in memory are split on a second thread, ahead of the server."""
    monkeypatch.setattr(migration_files, "KEEP_IN_MEMORY", 10)
    project.add(
        "V1__base.sql", TRAIL + "".join(f"INSERT INTO trail (v) VALUES ('{n}');\n" for n in range(300))
    )
    project.migrator().migrate()
    assert trail(project) == [str(n) for n in range(300)]
    project.add(
        "V2__client_command.sql",
        "INSERT INTO trail (v) VALUES ('a');\n" * 50
        + "source more.sql\nINSERT INTO trail (v) VALUES ('b');\n",
    )
    with pytest.raises(MigrationFailed, match=r"V2__client_command.sql:51: .*source") as caught:
        project.migrator().migrate()
    assert "Nothing of V2__client_command.sql was applied" in str(caught.value)
    assert trail(project) == [str(n) for n in range(300)]  # the 50 rows before it were rolled back
    assert states(project) == {"V1__base.sql": "applied", "V2__client_command.sql": "pending"}


# After NO_BACKSLASH_ESCAPES, 'a\' is a whole string, so each line holds two statements: read with
# backslash escapes, as before the SET, the quote would run on to the next line.
_NO_ESCAPES = (
    TRAIL
    + "SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES'); INSERT INTO trail (v) VALUES ('a\\');\n"
    + "INSERT INTO trail (v) VALUES ('b\\'); INSERT INTO trail (v) VALUES ('c');\n"
)


# The same change made by the second statement of a packet that starts with an INSERT.
_NO_ESCAPES_AFTER_AN_INSERT = _NO_ESCAPES.replace(
    "SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES'); ",
    "DELIMITER //\nINSERT INTO trail (v) VALUES ('x'); SET sql_mode = CONCAT(@@sql_mode, "
    "',NO_BACKSLASH_ESCAPES')//\nDELIMITER ;\n",
)


@pytest.mark.parametrize(
    ("streamed", "content", "expected"),
    [
        (False, _NO_ESCAPES, ["a\\", "b\\", "c"]),
        (True, _NO_ESCAPES, ["a\\", "b\\", "c"]),
        (True, _NO_ESCAPES_AFTER_AN_INSERT, ["x", "a\\", "b\\", "c"]),
    ],
    ids=["in-memory", "streamed", "streamed-after-an-insert"],
)
def test_statements_after_a_sql_mode_change_split_as_the_server_now_reads_quotes(
    project, monkeypatch, streamed, content, expected
) -> None:
    """The client reads quotes as the server's sql_mode says, from the statement after the one
    that changed it; so must the engine, also when it splits ahead on a second thread."""
    if streamed:
        monkeypatch.setattr(migration_files, "KEEP_IN_MEMORY", 10)
    filler = "".join(f"INSERT INTO trail (v) VALUES ('{n}');\n" for n in range(20))  # read-ahead runs ahead
    project.add("V1__no_escapes.sql", content.replace(TRAIL, TRAIL + filler))
    project.migrator().migrate()
    assert trail(project)[20:] == expected
    assert states(project) == {"V1__no_escapes.sql": "applied"}


def test_file_error_in_the_first_statement_still_records_the_previous_migration(project) -> None:
    project.add("V1__base.sql", TRAIL)
    project.add("V2__client_command.sql", "source more.sql\nINSERT INTO trail (v) VALUES ('b');\n")
    with pytest.raises(MigrationFailed, match=r"V2__client_command.sql:1: .*source"):
        project.migrator().migrate()
    assert states(project) == {"V1__base.sql": "applied", "V2__client_command.sql": "pending"}


def test_each_migration_starts_from_a_fresh_session(project) -> None:
    """As one `mariadb db < file` process per file: V1's sql_mode does not make V2 non-strict,
    and its user variable, temporary table and time_zone are gone."""
    project.add("V1__mode.sql", "SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO';\n")
    project.add("V2__strict.sql", "CREATE TABLE t (c TINYINT);\nINSERT INTO t VALUES (300);\n")
    with pytest.raises(MigrationFailed, match=r"V2__strict.sql statement 2 \(line 2\) failed: \(1264\)"):
        project.migrator().migrate()
    assert project.query("SELECT COUNT(*) FROM t") == [(0,)]  # the client stores nothing either

    project.add("V2__strict.sql", "CREATE TABLE IF NOT EXISTS t (c TINYINT);\n")
    project.add(
        "V3__leaves_state.sql",
        "SET @carried = 1;\nSET time_zone = '+07:00';\nCREATE TEMPORARY TABLE scratch (a INT);\n"
        "PREPARE stmt FROM 'SELECT 1';\n",
    )
    project.add(
        "V4__sees_nothing.sql", "CREATE TABLE seen AS SELECT @carried AS v, @@SESSION.time_zone AS tz;\n"
    )
    project.add("V5__no_temp_table.sql", "CREATE TABLE copy AS SELECT * FROM scratch;\n")
    migrator = project.migrator()
    migrator.repair(migrator.repair_plan())
    with pytest.raises(
        MigrationFailed, match=r"V5__no_temp_table.sql.*\(1146\) Table .*scratch' doesn't exist"
    ):
        project.migrator().migrate()
    assert project.query("SELECT v, tz FROM seen") == [(None, "SYSTEM")]


def test_crlf_files_lose_their_crs_as_with_the_client(project) -> None:
    project.add(
        "V1__crlf.sql",
        b"CREATE TABLE crlf_t (id INT PRIMARY KEY, s TEXT);\r\nINSERT INTO crlf_t VALUES (1, 'a\r\nb');\r\n"
        b"DELIMITER //\r\nCREATE TRIGGER crlf_bi BEFORE INSERT ON crlf_t FOR EACH ROW\r\nBEGIN\r\n"
        b"  SET NEW.s = UPPER(NEW.s);\r\nEND //\r\nDELIMITER ;\r\n",
    )
    project.migrator().migrate()
    assert project.query("SELECT HEX(s) FROM crlf_t") == [
        ("610A62",)
    ]  # the client's bytes; CR LF would be 610D0A62
    ((body,),) = project.query(
        "SELECT action_statement FROM information_schema.triggers"
        " WHERE trigger_schema = DATABASE() AND trigger_name = 'crlf_bi'"
    )
    assert "\r" not in body


def test_failure_of_the_first_statement_says_nothing_ran(project) -> None:
    project.add("V1__base.sql", TRAIL)
    project.add(
        "V2__alter.sql", "ALTER TABLE no_such_table ADD COLUMN x INT;\nCREATE TABLE after_it (id INT);\n"
    )
    with pytest.raises(MigrationFailed) as caught:
        project.migrator().migrate()
    message = str(caught.value)
    assert "Nothing of V2__alter.sql was applied: its first statement failed, so none of it ran" in message
    assert "partly applied" not in message
    assert states(project) == {"V1__base.sql": "applied", "V2__alter.sql": "pending"}  # no repair needed
    project.add("V2__alter.sql", "ALTER TABLE trail ADD COLUMN x INT;\n")
    assert [m.filename for m in project.migrator().migrate().applied] == ["V2__alter.sql"]


@pytest.mark.parametrize(
    ("sql", "left"),
    [
        ("DROP TABLE t1, nope;\n", []),  # MariaDB drops t1, then fails on nope
        ("DELIMITER //\nCREATE TABLE made (id INT); DROP TABLE nope//\nDELIMITER ;\n", ["made", "t1"]),
        ("RENAME TABLE t1 TO t2, nope TO t3;\n", None),  # atomic on MariaDB 10.6+, not promised by all
    ],
    ids=["multi-table-drop", "delimiter-batch", "multi-table-rename"],
)
def test_a_first_statement_that_may_half_run_keeps_the_failed_row(project, sql, left) -> None:
    """Only a failure the server guarantees changed nothing may be called "nothing ran"."""
    project.add("V1__base.sql", "CREATE TABLE t1 (id INT);\n")
    project.add("V2__risky.sql", sql)
    with pytest.raises(MigrationFailed) as caught:
        project.migrator().migrate()
    message = str(caught.value)
    assert "V2__risky.sql may have been partly applied" in message and "deploycheck repair" in message
    assert "Nothing of" not in message
    if "DELIMITER" in sql:
        assert "part of statement 1 ran before the failure (a DELIMITER batch" in message
    else:
        assert "statement 1 is not one that the server runs all or nothing" in message
    if left is not None:
        assert sorted(row[0] for row in project.query("SHOW TABLES LIKE '%'")) == [
            "deploycheck_schema_history",
            *left,
        ]
    assert states(project) == {"V1__base.sql": "applied", "V2__risky.sql": "failed"}
    with pytest.raises(MigrationBlocked, match=r"V2__risky\.sql: failed"):
        project.migrator().migrate()


@pytest.mark.parametrize(
    ("text", "guaranteed"),
    [
        ("DROP TABLE t1", True),
        ("DROP TABLE IF EXISTS t1, t2", False),
        ("DROP VIEW v1, v2", False),
        ("DROP DATABASE d", False),
        ("RENAME TABLE a TO b", True),
        ("RENAME TABLE `a,b` TO c", True),
        ("rename table a to b,c to d", False),
        ("ALTER TABLE a ADD COLUMN x INT, DROP COLUMN y", True),
        ("TRUNCATE a, b", False),
        ("CREATE DEFINER=`u`@`%` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1", True),
        ("DROP USER a, b", False),
        ("GRANT SELECT ON d.* TO a", False),
        ("CREATE TABLE a (i INT); CREATE TABLE b (i INT)", False),
        ("INSERT INTO t VALUES (1), (2)", False),
    ],
)
def test_which_failed_statements_changed_nothing(text, guaranteed) -> None:
    assert changed_nothing(Statement(1, 1, text), 1051) is guaranteed
    assert changed_nothing(Statement(1, 1, text), 1064)  # the server could not parse it: it ran not at all


def test_changes_a_rollback_cannot_undo_keep_the_failed_row(project) -> None:
    project.add("V1__base.sql", "CREATE TABLE plain (id INT) ENGINE=MyISAM;\n")
    project.add("V2__rows.sql", "INSERT INTO plain VALUES (1);\nINSERT INTO plain (nope) VALUES (2);\n")
    with pytest.raises(MigrationFailed, match=r"(?s)partly applied: .*non-transactional engine"):
        project.migrator().migrate()
    assert project.query("SELECT id FROM plain") == [(1,)]
    assert states(project) == {"V1__base.sql": "applied", "V2__rows.sql": "failed"}


def test_a_first_statement_the_server_could_not_parse_ran_not_at_all(project) -> None:
    project.add("V1__base.sql", "CREATE TABLE t1 (id INT);\n")
    project.add("V2__typo.sql", "DROP TABLE t1,, t2;\n")
    with pytest.raises(MigrationFailed, match=r"(?s)\(1064\).*Nothing of V2__typo.sql was applied"):
        project.migrator().migrate()
    assert states(project) == {"V1__base.sql": "applied", "V2__typo.sql": "pending"}


def test_dry_run_names_a_file_that_ends_inside_a_quote(project) -> None:
    project.add("V1__cut.sql", "SELECT 1;\nSELECT 'never closed;\nSELECT 2;\n")
    result = project.cli("migrate", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "-- WARNING: the file ends inside a ' quote opened on line 2" in result.stdout
    assert project.query("SHOW TABLES") == []  # a dry run writes nothing, not even the ledger
