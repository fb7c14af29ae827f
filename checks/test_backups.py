"""Backups: fresh against their schedule, kept as long as promised, intact, and restorable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runner.backups import schedule
from runner.suite.fixtures import no_backup_databases


@pytest.fixture()
def database(backup_database, profile):
    if backup_database is None:
        pytest.skip(no_backup_databases(profile))
    return backup_database


def test_backup_is_fresh(profile, backup_listing, database, record_detail, evidence) -> None:
    """The newest scheduled backup is no older than the schedule plus backups.grace_hours allows
    (manual and pre-restore dumps say nothing about the cron job), and no backup is dated in the
    future; the newest backup of any kind is named beside it."""
    if profile.backups.schedule is None:
        pytest.skip(f"backups.schedule not configured in profile {profile.name}")
    now = datetime.now(UTC)
    fresh = schedule.freshness(backup_listing, database, profile.backups, now)
    record_detail("freshness", fresh.describe())
    if fresh.last is not None:
        record_detail("age_s", round((now - fresh.last.taken_at).total_seconds()))
    evidence(fresh.describe())
    assert fresh.is_fresh, fresh.describe()


def test_newest_backup_is_intact(newest_backups, database, record_detail, evidence) -> None:
    """The newest backup inflates completely (CRC, length), is a whole dump with every view and
    required table; its restore preview is recorded."""
    checked = newest_backups[database]
    assert checked is not None, f"no backup of {database} to verify"
    record_detail("preview", {n: t.rows for n, t in checked.dump.real_tables.items()})
    evidence(
        f"{checked.name}: {checked.stream.compressed_bytes:,} bytes inflate to {checked.stream.inflated_bytes:,}, "
        f"a complete dump of {len(checked.dump.real_tables)} table(s)"
    )
    assert checked.is_intact, checked.describe()


@pytest.mark.severity("warning")
def test_newest_backup_restores_on_mysql(newest_backups, database, restore_flavor, evidence) -> None:
    """Where backups would be restored on MySQL (the target is MySQL, or backups.restore_flavor
    says so): the dump does not start with MariaDB's sandbox line, which MySQL refuses."""
    if restore_flavor.flavor != "mysql":
        pytest.skip(
            f"backups are restored on MariaDB ({restore_flavor.reason}), which reads the sandbox line; "
            "set backups.restore_flavor: mysql where they would be restored on MySQL"
        )
    checked = newest_backups[database]
    if checked is None or not checked.is_intact:
        pytest.skip("no intact backup to look at")
    evidence(f"{checked.name} does not start with MariaDB's sandbox line ({restore_flavor.reason})")
    assert not checked.dump.sandbox_line, f"{checked.name}: {checked.warnings[-1]}"


def test_newest_backup_restores(backup_drill, database, record_detail, evidence) -> None:
    """With backups.drill: the newest backup restores into a scratch database without a server
    error, every table holds the rows the dump holds, the required tables exist, CHECK TABLE
    passes, backups.drill.queries hold, all within backups.drill.budget_min; what a restore
    would mean for the migrations is recorded."""
    result = backup_drill[database]
    assert result is not None, f"no backup of {database} to restore"
    record_detail("drill", result.to_dict())
    evidence(
        f"{result.backup} restored in {result.restore_s:.1f} s on {result.scratch}: "
        f"{sum(result.tables.values()):,} rows in {len(result.tables)} table(s)"
    )
    assert result.ok, f"{result.backup}: " + "\n".join(f"{f.kind}: {f.message}" for f in result.problems())


