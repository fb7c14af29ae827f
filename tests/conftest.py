"""Real components for the project's own tests: a throwaway mariadbd for the whole session."""

from __future__ import annotations

import copy
import getpass
import itertools
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpcore  # noqa: F401 - imported here so that pytester's in-process runs, which
import httpx  # noqa: F401 - drop modules they imported, do not get a second httpcore
import pymysql
import pytest
import trustme
import yaml
from aiosmtpd.controller import Controller

from runner.errors import UsageError
from runner.migrations.engine import Migrator, Progress
from runner.profile.loader import load_profile
from runner.profile.model import Profile
from runner.sandbox.mariadb import MariaDBServer, free_port
from runner.sandbox.services import dkim_key_pair
from tests.docker_engine import NO_DOCKER_ENV, DockerEngine
from tests.mail_servers import (
    Inbox,
    Mailbox,
    Receiver,
    ZoneResolver,
    authenticator,
    dovecot_server,
    start_without_probe,
)
from tests.mail_servers import dns_server as start_dns_server

pytest_plugins = ["pytester"]

_names = itertools.count(1)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """One throwaway server for the session; tests that kill a server start their own."""
    # test_init reaches it by port; no TLS: MariaDB 11.4 and later offer TLS with a certificate of
    # their own making unless told not to, and the tests of a server without TLS need one
    server = MariaDBServer(tmp_path_factory.mktemp("mariadb"), options=("--skip-ssl",), tcp=True)
    server.start()
    yield server
    assert server.process is not None
    died = server.process.poll()
    log = server.root / "error.log"
    tail = log.read_text(errors="replace")[-6000:] if died is not None and log.exists() else ""
    server.remove()
    if died is not None:  # every later test failed to connect: say why, with the server's own words
        pytest.fail(
            f"the session's mariadbd died during the tests (exit {died}); its error log ends:\n{tail}"
        )


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """One throwaway Docker engine for the session; its failure to start fails the tests that
    need it, with dockerd's words, unless DEPLOYCHECK_NO_DOCKER says there is no engine here."""
    if os.environ.get(NO_DOCKER_ENV):
        pytest.skip(f"{NO_DOCKER_ENV} is set: no Docker engine on this machine")
    engine = DockerEngine(tmp_path_factory.mktemp("docker"))
    try:
        engine.start()
        yield engine
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    finally:
        engine.stop()


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
        self.data: dict[str, object] = {
            "target": "test",
            "database": {"socket": str(server.socket), "user": "root", "name": database},
            "migrations": {"dir": "migrations", "naming": "flyway", "lock_timeout_s": 60},
            "timeouts": {"default_s": 5},
        }
        self.write_profile()

    def write_profile(self, **sections: object) -> Path:
        """Merge `sections` into the profile (a dict section key by key) and write it."""
        for key, value in sections.items():
            current = self.data.get(key)
            if isinstance(value, dict) and isinstance(current, dict):
                self.data[key] = {**current, **value}
            elif value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value
        self.profile_path.write_text(yaml.safe_dump(self.data), encoding="utf-8")
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


ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "checks"


class CheckRun:
    """One run of the check suite: exit code, report.json (None: the run judged nothing, so
    wrote none), and the terminal output."""

    def __init__(self, exit_code: int, report: dict | None, output: str) -> None:
        self.exit_code = exit_code
        self.report = report
        self.output = output

    def check(self, name: str) -> dict:
        """The check whose id ends with `::name` (a test name, with parameters if any)."""
        __tracebackhide__ = True
        found = [c for c in self.report["checks"] if c["id"].endswith(f"::{name}")]
        if len(found) != 1:
            pytest.fail(f"no single check {name!r} in {[c['id'] for c in self.report['checks']]}")
        return found[0]

    def outcome(self, name: str) -> str:
        return self.check(name)["outcome"]

    def said(self, *names: str) -> dict[str, tuple[str, str]]:
        """Each named check's outcome and message."""
        return {name: (self.check(name)["outcome"], self.check(name)["message"]) for name in names}

    def outcomes(self, area: str) -> dict[str, str]:
        return {c["id"].split("::")[1]: c["outcome"] for c in self.report["checks"] if c["area"] == area}


@pytest.fixture()
def run_checks(pytester: pytest.Pytester, tmp_path: Path):
    """Run `pytest checks --deploy-profile PROFILE ARGS` in-process and read its report.json."""
    runs = itertools.count(1)

    def run(profile: Path, *args: str) -> CheckRun:
        report_dir = tmp_path / f"checks-run-{next(runs)}"
        result = pytester.runpytest_inprocess(
            str(CHECKS),
            "-c",
            os.devnull,
            "--rootdir",
            str(ROOT),
            "-p",
            "runner.suite.plugin",
            "--deploy-profile",
            str(profile),
            "--deploy-report-dir",
            str(report_dir),
            *args,
        )
        written = report_dir / "report.json"
        report = json.loads(written.read_text()) if written.exists() else None
        return CheckRun(int(result.ret), report, result.stdout.str() + result.stderr.str())

    return run


class Target(Project):
    """A project whose checks run as a SELECT-only user, as production verification does."""

    password = "Ro-Passw0rd-for-tests"

    def __init__(self, root: Path, server: MariaDBServer, database: str) -> None:
        super().__init__(root, server, database)
        self.user = f"ro_{database}"
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE USER '{self.user}'@'localhost' IDENTIFIED BY %s", (self.password,))
            cur.execute(f"GRANT SELECT ON `{database}`.* TO '{self.user}'@'localhost'")
        self.write_profile(database={"user": self.user, "password": self.password})

    def migrate(self) -> None:
        """Apply the migrations as the admin, as a deploy would before verification."""
        admin = copy.deepcopy(self.data)
        admin["database"].update(user="root", password="")  # type: ignore[union-attr]
        path = self.root / "admin.yml"
        path.write_text(yaml.safe_dump(admin), encoding="utf-8")
        Migrator(load_profile(str(path))).migrate()

    def drop_user(self) -> None:
        with self.server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{self.user}'@'localhost'")


