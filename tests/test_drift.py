"""Drift: a target changed in exactly one way is reported with that line and nothing else; an
untouched one with none; a read-only user is enough, and what it cannot see is named."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import confined_scratch, deploycheck

pytestmark = pytest.mark.slow

MIGRATIONS = {
    "V1__base.sql": """\
        CREATE TABLE gene (
          id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
          symbol VARCHAR(32) NOT NULL,
          note TEXT NULL,
          status VARCHAR(16) NOT NULL DEFAULT 'draft',
          CONSTRAINT chk_status CHECK (status IN ('draft', 'public'))
        ) ENGINE=InnoDB;
        CREATE TABLE entity (
          id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
          gene_id INT UNSIGNED NOT NULL,
          CONSTRAINT fk_gene FOREIGN KEY (gene_id) REFERENCES gene (id) ON DELETE CASCADE
        ) ENGINE=InnoDB;
        INSERT INTO gene (symbol) VALUES ('ARID1B'), ('SCN2A');
        """,
    "V2__objects.sql": """\
        CREATE INDEX idx_gene_status ON gene (status);
        CREATE VIEW public_genes AS SELECT id, symbol FROM gene WHERE status = 'public';
        DELIMITER //
        CREATE PROCEDURE gene_count() BEGIN SELECT COUNT(*) FROM gene; END //
        CREATE TRIGGER gene_bi BEFORE INSERT ON gene FOR EACH ROW SET NEW.symbol = UPPER(NEW.symbol) //
        DELIMITER ;
        """,
    "V3__generated_and_event.sql": """\
        ALTER TABLE gene ADD COLUMN symbol_length INT AS (CHAR_LENGTH(symbol)) VIRTUAL;
        CREATE EVENT purge_drafts ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM gene WHERE status = 'draft';
        """,
}


@pytest.fixture()
def schema(target):
    """The migrated target, read by a user that may see views, triggers and routines; the
    session server is the team's scratch server."""
    for name, sql in MIGRATIONS.items():
        target.add(name, sql)
    target.migrate()
    with target.server.connect() as conn, conn.cursor() as cur:
        cur.execute(
            f"GRANT SHOW VIEW, TRIGGER, EVENT ON `{target.database}`.* TO '{target.user}'@'localhost'"
        )
        cur.execute(f"GRANT SELECT ON mysql.proc TO '{target.user}'@'localhost'")  # routine bodies (MariaDB)
    target.write_profile(scratch=confined_scratch(target.server, f"scratch_{target.database}_"))
    return target


def change(target, *statements: str) -> None:
    with target.server.connect(target.database) as conn, conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def drift(target, *args: str) -> tuple[int, dict]:
    result = deploycheck("drift", "--json", *args, "--profile", str(target.profile_path), cwd=target.root)
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout)
    assert not [n for (n,) in target.query("SHOW DATABASES") if n.startswith("scratch_")]  # dropped
    return result.returncode, report


def messages(report: dict) -> list[str]:
    return [d["message"] for d in report["differences"]]


