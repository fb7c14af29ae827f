"""Schema versus migrations: the ledger says every migration on disk is applied, intact and whole."""

from __future__ import annotations

import pytest

from runner.migrations import State, failed_verify_query, quoting_of


def _applied(status) -> str:
    """What the ledger says, for a passed check: the counts and the newest applied migration."""
    applied = status.with_state(State.APPLIED)
    newest = f", the newest {applied[-1].filename}" if applied else ""
    return f"{len(applied)} of {len(status.rows)} migration(s) applied{newest}"


def _rows(status, state: State) -> str:
    return "\n".join(
        f"  {row.filename}" + (f": {row.detail}" if row.detail else "") for row in status.with_state(state)
    )


def test_ledger_exists(profile, migration_status, evidence) -> None:
    """The migration ledger table exists in the database."""
    evidence(f"the ledger of {profile.database.name!r} records {_applied(migration_status)}")
    assert migration_status.ledger_exists, (
        f"no migration ledger in database {profile.database.name!r}: run `deploycheck migrate`"
    )


def _recorded(profile, status) -> None:
    """Skip when the ledger records no migration: no failed, changed or missing one is no pass."""
    if not status.recorded:
        pytest.skip(f"the ledger of {profile.database.name!r} records no migration")


def test_nothing_pending(profile, migration_status, record_detail, evidence) -> None:
    """Every migration on disk has been applied."""
    if not migration_status.on_disk:
        pytest.skip(f"no migration in migrations.dir {profile.migrations.dir} to compare")
    evidence(f"none pending: {_applied(migration_status)}")
    record_detail("pending", len(migration_status.with_state(State.PENDING)))
    assert not migration_status.with_state(State.PENDING), (
        f"pending migrations (run `deploycheck migrate`):\n{_rows(migration_status, State.PENDING)}"
    )


def test_nothing_failed(profile, migration_status, evidence) -> None:
    """No migration is recorded as failed or unfinished."""
    _recorded(profile, migration_status)
    evidence(f"none failed or unfinished: {_applied(migration_status)}")
    bad = migration_status.with_state(State.FAILED, State.RUNNING)
    listing = "\n".join(f"  {row.filename}: {row.detail}" for row in bad)
    assert not bad, f"failed or unfinished migrations (see `deploycheck status`, then `repair`):\n{listing}"


def test_no_checksum_mismatch(profile, migration_status, evidence) -> None:
    """No applied migration file was changed after it ran (judged where the ledger recorded a checksum)."""
    _recorded(profile, migration_status)
    applied = migration_status.with_state(State.APPLIED, State.CHECKSUM_MISMATCH)
    compared = migration_status.checksummed
    repair = "(`deploycheck repair` records them)"
    if not compared:
        pytest.skip(
            f"none of the {len(applied)} applied migration(s) has a checksum in the ledger to compare {repair}"
        )
    unrecorded = len(applied) - len(compared)
    evidence(
        f"checksums of the files match the ledger: {len(compared)} of the {len(applied)} applied migration(s) "
        f"compared, the newest {applied[-1].filename}"
        + (f"; {unrecorded} without a recorded checksum {repair}" if unrecorded else "")
    )
    assert not migration_status.with_state(State.CHECKSUM_MISMATCH), (
        f"migrations changed after they were applied:\n{_rows(migration_status, State.CHECKSUM_MISMATCH)}"
    )


def test_no_applied_migration_is_missing(profile, migration_status, evidence) -> None:
    """Every migration the ledger records still exists on disk."""
    _recorded(profile, migration_status)
    evidence(f"every recorded migration is on disk: {_applied(migration_status)}")
    assert not migration_status.with_state(State.MISSING_FILE), (
        f"applied migrations missing from disk:\n{_rows(migration_status, State.MISSING_FILE)}"
    )


def test_pending_migrations_pass_lint(pending_lint, migration_status, record_detail, evidence) -> None:
    """No pending migration drops, truncates or narrows data, empties a table by DELETE or UPDATE
    without WHERE, or makes a column of a table with rows NOT NULL without a default, unless the
    file acknowledges it with `-- deploycheck: allow RULE (reason)`."""
    record_detail("lint", [f.to_dict() for f in pending_lint])
    blocking = [f for f in pending_lint if f.blocks]
    evidence(
        f"{len(migration_status.pending)} pending migration(s) linted: {len(pending_lint)} finding(s), "
        f"{len(blocking)} blocking"
    )
    assert not blocking, "pending migrations that would lose data (see `deploycheck lint`):\n" + "\n".join(
        f"  {f.file}:{f.line}: {f.rule}: {f.message}" for f in blocking
    )


@pytest.mark.severity("warning")
def test_verify_blocks_still_hold(db, migration_status, migration_set, evidence) -> None:
    """The verify queries of applied migrations still return true (nobody undid them by hand)."""
    failures = []
    queried = 0
    with db.cursor() as cur:
        for row in migration_status.with_state(State.APPLIED):
            queried += row.migration.verify_path is not None
            failure = failed_verify_query(cur, migration_set.verify_statements(row.migration, quoting_of(db)))
            if failure is not None:
                failures.append(f"  {row.filename}: {failure}")
    if not queried:
        pytest.skip("no applied migration has a verify block")
    evidence(f"the verify queries of {queried} applied migration(s) still return true")
    assert not failures, "verify blocks of applied migrations no longer hold:\n" + "\n".join(failures)
