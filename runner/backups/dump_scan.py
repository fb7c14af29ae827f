"""What a mysqldump / mariadb-dump file would do if restored: tables, exact row counts, views,
routines, triggers, events, and whether the dump is complete.

Written by hand because no library reads dumps: sqlparse would take minutes on 250 MB.
Every line is classified by its first bytes; INSERT lines, nearly all of a dump, are
counted with C-level operations only: RE2 (a linear-time DFA, with the GIL released while it
runs) finds how far the lines that are exactly one row each go (migrations/row_lines.py, which
the restore's splitter shares), and those are counted as lines; anything else (several rows on
a line, or a row the splitter would not take whole) is taken apart by `_separators`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from runner.migrations.row_lines import row_lines_end

SANDBOX_LINE = b"/*M!999999\\- enable the sandbox mode */"
_NAME = rb"(?:`((?:[^`]|``)+)`|([A-Za-z0-9_$]+))"  # quoted as mysqldump does, or bare
_INSERT = re.compile(rb"^(?:INSERT|REPLACE)(?: IGNORE)? INTO " + _NAME)
_CREATE_TABLE = re.compile(rb"^CREATE TABLE (?:IF NOT EXISTS )?" + _NAME)
_DROP_TABLE = re.compile(rb"^DROP TABLE IF EXISTS " + _NAME)
_TEMP_VIEW = re.compile(rb"^-- Temporary (?:view structure|table structure) for view `((?:[^`]|``)+)`")
_FINAL_VIEW = re.compile(rb"^-- Final view structure for view `((?:[^`]|``)+)`")
_VIEW_BODY = re.compile(rb"^/\*!50001 VIEW `((?:[^`]|``)+)`")
_ROUTINE = re.compile(
    rb"(?i)^(?:/\*!\d+ )?CREATE\b.*?\b(PROCEDURE|FUNCTION|TRIGGER|EVENT)\s+`?((?:[^`\s(]|``)+)"
)
_SERVER = re.compile(rb"^-- Server version\s+(\S+)")


@dataclass
class TableFacts:
    created: bool = False
    dropped: bool = False
    rows: int = 0
    insert_bytes: int = 0


@dataclass
class DumpFacts:
    """Everything the scan learned; `problems` holds named reasons the dump is not restorable."""

    header: str = ""  # "MariaDB" or "MySQL" (from "-- MariaDB dump" / "-- MySQL dump")
    sandbox_line: bool = False
    completed: bool = False
    server_version: str = ""
    tables: dict[str, TableFacts] = field(default_factory=dict)
    views: list[str] = field(default_factory=list)
    view_placeholders: list[str] = field(default_factory=list)
    routines: dict[str, list[str]] = field(default_factory=dict)
    doubled_compression: bool = False

    def table(self, match: re.Match[bytes]) -> TableFacts:
        quoted, bare = match.group(1), match.group(2)
        key = quoted.decode("utf-8", "replace").replace("``", "`") if quoted else bare.decode()
        found = self.tables.get(key)
        if found is None:
            found = self.tables[key] = TableFacts()
        return found

    @property
    def real_tables(self) -> dict[str, TableFacts]:
        """Tables without the placeholders mysqldump creates for views before their final definition."""
        return {k: v for k, v in self.tables.items() if k not in self.view_placeholders}

    @property
    def unresolved_views(self) -> list[str]:
        return [v for v in self.view_placeholders if v not in self.views]


def count_rows(line: bytes) -> int:
    """Rows of one extended INSERT line, exactly, at C speed (see `_separators`)."""
    return _separators(line) + 1 if b"),(" in line else 1


def _separators(data: bytes) -> int:
    """How many `),(` (row separators) stand outside string literals in `data`.

    mysqldump escapes every quote and backslash inside a string, and no raw newline can be
    inside one, so the quotes of every line pair up within that line. Neutralising the
    escaped quotes leaves only real string delimiters; splitting on them puts strings at
    odd positions; `),(` counted in the rest is the number of separators. Strings may hold
    `),(`, quotes, backslashes and binary data without changing the count. Works on one
    line or on a block of whole lines alike: a block of 1 MB is a handful of C-level
    passes, not a Python loop over its lines."""
    if b"\\" in data:
        if b"\\\\'" in data:  # an escaped backslash before a quote: pair backslashes off first
            data = data.replace(b"\\\\", b"__")
        data = data.replace(b"\\'", b"__")  # now every backslash before a quote escapes it
    if b"'" not in data:
        return data.count(b"),(")
    return b"'".join(data.split(b"'")[0::2]).count(b"),(")


def scan(stream: Iterable[bytes], facts: DumpFacts | None = None) -> DumpFacts:
    """Read the inflated dump once, piece by piece, and fill `facts`."""
    scanner = Scanner(facts)
    for piece in stream:
        scanner.feed(piece)
        if scanner.stopped:
            break
    return scanner.finish()


class Scanner:
    """The scan as something to feed, so that one read of a dump serves a restore and the
    counts alike.

    Outside INSERT statements the dump is read line by line. mariadb-dump writes each row
    of an INSERT on a line of its own (no raw newline can be inside a string: it is
    escaped), so inside one the rows are lines: as far as RE2 finds lines that are one row
    each, they are counted as lines; from a line that is not (several rows on it, say) to
    the first line ending in `;`, one row per line plus any `),(` outside strings."""

    def __init__(self, facts: DumpFacts | None = None) -> None:
        self.facts = facts or DumpFacts()
        self.stopped = False  # the data is itself gzip: nothing more to learn from it
        self._carry = b""
        self._inserting: TableFacts | None = None
        self._started = False

    def feed(self, piece: bytes) -> None:
        if self.stopped:
            return
        buf = self._carry + piece if self._carry else piece
        if not self._started:
            if len(buf) < 64 and piece:
                self._carry = buf
                return
            self._started = True
            if buf.startswith(b"\x1f\x8b"):
                self.facts.doubled_compression = True
                self.stopped = True
                return
        pos = 0
        inserting = self._inserting
        while True:
            if inserting is not None:
                shaped = row_lines_end(buf, pos)
                if shaped > pos:
                    inserting.rows += buf.count(b"\n", pos, shaped)
                    inserting.insert_bytes += shaped - pos
                    pos = shaped
                    if buf[shaped - 2 : shaped] == b";\n":
                        inserting = None
                    continue
                end = buf.find(b";\n", pos)
                stop = end + 2 if end != -1 else buf.rfind(b"\n", pos) + 1
                if stop <= pos:
                    break
                _count_block(buf[pos:stop], inserting)
                pos = stop
                if end != -1:
                    inserting = None
                continue
            newline = buf.find(b"\n", pos)
            if newline == -1:
                break
            inserting = _line(buf[pos:newline], self.facts)
            pos = newline + 1
        self._inserting = inserting
        self._carry = buf[pos:]

    def finish(self) -> DumpFacts:
        if not self._started:
            self.feed(b"")  # a dump shorter than the first look: read its lines now
        if self._carry and not self.stopped:
            if self._inserting is not None:
                _count_block(self._carry, self._inserting)
            else:
                _line(self._carry, self.facts)
        self._carry = b""
        return self.facts


_SPARSE = 1000  # bytes per `),(` above which taking apart only the lines that hold one is cheaper


def _count_block(block: bytes, table: TableFacts) -> None:
    """Whole lines of an INSERT whose rows follow its VALUES line: one row per line (as
    mariadb-dump writes them), plus any further row that a line holds. Where `),(` is rare
    (a string here and there), only the lines holding it are taken apart; where it is
    everywhere (free text in every row), the whole block at once."""
    table.insert_bytes += len(block)
    table.rows += block.count(b"\n") + (not block.endswith(b"\n"))
    found = block.count(b"),(")
    if found * _SPARSE >= len(block):
        table.rows += _separators(block)
        return
    at = block.find(b"),(") if found else -1
    while at != -1:
        start = block.rfind(b"\n", 0, at) + 1
        end = block.find(b"\n", at)
        end = len(block) if end == -1 else end
        table.rows += _separators(block[start:end])
        at = block.find(b"),(", end)


def _line(line: bytes, facts: DumpFacts) -> TableFacts | None:
    """Classify one line outside INSERT rows; returns the table whose row lines follow, if any."""
    if not facts.header and not facts.sandbox_line and line.startswith(SANDBOX_LINE):
        facts.sandbox_line = True
        return None
    head = line[:1]
    if head == b"I" or head == b"R":
        match = _INSERT.match(line)
        if match:
            table = facts.table(match)
            table.insert_bytes += len(line) + 1
            if line.endswith(b"VALUES"):
                return table
            table.rows += count_rows(line)
    elif head == b"-":
        _comment(line, facts)
    elif head == b"C":
        match = _CREATE_TABLE.match(line)
        if match:
            facts.table(match).created = True
        else:
            _routine(line, facts)
    elif head == b"D":
        match = _DROP_TABLE.match(line)
        if match:
            facts.table(match).dropped = True
    elif head == b"/":
        match = _VIEW_BODY.match(line)
        if match:
            facts.views.append(match.group(1).decode("utf-8", "replace"))
        elif line.startswith((b"/*!50003 CREATE", b"/*!50106 CREATE")):
            _routine(line, facts)
    return None


def _comment(line: bytes, facts: DumpFacts) -> None:
    if not facts.header:
        if line.startswith(b"-- MariaDB dump"):
            facts.header = "MariaDB"
            return
        if line.startswith(b"-- MySQL dump"):
            facts.header = "MySQL"
            return
    if line.startswith(b"-- Dump completed"):
        facts.completed = True
        return
    for pattern, target in ((_TEMP_VIEW, facts.view_placeholders), (_FINAL_VIEW, None)):
        match = pattern.match(line)
        if match and target is not None:
            target.append(match.group(1).decode("utf-8", "replace"))
            return
    match = _SERVER.match(line)
    if match and not facts.server_version:
        facts.server_version = match.group(1).decode("utf-8", "replace")


def _routine(line: bytes, facts: DumpFacts) -> None:
    match = _ROUTINE.match(line)
    if match:
        kind = match.group(1).decode().lower() + "s"
        facts.routines.setdefault(kind, []).append(match.group(2).decode("utf-8", "replace"))


def problems(facts: DumpFacts, required_tables: list[str]) -> list[tuple[str, str]]:
    """(reason, detail) for each way the dump would not restore what the profile needs."""
    found = []
    if facts.doubled_compression:
        return [("doubled compression", "the inflated data is itself gzip: the dump was compressed twice")]
    if not facts.header:
        found.append(("no dump header", "the first lines are not '-- MariaDB dump' or '-- MySQL dump'"))
    if not facts.completed:
        found.append(("no completion footer", "'-- Dump completed' is missing: the dump stopped early"))
    for view in facts.unresolved_views:
        found.append(("unresolved view", f"view `{view}` has its placeholder but not its final definition"))
    for table in required_tables:
        if table not in facts.real_tables and table not in facts.views:
            found.append(("missing table", f"required table `{table}` is not in the dump"))
    return found