def test_an_untouched_target_has_no_drift(schema) -> None:
    code, report = drift(schema)
    assert (code, report["differences"], report["hidden"]) == (0, [], {})


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (
            ["ALTER TABLE gene MODIFY note VARCHAR(100) NULL"],
            "table `gene`: column `note` is varchar(100) in production, text by the migrations",
        ),
        (
            ["CREATE INDEX idx_symbol ON gene (symbol)"],
            "index `idx_symbol` on `gene` exists in production only (added by hand?)",
        ),
        (
            ["ALTER TABLE entity DROP FOREIGN KEY fk_gene"],
            "foreign key `fk_gene` on `entity` is missing in production",
        ),
        (["ALTER TABLE gene DROP COLUMN note"], "table `gene`: column `note` is missing in production"),
        (
            ["ALTER TABLE gene ADD COLUMN alias VARCHAR(32)"],
            "table `gene`: column `alias` exists in production only",
        ),
        (
            ["ALTER TABLE gene MODIFY status VARCHAR(16) NOT NULL DEFAULT 'public'"],
            "table `gene`: column `status` defaults to 'public' in production, defaults to 'draft' by the migrations",
        ),
        (
            ["ALTER TABLE gene MODIFY symbol VARCHAR(32) NULL"],
            "table `gene`: column `symbol` allows NULL in production, is NOT NULL by the migrations",
        ),
        (
            ["ALTER TABLE gene DROP CONSTRAINT chk_status"],
            "check constraint `chk_status` on `gene` is missing in production",
        ),
        (
            ["CREATE TABLE scratchpad (id INT)"],
            "table `scratchpad` exists in production only (created by hand?)",
        ),
        (
            ["ALTER TABLE entity ENGINE=MyISAM"],
            "table `entity`: engine is MyISAM in production, InnoDB by the migrations",
        ),
        (["DROP TRIGGER gene_bi"], "trigger `gene_bi` is missing in production (the migrations create it)"),
        (
            ["DROP PROCEDURE gene_count"],
            "procedure `gene_count` is missing in production (the migrations create it)",
        ),
    ],
    ids=[
        "narrowed-column",
        "hand-added-index",
        "dropped-foreign-key",
        "dropped-column",
        "extra-column",
        "changed-default",
        "nullability",
        "dropped-check",
        "extra-table",
        "engine",
        "dropped-trigger",
        "dropped-routine",
    ],
)
def test_each_change_is_reported_with_its_line_and_nothing_else(schema, statements, expected) -> None:
    if "ENGINE=MyISAM" in statements[0]:
        change(schema, "ALTER TABLE entity DROP FOREIGN KEY fk_gene")  # MyISAM has no foreign keys
        change(schema, *statements)
        code, report = drift(schema)
        assert expected in messages(report) and code == 1
        return
    change(schema, *statements)
    code, report = drift(schema)
    assert (code, messages(report)) == (1, [expected])


def test_a_changed_generated_column_and_event_are_reported(schema) -> None:
    change(
        schema,
        "ALTER TABLE gene MODIFY symbol_length INT AS (LENGTH(symbol)) VIRTUAL",
        "ALTER EVENT purge_drafts ON SCHEDULE EVERY 1 HOUR",
    )
    _, report = drift(schema)
    lines = messages(report)
    assert len(lines) == 2, lines
    assert lines[0].startswith(
        "table `gene`: column `symbol_length` has generated octet_length(`symbol`) in production"
    )
    assert lines[1].startswith("event `purge_drafts` differs in schedule")


def test_an_edited_view_is_reported_with_a_short_diff(schema) -> None:
    change(
        schema, "CREATE OR REPLACE VIEW public_genes AS SELECT id, symbol FROM gene WHERE status <> 'draft'"
    )
    _, report = drift(schema)
    (line,) = messages(report)
    assert line.startswith("view `public_genes` differs in definition: --- migrations | +++ production")
    assert "`gene`.`status` = 'public'" in line and "`gene`.`status` <> 'draft'" in line


def test_a_changed_routine_body_and_trigger_are_reported(schema) -> None:
    change(
        schema,
        "DROP PROCEDURE gene_count",
        "CREATE PROCEDURE gene_count() BEGIN SELECT COUNT(*) FROM entity; END",
        "DROP TRIGGER gene_bi",
        "CREATE TRIGGER gene_bi BEFORE INSERT ON gene FOR EACH ROW SET NEW.symbol = LOWER(NEW.symbol)",
    )
    _, report = drift(schema)
    lines = messages(report)
    assert len(lines) == 2
    assert lines[0].startswith("procedure `gene_count` differs in body:") and "entity" in lines[0]
    assert lines[1].startswith("trigger `gene_bi` differs in body:") and "LOWER" in lines[1]


def test_drift_ignore_keeps_a_teams_own_objects_out(schema) -> None:
    change(schema, "CREATE TABLE etl_staging (id INT)")
    schema.write_profile(drift={"ignore": ["etl_staging"]})
    assert drift(schema)[0] == 0


