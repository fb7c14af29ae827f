"""Real components for the project's own tests: a throwaway mariadbd for the whole session."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
import yaml

from runner.mariadb_server import MariaDBServer
from runner.migrate import Migrator, Progress
from runner.profile import Profile
from runner.profile_loader import load_profile

_names = itertools.count(1)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """One throwaway server for the session; tests that kill a server start their own."""
    server = MariaDBServer(tmp_path_factory.mktemp("mariadb"))
    server.start()
    yield server
    server.remove()


@pytest.fixture()
def database(mariadb: MariaDBServer) -> Iterator[str]:
    """A fresh, empty database on the session server, dropped afterwards."""
    name = f"t{next(_names)}"
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield name
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture()
def db_conn(mariadb: MariaDBServer, database: str) -> Iterator[pymysql.Connection]:
    conn = mariadb.connect(database)
    yield conn
    conn.close()


class Project:
    """A target for one test: a migrations folder, a profile pointing at a fresh database."""

    def __init__(self, root: Path, server: MariaDBServer, database: str) -> None:
        self.root = root
        self.server = server
        self.database = database
        self.migrations = root / "migrations"
        self.migrations.mkdir(parents=True)
        self.profile_path = root / "profile.yml"
        self.write_profile()

    def write_profile(self, **sections: object) -> Path:
        data: dict[str, object] = {
            "target": "test",
            "database": {"socket": str(self.server.socket), "user": "root", "name": self.database},
            "migrations": {"dir": "migrations", "naming": "flyway", "lock_timeout_s": 60},
            "timeouts": {"default_s": 5},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}  # type: ignore[dict-item]
            else:
                data[key] = value
        self.profile_path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return self.profile_path

    def add(self, filename: str, sql: str | bytes) -> Path:
        path = self.migrations / filename
        if isinstance(sql, bytes):
            path.write_bytes(sql)
        else:
            path.write_text(textwrap.dedent(sql), encoding="utf-8")
        return path

    def profile(self) -> Profile:
        return load_profile(str(self.profile_path))

    def migrator(self, progress: Progress | None = None) -> Migrator:
        return Migrator(self.profile(), progress)

    def query(self, sql: str) -> list[tuple]:
        with self.server.connect(self.database) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def cli(self, *args: str, timeout: float = 120, **kwargs: object) -> subprocess.CompletedProcess[str]:
        """Run `deploycheck ARGS --profile <this>` as its own process, as CI would."""
        return subprocess.run(
            [sys.executable, "-m", "runner", *args, "--profile", str(self.profile_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            **kwargs,
        )

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "runner", *args, "--profile", str(self.profile_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
        )


@pytest.fixture()
def project(tmp_path: Path, mariadb: MariaDBServer, database: str) -> Project:
    return Project(tmp_path, mariadb, database)