@pytest.fixture()
def target(tmp_path: Path, mariadb: MariaDBServer, database: str) -> Iterator[Target]:
    t = Target(tmp_path, mariadb, database)
    yield t
    t.drop_user()


@dataclass(frozen=True)
class SshServer:
    port: int
    user: str
    identity: Path
    known_hosts: Path

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real sshd on a loopback port, key login only, for the remote backup source."""
    binary = shutil.which("sshd", path="/usr/sbin:/usr/bin")
    if binary is None:
        pytest.fail("sshd not found: install openssh-server (.ci/run does)")
    root = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / key)], check=True)
    port = free_port()
    (root / "sshd_config").write_text(
        textwrap.dedent(f"""\
        Port {port}
        ListenAddress 127.0.0.1
        HostKey {root / "host_key"}
        PidFile {root / "sshd.pid"}
        AuthorizedKeysFile {root / "client_key.pub"}
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        StrictModes no
        PermitRootLogin prohibit-password
        """)
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen(
        [binary, "-D", "-e", "-f", str(root / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    known_hosts = root / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {(root / 'host_key.pub').read_text()}")
    yield SshServer(port, getpass.getuser(), root / "client_key", known_hosts)
    proc.terminate()
    proc.wait()


@pytest.fixture(scope="session")
def dns_server() -> Iterator[tuple[ZoneResolver, int]]:
    """A dnslib server on a loopback port; tests set `resolver.records` to the zone they need."""
    with start_dns_server() as server:
        yield server


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Mailbox]:
    """A real IMAP server (dovecot) on a loopback port: one mailbox, implicit TLS."""
    try:
        with dovecot_server() as server:
            yield server
    except (RuntimeError, UsageError) as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("smtp-pki")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context, folder / "ca.pem"


@pytest.fixture()
def relay(pki):
    """Starts aiosmtpd in the mode asked for; returns (port, inbox)."""
    context, _ = pki
    started = []

    def start(mode: str = "starttls", inbox: Inbox | None = None) -> tuple[int, Inbox]:
        inbox = inbox or Inbox()
        port = free_port()
        kwargs = dict(hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=True)
        if mode == "starttls":
            controller = Controller(inbox, tls_context=context, require_starttls=True, **kwargs)
        elif mode == "auth-before-tls":  # STARTTLS offered, but so is AUTH on the plain connection
            controller = Controller(inbox, tls_context=context, **{**kwargs, "auth_require_tls": False})
        elif mode == "tls":  # aiosmtpd counts only STARTTLS as TLS: here the whole connection is
            controller = Controller(inbox, ssl_context=context, **{**kwargs, "auth_require_tls": False})
        else:  # no STARTTLS offered at all
            controller = Controller(
                inbox, auth_require_tls=False, hostname="127.0.0.1", port=port, authenticator=authenticator
            )
        if mode == "tls":
            controller.start = start_without_probe(controller)
        controller.start()
        started.append(controller)
        return port, inbox

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(scope="session")
def dkim_keys():
    """Signing keys of mail.test, a subdomain of it, and a relay's own domain, relay.test."""
    return {domain: dkim_key_pair() for domain in ("mail.test", "relay.test", "news.mail.test")}


@dataclass(frozen=True)
class MailRoute:
    receiver: Receiver  # breaks the way in one place (see its attributes)
    relay_port: int
    dns_port: int
    imap: dict  # the profile's imap section for the mailbox


@pytest.fixture()
def mail_route(relay, dovecot, dns_server, dkim_keys) -> MailRoute:
    """The way a mail goes: a relay (aiosmtpd, STARTTLS, AUTH) that signs with DKIM and delivers
    into an emptied dovecot mailbox, with the signing keys published in the zone."""
    zone, dns_port = dns_server
    zone.records = {
        (f"mail._domainkey.{domain}", "TXT"): [public] for domain, (_, public) in dkim_keys.items()
    }
    zone.servfail = set()
    dovecot.empty()
    receiver = Receiver(dovecot, dkim_keys)
    port, _ = relay("starttls", receiver)
    imap = {
        "host": "127.0.0.1",
        "port": dovecot.port,
        "user": dovecot.user,
        "password": dovecot.password,
        "ca_file": str(dovecot.ca_file),
    }
    return MailRoute(receiver, port, dns_port, imap)


def deploycheck(*args: str, timeout: float = 120, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run `deploycheck ARGS` as its own process, as a user or CI would."""
    return subprocess.run(
        [sys.executable, "-m", "runner", *args], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def confined_scratch(server: MariaDBServer, prefix: str) -> dict[str, str]:
    """`scratch:` of a profile on `server` as the README asks: a user granted on `prefix` databases
    alone (the server also holds the target and the other tests' databases)."""
    user = f"u_{prefix}"[:32].rstrip("_")
    escaped = prefix.replace("_", "\\_")
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY 'Scratch-Pw-1'")
        cur.execute(f"GRANT ALL ON `{escaped}%`.* TO '{user}'@'localhost'")
    return {"socket": str(server.socket), "user": user, "password": "Scratch-Pw-1", "prefix": prefix}