def test_a_select_only_user_compares_tables_and_names_what_it_cannot_see(schema) -> None:
    with schema.server.connect() as conn, conn.cursor() as cur:
        cur.execute(
            f"REVOKE SHOW VIEW, TRIGGER, EVENT ON `{schema.database}`.* FROM '{schema.user}'@'localhost'"
        )
        cur.execute(f"REVOKE SELECT ON mysql.proc FROM '{schema.user}'@'localhost'")
    change(schema, "CREATE INDEX idx_symbol ON gene (symbol)", "DROP TRIGGER gene_bi")
    code, report = drift(schema)
    assert code == 1
    assert messages(report) == ["index `idx_symbol` on `gene` exists in production only (added by hand?)"]
    assert set(report["hidden"]) == {
        "views",
        "routines",
        "triggers",
        "events",
    }  # the dropped trigger is not claimed


def test_the_check_names_what_the_session_cannot_see(schema, run_checks) -> None:
    with schema.server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"REVOKE SHOW VIEW ON `{schema.database}`.* FROM '{schema.user}'@'localhost'")
    run = run_checks(schema.profile_path, "-k", "test_schema")
    check = run.check("test_every_kind_of_object_was_compared")
    assert (check["outcome"], check["severity"], run.exit_code) == ("warned", "warning", 0)
    assert check["message"] == (
        "not compared, the session cannot see them: views (view definitions need the SHOW VIEW privilege)"
    )
    assert run.outcome("test_live_schema_matches_the_migrations") == "passed"
    strict = run_checks(schema.profile_path, "-k", "test_schema", "--deploy-strict")
    assert (strict.outcome("test_every_kind_of_object_was_compared"), strict.exit_code) == ("warned", 1)


def test_a_ledger_that_is_not_clean_is_not_compared(schema) -> None:
    schema.add("V1__base.sql", MIGRATIONS["V1__base.sql"] + "-- edited\n")
    code, report = drift(schema)
    assert code == 1 and "V1__base.sql checksum-mismatch" in report["not_compared"]


def test_the_check_passes_on_a_healthy_target_and_fails_on_drift(schema, run_checks) -> None:
    run = run_checks(schema.profile_path, "-k", "test_schema")
    assert run.outcomes("schema") == {
        "test_live_schema_matches_the_migrations": "passed",
        "test_every_kind_of_object_was_compared": "passed",
    }
    live = run.check("test_live_schema_matches_the_migrations")
    assert live["message"].startswith("the live schema equals what the applied migrations build on ")
    assert live["details"]["drift"]  # the comparison, for the report
    assert run.check("test_every_kind_of_object_was_compared")["message"] == (
        "tables, views, routines, triggers and events were all read and compared"
    )
    change(schema, "ALTER TABLE entity DROP FOREIGN KEY fk_gene")
    check = run_checks(schema.profile_path, "-k", "test_schema").check(
        "test_live_schema_matches_the_migrations"
    )
    assert check["outcome"] == "failed"
    assert check["message"].startswith("the live schema differs from the migrations:")
    assert (
        check["message"].splitlines()[1].strip()
        == "foreign key `fk_gene` on `entity` is missing in production"
    )


def test_on_a_local_throwaway_scratch_server(schema) -> None:
    schema.write_profile(scratch=None)
    change(schema, "CREATE INDEX idx_symbol ON gene (symbol)")
    result = deploycheck("drift", "--profile", str(schema.profile_path), cwd=schema.root)
    assert result.returncode == 1
    assert "index `idx_symbol` on `gene` exists in production only (added by hand?)" in result.stdout
    assert "1 difference(s) between" in result.stdout


@contextmanager
def drop_held_up(target, seconds: float) -> Iterator[None]:
    """Hold a read lock on the ledger of the drift's scratch database from the moment it is
    created until that database's DROP has waited `seconds`: the DROP then takes that long, as
    it does on a disk whose fsyncs a busy machine has slowed down."""
    failure: list[str] = []
    like = f"scratch\\_{target.database}\\_drift\\_%"

    def poll(cur, sql: str, *args: str) -> tuple:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            cur.execute(sql, args)
            row = cur.fetchone()
            if row:
                return row
            time.sleep(0.005)
        raise AssertionError(f"never saw: {sql}")

    def hold() -> None:
        with target.server.connect() as conn, conn.cursor() as cur:
            try:
                (name,) = poll(
                    cur,
                    "SELECT table_schema FROM information_schema.tables"
                    " WHERE table_schema LIKE %s AND table_name = 'deploycheck_schema_history'",
                    like,
                )
                cur.execute("START TRANSACTION")
                cur.execute(f"SELECT COUNT(*) FROM `{name}`.deploycheck_schema_history")
                poll(
                    cur,
                    "SELECT id FROM information_schema.processlist"
                    " WHERE info LIKE 'DROP DATABASE%%' AND state LIKE 'Waiting%%'",
                )
                time.sleep(seconds)
            except AssertionError as exc:
                failure.append(str(exc))
            finally:
                cur.execute("COMMIT")

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        yield
    finally:
        holder.join()
    assert not failure, failure


