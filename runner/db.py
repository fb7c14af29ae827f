"""Connections to the target database, with timeouts, TLS and errors a person can act on."""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import pymysql
from pymysql.constants import CLIENT, CR

from runner.errors import TargetUnreachable, UsageError
from runner.profile.model import Database
from runner.redact import printable
from runner.trust import client_context

# Client-side codes meaning "the server could not be reached or went away" (CR_*).
LOST_CONNECTION = {2002, 2003, 2006, 2013, 2055}


def describe(cfg: Database) -> str:
    """Where the database is, for messages: never includes the password."""
    where = f"socket {cfg.socket}" if cfg.socket else f"{cfg.host}:{cfg.port}"
    return f"database {cfg.name!r} as {cfg.user!r} at {where}"


def connect(
    cfg: Database,
    timeout_s: float,
    *,
    read_timeout_s: float | None = None,
    read_only: bool = False,
    multi_statements: bool = False,
    autocommit: bool = True,
) -> pymysql.Connection:
    """Open a connection; `read_only` sessions are what verification uses, `multi_statements`
    is what the mysql client uses, so migrations see the server behave as it does for it."""
    kwargs: dict[str, Any] = dict(
        user=cfg.user,
        password=cfg.password.get_secret_value(),
        database=cfg.name or None,
        charset="utf8mb4",
        autocommit=autocommit,
        connect_timeout=timeout_s,
        read_timeout=read_timeout_s,
        write_timeout=read_timeout_s,
        client_flag=CLIENT.MULTI_STATEMENTS if multi_statements else 0,
    )
    if cfg.socket:
        kwargs["unix_socket"] = str(cfg.socket)
        kwargs["ssl_disabled"] = cfg.tls is None  # nothing to protect on a local socket
    else:
        kwargs.update(host=cfg.host, port=cfg.port)
    if cfg.tls is not None:
        # tls.required: TLS or no session, the certificate and host name verified against tls.ca
        # (or the system store). Not required: TLS whenever the server offers it (pymysql sends
        # none without a context), verified when tls.ca is given, else only encrypted, as the
        # client's --ssl-mode=PREFERRED does.
        kwargs["ssl"] = client_context(cfg.tls.ca) if cfg.tls.required or cfg.tls.ca else _encrypt_only()
    try:
        try:
            conn = _open(cfg, timeout_s, kwargs)
        except pymysql.err.OperationalError as exc:
            if not (cfg.tls and not cfg.tls.required and exc.args[0] == CR.CR_SSL_CONNECTION_ERROR):
                raise
            conn = _open(cfg, timeout_s, {**kwargs, "ssl": None, "ssl_disabled": True})  # none offered
    except pymysql.err.OperationalError as exc:
        code, message = exc.args[0], exc.args[1] if len(exc.args) > 1 else ""
        raise TargetUnreachable(f"cannot connect to {describe(cfg)}: ({code}) {message}") from None
    if read_only:
        with conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION READ ONLY")
    return conn


def _open(cfg: Database, timeout_s: float, kwargs: dict[str, Any]) -> pymysql.Connection:
    conn = pymysql.Connection(**kwargs, defer_connect=True)
    conn.connect(_unix_socket(cfg, timeout_s) if cfg.socket else None)
    return conn


def _encrypt_only() -> ssl.SSLContext:
    """TLS that encrypts without checking whose certificate it is (tls.required false, no tls.ca)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _unix_socket(cfg: Database, timeout_s: float) -> socket.socket:
    """Connected here rather than by pymysql, which leaks the socket when the connect fails."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(str(cfg.socket))
    except OSError as exc:
        sock.close()
        raise TargetUnreachable(f"cannot connect to {describe(cfg)}: {exc.strerror or exc}") from None
    return sock


def server_error(exc: pymysql.err.MySQLError) -> str:
    """`(1064) You have an error...` from any pymysql error."""
    if len(exc.args) >= 2:
        return f"({exc.args[0]}) {exc.args[1]}"
    return str(exc)


# Server errors that quote names only (tables, columns, keys, accounts), never a value.
_NAMES_ONLY = {1044, 1046, 1048, 1049, 1050, 1051, 1054, 1060, 1061, 1091, 1142, 1143, 1146, 1264, 1265}
_NAMES_ONLY |= {1227, 1356, 1359, 1360, 1364, 1370, 1406, 1419, 1449}
_SIGNALLED = {1642, 1643, 1644}  # the text of a SIGNAL: anything, a row value too
_DUPLICATE = {1062, 1586}  # Duplicate entry '<value>' for key '<name>'
_CODE = re.compile(r"\((\d+)\) ")


