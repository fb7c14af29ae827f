"""Connections to the target database, with timeouts, TLS and errors a person can act on."""

from __future__ import annotations

import socket
from typing import Any

import pymysql
from pymysql.constants import CLIENT

from runner.errors import TargetUnreachable
from runner.profile.model import Database
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
        database=cfg.name,
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
    if cfg.tls is not None and cfg.tls.required:
        # With a context pymysql insists on TLS and verifies certificate and host name;
        # without one (tls.required false) it uses TLS when offered, unverified.
        kwargs["ssl"] = client_context(cfg.tls.ca)
    try:
        conn = pymysql.Connection(**kwargs, defer_connect=True)
        conn.connect(_unix_socket(cfg, timeout_s) if cfg.socket else None)
    except pymysql.err.OperationalError as exc:
        code, message = exc.args[0], exc.args[1] if len(exc.args) > 1 else ""
        raise TargetUnreachable(f"cannot connect to {describe(cfg)}: ({code}) {message}") from None
    if read_only:
        with conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION READ ONLY")
    return conn


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


def is_connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, pymysql.err.OperationalError | pymysql.err.InterfaceError) and (
        not exc.args or exc.args[0] in LOST_CONNECTION or isinstance(exc, pymysql.err.InterfaceError)
    )