def test_a_scratch_drop_slower_than_the_timeout_still_compares(schema, run_checks) -> None:
    """Issue 28: the scratch server's DROP DATABASE outlasted timeouts.default_s on a loaded CI
    machine and both drift checks failed, though the comparison was complete."""
    schema.write_profile(timeouts={"default_s": 1})
    change(schema, "CREATE INDEX idx_symbol ON gene (symbol)")
    with drop_held_up(schema, seconds=3):
        run = run_checks(schema.profile_path, "-k", "test_schema")
    assert run.outcomes("schema") == {
        "test_live_schema_matches_the_migrations": "failed",
        "test_every_kind_of_object_was_compared": "passed",
    }
    assert run.check("test_live_schema_matches_the_migrations")["message"].splitlines()[1].strip() == (
        "index `idx_symbol` on `gene` exists in production only (added by hand?)"
    )
    assert not [n for (n,) in schema.query("SHOW DATABASES") if n.startswith("scratch_")]


def test_a_trigger_created_under_another_sql_mode_names_both_modes(schema) -> None:
    """Issue 28: a target that is not strict ran its migrations under its own sql_mode, which
    its triggers keep; the scratch build runs under the scratch server's. Drift says so."""
    change(
        schema,
        "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'",
        "DROP TRIGGER gene_bi",
        "CREATE TRIGGER gene_bi BEFORE INSERT ON gene FOR EACH ROW SET NEW.symbol = UPPER(NEW.symbol)",
    )
    (built,) = schema.query("SELECT @@GLOBAL.sql_mode")[0]
    code, report = drift(schema)
    assert (code, messages(report)) == (
        1,
        [
            f"trigger `gene_bi` differs in sql_mode: NO_ENGINE_SUBSTITUTION in production, {built} by the "
            "migrations on the scratch server (a trigger runs under the sql_mode it was created under: "
            "production's server ran the migrations, or someone recreated it, under another one)"
        ],
    )


def test_names_qualified_with_the_targets_database_build_on_the_scratch_database(schema) -> None:
    """A migration that writes `db.table` changed the target when it was applied: drift builds it
    on the scratch database (and says so) instead of touching the target, and sees no drift."""
    schema.add("V4__qualified.sql", f"CREATE TABLE `{schema.database}`.audit (id INT PRIMARY KEY);\n")
    schema.migrate()
    before = schema.query("CHECKSUM TABLE gene")
    code, report = drift(schema)
    assert code == 0 and report["differences"] == []
    assert any(
        f"names qualified with the target's database `{schema.database}`" in n for n in report["notes"]
    )
    assert schema.query("CHECKSUM TABLE gene") == before


def test_a_migration_that_names_another_schema_is_not_built(schema) -> None:
    with schema.server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS drift_bystander")
        cur.execute("CREATE TABLE IF NOT EXISTS drift_bystander.t (id INT)")
    try:
        schema.add("V4__elsewhere.sql", "INSERT INTO drift_bystander.t VALUES (1);\n")
        schema.migrate()  # the target's migrate user may: drift must not repeat it
        result = deploycheck("drift", "--profile", str(schema.profile_path), cwd=schema.root)
        assert result.returncode == 1, result.stdout + result.stderr
        assert (
            "V4__elsewhere.sql" in result.stderr
            and "a name in another schema (`drift_bystander`)" in result.stderr
        )
        with schema.server.connect("drift_bystander") as conn, conn.cursor() as cur:
            assert cur.execute("SELECT * FROM t") == 1  # the one row the real migrate wrote
    finally:
        with schema.server.connect() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE drift_bystander")
