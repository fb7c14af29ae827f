"""How applied migrations are recorded: the deploycheck history table, or an existing
`schema_version(filename PRIMARY KEY, applied_at, success)` table plus a side table.

A row is written *before* a migration runs (success = 0, "did not finish") and
turned into success in the same transaction as the migration's last statement,
so a crash can leave a migration looking unfinished but never looking applied.

Writes are returned as SQL text rather than executed, so that the engine can send
them in the same round trip as BEGIN or COMMIT (see `execute_batch`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runner.migrations.files import Migration, parse_name

DEFAULT_TABLES = {"deploycheck": "deploycheck_schema_history", "schema_version": "schema_version"}
UNFINISHED = "did not finish: the process died or lost its connection while applying it"


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded migration; `key` is what the ledger identifies it by."""

    key: str
    version: str | None
    filename: str
    description: str
    checksum: str | None
    applied_at: datetime | None
    applied_by: str | None
    execution_ms: int | None
    success: bool
    failed_statement: int | None = None
    failed_line: int | None = None
    error: str | None = None

    @property
    def is_unfinished(self) -> bool:
        return not self.success and self.error == UNFINISHED


def make_ledger(kind: str, table: str | None, naming: str) -> Ledger:
    table = table or DEFAULT_TABLES[kind]
    return HistoryLedger(table) if kind == "deploycheck" else SchemaVersionLedger(table, naming)


def table_exists(cur: Any, table: str) -> bool:
    cur.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
        (table,),
    )
    return bool(cur.fetchone()[0])


class Ledger(ABC):
    """Where applied migrations are recorded; the two kinds differ in where the columns live.
    Writes are returned as SQL text, to be sent in one round trip with other statements."""

    kind = ""

    def __init__(self, table: str) -> None:
        self.table = table

    @abstractmethod
    def key_of(self, migration: Migration) -> str:
        """What the ledger identifies `migration` by (its version, or its file name)."""

    def tables(self) -> tuple[str, ...]:
        return (self.table,)

    def exists(self, cur: Any) -> bool:
        return table_exists(cur, self.table)

    @abstractmethod
    def ensure(self, cur: Any) -> None:
        """Create the ledger's tables if they do not exist."""

    @abstractmethod
    def entries(self, cur: Any) -> list[LedgerEntry]:
        """Every recorded migration."""

    @abstractmethod
    def insert_sql(
        self, cur: Any, migration: Migration, applied_by: str, success: bool, error: str | None
    ) -> list[str]:
        """A new row for `migration`."""

    @abstractmethod
    def finish_sql(self, cur: Any, key: str, execution_ms: int) -> list[str]:
        """Mark the row `key` applied."""

    @abstractmethod
    def fail_sql(
        self, cur: Any, key: str, statement: int | None, line: int | None, error: str, execution_ms: int
    ) -> list[str]:
        """Mark the row `key` failed, with where and why."""

    @abstractmethod
    def forget_sql(self, cur: Any, key: str) -> list[str]:
        """Delete the row `key`."""

    @abstractmethod
    def set_checksum_sql(self, cur: Any, key: str, checksum: str) -> list[str]:
        """Record `checksum` as the one of the row `key`."""

    def start_sql(self, cur: Any, migration: Migration, applied_by: str) -> list[str]:
        """The row saying `migration` is being applied and has not finished."""
        return self.insert_sql(cur, migration, applied_by, False, UNFINISHED)

    def baseline_sql(self, cur: Any, migration: Migration, applied_by: str) -> list[str]:
        return self.insert_sql(cur, migration, applied_by, True, None)


def execute_batch(cur: Any, statements: list[str]) -> None:
    """Send `statements` in one round trip (the connection allows multi-statements, as the
    mysql client's does) and read every result."""
    cur.execute(";\n".join(statements))
    while cur.nextset():
        pass


