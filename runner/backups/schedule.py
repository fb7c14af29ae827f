"""What follows from a backup listing: freshness against the cron schedule, retention kept,
and the size trend. Cron expressions and time zones are validated when the profile loads."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from croniter import croniter

from runner.backups.listing import BackupFile, BackupListing, fmt, zone
from runner.backups.source import Space
from runner.errors import UsageError

if TYPE_CHECKING:
    from runner.profile.model import Backups


@dataclass(frozen=True)
class Freshness:
    database: str
    last: BackupFile | None
    due: datetime | None
    next_run: datetime
    overdue_h: float

    @property
    def is_fresh(self) -> bool:
        return self.last is not None and self.overdue_h <= 0

    def describe(self) -> str:
        if self.last is None:
            return f"no backup of {self.database}; next scheduled {fmt(self.next_run)}"
        text = f"last backup {fmt(self.last.taken_at)} ({self.last.name}"
        text += ", time from mtime)" if self.last.time_from == "mtime" else ")"
        assert self.due is not None
        text += f"; due {fmt(self.due)}"
        if self.overdue_h > 0:
            text += f"; overdue by {_hours(self.overdue_h)}"
        return text + f"; next scheduled {fmt(self.next_run)}"


def _hours(hours: float) -> str:
    return f"{hours:.0f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def _cron(cfg: Backups) -> str:
    """backups.schedule, validated by the profile loader; freshness cannot be judged without one."""
    if not cfg.schedule:
        raise UsageError("backups.schedule is required for freshness (e.g. '0 3 * * *')")
    return cfg.schedule


def freshness(listing: BackupListing, database: str, cfg: Backups, now: datetime) -> Freshness:
    """The newest backup against the schedule: due at the first run after it, plus grace_hours."""
    schedule, tz = _cron(cfg), zone(cfg)
    next_run = croniter(schedule, now.astimezone(tz)).get_next(datetime).astimezone(UTC)
    backups = listing.of(database)
    if not backups:
        return Freshness(database, None, None, next_run, float("inf"))
    last = backups[-1]
    due = croniter(schedule, last.taken_at.astimezone(tz)).get_next(datetime).astimezone(UTC)
    late = (now - (due + timedelta(hours=cfg.grace_hours))).total_seconds() / 3600
    overdue = (now - due).total_seconds() / 3600 if late > 0 else 0.0
    return Freshness(database, last, due, next_run, overdue)


@dataclass(frozen=True)
class Retention:
    database: str
    count: int
    oldest: datetime | None
    off_schedule: int  # backups taken outside the schedule (container starts with INIT_BACKUP=1)
    span_days: float

    def describe(self, wanted: int | None) -> str:
        if not self.count or self.oldest is None:
            return f"no backups of {self.database}"
        text = f"{self.count} backup(s) of {self.database}"
        if wanted:
            text += f" (retention {wanted})"
        text += f"; oldest restorable {fmt(self.oldest)}, {self.span_days:.1f} days back"
        if self.off_schedule:
            text += (
                f"; {self.off_schedule} were taken off-schedule (container starts), so the count covers "
                f"fewer days than {self.count} scheduled runs would"
            )
        return text


def retention(listing: BackupListing, database: str, cfg: Backups, now: datetime) -> Retention:
    backups = listing.of(database, ("scheduled",))
    if not backups:
        return Retention(database, 0, None, 0, 0.0)
    tz = zone(cfg)
    off = 0
    if cfg.schedule:
        off = sum(
            1
            for b in backups
            if not croniter.match(_cron(cfg), b.taken_at.astimezone(tz).replace(tzinfo=None))
        )
    span = (now - backups[0].taken_at).total_seconds() / 86400
    return Retention(database, len(backups), backups[0].taken_at, off, span)


@dataclass(frozen=True)
class SizeTrend:
    database: str
    points: list[tuple[datetime, int]]
    newest: int | None
    median: float | None

    def dropped(self, factor: float) -> bool:
        return self.newest is not None and self.median is not None and self.newest < factor * self.median


def size_trend(listing: BackupListing, database: str, window: int) -> SizeTrend:
    backups = listing.of(database, ("scheduled",))
    points = [(b.taken_at, b.size) for b in backups]
    if len(backups) < 2:
        return SizeTrend(database, points, backups[-1].size if backups else None, None)
    before = [b.size for b in backups[-window - 1 : -1]]
    return SizeTrend(database, points, backups[-1].size, statistics.median(before))


@dataclass(frozen=True)
class Room:
    """Whether the backup volume has room for `wanted` more nights of backups."""

    free_bytes: int
    free_inodes: int
    night_bytes: int  # the newest backup of each database: what one scheduled run writes
    files_per_night: int
    wanted: int

    @property
    def measured(self) -> bool:
        """Whether a night's size is known: 0 bytes in 0 files measures nothing to judge room by."""
        return self.night_bytes > 0 and self.files_per_night > 0

    @property
    def nights_left(self) -> int:
        if not self.measured:
            return 0
        return min(self.free_bytes // self.night_bytes, self.free_inodes // self.files_per_night)

    @property
    def is_enough(self) -> bool:
        return self.measured and self.nights_left >= self.wanted

    def describe(self) -> str:
        if not self.measured:
            return (
                f"{_size(self.free_bytes)} and {self.free_inodes:,} inodes free, but the newest backups take "
                f"{_size(self.night_bytes)} in {self.files_per_night} file(s): no night's size to judge the room by"
            )
        return (
            f"{_size(self.free_bytes)} and {self.free_inodes:,} inodes free; the newest backups take "
            f"{_size(self.night_bytes)} in {self.files_per_night} file(s) a night; room for {self.nights_left} "
            f"more (backups.min_free_backups is {self.wanted})"
        )


def room(listing: BackupListing, databases: list[str], space: Space, wanted: int) -> Room:
    newest = [backups[-1] for backups in (listing.of(db) for db in databases) if backups]
    return Room(space.free_bytes, space.free_inodes, sum(b.size for b in newest), len(newest), wanted)


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"
