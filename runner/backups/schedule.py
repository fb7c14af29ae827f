"""What follows from a backup listing: freshness against the cron schedule, retention kept,
and the size trend. Cron expressions and time zones are validated when the profile loads."""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from croniter import croniter

from runner.backups.listing import BackupFile, BackupListing, fmt, zone
from runner.backups.source import Space
from runner.errors import UsageError

if TYPE_CHECKING:
    from runner.profile.model import Backups


# How far a backup's time may run ahead of this host's clock before it is a finding: a backup
# host's clock a little fast is no mistake, one whose names are hours ahead (a wrong TZ) is.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Freshness:
    """The schedule judged on scheduled backups only (a manual dump says nothing about the cron
    job), with the newest backup of any kind beside it, and backups dated after `now`."""

    database: str
    last: BackupFile | None  # the newest scheduled backup, leaving out those dated in the future
    due: datetime | None
    next_run: datetime
    overdue_h: float
    now: datetime
    newest_any: BackupFile | None = None  # of any kind: scheduled, manual, pre-restore
    future: tuple[BackupFile, ...] = ()

    @property
    def is_fresh(self) -> bool:
        return self.last is not None and self.overdue_h <= 0 and not self.future

    def describe(self) -> str:
        parts = [
            f"{b.name} is dated {fmt(b.taken_at)}, {_age(b.taken_at - self.now)} in the future: a clock "
            "or time zone mistake (see backups.timezone) that would keep this check green until then"
            for b in self.future
        ]
        if self.last is None:
            parts.append(f"no scheduled backup of {self.database}; next scheduled {fmt(self.next_run)}")
        else:
            assert self.due is not None
            mtime = " (time from mtime)" if self.last.time_from == "mtime" else ""
            text = (
                f"newest scheduled backup {self.last.name} ({_size(self.last.size)}), taken "
                f"{fmt(self.last.taken_at)}{mtime}, {_age(self.now - self.last.taken_at)} ago; due {fmt(self.due)}"
            )
            if self.overdue_h > 0:
                text += f"; overdue by {_hours(self.overdue_h)}"
            parts.append(text + f"; next scheduled {fmt(self.next_run)}")
        if self.newest_any is None:
            parts.append("no backup of any kind")
        elif self.newest_any != self.last:
            parts.append(
                f"newest backup of any kind {self.newest_any.name} ({self.newest_any.kind}, "
                f"{_size(self.newest_any.size)}), {_age(self.now - self.newest_any.taken_at)} ago"
            )
        return "; ".join(parts)


def _hours(hours: float) -> str:
    return f"{hours:.0f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def _age(delta: timedelta) -> str:
    """`42 min`, `5.0 h`, `3.1 days`."""
    hours = delta.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    return f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def _cron(cfg: Backups) -> str:
    """backups.schedule, validated by the profile loader; freshness cannot be judged without one."""
    if not cfg.schedule:
        raise UsageError("backups.schedule is required for freshness (e.g. '0 3 * * *')")
    return cfg.schedule


def _runs_after(moment: datetime, cfg: Backups) -> Iterator[datetime]:
    """The schedule's runs after `moment`, in UTC, read in backups.timezone. A wall time that the
    end of summer time repeats is one run: croniter yields both, Vixie cron and cronie run a
    fixed-time job once, and a cron that runs it twice names both backups alike."""
    runs = croniter(_cron(cfg), moment.astimezone(zone(cfg)))
    while True:
        run = runs.get_next(datetime)
        if not run.fold:
            yield run.astimezone(UTC)


def freshness(listing: BackupListing, database: str, cfg: Backups, now: datetime) -> Freshness:
    """The newest scheduled backup against the schedule: due at the first run after it, plus
    grace_hours. Backups dated after `now` are findings, and are not taken for the newest."""
    next_run = next(_runs_after(now, cfg))
    future = tuple(b for b in listing.of(database) if b.taken_at > now + CLOCK_SKEW)
    past = [b for b in listing.of(database) if b not in future]
    scheduled = [b for b in past if b.kind == "scheduled"]
    newest_any = past[-1] if past else None
    if not scheduled:
        return Freshness(database, None, None, next_run, float("inf"), now, newest_any, future)
    last = scheduled[-1]
    due = next(_runs_after(last.taken_at, cfg))
    late = (now - (due + timedelta(hours=cfg.grace_hours))).total_seconds() / 3600
    overdue = (now - due).total_seconds() / 3600 if late > 0 else 0.0
    return Freshness(database, last, due, next_run, overdue, now, newest_any, future)