class HistoryLedger(Ledger):
    kind = "deploycheck"

    def key_of(self, migration: Migration) -> str:
        return migration.version

    def ensure(self, cur: Any) -> None:
        cur.execute(
            f"""CREATE TABLE IF NOT EXISTS `{self.table}` (
                version VARCHAR(64) NOT NULL PRIMARY KEY,
                description VARCHAR(255) NOT NULL,
                filename VARCHAR(255) NOT NULL,
                checksum CHAR(64) NULL,
                applied_at DATETIME(6) NOT NULL COMMENT 'UTC',
                applied_by VARCHAR(255) NOT NULL,
                execution_ms BIGINT NOT NULL DEFAULT 0,
                success TINYINT(1) NOT NULL,
                failed_statement INT NULL,
                failed_line INT NULL,
                error TEXT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""
        )

    def entries(self, cur: Any) -> list[LedgerEntry]:
        cur.execute(
            f"SELECT version, version, filename, description, checksum, applied_at, applied_by,"
            f" execution_ms, success, failed_statement, failed_line, error FROM `{self.table}`"
        )
        return [LedgerEntry(*row[:8], bool(row[8]), *row[9:]) for row in cur.fetchall()]

    def insert_sql(
        self, cur: Any, migration: Migration, applied_by: str, success: bool, error: str | None
    ) -> list[str]:
        return [
            cur.mogrify(
                f"INSERT INTO `{self.table}` (version, description, filename, checksum, applied_at,"
                " applied_by, success, error) VALUES (%s, %s, %s, %s, UTC_TIMESTAMP(6), %s, %s, %s)",
                (
                    migration.version,
                    migration.description[:255],
                    migration.filename,
                    migration.checksum,
                    applied_by,
                    int(success),
                    error,
                ),
            )
        ]

    def finish_sql(self, cur: Any, key: str, execution_ms: int) -> list[str]:
        return [
            cur.mogrify(
                f"UPDATE `{self.table}` SET success = 1, error = NULL, execution_ms = %s,"
                " applied_at = UTC_TIMESTAMP(6) WHERE version = %s",
                (execution_ms, key),
            )
        ]

    def fail_sql(
        self, cur: Any, key: str, statement: int | None, line: int | None, error: str, execution_ms: int
    ) -> list[str]:
        return [
            cur.mogrify(
                f"UPDATE `{self.table}` SET success = 0, failed_statement = %s, failed_line = %s,"
                " error = %s, execution_ms = %s WHERE version = %s",
                (statement, line, error, execution_ms, key),
            )
        ]

    def forget_sql(self, cur: Any, key: str) -> list[str]:
        return [cur.mogrify(f"DELETE FROM `{self.table}` WHERE version = %s", (key,))]

    def set_checksum_sql(self, cur: Any, key: str, checksum: str) -> list[str]:
        return [cur.mogrify(f"UPDATE `{self.table}` SET checksum = %s WHERE version = %s", (checksum, key))]


class SchemaVersionLedger(Ledger):
    """The filename-keyed table existing deployments keep; checksums live in a side table."""

    kind = "schema_version"

    def __init__(self, table: str, naming: str) -> None:
        super().__init__(table)
        self.side = f"{table}_deploycheck"
        self.naming = naming

    def key_of(self, migration: Migration) -> str:
        return migration.filename

    def tables(self) -> tuple[str, ...]:
        return (self.table, self.side)

    def ensure(self, cur: Any) -> None:
        cur.execute(
            f"""CREATE TABLE IF NOT EXISTS `{self.table}` (
                filename VARCHAR(255) PRIMARY KEY,
                applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
                success BOOLEAN DEFAULT TRUE
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""
        )
        cur.execute(
            f"""CREATE TABLE IF NOT EXISTS `{self.side}` (
                filename VARCHAR(255) NOT NULL PRIMARY KEY,
                checksum CHAR(64) NULL,
                applied_by VARCHAR(255) NULL,
                execution_ms BIGINT NULL,
                failed_statement INT NULL,
                failed_line INT NULL,
                error TEXT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""
        )

    def entries(self, cur: Any) -> list[LedgerEntry]:
        if table_exists(cur, self.side):
            cur.execute(
                f"SELECT v.filename, v.applied_at, v.success, d.checksum, d.applied_by, d.execution_ms,"
                f" d.failed_statement, d.failed_line, d.error"
                f" FROM `{self.table}` v LEFT JOIN `{self.side}` d ON d.filename = v.filename"
            )
        else:  # an adopted deployment before deploycheck's first write: no side table yet
            cur.execute(
                f"SELECT filename, applied_at, success, NULL, NULL, NULL, NULL, NULL, NULL FROM `{self.table}`"
            )
        out = []
        for filename, applied_at, success, checksum, by, ms, stmt, line, error in cur.fetchall():
            version, description = parse_name(filename, self.naming) or (None, filename)
            out.append(
                LedgerEntry(
                    filename,
                    version,
                    filename,
                    description,
                    checksum,
                    applied_at,
                    by,
                    ms,
                    bool(success),
                    stmt,
                    line,
                    error,
                )
            )
        return out

    def insert_sql(
        self, cur: Any, migration: Migration, applied_by: str, success: bool, error: str | None
    ) -> list[str]:
        return [
            cur.mogrify(
                f"INSERT INTO `{self.table}` (filename, applied_at, success) VALUES (%s, UTC_TIMESTAMP(), %s)",
                (migration.filename, int(success)),
            ),
            cur.mogrify(
                f"REPLACE INTO `{self.side}` (filename, checksum, applied_by, error) VALUES (%s, %s, %s, %s)",
                (migration.filename, migration.checksum, applied_by, error),
            ),
        ]

    def finish_sql(self, cur: Any, key: str, execution_ms: int) -> list[str]:
        return [
            cur.mogrify(
                f"UPDATE `{self.table}` SET success = 1, applied_at = UTC_TIMESTAMP() WHERE filename = %s",
                (key,),
            ),
            cur.mogrify(
                f"UPDATE `{self.side}` SET error = NULL, execution_ms = %s WHERE filename = %s",
                (execution_ms, key),
            ),
        ]

    def fail_sql(
        self, cur: Any, key: str, statement: int | None, line: int | None, error: str, execution_ms: int
    ) -> list[str]:
        return [
            cur.mogrify(f"UPDATE `{self.table}` SET success = 0 WHERE filename = %s", (key,)),
            cur.mogrify(
                f"UPDATE `{self.side}` SET failed_statement = %s, failed_line = %s, error = %s,"
                " execution_ms = %s WHERE filename = %s",
                (statement, line, error, execution_ms, key),
            ),
        ]

    def forget_sql(self, cur: Any, key: str) -> list[str]:
        return [
            cur.mogrify(f"DELETE FROM `{self.table}` WHERE filename = %s", (key,)),
            cur.mogrify(f"DELETE FROM `{self.side}` WHERE filename = %s", (key,)),
        ]

    def set_checksum_sql(self, cur: Any, key: str, checksum: str) -> list[str]:
        return [
            cur.mogrify(
                f"INSERT INTO `{self.side}` (filename, checksum) VALUES (%s, %s)"
                " ON DUPLICATE KEY UPDATE checksum = VALUES(checksum)",
                (key, checksum),
            )
        ]