def without_values(message: str) -> str:
    """A server error without the values it may quote: `Duplicate entry '...' for key ...`, `near
    '...'`, a SIGNAL's text. Quote pairs cannot be trusted (a value may hold a quote), so all
    from the first quote to the last goes, except in errors known to quote only names."""
    message = printable(message)
    code = _CODE.search(message)
    number = int(code.group(1)) if code is not None else None
    if number in _NAMES_ONLY:
        return message
    if code is not None and number in _SIGNALLED:
        return message[: code.end()] + "… (the text of a SIGNAL, elided)"
    key = message.rfind("' for key '")  # the key's name is last: the value before it goes, all of it
    if number in _DUPLICATE and key != -1:
        return _elided(message[: key + 1]) + message[key + 1 :]
    return _elided(message)


def _elided(message: str) -> str:
    first, last = message.find("'"), message.rfind("'")
    if first == -1:
        return message
    if first == last:
        return message[:first] + "'…"
    return message[:first] + "'…'" + message[last + 1 :]


def is_connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, pymysql.err.OperationalError | pymysql.err.InterfaceError) and (
        not exc.args or exc.args[0] in LOST_CONNECTION or isinstance(exc, pymysql.err.InterfaceError)
    )


@dataclass(frozen=True)
class Scratch:
    """A server where deploycheck may create and drop databases named with `prefix`, and only
    those: the drill restores there, never on the target. `login` says how to log in (its
    `name` is replaced by each scratch database's)."""

    login: Database
    prefix: str
    label: str  # for messages: "a throwaway local mariadbd", "scratch server db:3306"

    def create(self, purpose: str, timeout_s: float, like: Any = None) -> str:
        """A new, empty database named `<prefix><purpose>_<random>`, with the default character set
        and collation of the database of session `like` (utf8mb4 without one)."""
        charset, collation = "utf8mb4", None
        if like is not None:
            with like.cursor() as cur:
                cur.execute(
                    "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata"
                    " WHERE schema_name = DATABASE()"
                )
                charset, collation = cur.fetchone()
        name = f"{self.prefix}{purpose}_{secrets.token_hex(4)}"
        if not re.fullmatch(r"\w+", charset) or (collation and not re.fullmatch(r"\w+", collation)):
            raise UsageError(f"not a character set and collation: {charset!r}, {collation!r}")
        collate = f" COLLATE {collation}" if collation else ""
        with self.admin(timeout_s) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET {charset}{collate}")
        return name

    def drop(self, name: str, timeout_s: float, *, interrupted: bool = False) -> None:
        """Drop scratch database `name`. After an interrupt, the statement the client stopped
        waiting for runs on (an ALTER holding its table, which the DROP would wait for): our
        sessions still running one there have it ended first. Only then, and only statements:
        runs that killed every session there, some just closing, saw MariaDB 10.11 segfault."""
        if not name.startswith(self.prefix):  # the one rule of a scratch server, checked where it matters
            raise UsageError(f"refusing to drop {name!r}: not a scratch database ({self.prefix}*)")
        with self.admin(timeout_s) as conn, conn.cursor() as cur:
            if interrupted:
                cur.execute(
                    "SELECT id FROM information_schema.processlist"
                    " WHERE db = %s AND command = 'Query' AND id <> CONNECTION_ID()",
                    (name,),
                )
                for (thread,) in cur.fetchall():
                    with contextlib.suppress(pymysql.err.MySQLError):  # it ended meanwhile
                        cur.execute(f"KILL QUERY {int(thread)}")
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def admin(self, timeout_s: float) -> pymysql.Connection:
        """A session with no database selected, for CREATE and DROP DATABASE. Without a read
        timeout, as the migrations' DDL: dropping a restored copy waits for the disk, which a busy
        machine makes slower than any probe's timeout (a dead server still fails at once)."""
        return connect(self.login.model_copy(update={"name": ""}), timeout_s)

    def connect(self, name: str, timeout_s: float, **options: Any) -> pymysql.Connection:
        if not name.startswith(self.prefix):
            raise UsageError(f"refusing to use {name!r}: not a scratch database ({self.prefix}*)")
        return connect(self.login.model_copy(update={"name": name}), timeout_s, **options)

    def describe(self, name: str) -> str:
        """How a person connects to scratch database `name` (never with the password)."""
        where = (
            f"--socket={self.login.socket}"
            if self.login.socket
            else f"-h {self.login.host} -P {self.login.port}"
        )
        return f"mariadb {where} -u {self.login.user} {name}   ({self.label})"