def test_pending_migrations_apply_to_last_nights_data(
    profile, backup_drill, database, record_detail, evidence
) -> None:
    """With backups.drill.rehearse: what `deploycheck migrate` would apply to the newest backup's
    restored copy (judged by its own ledger) applies there, on the real rows; each migration's
    time there estimates how long it runs on production (whether writes wait that long depends
    on an ALTER's algorithm: the evidence says)."""
    if not profile.backups.drill.rehearse:
        pytest.skip(f"backups.drill.rehearse not configured in profile {profile.name}")
    if profile.migrations is None or profile.database is None:
        pytest.skip(
            f"backups.drill.rehearse needs the database: and migrations: sections in profile {profile.name}"
        )
    result = backup_drill[database]
    assert result is not None and result.rehearsal is not None, f"no backup of {database} to rehearse on"
    if not result.ok:
        pytest.skip(
            f"{result.backup} did not restore (test_newest_backup_restores says why): nothing to rehearse on"
        )
    record_detail("rehearsal", result.to_dict().get("rehearsal"))
    if result.rehearsal_refused:  # the ledger checks of test_migrations fail on the same cause
        pytest.skip(f"{result.backup}: {result.rehearsal_refused}")
    if not result.rehearsal:
        pytest.skip(f"{result.backup}: nothing pending on its restored copy to rehearse")
    failed = [m for m in result.rehearsal if not m.ok]
    assert not failed, f"on the restored copy of {result.backup}: {failed[0].error}"
    applied = "; ".join(
        f"{m.filename} in {m.seconds:.2f} s" + "".join(f", {a.said(result.tables)}" for a in m.altered)
        for m in result.rehearsal
    )
    evidence(f"on the restored copy of {result.backup}: {applied}; times {result.timing}")


def test_backup_volume_has_room(backup_room, record_detail, evidence) -> None:
    """The file system holding backups.source has room, in space and inodes, for
    backups.min_free_backups more nights of backups (a full volume is how dumps silently stop)."""
    record_detail("room", backup_room.describe())
    evidence(backup_room.describe())
    assert backup_room.measured, backup_room.describe()
    assert backup_room.is_enough, f"the backup volume is running out: {backup_room.describe()}"


def test_retention_is_kept(profile, backup_listing, database, record_detail, evidence) -> None:
    """At least backups.retention scheduled backups of the database are kept, or the set is still
    filling up: younger than the schedule needs to make that many, and no run since its oldest
    backup left none."""
    kept = schedule.retention(backup_listing, database, profile.backups, datetime.now(UTC))
    record_detail("retention", kept.describe())
    if profile.backups.retention is None:
        pytest.skip(f"backups.retention not configured in profile {profile.name}")
    evidence(kept.describe())
    assert kept.is_kept, kept.describe()


def test_backup_size_has_not_dropped(profile, backup_listing, database, record_detail, evidence) -> None:
    """The newest backup is not much smaller than the recent ones (backups.max_size_drop of the median)."""
    trend = schedule.size_trend(backup_listing, database, profile.backups.size_window)
    record_detail(
        "sizes", [(moment.isoformat(), size) for moment, size in trend.points]
    )  # the report's chart
    if trend.median is not None:
        record_detail("threshold", profile.backups.max_size_drop * trend.median)
    if trend.median is None:
        pytest.skip(f"fewer than two backups of {database}: no trend yet")
    evidence(
        f"newest backup of {database} is {trend.newest:,} bytes, the median of the {profile.backups.size_window} "
        f"before it {trend.median:,.0f} (threshold {profile.backups.max_size_drop:g} x the median)"
    )
    assert not trend.dropped(profile.backups.max_size_drop), (
        f"newest backup of {database} is {trend.newest:,} bytes, less than {profile.backups.max_size_drop:g} x the "
        f"median {trend.median:,.0f} of the {profile.backups.size_window} before it"
    )


def test_latest_links_point_to_backups(profile, backup_listing, evidence) -> None:
    """Every latest.<db>.sql.gz link points to an existing backup."""
    if not backup_listing.latest:
        pytest.skip(f"no latest.*.sql.gz links in {backup_listing.directory}")
    broken = [db for db, target in backup_listing.latest.items() if target is None]
    evidence(", ".join(f"latest.{db}.sql.gz -> {target}" for db, target in backup_listing.latest.items()))
    assert not broken, "broken latest links: " + ", ".join(f"latest.{db}.sql.gz" for db in broken)


def test_no_leftover_uncompressed_dumps(backup_listing, evidence) -> None:
    """No plain .sql file is left behind (one means a dump's compression failed); one that a
    backup run is still writing or compressing is named, not judged."""
    running = f"; still being written: {', '.join(backup_listing.writing)}" if backup_listing.writing else ""
    evidence(
        f"no plain .sql file beside the {len(backup_listing.files)} backup(s) in "
        f"{backup_listing.directory}{running}"
    )
    assert not backup_listing.leftovers, (
        "uncompressed dumps left behind (gzip failed after the dump): " + ", ".join(backup_listing.leftovers)
    )
