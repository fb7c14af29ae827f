"""`deploycheck backups now`: a consistent dump, compressed, verified, then given its final name."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from isal import igzip

from runner.backups.integrity import check_backup
from runner.backups.listing import zone
from runner.backups.source import LocalSource, open_source
from runner.errors import BackupFailed, DeploycheckError, UsageError
from runner.profile.model import Database, Profile


def find_binary(*names: str) -> str:
    """First of `names` on PATH or in /usr/sbin (where Debian puts mariadbd)."""
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if found:
            return found
    raise DeploycheckError(
        f"{names[0]} not found: install it (Debian/Ubuntu: apt-get install mariadb-client, "
        "or mariadb-server for the demo)"
    )


def _now() -> datetime:
    return datetime.now(UTC)


def take_backup(
    profile: Profile,
    *,
    clock: Callable[[], datetime] = _now,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[str], None] | None = None,
) -> Path:
    """Dump the profile's database into the backup folder, named for the minute it started."""
    if profile.backups is None or profile.database is None:
        raise UsageError(f"{profile.path}: backups and database sections are required for a backup")
    source = open_source(profile.backups)
    if not isinstance(source, LocalSource):
        raise UsageError(f"backups.source: {source} is remote; `backups now` writes only to a local folder")
    started = clock().astimezone(zone(profile.backups))
    db = profile.database
    partial = source.directory / f".{started:%Y%m%d%H%M%S}.{db.name}.sql.gz.partial"
    try:
        dump_to(db, partial)
        checked = check_backup(partial, profile.backups.required_tables)
        if not checked.is_intact:
            raise BackupFailed(f"the new backup did not verify: {checked.describe()}")
        return _publish(partial, f"{db.name}.sql.gz", started, clock, sleep, on_wait)
    finally:
        partial.unlink(missing_ok=True)


_MINUTES_TRIED = 5


def _publish(
    partial: Path,
    suffix: str,
    started: datetime,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    on_wait: Callable[[str], None] | None,
) -> Path:
    """Give the verified dump fradelg/mysql-cron-backup's name, `YYYYMMDDHHMM.<db>.sql.gz`, for
    the minute it started; never over an existing backup. That name has minute resolution: when
    it is taken (a second run, or the cron job, in the same minute), the next minute's is used,
    once that minute has come (a name in the future would pass for a newer backup)."""
    minute = started.replace(second=0, microsecond=0)
    for _ in range(_MINUTES_TRIED):
        final = partial.parent / f"{minute:%Y%m%d%H%M}.{suffix}"
        ahead = (minute - clock()).total_seconds()
        if ahead > 0:
            if on_wait is not None:
                on_wait(
                    f"a backup of this minute exists already; waiting {ahead:.0f} s to name this one {final.name}"
                )
            sleep(ahead)
        try:
            os.link(partial, final)  # fails if the name exists, unlike rename
            return final
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: look, then rename
            if not final.exists():
                partial.rename(final)
                return final
        minute += timedelta(minutes=1)
    raise BackupFailed(
        f"backups named for {_MINUTES_TRIED} minutes from {started:%Y-%m-%d %H:%M} exist already in "
        f"{partial.parent}; something else writes a backup every minute: look there"
    )


def dump_to(db: Database, target: Path) -> None:
    """Dump `db` consistently into the gzip file `target`."""
    with tempfile.NamedTemporaryFile("w", prefix="deploycheck-", suffix=".cnf", delete=False) as cnf:
        os.chmod(cnf.name, 0o600)  # the password goes here, never on a command line
        cnf.write(f"[client]\nuser={db.user}\npassword={db.password.get_secret_value()}\n")
        cnf.write(f"socket={db.socket}\n" if db.socket else f"host={db.host}\nport={db.port}\n")
    try:
        _dump(cnf.name, db.name, target)
    finally:
        os.unlink(cnf.name)


def _dump(defaults_file: str, database: str, target: Path) -> None:
    binary = find_binary("mariadb-dump", "mysqldump")
    command = [
        binary,
        f"--defaults-extra-file={defaults_file}",
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        database,
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        with igzip.open(target, "wb", compresslevel=2) as out:
            shutil.copyfileobj(proc.stdout, out, 1 << 20)
        error = proc.stderr.read().decode(errors="replace").strip()
    if proc.returncode != 0:
        raise BackupFailed(f"{Path(binary).name} failed (exit {proc.returncode}): {error}")
