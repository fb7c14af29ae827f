"""`deploycheck backups now`: a consistent dump, compressed, verified, then given its final name."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from isal import igzip

from runner.backup_source import LocalSource, open_source
from runner.backup_verify import check_backup
from runner.backups import zone
from runner.errors import DeploycheckError, UsageError
from runner.mariadb_server import find_binary
from runner.profile import Database, Profile


class BackupFailed(DeploycheckError):
    """The manual backup could not be taken or did not verify; nothing was left behind."""


def take_backup(profile: Profile, now: datetime | None = None) -> Path:
    """Dump every configured database (or the profile's one) into the backup folder."""
    if profile.backups is None or profile.database is None:
        raise UsageError(f"{profile.path}: backups and database sections are required for a backup")
    source = open_source(profile.backups)
    if not isinstance(source, LocalSource):
        raise UsageError(f"backups.source: {source} is remote; `backups now` writes only to a local folder")
    directory = source.directory
    stamp = (now or datetime.now(UTC)).astimezone(zone(profile.backups)).strftime("%Y%m%d%H%M")
    db = profile.database
    final = directory / f"{stamp}.{db.name}.sql.gz"  # the name fradelg/mysql-cron-backup gives its dumps
    partial = directory / f".{final.name}.partial"
    if final.exists():
        raise BackupFailed(f"{final} exists already; wait a minute and run again")
    try:
        dump_to(db, partial)
        checked = check_backup(partial, profile.backups.required_tables)
        if not checked.is_intact:
            raise BackupFailed(f"the new backup did not verify: {checked.describe()}")
        partial.rename(final)
        return final
    finally:
        partial.unlink(missing_ok=True)


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
