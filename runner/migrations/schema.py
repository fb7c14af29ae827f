"""A database's schema as information_schema and SHOW CREATE TABLE tell it, read-only, and the
differences between two such schemas in a person's words.

Read the same way from production (through the verification's read-only session) and from the
scratch copy the migrations built, so that what differs is drift, not a difference in how it
was read. What a read-only user cannot see (view, routine and trigger bodies without SHOW VIEW,
routine privileges or TRIGGER) is recorded as hidden, never taken as absent.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

_FOREIGN_KEY = re.compile(
    r"CONSTRAINT `((?:[^`]|``)+)` FOREIGN KEY \(([^)]*)\) REFERENCES `((?:[^`]|``)+)` \(([^)]*)\)"
    r"(?: ON DELETE (RESTRICT|CASCADE|SET NULL|NO ACTION|SET DEFAULT))?"
    r"(?: ON UPDATE (RESTRICT|CASCADE|SET NULL|NO ACTION|SET DEFAULT))?"
)
_CHECK = re.compile(r"CONSTRAINT `((?:[^`]|``)+)` CHECK \((.*)\),?$", re.MULTILINE)
_AUTO_INCREMENT = re.compile(r" AUTO_INCREMENT=\d+")


@dataclass(frozen=True)
class Difference:
    object: str  # "table `entity`", "index `idx_symbol` on `gene`", ...
    kind: str  # missing (in production) | extra (in production only) | changed
    message: str


@dataclass
class Table:
    engine: str
    collation: str
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)  # in ordinal order
    indexes: dict[str, dict[str, Any]] = field(default_factory=dict)
    foreign_keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)


@dataclass
class Schema:
    tables: dict[str, Table] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    routines: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    privileges: set[str] = field(default_factory=set)


def read_schema(cur: Any, ignore: set[str], definers: bool = False) -> Schema:
    """The schema of the session's current database, less the objects named in `ignore`."""
    schema = Schema()
    cur.execute("SELECT DATABASE()")
    (database,) = cur.fetchone()
    cur.execute(
        "SELECT table_name, table_type, engine, table_collation FROM information_schema.tables"
        " WHERE table_schema = DATABASE() ORDER BY table_name"
    )
    for name, kind, engine, collation in cur.fetchall():
        if name not in ignore and kind == "BASE TABLE":
            schema.tables[name] = Table(engine or "", collation or "")
    for row in _rows(cur, "columns", "ORDER BY table_name, ordinal_position"):
        table = schema.tables.get(row["table_name"])
        if table is not None:
            table.columns[row["column_name"]] = {
                "type": row["column_type"],
                "null": row["is_nullable"],
                # MySQL says None where MariaDB says 'NULL' for a nullable column without default
                "default": "NULL" if row["column_default"] is None else row["column_default"],
                "extra": _extra(row["extra"]),
                "generated": row.get("generation_expression") or "",
                "collation": row.get("collation_name") or "",
            }
    for row in _rows(cur, "statistics", "ORDER BY table_name, index_name, seq_in_index"):
        table = schema.tables.get(row["table_name"])
        if table is None:
            continue
        index = table.indexes.setdefault(
            row["index_name"],
            {
                "columns": [],
                "unique": str(row["non_unique"]) == "0",
                "type": row["index_type"],
                "hidden": str(row.get("ignored") or "").upper() == "YES"
                or str(row.get("is_visible") or "").upper() == "NO",
            },
        )
        part = f"({row['sub_part']})" if row.get("sub_part") else ""
        index["columns"].append(f"{row['column_name']}{part}")
    for name, table in schema.tables.items():
        cur.execute(f"SHOW CREATE TABLE `{name.replace('`', '``')}`")
        create = cur.fetchone()[1]
        for fk, cols, ref, ref_cols, on_delete, on_update in _FOREIGN_KEY.findall(create):
            table.foreign_keys[fk] = {
                "columns": cols,
                "references": f"{ref}({ref_cols})",
                "on_delete": on_delete or "RESTRICT",
                "on_update": on_update or "RESTRICT",
            }
        table.checks = {name: clause for name, clause in _CHECK.findall(create)}
    prefix = f"`{database}`."
    for row in _rows(cur, "views", "ORDER BY table_name", schema_column="table_schema"):
        if row["table_name"] not in ignore:
            schema.views[row["table_name"]] = {
                "definition": (row["view_definition"] or "").replace(prefix, ""),
                "check_option": row["check_option"],
                "security": row["security_type"],
                "algorithm": row.get("algorithm") or "",
                **({"definer": row["definer"]} if definers else {}),
            }
    parameters: dict[str, list[str]] = {}
    for row in _rows(
        cur, "parameters", "ORDER BY specific_name, ordinal_position", schema_column="specific_schema"
    ):
        if row["ordinal_position"]:
            parameters.setdefault(row["specific_name"], []).append(
                f"{row['parameter_mode'] or ''} {row['parameter_name']} {row['dtd_identifier']}".strip()
            )
    for row in _rows(cur, "routines", "ORDER BY routine_name", schema_column="routine_schema"):
        name = row["routine_name"]
        if name not in ignore:
            schema.routines[f"{row['routine_type'].lower()} `{name}`"] = {
                "parameters": ", ".join(parameters.get(name, [])),
                "returns": row["dtd_identifier"] or "",
                "body": row["routine_definition"],
                "deterministic": row["is_deterministic"],
                "data_access": row["sql_data_access"],
                "security": row["security_type"],
                **({"definer": row["definer"]} if definers else {}),
            }
    for row in _rows(cur, "triggers", "ORDER BY trigger_name", schema_column="trigger_schema"):
        if row["trigger_name"] not in ignore:
            schema.triggers[row["trigger_name"]] = {
                "table": row["event_object_table"],
                "timing": f"{row['action_timing']} {row['event_manipulation']}",
                "body": row["action_statement"],
                "sql_mode": row["sql_mode"],
                **({"definer": row["definer"]} if definers else {}),
            }
    for row in _rows(cur, "events", "ORDER BY event_name", schema_column="event_schema"):
        if row["event_name"] not in ignore:
            schema.events[row["event_name"]] = {
                "body": row["event_definition"],
                "schedule": f"{row['event_type']} {row['interval_value'] or ''} {row['interval_field'] or ''}".strip(),
                "status": row["status"],
            }
    schema.privileges = _privileges(cur)
    return schema


