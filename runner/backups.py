"""The backup folder as a deployment keeps it: which files, of which kind and database, taken
when; and what follows from that: freshness against the schedule, retention, size trend."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter

from runner.backup_source import LocalSource, SshSource, open_source
from runner.errors import UsageError

if TYPE_CHECKING:  # the profile (and pydantic) stay out of `backups verify FILE`
    from runner.profile import Backups

LATEST = re.compile(r"^latest\.(?P<db>.+)\.sql\.gz$")


@dataclass(frozen=True)
class BackupFile:
    name: str
    size: int
    mtime: datetime
    kind: str  # scheduled | manual | pre-restore | unknown
    database: str | None
    taken_at: datetime  # UTC
    time_from: str  # "name" or "mtime" (the name had no time that could be read)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "database": self.database,
            "kind": self.kind,
            "taken_at": self.taken_at.isoformat().replace("+00:00", "Z"),
            "time_from": self.time_from,
            "size": self.size,
        }


@dataclass
class BackupListing:
    source: LocalSource | SshSource
    files: list[BackupFile] = field(default_factory=list)
    latest: dict[str, str | None] = field(default_factory=dict)  # db -> target name, None when broken
    leftovers: list[str] = field(default_factory=list)  # plain .sql: a dump whose gzip never finished

    @property
    def directory(self) -> str:
        return str(self.source)

    def of(
        self, database: str | None, kinds: tuple[str, ...] = ("scheduled", "manual", "pre-restore")
    ) -> list[BackupFile]:
        """Backups of `database`, oldest first; files whose name has no database count for every one."""
        return [f for f in self.files if f.kind in kinds and f.database in (database, None)]


def zone(cfg: Backups) -> ZoneInfo:
    try:
        return ZoneInfo(cfg.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"backups.timezone: {cfg.timezone!r} is not a time zone name such as UTC or Europe/Berlin"
        ) from None


def list_backups(cfg: Backups, source: LocalSource | SshSource | None = None) -> BackupListing:
    source = source or open_source(cfg)
    tz = zone(cfg)
    patterns = [(p, re.compile(p.regex)) for p in cfg.patterns]
    listing = BackupListing(source)
    for entry in sorted(source.entries(), key=lambda e: e.name):
        latest = LATEST.match(entry.name)
        if latest and entry.kind == "link":
            listing.latest[latest.group("db")] = entry.link_target if entry.link_ok else None
        elif entry.kind == "file" and entry.name.endswith(".sql"):
            listing.leftovers.append(entry.name)
        elif entry.kind == "file" and entry.name.endswith(".gz") and not entry.name.startswith("."):
            listing.files.append(_classify(entry.name, entry.size, entry.mtime, patterns, tz))
    listing.files.sort(key=lambda f: (f.taken_at, f.name))
    return listing


def _classify(name: str, size: int, mtime: datetime, patterns: list, tz: ZoneInfo) -> BackupFile:
    for pattern, regex in patterns:
        match = regex.match(name)
        if not match:
            continue
        groups = match.groupdict()
        try:
            taken = datetime.strptime(groups["time"], pattern.time_format).replace(tzinfo=tz).astimezone(UTC)
            source = "name"
        except (KeyError, ValueError):
            taken, source = mtime, "mtime"
        return BackupFile(name, size, mtime, pattern.kind, groups.get("db"), taken, source)
    return BackupFile(name, size, mtime, "unknown", None, mtime, "mtime")


# -- freshness, retention, size ----------------------------------------------


def fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


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
    if not cfg.schedule:
        raise UsageError("backups.schedule is required for freshness (e.g. '0 3 * * *')")
    try:
        croniter(cfg.schedule)
    except (CroniterBadCronError, ValueError) as exc:
        raise UsageError(f"backups.schedule: {cfg.schedule!r} is not a cron expression ({exc})") from None
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