@dataclass(frozen=True)
class Retention:
    """Scheduled backups kept against backups.retention. A set younger than the schedule needs
    to make `wanted` backups is still filling up: it passes while no run since its oldest
    backup is missing. One listing cannot tell a new set from one that the backup container
    trims below `wanted` (MAX_BACKUPS lower than retention): both look like a set filling up."""

    database: str
    count: int
    oldest: datetime | None
    off_schedule: int  # backups taken outside the schedule (container starts with INIT_BACKUP=1)
    span_days: float
    wanted: int | None = None
    runs_to_go: int = 0  # scheduled runs still to come (or within their grace) before `wanted` can be kept
    next_run: datetime | None = None
    missed: tuple[datetime, ...] = ()  # runs since the oldest backup that left no backup

    @property
    def is_filling_up(self) -> bool:
        return self.runs_to_go > 0 and not self.missed

    @property
    def is_kept(self) -> bool:
        return self.wanted is None or self.count >= self.wanted or self.is_filling_up

    def describe(self) -> str:
        if not self.count or self.oldest is None:
            return f"no backups of {self.database}"
        text = f"{self.count} backup(s) of {self.database}"
        if self.wanted:
            text += f" (retention {self.wanted})"
        text += f"; oldest restorable {fmt(self.oldest)}, {self.span_days:.1f} days back"
        if self.missed:
            shown = ", ".join(fmt(run) for run in self.missed[:5])
            more = f" and {len(self.missed) - 5} more" if len(self.missed) > 5 else ""
            text += f"; {len(self.missed)} scheduled run(s) since then left no backup: {shown}{more}"
        elif self.is_filling_up:
            assert self.next_run is not None
            text += (
                f"; still filling up: every scheduled run since the oldest backup left one, and "
                f"{self.runs_to_go} more (the next {fmt(self.next_run)}) make {self.wanted}"
            )
        elif not self.is_kept:
            text += (
                "; without backups.schedule a set still filling up cannot be told from one that falls short"
            )
        if self.off_schedule:
            text += (
                f"; {self.off_schedule} were taken off-schedule (container starts), so the count covers "
                f"fewer days than {self.count} scheduled runs would"
            )
        return text


def retention(listing: BackupListing, database: str, cfg: Backups, now: datetime) -> Retention:
    backups = listing.of(database, ("scheduled",))
    if not backups:
        return Retention(database, 0, None, 0, 0.0, cfg.retention)
    oldest = backups[0].taken_at
    span = (now - oldest).total_seconds() / 86400
    if not cfg.schedule:
        return Retention(database, len(backups), oldest, 0, span, cfg.retention)
    tz = zone(cfg)
    off = sum(
        1 for b in backups if not croniter.match(cfg.schedule, b.taken_at.astimezone(tz).replace(tzinfo=None))
    )
    missed: tuple[datetime, ...] = ()
    runs_to_go, runs = 0, []
    if cfg.retention is not None and len(backups) < cfg.retention:
        # The oldest backup is the first; each run after it makes one more. Runs are read up to
        # the first one still within its grace, or the one after the run that makes `wanted`.
        settled = now - timedelta(hours=cfg.grace_hours)
        for run in _runs_after(oldest, cfg):
            runs.append(run)
            if run > settled or len(runs) == cfg.retention:
                break
        runs_to_go = cfg.retention - len(runs) if runs[-1] > settled else 0
        times = [b.taken_at for b in backups]
        missed = tuple(
            run
            for run, until in itertools.pairwise(runs)
            if run <= settled and not _taken_between(times, run - CLOCK_SKEW, until)
        )
    next_run = runs[-1] if runs_to_go else None
    return Retention(database, len(backups), oldest, off, span, cfg.retention, runs_to_go, next_run, missed)


def _taken_between(times: list[datetime], start: datetime, end: datetime) -> bool:
    """Whether a time of the sorted `times` lies in [start, end)."""
    index = bisect.bisect_left(times, start)
    return index < len(times) and times[index] < end


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