def _rows(cur: Any, view: str, order: str, schema_column: str = "table_schema") -> list[dict[str, Any]]:
    """Rows of an information_schema view as dicts with lower-case keys (MySQL answers in upper case)."""
    cur.execute(f"SELECT * FROM information_schema.{view} WHERE {schema_column} = DATABASE() {order}")
    names = [d[0].lower() for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _extra(extra: str | None) -> str:
    """`auto_increment`, `on update current_timestamp()`; MySQL's DEFAULT_GENERATED is noise."""
    return " ".join(w for w in (extra or "").lower().replace("default_generated", "").split())


def _privileges(cur: Any) -> set[str]:
    """What the session user may see, as information_schema shows it to that user: privileges
    as `PRIVILEGE@global`, `PRIVILEGE@schema`, and `SELECT@mysql.proc` (MariaDB's routine bodies)."""
    found: set[str] = set()
    for scope, sql in (
        ("global", "SELECT privilege_type FROM information_schema.user_privileges"),
        (
            "schema",
            "SELECT privilege_type FROM information_schema.schema_privileges WHERE table_schema = DATABASE()",
        ),
        (
            "mysql.proc",
            "SELECT privilege_type FROM information_schema.table_privileges"
            " WHERE table_schema = 'mysql' AND table_name = 'proc'",
        ),
    ):
        cur.execute(sql)
        found.update(f"{row[0].upper()}@{scope}" for row in cur.fetchall())
    return found


# -- comparing ---------------------------------------------------------------------


def hidden_kinds(expected: Schema, actual: Schema) -> dict[str, str]:
    """Object kinds production's session cannot see, with why: never reported as equal."""
    hidden = {}
    seen = actual.privileges
    if any(not v["definition"] for v in actual.views.values()) and any(
        v["definition"] for v in expected.views.values()
    ):
        hidden["views"] = "view definitions need the SHOW VIEW privilege"
    routines_visible = seen & {"SELECT@global", "SHOW_ROUTINE@global", "SELECT@mysql.proc"}
    if expected.routines and (
        any(r["body"] is None for r in actual.routines.values()) or not routines_visible
    ):
        hidden["routines"] = (
            "routine bodies need SELECT on mysql.proc (MariaDB), SHOW_ROUTINE (MySQL) or being their definer"
        )
    if expected.triggers and not seen & {"TRIGGER@global", "TRIGGER@schema"}:
        hidden["triggers"] = "triggers are shown only to users with the TRIGGER privilege"
    if expected.events and not seen & {"EVENT@global", "EVENT@schema"}:
        hidden["events"] = "events are shown only to users with the EVENT privilege"
    return hidden


def compare(expected: Schema, actual: Schema, hidden: dict[str, str]) -> list[Difference]:
    """Differences, missing and extra objects first, then changed ones."""
    found: list[Difference] = []
    found += _presence("table", expected.tables, actual.tables)
    for name in sorted(expected.tables.keys() & actual.tables.keys()):
        found += _table(name, expected.tables[name], actual.tables[name])
    kinds = (
        ("view", "views", expected.views, actual.views),
        ("routine", "routines", expected.routines, actual.routines),
        ("trigger", "triggers", expected.triggers, actual.triggers),
        ("event", "events", expected.events, actual.events),
    )
    for label, kind, ours, theirs in kinds:
        if kind in hidden:
            continue
        found += _presence(label, ours, theirs)
        for name in sorted(ours.keys() & theirs.keys()):
            found += _definition(label, name, ours[name], theirs[name])
    order = {"missing": 0, "extra": 0, "changed": 1}
    return sorted(found, key=lambda d: order[d.kind])


def _presence(label: str, expected: dict[str, Any], actual: dict[str, Any]) -> list[Difference]:
    out = []
    for name in sorted(expected.keys() - actual.keys()):
        shown = name if label == "routine" else f"{label} `{name}`"
        out.append(
            Difference(shown, "missing", f"{shown} is missing in production (the migrations create it)")
        )
    for name in sorted(actual.keys() - expected.keys()):
        shown = name if label == "routine" else f"{label} `{name}`"
        out.append(Difference(shown, "extra", f"{shown} exists in production only (created by hand?)"))
    return out


def _table(name: str, expected: Table, actual: Table) -> list[Difference]:
    out = []
    where = f"table `{name}`"
    for attribute in ("engine", "collation"):
        ours, theirs = getattr(expected, attribute), getattr(actual, attribute)
        if ours != theirs:
            out.append(
                Difference(
                    where,
                    "changed",
                    f"{where}: {attribute} is {theirs} in production, {ours} by the migrations",
                )
            )
    for column in expected.columns.keys() - actual.columns.keys():
        out.append(
            Difference(
                f"{where}, column `{column}`",
                "missing",
                f"{where}: column `{column}` is missing in production",
            )
        )
    for column in actual.columns.keys() - expected.columns.keys():
        out.append(
            Difference(
                f"{where}, column `{column}`",
                "extra",
                f"{where}: column `{column}` exists in production only",
            )
        )
    for column in [c for c in expected.columns if c in actual.columns]:
        for key, ours in expected.columns[column].items():
            theirs = actual.columns[column][key]
            if ours != theirs:
                out.append(
                    Difference(
                        f"{where}, column `{column}`",
                        "changed",
                        f"{where}: column `{column}` {_column_words(key, theirs, production=True)} in production, "
                        f"{_column_words(key, ours)} by the migrations",
                    )
                )
    common = [c for c in expected.columns if c in actual.columns]
    if common != [c for c in actual.columns if c in expected.columns]:
        out.append(Difference(where, "changed", f"{where}: the columns are in another order in production"))
    for label, ours_all, theirs_all in (
        ("index", expected.indexes, actual.indexes),
        ("foreign key", expected.foreign_keys, actual.foreign_keys),
        ("check constraint", expected.checks, actual.checks),
    ):
        for key in sorted(ours_all.keys() - theirs_all.keys()):
            shown = f"{label} `{key}` on `{name}`"
            out.append(Difference(shown, "missing", f"{shown} is missing in production"))
        for key in sorted(theirs_all.keys() - ours_all.keys()):
            shown = f"{label} `{key}` on `{name}`"
            out.append(Difference(shown, "extra", f"{shown} exists in production only (added by hand?)"))
        for key in sorted(ours_all.keys() & theirs_all.keys()):
            if ours_all[key] != theirs_all[key]:
                shown = f"{label} `{key}` on `{name}`"
                out.append(
                    Difference(
                        shown,
                        "changed",
                        f"{shown} is {_words(theirs_all[key])} in production, {_words(ours_all[key])} by the migrations",
                    )
                )
    return out


def _column_words(key: str, value: Any, production: bool = False) -> str:
    if key == "type":
        return f"is {value}" if production else str(value)
    if key == "null":
        return "allows NULL" if value == "YES" else "is NOT NULL"
    if key == "default":
        return f"defaults to {value}" if value is not None else "has no default"
    return f"has {key} {value or '(none)'}"


def _words(value: Any) -> str:
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if isinstance(item, list):
                parts.append(f"({', '.join(item)})")
            elif isinstance(item, bool):
                if item:
                    parts.append(key)
            else:
                parts.append(f"{key.replace('_', ' ')} {item}")
        return " ".join(parts)
    return str(value)


def _definition(label: str, name: str, expected: dict[str, Any], actual: dict[str, Any]) -> list[Difference]:
    if expected == actual:
        return []
    shown = name if label == "routine" else f"{label} `{name}`"
    changed = [key for key in expected if expected[key] != actual.get(key)]
    text = f"{shown} differs in {', '.join(changed)}"
    bodies = [key for key in ("definition", "body") if key in changed]
    if bodies:
        key = bodies[0]
        text += ": " + _short_diff(str(expected[key] or ""), str(actual[key] or ""))
    if "sql_mode" in changed:
        text += (
            f"{'; sql_mode' if bodies else ':'} {actual.get('sql_mode') or '(empty)'} in production, "
            f"{expected['sql_mode'] or '(empty)'} by the migrations on the scratch server (a trigger runs "
            "under the sql_mode it was created under: production's server ran the migrations, or someone "
            "recreated it, under another one)"
        )
    return [Difference(shown, "changed", text)]


def _short_diff(expected: str, actual: str, limit: int = 8) -> str:
    """A unified diff of two definitions, one clause per line, production as the new side."""

    def lines(text: str) -> list[str]:
        return re.sub(
            r"\s+(from|where|join|group by|order by|having|union|and|or)\s+", r"\n\1 ", text, flags=re.I
        ).splitlines()

    diff = [
        line
        for line in difflib.unified_diff(
            lines(expected), lines(actual), "migrations", "production", n=0, lineterm=""
        )
        if not line.startswith("@@")
    ]
    shown = diff[:limit] + (["..."] if len(diff) > limit else [])
    return " | ".join(shown)
