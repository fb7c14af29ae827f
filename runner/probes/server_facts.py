"""What the database server says about itself, read through a read-only session."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version
from pymysql.constants import CLIENT


@dataclass(frozen=True)
class ServerFacts:
    version: str
    flavor: str
    charset: str
    collation: str
    sql_mode: frozenset[str]
    time_zone: str
    system_time_zone: str
    uptime_s: int
    tables: frozenset[str] = field(default_factory=frozenset)
    tls_cipher: str = ""
    tls_offered: bool = False  # the server's handshake offered TLS

    @property
    def numeric_version(self) -> Version:
        match = re.match(r"(\d+)\.(\d+)\.(\d+)", self.version)
        return Version(".".join(match.groups())) if match else Version("0")

    @property
    def flavor_name(self) -> str:
        return "MariaDB" if self.flavor == "mariadb" else "MySQL"


def read_facts(cur: Any, database: str) -> ServerFacts:
    cur.execute(
        "SELECT VERSION(), @@version_comment, @@GLOBAL.sql_mode, @@GLOBAL.time_zone, @@system_time_zone"
    )
    version, comment, sql_mode, time_zone, system_tz = cur.fetchone()
    cur.execute(
        "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata"
        " WHERE schema_name = %s",
        (database,),
    )
    charset, collation = cur.fetchone() or ("", "")
    cur.execute("SHOW GLOBAL STATUS LIKE 'Uptime'")
    uptime = int(cur.fetchone()[1])
    cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    row = cur.fetchone()
    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (database,))
    tables = frozenset(r[0] for r in cur.fetchall())
    flavor = "mariadb" if "mariadb" in f"{version} {comment}".lower() else "mysql"
    return ServerFacts(
        version=version,
        flavor=flavor,
        charset=charset,
        collation=collation,
        sql_mode=frozenset(m for m in sql_mode.split(",") if m),
        time_zone=time_zone,
        system_time_zone=system_tz,
        uptime_s=uptime,
        tables=tables,
        tls_cipher=row[1] if row else "",
        tls_offered=bool(cur.connection.server_capabilities & CLIENT.SSL),
    )


def version_problem(facts: ServerFacts, ranges: dict[str, str]) -> str | None:
    """Why the server version is not supported, or None when it is."""
    wanted = ranges.get(facts.flavor)
    if wanted is None:
        return f"{facts.flavor_name} is not a supported flavor (supported: {', '.join(sorted(ranges))})"
    try:
        spec = SpecifierSet(wanted)
    except InvalidSpecifier:
        return f"database.versions.{facts.flavor}: {wanted!r} is not a version range such as '>=8.0,<8.5'"
    if facts.numeric_version not in spec:
        return f"{facts.flavor_name} {facts.numeric_version} is outside the supported range {wanted}"
    return None


def zone_matches(facts: ServerFacts, expected: str) -> bool:
    """`UTC` and `+00:00` are the same zone; SYSTEM means the server's system zone."""
    aliases = {"utc": "+00:00", "z": "+00:00", "+0:00": "+00:00"}

    def norm(zone: str) -> str:
        zone = zone.strip().lower()
        if zone == "system":
            zone = facts.system_time_zone.strip().lower()
        return aliases.get(zone, zone)

    return norm(facts.time_zone) == norm(expected)
