"""A throwaway mariadbd: own datadir, port and socket; started, killed and removed on demand.

Used by the project's tests, its benchmarks and the demo target, never pointed
at the system database. Initialising a datadir takes seconds, so one template
is made per process and copied for every server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

from runner.errors import DeploycheckError

_TEMPLATES: dict[str, Path] = {}


def find_binary(*names: str) -> str:
    """First of `names` on PATH or in /usr/sbin (where Debian puts mariadbd)."""
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if found:
            return found
    raise DeploycheckError(
        f"{names[0]} not found: install it (Debian/Ubuntu: apt-get install mariadb-server)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _template_datadir() -> Path:
    """An initialised, never started datadir, made once per process."""
    key = "default"
    if key not in _TEMPLATES:
        root = Path(tempfile.mkdtemp(prefix="deploycheck-mariadb-template-"))
        datadir = root / "data"
        subprocess.run(
            [
                find_binary("mariadb-install-db", "mysql_install_db"),
                "--no-defaults",
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                f"--user={_user()}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _TEMPLATES[key] = datadir
    return _TEMPLATES[key]


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


class MariaDBServer:
    """One mariadbd process on 127.0.0.1:<free port> with root and an empty password."""

    def __init__(self, root: Path | None = None, *, options: tuple[str, ...] = ()) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="deploycheck-mariadb-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.datadir = self.root / "data"
        self.socket = self.root / "mysqld.sock"
        self.port = free_port()
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None
        self.user = "root"

    def start(self, timeout_s: float = 60.0) -> MariaDBServer:
        if not self.datadir.exists():
            shutil.copytree(_template_datadir(), self.datadir)
        self.process = subprocess.Popen(
            [
                find_binary("mariadbd", "mysqld"),
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
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
                self.connect(database=None).close()
                return self
            except pymysql.err.OperationalError:
                time.sleep(0.1)
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

    def restart(self) -> MariaDBServer:
        self.stop()
        return self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> MariaDBServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()
