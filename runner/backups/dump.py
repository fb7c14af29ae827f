"""`deploycheck backups now`: a consistent dump, compressed, verified, then given its final name."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, BinaryIO

from isal import igzip

from runner.atomic import partial_file
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
    with partial_file(source.directory / f"{started:%Y%m%d%H%M%S}.{db.name}.sql.gz") as (out, partial):
        dump_to(db, out)
        out.close()
        checked = check_backup(partial, profile.backups.required_tables)
        if not checked.is_intact:
            raise BackupFailed(f"the new backup did not verify: {checked.describe()}")
        return _publish(partial, f"{db.name}.sql.gz", started, clock, sleep, on_wait)


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


def dump_to(db: Database, target: Path | BinaryIO) -> None:
    """Dump `db` consistently into the gzip file `target` (a path or an open binary file)."""
    binary = find_binary("mariadb-dump", "mysqldump")
    with tempfile.TemporaryDirectory(prefix="deploycheck-dump-") as private:  # 0700: the password
        cnf = Path(private) / "client.cnf"
        with os.fdopen(os.open(cnf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(_option_file(db, mariadb=_is_mariadb(binary)))
        _dump(binary, cnf, db.name, target, _clean_environment(Path(private)))


def _option_file(db: Database, *, mariadb: bool) -> str:
    """The dump tool's only option file (`--defaults-file`: no /etc/mysql/*.cnf, no ~/.my.cnf can
    point it elsewhere): the profile's login, its transport named outright (a `localhost` host
    cannot turn into a socket) and its TLS demands, not the tool's version's default, every value
    quoted as option files read them."""
    options = {"user": db.user, "password": db.password.get_secret_value()}
    if db.socket:
        options.update(protocol="socket", socket=str(db.socket))
    else:
        options.update(protocol="tcp", host=db.host, port=str(db.port))
    if db.tls is not None and db.tls.required:
        if mariadb:
            options.update({"ssl": "1", "ssl-verify-server-cert": "1"})
        else:
            options["ssl-mode"] = "VERIFY_IDENTITY"
        if db.tls.ca is not None:
            options["ssl-ca"] = str(db.tls.ca)
    elif mariadb:
        # TLS whenever the server offers it, as deploycheck's own sessions: MariaDB's client
        # demands verified TLS by default since 11.4, and would refuse a server without TLS
        options["ssl-verify-server-cert"] = "0"
    return "[client]\n" + "".join(f"{key}={_quoted(value)}\n" for key, value in options.items())


_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b"}


def _quoted(value: str) -> str:
    """A value as an option file reads it back unchanged: in double quotes (so `#` is no comment
    and spaces stay), with the escapes the client's option parser knows."""
    if "\0" in value:
        raise UsageError("a database login value holds a NUL byte, which no option file can carry")
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


@functools.cache
def _is_mariadb(binary: str) -> bool:
    """MariaDB's dump tool takes --ssl-verify-server-cert; MySQL's takes --ssl-mode instead."""
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    return "mariadb" in version.lower()


def _clean_environment(private: Path) -> dict[str, str]:
    """The environment without what would choose another server or login for the dump tool
    (MYSQL_HOST, MYSQL_PWD, ...), and with MySQL's login-path file (read even with
    --defaults-file) pointed at a file that does not exist."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL_", "MARIADB_"))}
    env["MYSQL_TEST_LOGIN_FILE"] = str(private / "no-login-path.cnf")
    return env


STDERR_KEPT = 16 * 1024  # bytes of the dump tool's stderr kept for the message: the end, where the error is


def _dump(binary: str, cnf: Path, database: str, target: Path | BinaryIO, env: dict[str, str]) -> None:
    command = [
        binary,
        f"--defaults-file={cnf}",  # must come first
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        "--",
        database,
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        tail = _Tail(proc.stderr)  # read while stdout is: a full stderr pipe would stop the dump
        try:
            with igzip.open(target, "wb", compresslevel=2) as out:
                shutil.copyfileobj(proc.stdout, out, 1 << 20)
        except BaseException:
            proc.kill()  # the disk is full, or Ctrl-C: the dump tool stops too
            raise
        finally:
            error = tail.text()
    if proc.returncode != 0:
        raise BackupFailed(f"{Path(binary).name} failed (exit {proc.returncode}): {error}")


class _Tail:
    """Reads a stream to its end on a thread of its own, keeping only its last STDERR_KEPT bytes."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._kept = bytearray()
        self._dropped = False
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        while chunk := os.read(stream.fileno(), 1 << 16):
            self._kept += chunk
            if len(self._kept) > STDERR_KEPT:
                del self._kept[: len(self._kept) - STDERR_KEPT]
                self._dropped = True

    def text(self) -> str:
        self._thread.join()
        shown = self._kept.decode(errors="replace").strip()
        return f"(earlier output left out) ...{shown}" if self._dropped else shown
