"""A throwaway mariadbd: own datadir, port and socket; started, killed and removed on demand.

Used by the project's tests, its benchmarks, the demo target and the scratch server, never
pointed at the system database. It is private to the OS user that starts it: its folder is 0700
and it listens on a socket there only (a TCP port only for tests that need one; the root
accounts of the template other than root@localhost are dropped, so a port lets no root in);
it reads and writes files only in an empty folder of its own (secure_file_priv), and
LOAD DATA LOCAL is off. Initialising a datadir takes seconds, so an initialised,
never started datadir is kept in deploycheck's cache folder (one per mariadbd binary) and
copied for every server: a server starts in well under two seconds.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

from runner.backups.dump import find_binary
from runner.errors import DeploycheckError

CACHE_ENV = "DEPLOYCHECK_CACHE_DIR"
_SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cache_dir() -> Path:
    """$DEPLOYCHECK_CACHE_DIR, else $XDG_CACHE_HOME/deploycheck, else ~/.cache/deploycheck."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deploycheck"


@functools.cache
def template_datadir() -> Path:
    """The initialised datadir for this mariadbd binary, made once and kept in the cache."""
    server = Path(find_binary("mariadbd", "mysqld"))
    stat = server.stat()
    key = hashlib.sha256(f"{server}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    final = cache_dir() / f"mariadb-datadir-{key}"
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    building = final.parent / f".building-{secrets.token_hex(8)}"
    try:  # made inside the try: Ctrl-C right after it still removes it
        building.mkdir(mode=0o700)
        _install_db(building / "data")
        with contextlib.suppress(OSError):  # another process finished first: use its copy
            (building / "data").rename(final)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return final


def _install_db(datadir: Path) -> None:
    """mariadb-install-db in a session of its own: Ctrl-C reaches deploycheck, which stops it,
    instead of killing it half-way and leaving a traceback."""
    command = [
        find_binary("mariadb-install-db", "mysql_install_db"),
        "--no-defaults",
        f"--datadir={datadir}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        f"--user={_user()}",
    ]
    # Its bootstrap mariadbd writes temporary tables to TMPDIR: inside the folder being built,
    # so that they go with it.
    scratch = datadir.parent / "tmp"
    scratch.mkdir(mode=0o700)
    env = {**os.environ, "TMPDIR": str(scratch)}
    # Ctrl-C and SIGTERM wait until the process exists: one arriving while Popen forks would
    # leave the script running unseen, still writing into the folder the caller removes.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env
        )
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        _, error = proc.communicate()
    except BaseException:
        if proc is not None:  # its bootstrap mariadbd outlives the script: stop the whole session
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    if proc.returncode != 0:
        raise DeploycheckError(
            f"mariadb-install-db failed (exit {proc.returncode}): {error.decode(errors='replace').strip()}"
        )


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


class MariaDBServer:
    """One mariadbd process on a socket in its own folder, with root@localhost and an empty
    password; `tcp` also listens on 127.0.0.1:<free port> (tests that need a port)."""

    def __init__(self, root: Path | None = None, *, options: tuple[str, ...] = (), tcp: bool = False) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="deploycheck-mariadb-")).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        self.datadir = self.root / "data"
        self.socket = self.root / "mysqld.sock"
        self.files = self.root / "files"  # secure_file_priv: empty, private
        self.port = free_port() if tcp else None
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None
        self.user = "root"

    def start(self, timeout_s: float = 60.0) -> MariaDBServer:
        if len(os.fsencode(self.socket)) > _SOCKET_PATH_MAX:
            raise DeploycheckError(
                f"{self.socket}: the path is too long for a unix socket ({_SOCKET_PATH_MAX} bytes at most); "
                "set TMPDIR to a shorter folder such as /tmp"
            )
        if not self.datadir.exists():
            shutil.copytree(template_datadir(), self.datadir)
        self.files.mkdir(mode=0o700, exist_ok=True)
        network = [f"--port={self.port}", "--bind-address=127.0.0.1"] if self.port else ["--skip-networking"]
        self.process = subprocess.Popen(
            [
                find_binary("mariadbd", "mysqld"),
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--socket={self.socket}",
                *network,
                f"--secure-file-priv={self.files}",
                "--local-infile=0",
                f"--pid-file={self.root / 'mysqld.pid'}",
                f"--log-error={self.root / 'error.log'}",
                f"--user={_user()}",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=128M",
                "--innodb-flush-log-at-trx-commit=2",
                "--max-allowed-packet=64M",
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DeploycheckError(f"mariadbd exited at start; see {self.root / 'error.log'}")
            if not self.socket.exists():  # the server makes it when it accepts connections
                time.sleep(0.05)
                continue
            try:
                conn = self.connect(database=None)
            except pymysql.err.OperationalError:
                time.sleep(0.1)
                continue
            with conn, conn.cursor() as cur:
                cur.execute("SELECT user, host FROM mysql.user WHERE user = 'root' AND host <> 'localhost'")
                for user, host in cur.fetchall():
                    cur.execute("DROP USER %s@%s", (user, host))
            return self
        raise DeploycheckError(f"mariadbd did not answer within {timeout_s:.0f} s")

    def connect(self, database: str | None = None, **kwargs: object) -> pymysql.Connection:
        return pymysql.connect(
            unix_socket=str(self.socket),
            user=self.user,
            database=database,
            autocommit=True,
            connect_timeout=5,
            charset="utf8mb4",
            **kwargs,
        )

    def kill(self) -> None:
        """SIGKILL, as a crash or OOM kill would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> MariaDBServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()
