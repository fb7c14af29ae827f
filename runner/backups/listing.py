"""The backup folder as a deployment keeps it: which files, of which kind and database, taken when."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from runner.backups.source import LocalSource, SshSource, open_source

if TYPE_CHECKING:  # the profile (and pydantic) stay out of `backups verify FILE`
    from runner.profile.model import Backups

LATEST = re.compile(r"^latest\.(?P<db>.+)\.sql\.gz$")
# fradelg's backup.sh dumps into X.sql, then `gzip -f X.sql` writes X.sql.gz and removes X.sql:
# while a run is on, a file of the pair changes all the time; one that a failed gzip left stops.
WRITING = timedelta(minutes=10)


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
    writing: list[str] = field(default_factory=list)  # plain .sql of a run still dumping or compressing

    @property
    def directory(self) -> str:
        return str(self.source)

    def of(
        self, database: str | None, kinds: tuple[str, ...] = ("scheduled", "manual", "pre-restore")
    ) -> list[BackupFile]:
        """Backups of `database`, oldest first; files whose name has no database count for every one."""
        return [f for f in self.files if f.kind in kinds and f.database in (database, None)]


def zone(cfg: Backups) -> ZoneInfo:
    """backups.timezone, which the profile loader has validated."""
    return ZoneInfo(cfg.timezone)


def list_backups(
    cfg: Backups, source: LocalSource | SshSource | None = None, now: datetime | None = None
) -> BackupListing:
    """The folder at `now`: a plain .sql, or one beside the .sql.gz that gzip is writing from it,
    changed within WRITING is a run still going, neither a leftover nor a backup (a verify run
    during the nightly run would call the growing .sql.gz truncated)."""
    source = source or open_source(cfg)
    tz = zone(cfg)
    patterns = [(p, re.compile(p.regex)) for p in cfg.patterns]
    listing = BackupListing(source)
    entries = sorted(source.entries(), key=lambda e: e.name)
    changed = {e.name: e.mtime for e in entries if e.kind == "file"}
    since = (now or datetime.now(UTC)) - WRITING
    for entry in entries:
        latest = LATEST.match(entry.name)
        plain = entry.name.removesuffix(".gz")
        if latest and entry.kind == "link":
            listing.latest[latest.group("db")] = entry.link_target if entry.link_ok else None
        elif entry.kind == "file" and entry.name.endswith(".sql"):
            pair = [entry.mtime, changed.get(f"{entry.name}.gz", entry.mtime)]
            (listing.writing if max(pair) >= since else listing.leftovers).append(entry.name)
        elif entry.kind == "file" and plain.endswith(".sql") and plain in listing.writing:
            continue  # gzip is still writing it
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


def fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
