"""The one place that decides, per migration, applied / pending / failed / checksum-mismatch /
missing-file. `deploycheck status`, `migrate`, `repair` and the schema check all read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from runner.migrations.files import Migration, MigrationSet, version_key
from runner.migrations.ledger import Ledger, LedgerEntry


class State(StrEnum):
    APPLIED = "applied"
    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    CHECKSUM_MISMATCH = "checksum-mismatch"
    MISSING_FILE = "missing-file"


BLOCKING = (State.RUNNING, State.FAILED, State.CHECKSUM_MISMATCH, State.MISSING_FILE)


@dataclass(frozen=True)
class Row:
    """One migration as the file and the ledger see it together."""

    state: State
    version: str | None
    filename: str
    description: str
    detail: str = ""
    migration: Migration | None = None
    entry: LedgerEntry | None = None
    out_of_order: bool = False

    @property
    def applied_at(self) -> datetime | None:
        return self.entry.applied_at if self.entry else None

    def to_dict(self) -> dict[str, Any]:
        at = self.applied_at
        return {
            "version": self.version,
            "filename": self.filename,
            "description": self.description,
            "state": str(self.state),
            "applied_at": at.isoformat() + "Z" if at else None,
            "checksum": self.migration.checksum if self.migration else None,
            "recorded_checksum": self.entry.checksum if self.entry else None,
            "out_of_order": self.out_of_order,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class MigrationStatus:
    rows: tuple[Row, ...]
    ledger_exists: bool

    def with_state(self, *states: State) -> list[Row]:
        return [row for row in self.rows if row.state in states]

    @property
    def pending(self) -> list[Migration]:
        return [row.migration for row in self.with_state(State.PENDING) if row.migration]

    @property
    def on_disk(self) -> list[Row]:
        """The migrations found in the folder (applied or not)."""
        return [row for row in self.rows if row.migration is not None]

    @property
    def recorded(self) -> list[Row]:
        """The migrations the ledger records (applied, failed, unfinished, or without a file)."""
        return [row for row in self.rows if row.entry is not None]

    @property
    def checksummed(self) -> list[Row]:
        """Applied migrations whose file was compared with a checksum the ledger recorded (an
        adopted ledger holds none for what ran before deploycheck)."""
        return [
            row
            for row in self.with_state(State.APPLIED, State.CHECKSUM_MISMATCH)
            if row.entry is not None and row.entry.checksum
        ]

    @property
    def blockers(self) -> list[Row]:
        return self.with_state(*BLOCKING)

    @property
    def is_clean(self) -> bool:
        return all(row.state == State.APPLIED for row in self.rows)

    def counts(self) -> dict[str, int]:
        return {str(state): len(self.with_state(state)) for state in State}


def compute_status(
    migrations: MigrationSet, entries: list[LedgerEntry], ledger: Ledger, *, lock_held: bool = False
) -> MigrationStatus:
    """Join files and ledger rows; `lock_held` says another session is migrating right now."""
    by_key = {entry.key: entry for entry in entries}
    rows: list[Row] = []
    for migration in migrations.migrations:
        entry = by_key.pop(ledger.key_of(migration), None)
        rows.append(_row(migration, entry, lock_held))
    applied_keys = [row.migration.key for row in rows if row.entry and row.migration]
    newest = max(applied_keys, default=None)
    rows = [_flag_out_of_order(row, newest) if row.state == State.PENDING and newest else row for row in rows]
    for entry in sorted(by_key.values(), key=_entry_order):
        rows.append(
            Row(
                State.MISSING_FILE,
                entry.version,
                entry.filename,
                entry.description,
                f"recorded in the ledger but {entry.filename} is not in {migrations.directory}",
                entry=entry,
            )
        )
    return MigrationStatus(tuple(rows), ledger_exists=True)


def _row(migration: Migration, entry: LedgerEntry | None, lock_held: bool) -> Row:
    base = dict(
        version=migration.version,
        filename=migration.filename,
        description=migration.description,
        migration=migration,
        entry=entry,
    )
    if entry is None:
        return Row(State.PENDING, **base)
    if entry.is_unfinished and lock_held:
        return Row(State.RUNNING, detail="being applied by another deploycheck migrate", **base)
    if not entry.success:
        where = (
            f"at statement {entry.failed_statement} (line {entry.failed_line}): "
            if entry.failed_statement
            else ""
        )
        return Row(State.FAILED, detail=f"{where}{entry.error}", **base)
    if entry.checksum and entry.checksum != migration.checksum:
        return Row(
            State.CHECKSUM_MISMATCH,
            detail=f"file changed after it was applied (recorded {entry.checksum[:12]}, "
            f"file now {migration.checksum[:12]})",
            **base,
        )
    return Row(State.APPLIED, **base)


def _flag_out_of_order(row: Row, newest: tuple[int, ...]) -> Row:
    if row.migration is None or row.migration.key >= newest:
        return row
    shown = ".".join(str(p) for p in newest)
    return Row(
        row.state,
        row.version,
        row.filename,
        row.description,
        f"older than the newest applied version {shown} (out of order)",
        row.migration,
        row.entry,
        out_of_order=True,
    )


def _entry_order(entry: LedgerEntry) -> tuple[int, tuple[int, ...], str]:
    try:
        return (0, version_key(entry.version or ""), entry.filename)
    except ValueError:
        return (1, (), entry.filename)


def empty_status(migrations: MigrationSet) -> MigrationStatus:
    """Status of a database that has no ledger yet: everything pending."""
    rows = tuple(
        Row(State.PENDING, m.version, m.filename, m.description, migration=m) for m in migrations.migrations
    )
    return MigrationStatus(rows, ledger_exists=False)
