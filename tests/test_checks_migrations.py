"""checks/test_migrations.py: the schema check reads the engine's status, as a SELECT-only user."""

from __future__ import annotations

import pytest

MIGRATION_CHECKS = [
    "test_ledger_exists",
    "test_nothing_pending",
    "test_nothing_failed",
    "test_no_checksum_mismatch",
    "test_no_applied_migration_is_missing",
    "test_verify_blocks_still_hold",
]


@pytest.fixture()
def migrated(target):
    target.add(
        "V1__tables.sql",
        """\
        CREATE TABLE parent (id INT PRIMARY KEY) ENGINE=InnoDB;
        CREATE TABLE child (id INT PRIMARY KEY, parent_id INT,
          CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id)) ENGINE=InnoDB;
        """,
    )
    target.add(
        "V1__tables.verify.sql",
        """\
        SELECT COUNT(*) = 1 FROM information_schema.key_column_usage
         WHERE table_schema = DATABASE() AND table_name = 'child' AND referenced_table_name = 'parent';
        """,
    )
    target.add("V2__data.sql", "INSERT INTO parent VALUES (1);\n")
    target.migrate()
    return target


def test_fully_migrated_database_passes(migrated, run_checks) -> None:
    run = run_checks(migrated.profile_path, "-k", "test_migrations")
    assert run.outcomes("migrations") == {
        **dict.fromkeys(MIGRATION_CHECKS, "passed"),
        "test_pending_migrations_pass_lint": "skipped",  # nothing pending to lint
    }
    assert run.check("test_pending_migrations_pass_lint")["message"] == "nothing pending to lint"
    applied = "2 of 2 migration(s) applied, the newest V2__data.sql"  # what each passed check measured
    assert (
        run.check("test_ledger_exists")["message"] == f"the ledger of {migrated.database!r} records {applied}"
    )
    assert run.check("test_nothing_failed")["message"] == f"none failed or unfinished: {applied}"
    assert run.check("test_nothing_pending")["details"]["pending"] == 0
    assert run.check("test_no_applied_migration_is_missing")["message"] == (
        f"every recorded migration is on disk: {applied}"
    )
    assert run.check("test_no_checksum_mismatch")["message"] == (
        "checksums of the files match the ledger: 2 of the 2 applied migration(s) compared, the newest V2__data.sql"
    )
    assert run.check("test_verify_blocks_still_hold")["message"] == (
        "the verify queries of 1 applied migration(s) still return true"
    )


def test_verify_check_without_a_verify_block_skips(target, run_checks) -> None:
    """Applied migrations, none with a verify block: nothing was queried, so no pass."""
    target.add("V1__a.sql", "SELECT 1;")
    target.migrate()
    run = run_checks(target.profile_path, "-k", "verify_blocks or ledger_exists")
    check = run.check("test_verify_blocks_still_hold")
    assert (check["outcome"], check["message"]) == ("skipped", "no applied migration has a verify block")


def test_missing_ledger_fails(target, run_checks) -> None:
    target.add("V1__a.sql", "SELECT 1;")
    check = run_checks(target.profile_path, "-k", "ledger").check("test_ledger_exists")
    assert check["outcome"] == "failed"
    assert (
        check["message"] == f"no migration ledger in database {target.database!r}: run `deploycheck migrate`"
    )


def test_pending_migration_is_named(migrated, run_checks) -> None:
    migrated.add("V3__new.sql", "SELECT 1;")
    migrated.add("V4__more.sql", "SELECT 2;")
    run = run_checks(migrated.profile_path, "-k", "test_migrations")
    assert run.outcome("test_nothing_pending") == "failed"
    assert run.check("test_nothing_pending")["message"] == (
        "pending migrations (run `deploycheck migrate`):\n    V3__new.sql\n    V4__more.sql"
    )
    assert run.exit_code == 1


def test_failed_migration_is_named_with_statement_and_line(migrated, run_checks) -> None:
    migrated.add("V3__broken.sql", "CREATE TABLE extra (id INT);\nCREATE TABLE extra (id INT);\n")
    with pytest.raises(Exception, match="partly applied"):
        migrated.migrate()
    check = run_checks(migrated.profile_path, "-k", "failed").check("test_nothing_failed")
    assert check["outcome"] == "failed"
    assert check["message"].startswith(
        "failed or unfinished migrations (see `deploycheck status`, then `repair`):\n"
        "    V3__broken.sql: at statement 2 (line 2): (1050) Table 'extra' already exists"
    )


def test_edited_migration_is_a_checksum_mismatch(migrated, run_checks) -> None:
    migrated.add("V2__data.sql", "INSERT INTO parent VALUES (1);\n-- changed later\n")
    check = run_checks(migrated.profile_path, "-k", "checksum").check("test_no_checksum_mismatch")
    assert check["outcome"] == "failed" and check["message"].startswith(
        "migrations changed after they were applied:\n    V2__data.sql: file changed after it was applied"
    )


