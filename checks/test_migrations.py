"""Schema versus migrations: the ledger says every migration on disk is applied, intact and whole."""

from __future__ import annotations

import pytest

from runner.migrations import State, failed_verify_query, quoting_of


def _rows(status, state: State) -> str:
    return "\n".join(
        f"  {row.filename}" + (f": {row.detail}" if row.detail else "") for row in status.with_state(state)
    )


def test_ledger_exists(profile, migration_status) -> None:
    """The migration ledger table exists in the database."""
    assert migration_status.ledger_exists, (
        f"no migration ledger in database {profile.database.name!r}: run `deploycheck migrate`"
    )


def test_nothing_pending(migration_status, record_detail) -> None:
    """Every migration on disk has been applied."""
    record_detail("pending", len(migration_status.with_state(State.PENDING)))
    assert not migration_status.with_state(State.PENDING), (
        f"pending migrations (run `deploycheck migrate`):\n{_rows(migration_status, State.PENDING)}"
    )


def test_nothing_failed(migration_status) -> None:
    """No migration is recorded as failed or unfinished."""
    bad = migration_status.with_state(State.FAILED, State.RUNNING)
    listing = "\n".join(f"  {row.filename}: {row.detail}" for row in bad)
    assert not bad, f"failed or unfinished migrations (see `deploycheck status`, then `repair`):\n{listing}"


def test_no_checksum_mismatch(migration_status) -> None:
    """No applied migration file was changed after it ran."""
    assert not migration_status.with_state(State.CHECKSUM_MISMATCH), (
        f"migrations changed after they were applied:\n{_rows(migration_status, State.CHECKSUM_MISMATCH)}"
    )


def test_no_applied_migration_is_missing(migration_status) -> None:
    """Every migration the ledger records still exists on disk."""
    assert not migration_status.with_state(State.MISSING_FILE), (
        f"applied migrations missing from disk:\n{_rows(migration_status, State.MISSING_FILE)}"
    )


def test_pending_migrations_pass_lint(pending_lint, record_detail) -> None:
    """No pending migration drops, truncates or narrows data, empties a table by DELETE or UPDATE
    without WHERE, or makes a column of a table with rows NOT NULL without a default, unless the
    file acknowledges it with `-- deploycheck: allow RULE (reason)`."""
    record_detail("lint", [f.to_dict() for f in pending_lint])
    blocking = [f for f in pending_lint if f.blocks]
    assert not blocking, "pending migrations that would lose data (see `deploycheck lint`):\n" + "\n".join(
        f"  {f.file}:{f.line}: {f.rule}: {f.message}" for f in blocking
    )


@pytest.mark.severity("warning")
def test_verify_blocks_still_hold(db, migration_status, migration_set) -> None:
    """The verify queries of applied migrations still return true (nobody undid them by hand)."""
    failures = []
    with db.cursor() as cur:
        for row in migration_status.with_state(State.APPLIED):
            failure = failed_verify_query(cur, migration_set.verify_statements(row.migration, quoting_of(db)))
            if failure is not None:
                failures.append(f"  {row.filename}: {failure}")
    assert not failures, "verify blocks of applied migrations no longer hold:\n" + "\n".join(failures)
