"""Drift: is the live schema what the applied migrations build?

The expected schema is built on the scratch server: the migrations the ledger records as
applied, as the files are on disk, run by the same engine with the same placeholders into a
database with the target's default character set and collation. Both schemas are then read
the same way (information_schema and SHOW CREATE TABLE) and compared; production is only
read. When the scratch server is of another flavor or major version than production, their
answers differ in ways that are not drift: refused unless the caller allows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.db import Scratch
from runner.errors import DeploycheckError, FlavorMismatch
from runner.migrations.engine import Migrator
from runner.migrations.guard import ConfinedMigrator, Guard
from runner.migrations.schema import Difference, compare, hidden_kinds, read_schema
from runner.migrations.status import State
from runner.profile.model import Profile


@dataclass
class DriftReport:
    differences: list[Difference] = field(default_factory=list)
    hidden: dict[str, str] = field(default_factory=dict)  # object kinds not compared, and why
    not_compared: str = ""  # why nothing was compared: the ledger is not clean
    scratch: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences and not self.not_compared

    def to_dict(self) -> dict[str, Any]:
        return {
            "differences": [
                {"object": d.object, "kind": d.kind, "message": d.message} for d in self.differences
            ],
            "not_compared": self.not_compared or None,
            "hidden": self.hidden,
            "scratch": self.scratch,
            "notes": self.notes,
        }


def flavor(conn: Any) -> tuple[str, str]:
    """("mariadb", "10.11") of the server on `conn`."""
    info = conn.get_server_info()
    name = "mariadb" if "mariadb" in info.lower() else "mysql"
    return name, ".".join(info.split("-")[0].split(".")[:2])


def drift(
    profile: Profile, target: Any, scratch: Scratch, *, allow_flavor_mismatch: bool = False
) -> DriftReport:
    """Compare the schema on `target` (a read-only session) with what its applied migrations build."""
    assert profile.migrations is not None
    report = DriftReport(scratch=scratch.label)
    migrator = Migrator(profile)
    status = migrator.status(conn=target)
    blocking = status.with_state(State.FAILED, State.RUNNING, State.CHECKSUM_MISMATCH, State.MISSING_FILE)
    if blocking:
        report.not_compared = (
            "the ledger is not clean ("
            + ", ".join(f"{row.filename} {row.state}" for row in blocking)
            + "): the schema the migrations build is not known; see `deploycheck status`"
        )
        return report
    applied = status.with_state(State.APPLIED)
    if not applied:
        report.notes.append("no migration is applied: the expected schema is empty")
    timeout_s = profile.timeouts.default_s
    database = scratch.create("drift", timeout_s, like=target)
    try:
        scratch_profile = profile.model_copy(
            update={
                "database": scratch.login.model_copy(update={"name": database}),
                "migrations": profile.migrations.model_copy(
                    update={"ledger": "deploycheck", "table": None, "out_of_order": True}
                ),
                "backups": None,
            }
        )
        with scratch.connect(database, timeout_s) as built:
            ours, theirs = flavor(built), flavor(target)
            if ours != theirs:
                message = (
                    f"the scratch server is {ours[0]} {ours[1]} and production {theirs[0]} {theirs[1]}: "
                    "their information_schema and SHOW CREATE answers differ in ways that are not drift"
                )
                if not allow_flavor_mismatch:
                    raise FlavorMismatch(
                        f"{message}; give `scratch:` a server like production (or pass --allow-flavor-mismatch)"
                    )
                report.notes.append(message)
        if applied:
            guard = Guard(database, profile.database.name if profile.database else None)
            try:
                ConfinedMigrator(scratch_profile, guard).migrate(to=applied[-1].version)
            except DeploycheckError as exc:
                raise DeploycheckError(
                    f"the applied migrations do not build on {scratch.label}: {exc}"
                ) from None
            report.notes += guard.notes
        ignore = {*migrator.ledger.tables(), "deploycheck_schema_history", *profile.drift.ignore}
        with scratch.connect(database, timeout_s) as built, built.cursor() as cur:
            expected = read_schema(cur, ignore, profile.drift.compare_definers)
        with target.cursor() as cur:
            actual = read_schema(cur, ignore, profile.drift.compare_definers)
        report.hidden = hidden_kinds(expected, actual)
        report.differences = compare(expected, actual, report.hidden)
        return report
    finally:
        scratch.drop(database, timeout_s)