def test_applied_migration_missing_from_disk_is_named(migrated, run_checks) -> None:
    (migrated.migrations / "V2__data.sql").unlink()
    check = run_checks(migrated.profile_path, "-k", "missing").check("test_no_applied_migration_is_missing")
    assert check["outcome"] == "failed"
    assert check["message"].startswith(
        "applied migrations missing from disk:\n    V2__data.sql: recorded in the ledger but"
    )


def test_undone_verify_block_warns_and_fails_only_when_strict(migrated, run_checks) -> None:
    with migrated.server.connect(migrated.database) as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE child DROP FOREIGN KEY fk_parent")
    run = run_checks(migrated.profile_path, "-k", "test_migrations")
    check = run.check("test_verify_blocks_still_hold")
    assert (check["outcome"], check["severity"]) == ("warned", "warning")
    assert check["message"].startswith(
        "verify blocks of applied migrations no longer hold:\n    V1__tables.sql: verify query 1 returned 0"
    )
    assert run.exit_code == 0 and run.report["summary"]["warned"] == 1
    strict = run_checks(migrated.profile_path, "-k", "test_migrations", "--deploy-strict")
    assert strict.exit_code == 1 and strict.report["outcome"] == "failed"


def test_checks_over_the_ledger_skip_when_it_records_nothing(target, run_checks) -> None:
    """An empty ledger has no failed, changed or missing migration because it has none at all:
    those checks skip; the pending one fails."""
    target.migrate()  # no migration yet: the ledger is created empty
    target.add("V1__a.sql", "SELECT 1;")
    run = run_checks(target.profile_path, "-k", "test_migrations")
    assert run.outcomes("migrations") == {
        "test_ledger_exists": "passed",
        "test_nothing_pending": "failed",
        "test_nothing_failed": "skipped",
        "test_no_checksum_mismatch": "skipped",
        "test_no_applied_migration_is_missing": "skipped",
        "test_pending_migrations_pass_lint": "passed",
        "test_verify_blocks_still_hold": "skipped",
    }
    linted = run.check("test_pending_migrations_pass_lint")["message"]
    assert linted == "1 pending migration(s) linted: 0 finding(s), 0 blocking"
    ledger = run.check("test_ledger_exists")["message"]
    assert ledger == f"the ledger of {target.database!r} records 0 of 1 migration(s) applied"
    for check in ("test_nothing_failed", "test_no_applied_migration_is_missing", "test_no_checksum_mismatch"):
        assert run.check(check)["message"].endswith(f"the ledger of {target.database!r} records no migration")


def test_no_migration_on_disk_is_not_taken_for_nothing_pending(target, run_checks) -> None:
    target.migrate()
    run = run_checks(target.profile_path, "-k", "test_nothing_pending or test_ledger_exists")
    check = run.check("test_nothing_pending")
    assert check["outcome"] == "skipped"
    assert check["message"].endswith(f"no migration in migrations.dir {target.migrations} to compare")


def test_checksums_the_ledger_never_recorded_are_not_taken_for_matching(target, run_checks) -> None:
    """A schema_version ledger adopted from before deploycheck holds no checksums: nothing to
    compare, so the check skips and names `deploycheck repair`; once one is recorded it is compared."""
    target.write_profile(migrations={"naming": "numbered", "ledger": "schema_version"})
    target.add("000_base.sql", "CREATE TABLE base (id INT PRIMARY KEY);\n")
    target.add("001_more.sql", "CREATE TABLE more (id INT PRIMARY KEY);\n")
    with target.server.connect(target.database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE base (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE more (id INT PRIMARY KEY)")
        cur.execute(
            "CREATE TABLE schema_version (filename VARCHAR(255) PRIMARY KEY,"
            " applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, success BOOLEAN DEFAULT TRUE)"
        )
        cur.execute("INSERT INTO schema_version (filename) VALUES ('000_base.sql'), ('001_more.sql')")
    run = run_checks(target.profile_path, "-k", "checksum or test_ledger_exists")
    check = run.check("test_no_checksum_mismatch")
    assert check["outcome"] == "skipped"
    assert check["message"].endswith(
        "none of the 2 applied migration(s) has a checksum in the ledger to compare "
        "(`deploycheck repair` records them)"
    )

    with target.server.connect(target.database) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE schema_version_deploycheck (filename VARCHAR(255) NOT NULL PRIMARY KEY,"
            " checksum CHAR(64) NULL, applied_by VARCHAR(255) NULL, execution_ms BIGINT NULL,"
            " failed_statement INT NULL, failed_line INT NULL, error TEXT NULL)"
        )
        cur.execute(
            "INSERT INTO schema_version_deploycheck (filename, checksum) VALUES ('001_more.sql', %s)",
            (_checksum(target, "001_more.sql"),),
        )
    check = run_checks(target.profile_path, "-k", "checksum").check("test_no_checksum_mismatch")
    assert check["outcome"] == "passed"
    assert check["message"] == (
        "checksums of the files match the ledger: 1 of the 2 applied migration(s) compared, the newest "
        "001_more.sql; 1 without a recorded checksum (`deploycheck repair` records them)"
    )


def _checksum(target, filename: str) -> str:
    return next(m.checksum for m in target.migrator().files().migrations if m.filename == filename)
