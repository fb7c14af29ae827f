"""The scratch server of a profile: `scratch: local` (the default) starts a throwaway mariadbd
that goes away with the block; `scratch: {host, port, user, password, prefix, tls}` is a server
the team provides (for instance a `mysql:8.4` service with tmpfs beside production, same flavor
and version).

Confinement starts with the server's own privileges: deploycheck works there as a user granted
on `prefix` databases only. On the local server it creates that user itself; on a team's server
it reads the user's grants first and refuses one that reaches further (a global privilege,
another database, GRANT OPTION, a role), unless the server holds nothing but system databases
and scratch databases as deploycheck names them (a dedicated throwaway service, root included, is fine). The statement guard
(migrations/guard.py) is the second layer."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pymysql

from runner.db import Scratch, describe, server_error
from runner.errors import DeploycheckError, UsageError
from runner.profile.model import Database, Profile
from runner.sandbox.mariadb import MariaDBServer

LOCAL_USER = "deploycheck_scratch"
LOCAL_PREFIX = "deploycheck_scratch_"
_SYSTEM = {"information_schema", "mysql", "performance_schema", "sys"}
_GRANT = re.compile(
    r"GRANT (?P<privileges>.*?) ON (?:(?:TABLE|FUNCTION|PROCEDURE|PACKAGE(?: BODY)?) )?"
    r"(?P<target>\*\.\*|`(?:[^`]|``)*`\.(?:\*|`(?:[^`]|``)*`)|\S+) TO ",
    re.S,
)


def grant_statement(prefix: str, user: str = "deploycheck_scratch", host: str = "%") -> str:
    """The GRANT that confines a scratch user to `prefix` databases (`_` escaped: a wildcard)."""
    return f"GRANT ALL ON `{_escaped(prefix)}%`.* TO '{user}'@'{host}'"


def _escaped(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


@dataclass(frozen=True)
class Reach:
    """A grant of the scratch user that reaches beyond `prefix` databases (no secret in it)."""

    grant: str  # "ALL PRIVILEGES ON *.*", "GRANT OPTION", "a role (`dba`)"


def reach_beyond(grants: list[str], prefix: str) -> list[Reach]:
    """What in SHOW GRANTS lines reaches beyond databases named `prefix`...: a global privilege,
    a grant on another (or a wildcard wider than the prefix) database, GRANT OPTION, a role or
    proxy. The lines may carry password hashes: only privileges and targets are kept."""
    found = []
    for line in grants:
        match = _GRANT.match(line)
        if match is None:
            role = line.split(" TO ", 1)[0].removeprefix("GRANT ").strip()
            found.append(
                Reach(f"a role ({role})" if role.startswith("`") else "a grant deploycheck cannot read")
            )
            continue
        privileges, target = match.group("privileges"), match.group("target")
        if "WITH GRANT OPTION" in line[match.end() :].upper() or "GRANT OPTION" in privileges.upper():
            found.append(Reach(f"GRANT OPTION ({privileges} ON {target})"))
        elif privileges.upper() == "PROXY":
            found.append(Reach(f"PROXY ON {target}"))
        elif target == "*.*":
            if privileges.upper() != "USAGE":
                found.append(Reach(f"{privileges} ON *.*"))
        elif not _literal_start(target.split("`.", 1)[0][1:].replace("``", "`")).startswith(prefix):
            found.append(Reach(f"{privileges} ON {target}"))
    return found


def _literal_start(pattern: str) -> str:
    """The part of a database pattern of a grant before its first wildcard (`_` or `%`)."""
    out = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "%_":
            break
        else:
            out.append(char)
    return "".join(out)


def _is_scratch(name: str, prefix: str) -> bool:
    """A database as Scratch.create names them (`<prefix><purpose>_<8 hex>`): one that merely starts
    with the prefix (`shop_main` for prefix `shop_`) may be anybody's."""
    return re.fullmatch(rf"{re.escape(prefix)}[a-z]+_[0-9a-f]{{8}}", name) is not None


def check_confinement(scratch: Scratch, timeout_s: float, say: Callable[[str], None]) -> None:
    """Refuse (exit 2) a scratch user that reaches beyond the prefix on a server that holds more."""
    try:
        with scratch.admin(timeout_s) as conn, conn.cursor() as cur:
            cur.execute("SHOW GRANTS")
            reach = reach_beyond([row[0] for row in cur.fetchall()], scratch.prefix)
            if not reach:
                return
            cur.execute("SHOW DATABASES")
            others = sorted(
                name
                for (name,) in cur.fetchall()
                if name not in _SYSTEM and not _is_scratch(name, scratch.prefix)
            )
    except pymysql.err.MySQLError as exc:
        raise DeploycheckError(
            f"cannot read the grants of the scratch user on {scratch.label}: {server_error(exc)}"
        ) from None
    if not others:
        say(
            f"the scratch user may reach beyond {scratch.prefix}* databases ({reach[0].grant}), but the "
            "server holds nothing else: a dedicated scratch server"
        )
        return
    shown = ", ".join(f"`{name}`" for name in others[:3]) + (" ..." if len(others) > 3 else "")
    raise UsageError(
        f"scratch: the user {scratch.login.user!r} on {scratch.label} may reach beyond {scratch.prefix}* "
        f"databases ({'; '.join(r.grant for r in reach)}) and the server holds other databases "
        f"({shown}): give scratch: a user granted on the prefix alone, e.g. "
        f"{grant_statement(scratch.prefix, scratch.login.user)}, or a server of its own"
    )


@contextmanager
def open_scratch(profile: Profile, say: Callable[[str], None] = lambda _: None) -> Iterator[Scratch]:
    cfg = profile.scratch
    timeout_s = profile.timeouts.default_s
    if cfg == "local":
        server = MariaDBServer(Path(tempfile.mkdtemp(prefix="deploycheck-scratch-")))
        try:
            say("starting a throwaway local mariadbd as the scratch server ...")
            server.start()
            with server.connect() as conn, conn.cursor() as cur:
                cur.execute(f"CREATE USER '{LOCAL_USER}'@'localhost'")
                cur.execute(grant_statement(LOCAL_PREFIX, LOCAL_USER, "localhost"))
            login = Database(socket=server.socket, user=LOCAL_USER, name="")
            scratch = Scratch(login, LOCAL_PREFIX, "a throwaway local mariadbd")
            check_confinement(scratch, timeout_s, say)
            yield scratch
        finally:
            server.remove()
        return
    login = Database(
        host=cfg.host,
        port=cfg.port,
        socket=cfg.socket,
        user=cfg.user,
        password=cfg.password,
        name="",
        tls=cfg.tls,
    )
    label = f"scratch server {describe(login).split(' at ', 1)[1]}"
    target = profile.database
    if target is not None and (target.socket, target.host, target.port) == (cfg.socket, cfg.host, cfg.port):
        label += f" (the target's own server: only {cfg.prefix}* databases are created there)"
    scratch = Scratch(login, cfg.prefix, label)
    check_confinement(scratch, timeout_s, say)
    yield scratch
