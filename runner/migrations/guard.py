"""The confinement guard: what a dump or a migration may run on the scratch server.

The scratch server's own privileges are the first layer (deploycheck works there as a user
granted on prefixed databases only); this is the second, one gate for the drill, the rehearsal,
drift builds and lint's ALGORITHM probe. Each statement, as the client-exact splitter cut it, is
read token by token the way the server reads it (its quoting; the inside of `/*!NNNNN */` and
`/*M! */` executable comments as SQL whatever the version; routine and trigger bodies of
DELIMITER blocks included). A comment that some servers skip by version (`/*!80023`, `/*M!`) is
judged both ways, run and skipped; comments of several such versions in one statement are
refused. Refused: database-level statements, a schema other than the scratch database (names
after FROM, JOIN, INTO, UPDATE, TABLE, REFERENCES, TO, ..., three-part names, `schema.function(`,
the schema of `SHOW TABLES FROM schema`; information_schema's views of accounts and sessions),
accounts and privileges, global variables, plugins, server administration, replication, files,
and dynamic SQL that no reader can check beforehand.

Dynamic SQL that can be checked is let through: `PREPARE s FROM '...'`, and the idempotent
migration's `SET @v = IF(cond, '...', '...'); PREPARE s FROM @v; EXECUTE s;` where the SET is
the statement just before the PREPARE (nothing can change @v between them) and its value can
only be one of its string literals (a literal, NULL, IF, CASE, a parenthesized or scalar
SELECT of those): each literal is judged as the statement it would be, and must pass unchanged.

The guard does not parse SQL with a general parser: sqlglot cannot read compound statements,
DELIMITER bodies or executable comments, and a parser that gives up must not let a statement
through. Names are judged by where they stand: after a table word, three-part, or called;
a two-part name elsewhere is table.column (a schema cannot stand there).

Rewrites, each said in `notes`: a DEFINER clause is dropped (the object belongs to the scratch
user, as `--skip-definer` restores do), a qualified name using the target's own database name
becomes the scratch database (what the statement means on the target), mysqldump's
`SET @@GLOBAL.GTID_PURGED` and `SQL_LOG_BIN` switches and Percona Server's RocksDB bulk-load
switches are skipped. A rewritten text is read again and must pass as it stands (a dropped clause
may have held a comment's end). Refusals name the file, line and kind of statement, never a literal of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import pairwise

from runner.errors import ConfinementRefused
from runner.migrations.engine import Migrator, Progress
from runner.migrations.files import Migration, MigrationSet
from runner.migrations.sqlsplit import Quoting, Statement
from runner.migrations.sqltokens import Token, read_part, tokens
from runner.profile.model import Profile
from runner.redact import printable

# Schemas a statement may read besides its own: information_schema shows a user only what it may see.
_READABLE = {"information_schema"}
# ... but not its views of accounts and other sessions, refused as their SHOW statements are.
_READABLE_BEYOND = {
    name: f"{what} (information_schema.{name})"
    for what, names in (
        (
            "accounts",
            "USER_PRIVILEGES SCHEMA_PRIVILEGES TABLE_PRIVILEGES COLUMN_PRIVILEGES APPLICABLE_ROLES"
            " ENABLED_ROLES ADMINISTRABLE_ROLE_AUTHORIZATIONS ROLE_TABLE_GRANTS ROLE_COLUMN_GRANTS"
            " ROLE_ROUTINE_GRANTS USER_ATTRIBUTES USER_STATISTICS CLIENT_STATISTICS USERS",
        ),
        (  # InnoDB's transactions and the query cache hold their statements, its locks their rows' keys
            "other sessions",
            "PROCESSLIST INNODB_TRX INNODB_LOCKS INNODB_LOCK_WAITS METADATA_LOCK_INFO QUERY_CACHE_INFO",
        ),
    )
    for name in names.split()
}
# The server finds information_schema's tables case-blind as utf8mb3_general_ci does, where U+0130
# is i and the Kelvin sign k (`PROCESSL\u0130ST`); none of its names is beyond ASCII.
_BEYOND_ASCII = "a name in information_schema beyond ASCII (the server reads some such letters as ASCII ones)"


# -- what is refused ---------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ANYWHERE = {
    "GRANT": "an account or privilege statement (GRANT)",
    "REVOKE": "an account or privilege statement (REVOKE)",
    "GLOBAL": "a global variable (SET GLOBAL)",
    "PERSIST": "a persisted global variable (SET PERSIST)",
    "PERSIST_ONLY": "a persisted global variable (SET PERSIST_ONLY)",
    "SONAME": "a plugin or UDF library (SONAME)",
    "INSTALL": "a plugin (INSTALL)",
    "UNINSTALL": "a plugin (UNINSTALL)",
    "SHUTDOWN": "server administration (SHUTDOWN)",
    "KILL": "server administration (KILL)",
    "FLUSH": "server administration (FLUSH)",
    "RESET": "server administration (RESET)",
    "PURGE": "replication (PURGE)",
    "BINLOG": "replication (BINLOG)",
    "INFILE": "a file read (INFILE)",
    "OUTFILE": "a file write (INTO OUTFILE)",
    "DUMPFILE": "a file write (INTO DUMPFILE)",
    "TABLESPACE": "a tablespace (files of the server)",
    "PREPARE": "dynamic SQL (PREPARE: cannot be checked before it runs)",
    "EXECUTE": "dynamic SQL (EXECUTE: cannot be checked before it runs)",
}
_AFTER = {  # word -> {next word: kind}
    "CHANGE": {"MASTER": "replication (CHANGE MASTER)", "REPLICATION": "replication (CHANGE REPLICATION)"},
    "START": {
        "SLAVE": "replication (START SLAVE)",
        "REPLICA": "replication (START REPLICA)",
        "ALL": "replication (START ALL SLAVES)",
    },
    "STOP": {
        "SLAVE": "replication (STOP SLAVE)",
        "REPLICA": "replication (STOP REPLICA)",
        "ALL": "replication (STOP ALL SLAVES)",
    },
    "LOAD": {
        "DATA": "a file read (LOAD DATA)",
        "XML": "a file read (LOAD XML)",
        "INDEX": "server administration (LOAD INDEX INTO CACHE)",
    },
    "BACKUP": {
        "LOCK": "server administration (BACKUP LOCK)",
        "STAGE": "server administration (BACKUP STAGE)",
    },
    "CACHE": {"INDEX": "server administration (CACHE INDEX)"},
    "LOCK": {"INSTANCE": "server administration (LOCK INSTANCE FOR BACKUP)"},
    "SET": {"PASSWORD": "an account statement (SET PASSWORD)", "ROLE": "an account statement (SET ROLE)"},
    "DEFAULT": {"ROLE": "an account statement (SET DEFAULT ROLE)"},
    "DATA": {"DIRECTORY": "a file location (DATA DIRECTORY)"},
    "INDEX": {"DIRECTORY": "a file location (INDEX DIRECTORY)"},
}
# SHOW of accounts, other sessions, replication or the whole server (the word after SHOW, or after
# its FULL/ALL): what a confined user may see of it, a dump or migration has no business reading.
_SHOW_BEYOND = {
    "GRANTS": "accounts (SHOW GRANTS)",
    "USER_STATISTICS": "accounts (SHOW USER_STATISTICS)",
    "CLIENT_STATISTICS": "accounts (SHOW CLIENT_STATISTICS)",
    "PROCESSLIST": "other sessions (SHOW PROCESSLIST)",
    "EXPLAIN": "other sessions (SHOW EXPLAIN FOR)",
    "ANALYZE": "other sessions (SHOW ANALYZE FOR)",
    "ENGINE": "server state (SHOW ENGINE)",
    "MASTER": "replication (SHOW MASTER)",
    "BINARY": "replication (SHOW BINARY LOGS)",
    "SLAVE": "replication (SHOW SLAVE)",
    "SLAVES": "replication (SHOW ALL SLAVES)",
    "REPLICA": "replication (SHOW REPLICA)",
    "REPLICAS": "replication (SHOW REPLICAS)",
    "RELAYLOG": "replication (SHOW RELAYLOG)",
}
_OBJECT_VERBS = ("CREATE", "DROP", "ALTER", "RENAME")
_OBJECTS = {
    "DATABASE": "a database-level statement ({verb} DATABASE)",
    "SCHEMA": "a database-level statement ({verb} SCHEMA)",
    "USER": "an account statement ({verb} USER)",
    "ROLE": "an account statement ({verb} ROLE)",
    "SERVER": "a foreign server ({verb} SERVER)",
}
_FOREIGN_ENGINES = {"CONNECT", "FEDERATED", "FEDERATEDX", "SPIDER", "OQGRAPH", "MERGE", "MRG_MYISAM"}
# Client character sets whose multibyte characters may end in a backslash byte: the server would
# then see a quote where this reader sees an escaped one (the classic GBK trick).
_HIDING_CHARSETS = {"big5", "cp932", "gbk", "sjis", "gb18030"}
_CLIENT_CHARSET = {
    "character_set_client",
    "@@character_set_client",
    "@@session.character_set_client",
    "@@local.character_set_client",
}
# Functions that reach beyond the session: a file, or a named lock held server-wide (a dump could
# hold the target's own migration lock on a shared server for as long as the drill runs).
_SERVER_FUNCTIONS = {
    "LOAD_FILE": "a file read (LOAD_FILE)",
    "GET_LOCK": "a server-wide named lock (GET_LOCK)",
    "RELEASE_ALL_LOCKS": "a server-wide named lock (RELEASE_ALL_LOCKS)",
}
# sql_mode decides how quotes are read; within one text sent at once, what follows a change of it
# is read by the server in the new mode, by the guard in the old one.
_SQL_MODE = {"sql_mode", "@@sql_mode", "@@session.sql_mode", "@@local.sql_mode"}
# A comment that some servers skip (by version or flavor, see sqltokens): what is left reads
# differently (`DELETE FROM /*!99999 t WHERE 1 = */ other.t`), and a skipping server ends it at its
# first `*/`, also inside a quote. Comments of one opener are run or skipped alike: the statement is
# judged both ways; of several openers a server may run some and skip others, refused.
_PART_SKIPPED = (
    "comments that some servers skip (a MySQL 5.7+ or MariaDB-only version) of more than one version, or "
    "one holding a quote or comment past its first */ or a /* before it (what the server runs would differ from what was checked)"
)
_GLOBAL_VARIABLE = re.compile(r"@@(?:global|persist|persist_only)\b", re.IGNORECASE)

# Percona Server's mysqldump turns RocksDB bulk loading on and off with statements prepared from
# these variables (texts that read performance_schema): skipped, an engine's session option.
_ROCKSDB_SWITCHES = {"rocksdb_get_is_supported", "rocksdb_enable_bulk_load", "disable_bulk_load"}
# What may follow SELECT's result in a SET's scalar subquery without adding another result.
_SELECT_TAIL = _words("FROM WHERE GROUP HAVING ORDER LIMIT")
_MORE_RESULTS = _words("UNION INTERSECT EXCEPT INTO PROCEDURE")
_DEEPEST = 32  # levels of IF, CASE, SELECT and parentheses in a SET's value read for its literals
# A string's backslash escapes as the server reads them (`\%` and `\_` keep their backslash).
_ESCAPED = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "%": "\\%", "_": "\\_"}

# Where a name is a table (or routine, view, trigger, event, sequence): after these words, and
# after a comma while still in their clause.
_TABLE_WORDS = _words(
    "FROM JOIN STRAIGHT_JOIN INTO UPDATE TABLE TABLES TRUNCATE DELETE REFERENCES LIKE CALL VIEW PROCEDURE"
    " FUNCTION TRIGGER EVENT SEQUENCE TO HANDLER USING FOR EXISTS IGNORE LOW_PRIORITY QUICK INSERT REPLACE"
    " RENAME DESCRIBE EXPLAIN HIGH_PRIORITY DELAYED PACKAGE BODY"
)
_SEQUENCE_FUNCTIONS = {"NEXTVAL", "LASTVAL", "SETVAL"}  # NEXTVAL(schema.sequence)
# Table words after which a parenthesis opens a list of tables, not a function's arguments
# (REPLACE(, INSERT(, LIKE ( are also functions or expressions).
_PAREN_TABLE = _words("FROM JOIN STRAIGHT_JOIN UPDATE TABLE TABLES TRUNCATE")
# Words that end a table clause (ON does not: `FROM a JOIN b ON ..., c` goes on listing tables;
# nor do CASE's WHEN/THEN/ELSE: `ON x = CASE WHEN 1 THEN 2 END, c` too). Only reserved words:
# VALUE, BEGIN, DO and RETURNS are also names to the server (`DELETE s FROM t AS do, other.t AS s`).
_CLAUSE_WORDS = _words("SET WHERE VALUES SELECT ORDER GROUP HAVING LIMIT WINDOW RETURN DECLARE WITH")
# What a statement of a compound body follows (a name standing alone there is called, see _qualified).
_STATEMENT_START = {"", ";", "BEGIN", "THEN", "ELSE", "LOOP", "REPEAT", "DO"}
_COMPARISON = {"=", "<", ">", "<=>", "<>", "!=", "<=", ">=", "!", "+", "-", "*", "/", "%", ")", ","}
_COLUMN_NEXT = {"AND", "OR", "IS", "IN", "LIKE", "BETWEEN", "NOT", "XOR", "REGEXP", "RLIKE", "COLLATE"}
# SHOW statements whose first FROM/IN names a table (a second names its schema); in the others
# FROM/IN names a schema: `SHOW TABLES FROM other`, `SHOW COLUMNS FROM t IN other`.
_SHOW_TABLE_FIRST = _words("COLUMNS FIELDS INDEX INDEXES KEYS")


@dataclass(frozen=True)
class _Name:
    schema: Token  # the qualifier that names a schema
    parts: int
    table: Token | None  # the part after it (None: a schema named alone)


def _qualified(toks: list[Token]) -> Iterator[_Name]:
    """The schema qualifiers of `toks`: three-part names, `schema.routine(`, and two-part names
    where a table stands (see _TABLE_WORDS); two-part names elsewhere are table.column. And a
    schema named alone, after SHOW's FROM/IN."""
    clause: list[str] = [""]
    previous = before = ""
    show = slot = ""  # in a SHOW statement: what its next FROM/IN names; what follows one names
    i = 0
    n = len(toks)
    while i < n:
        tok = toks[i]
        named, slot = slot, ""
        if tok.kind == "word" and not named:  # a table named `columns` in SHOW's slot is a name
            show, slot = _show_state(tok.value, previous, show)
        elif tok.kind == "op" and tok.value == ";":
            show = ""
        if named == "schema" and tok.kind in ("word", "ident") and not (i + 1 < n and _is_dot(toks[i + 1])):
            yield _Name(tok, 1, None)
        if tok.kind == "word" and tok.value == "DESC" and previous in ("", ";"):
            tok = replace(tok, value="DESCRIBE")  # opening a statement; after a sort key, a direction
        if tok.kind == "op" and tok.value == "(":
            # `FROM (schema.t)`, `UPDATE (schema.t)`, a MERGE table's `UNION=(schema.t)`
            listed = previous in _PAREN_TABLE or (previous in (",", "(") and clause[-1] == "table")
            union = previous == "UNION" or (previous == "=" and before == "UNION")  # `=` may be left out
            clause.append("table" if previous in _SEQUENCE_FUNCTIONS or listed or union else "")
        elif tok.kind == "op" and tok.value == ")":
            if len(clause) > 1:
                clause.pop()
        elif tok.kind == "op" and tok.value == ";":
            clause = [""]
        elif tok.kind == "word" and tok.value in _TABLE_WORDS:
            clause[-1] = "table"
        elif tok.kind == "word" and tok.value in _CLAUSE_WORDS and previous != "FOR":
            clause[-1] = ""  # an index hint's `USE INDEX FOR ORDER BY (i), other.t` lists on
        if tok.kind in ("word", "ident") and i + 2 < n and _is_dot(toks[i + 1]) and _is_part(toks[i + 2]):
            parts = 2
            while i + 2 * parts < n and _is_dot(toks[i + 2 * parts - 1]) and _is_part(toks[i + 2 * parts]):
                parts += 1
            after = toks[i + 2 * parts - 1] if i + 2 * parts - 1 < n else None
            table_position = (
                previous in _TABLE_WORDS
                or (previous in (",", "(") and clause[-1] == "table")
                or (previous == "AS" and before == "RENAME")
                or named != ""  # SHOW COLUMNS IN schema.t
            )
            if previous == "ON":  # CREATE TRIGGER/INDEX ... ON schema.t, not a join condition
                table_position = after is None or not (
                    (after.kind == "op" and after.value in _COMPARISON)
                    or (after.kind == "word" and after.value in _COLUMN_NEXT)
                )
            # Oracle mode calls a procedure standing as a statement: `BEGIN schema.procedure; END`
            is_call = (after is not None and after.kind == "op" and after.value == "(") or (
                (after is None or after.value == ";")
                and (previous in _STATEMENT_START or (previous == ">" and before == ">"))  # <<label>>
            )
            if parts >= 3 or table_position or is_call:
                yield _Name(tok, parts, toks[i + 2])
            previous, before = "#", previous
            i += 2 * parts - 1
            continue
        previous, before = (tok.value if tok.kind in ("word", "op") else "#"), previous
        i += 1


def _show_state(word: str, previous: str, show: str) -> tuple[str, str]:
    """A SHOW statement's state after `word` (what its next FROM/IN names), and what the token
    after `word` names ("table", "schema" or ""). Its LIKE or WHERE ends what it names (a subquery
    there is read as any other)."""
    if _opens_show(word, previous):
        return "schema", ""
    if not show or word in ("LIKE", "WHERE"):
        return "", ""
    if word in _SHOW_TABLE_FIRST:
        return "table", ""
    if word in ("FROM", "IN"):
        return ("schema" if show == "table" else ""), show
    return show, ""


def _opens_show(word: str, previous: str) -> bool:
    """SHOW is reserved: as a word not after a dot (`t.show` is a column) it opens a statement."""
    return word == "SHOW" and previous != "."


def _is_dot(tok: Token) -> bool:
    return tok.kind == "op" and tok.value == "."


def _is_part(tok: Token) -> bool:
    """A name after a dot: the server reads `schema.123`, `schema.1e5`, `schema.0x1f` as names too."""
    return tok.kind in ("word", "ident", "number")


@dataclass
class Guard:
    """What may run in scratch database `database`; `own` is the target's database name, whose
    qualified names are rewritten to `database` (a rehearsal, a drift build)."""

    database: str
    own: str | None = None
    notes: list[str] = field(default_factory=list)
    _said: set[str] = field(default_factory=set)
    _saved_charsets: set[str] = field(default_factory=set)  # @vars holding the session's own charset
    # The @var the statement just before set to string literals, and why one of them is refused ("")
    _literal_set: tuple[str, str] | None = None
    _prepared: dict[str, bool] = field(default_factory=dict)  # name -> checked (True) or skipped

    def check(self, statement: Statement) -> Statement | None:
        """`statement` as it may run (rewritten), None to skip it, or ConfinementRefused."""
        text, conditional = read_part(statement), list[tuple[int, int, str]]()
        toks = list(tokens(text, statement.quoting, conditional))
        just_before, self._literal_set = self._literal_set, None
        if not toks:
            return statement
        if _is_skipped_setting(toks):
            self._note(
                "skip",
                "mysqldump's SET @@GLOBAL.GTID_PURGED and SQL_LOG_BIN statements were skipped: they "
                "change the server's replication state, not the restored data",
            )
            return None
        self._skipped_parts(statement, text, conditional)
        dynamic = self._dynamic(statement, toks, just_before)
        if dynamic is not None:
            return statement if dynamic else None
        edits = self._judged(statement, text, toks, conditional)
        if not edits:
            return statement
        text, pieces, at = statement.text, [], 0
        for start, end, new in sorted(set(edits)):
            pieces += [text[at:start], new]
            at = end
        text = "".join([*pieces, text[at:]])
        # A dropped DEFINER clause took what lay between its tokens (an executable comment's */) or
        # joined what was around it (`--DEFINER=u@h WHERE` became a comment): what runs is read again.
        rewritten = replace(statement, text=text)
        text, conditional = read_part(rewritten), []
        toks = list(tokens(text, rewritten.quoting, conditional))
        if toks:
            self._skipped_parts(rewritten, text, conditional)
            if self._judged(rewritten, text, toks, conditional):
                raise self._refusal(statement, "a DEFINER clause whose removal changes how the rest reads")
        return rewritten

    def _skipped_parts(
        self, statement: Statement, text: str, conditional: list[tuple[int, int, str]]
    ) -> None:
        """Refused: comments that some servers skip of several openers, or one a skipping server
        ends elsewhere than this reader does (see sqltokens.tokens)."""
        if (
            any(end < 0 for _, end in _inside(text, conditional))
            or len({opener for *_, opener in conditional}) > 1
        ):
            raise self._refusal(statement, _PART_SKIPPED)

    def _judged(
        self, statement: Statement, text: str, toks: list[Token], conditional: list[tuple[int, int, str]]
    ) -> list[tuple[int, int, str]]:
        """The rewrites `statement` needs, read as a server that runs its comments does and, inside
        it, as one that skips them (one opener: all alike), or a refusal."""
        inside = _inside(text, conditional)
        # a SET the server may skip leaves @v as it was
        self._literal_set = None if conditional else self._set_from_literals(statement, toks)
        edits = self._edits(statement, toks, saves=not conditional)
        if inside:
            skipped = _outside(toks, inside)
            edits = sorted(set(edits + self._edits(statement, skipped, saves=False)))
            if any(one[1] > other[0] for one, other in pairwise(edits)):
                raise self._refusal(statement, _PART_SKIPPED)  # a DEFINER clause read two ways
        return edits

    def _edits(self, statement: Statement, toks: list[Token], saves: bool) -> list[tuple[int, int, str]]:
        """What `toks` (one reading of `statement`) needs rewritten, or a refusal."""
        kind = (_refused_kind(toks) or self._charset_change(toks, saves=saves)) if toks else ""
        if kind:
            raise self._refusal(statement, kind)
        own, foreign = self._schemas(toks)
        if foreign:
            raise self._refusal(statement, foreign)
        edits = [(name.start, name.end, f"`{self.database}`") for name in own]
        if own:
            self._note(
                "own",
                f"names qualified with the target's database `{self.own}` were run on the scratch "
                f"database `{self.database}` instead (what they mean on the target)",
            )
        definers = _definers(toks)
        if definers:
            self._note(
                "definer",
                "DEFINER clauses were dropped: views, routines and triggers belong to the scratch user "
                "(as a --skip-definer restore makes them)",
            )
        return edits + definers

    def _schemas(self, toks: list[Token]) -> tuple[list[Token], str]:
        """The qualifiers naming the target's own database (rewritten to the scratch database, or
        in a literal refused), and why one naming another schema is refused ("" for none)."""
        own: list[Token] = []
        for name in _qualified(toks):
            schema = name.schema.name
            if schema.lower() in _READABLE and name.table is not None:
                table = name.table.name
                beyond = _READABLE_BEYOND.get(table.upper()) if table.isascii() else _BEYOND_ASCII
                if beyond:
                    return own, beyond
            if schema == self.database or schema.lower() in _READABLE:
                continue
            if self.own is not None and schema.lower() == self.own.lower():
                own.append(name.schema)
                continue
            return own, f"a name in another schema (`{printable(schema)}`)"
        return own, ""

    def _dynamic(
        self, statement: Statement, toks: list[Token], just_before: tuple[str, str] | None
    ) -> bool | None:
        """For PREPARE, EXECUTE and DEALLOCATE: True to run, False to skip, or a refusal; None
        for any other statement."""
        head = toks[0].value
        named = len(toks) > 1 and toks[-1].kind in ("word", "ident")
        if head in ("DEALLOCATE", "DROP") and len(toks) == 3 and toks[1].value == "PREPARE" and named:
            return self._prepared.pop(toks[2].name.lower(), True)  # harmless; skipped if its PREPARE was
        if head == "EXECUTE" and len(toks) > 1 and toks[1].kind in ("word", "ident"):
            checked = self._prepared.get(toks[1].name.lower())
            if checked is None or not _only_user_variables(toks[2:]):
                raise self._refusal(statement, _ANYWHERE["EXECUTE"])
            return checked
        if (
            head != "PREPARE"
            or len(toks) != 4
            or toks[1].kind not in ("word", "ident")
            or toks[2].value != "FROM"
        ):
            return None
        name, source = toks[1].name.lower(), toks[3]
        variable = _user_variable(source)
        if variable in _ROCKSDB_SWITCHES:
            self._note(
                "rocksdb",
                "Percona mysqldump's RocksDB bulk-load switches (PREPARE s FROM @...bulk_load, EXECUTE s) "
                "were skipped: they set an engine's session option, not the restored data",
            )
            self._prepared[name] = False
            return False
        if source.kind == "string":
            why = self._literal_refusal(_literal(source.value, statement.quoting or Quoting()), statement)
            why = why and f"dynamic SQL whose text would be {why}"
        elif variable and just_before is not None and just_before[0] == variable:
            why = just_before[1]
        else:
            why = "dynamic SQL (PREPARE from a variable the statement just before did not set to literals)"
        if why:
            raise self._refusal(statement, why)
        self._prepared[name] = True
        return True

    def _set_from_literals(self, statement: Statement, toks: list[Token]) -> tuple[str, str] | None:
        """`SET @v = expr` whose value can only be one of its string literals: (v, why one of them
        may not run as a statement, or ""); None for any other statement."""
        if toks[0].value != "SET" or len(toks) < 4 or toks[2].value not in ("=", ":="):
            return None
        variable = _user_variable(toks[1])
        if not variable or any(t.kind == "op" and t.value == ";" for t in toks):
            return None
        results = _results(toks[3:])
        if results is None:
            return None
        quoting = statement.quoting or Quoting()
        for tok in results:
            why = self._literal_refusal(_literal(tok.value, quoting), statement)
            if why:
                return variable, f"dynamic SQL whose text would be {why}"
        return variable, ""

    def _literal_refusal(self, text: str, statement: Statement) -> str:
        """Why `text`, run by PREPARE in `statement`'s session, is refused ("" when it may run as
        written: a literal cannot be rewritten, a DEFINER not dropped)."""
        conditional: list[tuple[int, int, str]] = []
        toks = list(tokens(text, statement.quoting, conditional))
        if not toks:
            return ""
        if conditional:
            return _PART_SKIPPED
        if toks[0].value == "SET" or any(t.kind == "op" and t.value == ";" for t in toks):
            return "a SET statement or several statements"
        if any(t.kind == "word" and t.value in ("PREPARE", "EXECUTE", "DEALLOCATE") for t in toks):
            return "dynamic SQL again (PREPARE, EXECUTE)"
        kind = _refused_kind(toks)
        if kind:
            return kind
        own, foreign = self._schemas(toks)
        if foreign:
            return foreign
        if own:
            return f"a name of the target's database `{printable(own[0].name)}` (leave the database out)"
        return (
            "a statement with a DEFINER clause (it cannot be dropped from a text)" if _definers(toks) else ""
        )

    def _charset_change(self, toks: list[Token], saves: bool = True) -> str:
        """mysqldump saves the client character set in a variable and restores it from there:
        allowed; any other variable could hold a charset that hides a quote (see _HIDING_CHARSETS).
        Not `saves`: a statement the server may skip saves nothing (the variable keeps its value)."""
        if toks[0].value != "SET":
            self._saved_charsets.difference_update(_fold(t.name) for t in toks if t.kind == "var")
            for index, tok in enumerate(toks[1:-1], 1):  # a SET after `;` or in BEGIN NOT ATOMIC, IF
                nxt, previous = toks[index + 1].value, toks[index - 1].value
                if (
                    (tok.kind == "word" and tok.value == "NAMES")
                    or (previous == "SET" and tok.value in ("CHARSET", "CHARACTER"))
                    or (tok.name.lower().replace("`", "") in _CLIENT_CHARSET and nxt in ("=", ":="))
                ):
                    return "a client character set set after another statement of the same text"
            return ""
        for index, tok in enumerate(toks[:-2]):
            if toks[index + 1].value not in ("=", ":="):
                continue
            target, value = _fold(tok.name).replace("`", ""), toks[index + 2]
            from_session = value.kind == "var" and _fold(value.name) in _CLIENT_CHARSET
            if target.startswith("@") and not target.startswith("@@"):
                if from_session and saves:
                    self._saved_charsets.add(target)
                else:
                    self._saved_charsets.discard(target)
            elif target in _CLIENT_CHARSET and value.kind == "var":
                if not from_session and _fold(value.name) not in self._saved_charsets:
                    return "a client character set taken from a variable (SET character_set_client)"
            elif target in _CLIENT_CHARSET and (
                value.kind not in ("word", "string", "ident")
                or (index + 3 < len(toks) and toks[index + 3].value not in (",", "FOR"))
            ):  # a number is a character set's id, CONCAT('g','bk') its name: only a name is judged
                return "a client character set computed by an expression (SET character_set_client)"
        return ""

    def _refusal(self, statement: Statement, kind: str) -> ConfinementRefused:
        return ConfinementRefused(
            f"line {statement.line} (statement {statement.number}): {kind}: refused on the scratch server, "
            "it would reach beyond the scratch database; nothing of it was run",
            kind,
        )

    def _note(self, key: str, text: str) -> None:
        if key not in self._said:
            self._said.add(key)
            self.notes.append(text)


def _refused_kind(toks: list[Token]) -> str:
    last_end = max((i for i, t in enumerate(toks) if t.kind == "op" and t.value == ";"), default=-1)
    if toks[0].value == "SET" and any(
        t.name.strip("'\"").lower() in _HIDING_CHARSETS for t in toks if t.kind != "op"
    ):
        return "a client character set that can hide a quote (SET NAMES/CHARACTER SET)"
    for index, tok in enumerate(toks):
        value = tok.value
        nxt = toks[index + 1] if index + 1 < len(toks) else None
        nxt_word = nxt.value if nxt is not None and nxt.kind == "word" else ""
        if (
            tok.name.replace("`", "").lower() in _SQL_MODE
            and nxt is not None
            and nxt.value in ("=", ":=")
            and last_end > index
        ):
            return "sql_mode changed with more statements in the same text (the server reads them in the new mode)"
        if tok.kind == "var":
            if _GLOBAL_VARIABLE.match(value.replace("`", "")):
                return "a global variable (@@global.)"
            continue
        if (
            tok.kind in ("word", "ident")
            and value.upper() in _SERVER_FUNCTIONS
            and nxt is not None
            and nxt.value == "("
        ):
            return _SERVER_FUNCTIONS[value.upper()]  # `LOAD_FILE`(...) calls the server's function too
        if tok.kind != "word":
            continue
        if value in _ANYWHERE:
            return _ANYWHERE[value]
        if value == "MYSQL_ERRNO" and nxt is not None and nxt.value == "=":
            return "a forged server error (SIGNAL ... MYSQL_ERRNO: its text would pass for the server's)"
        if _opens_show(value, toks[index - 1].value if index else ""):
            shown = [t.value for t in toks[index + 1 : index + 3] if t.kind == "word"]
            beyond = [_SHOW_BEYOND[w] for w in shown if w in _SHOW_BEYOND]
            if beyond:
                return beyond[0]
        if value == "USE" and nxt_word not in ("INDEX", "KEY"):
            return "a database-level statement (USE)"
        if value in _AFTER and nxt_word in _AFTER[value]:
            return _AFTER[value][nxt_word]
        if value == "ENGINE":
            engine = (
                toks[index + 2] if nxt is not None and nxt.value == "=" and index + 2 < len(toks) else nxt
            )
            name = engine.name.strip("'\"").upper() if engine is not None else ""  # ENGINE='MERGE' too
            if name in _FOREIGN_ENGINES:
                return f"a table of another server or file (ENGINE={name})"
        if value in _OBJECT_VERBS:
            j = index + 1
            while (
                j < len(toks)
                and toks[j].kind == "word"
                and toks[j].value in ("OR", "REPLACE", "IF", "NOT", "EXISTS")
            ):
                j += 1
            if j < len(toks) and toks[j].kind == "word" and toks[j].value in _OBJECTS:
                return _OBJECTS[toks[j].value].format(verb=value)
    return ""


def _is_skipped_setting(toks: list[Token]) -> bool:
    """mysqldump's `SET @@GLOBAL.GTID_PURGED=...` and `SET @@SESSION.SQL_LOG_BIN= ...`."""
    if toks[0].value != "SET" or len(toks) < 3:
        return False
    target = toks[1].value.lower()
    if target == "@@global.gtid_purged":
        return all(t.kind in ("string", "op") for t in toks[2:])
    if target in ("@@session.sql_log_bin", "@@sql_log_bin", "sql_log_bin"):
        return all(
            t.kind in ("number", "op", "var") or t.value in ("ON", "OFF") for t in toks[2:]
        ) and not any(
            t.kind == "var" and t.value.startswith("@@") and t.value.lower() != "@@session.sql_log_bin"
            for t in toks[2:]
        )
    return False


def _outside(toks: list[Token], spans: list[tuple[int, int]]) -> list[Token]:
    """The tokens of `toks` in none of `spans` (each in order), in one sweep."""
    spans, kept, at = sorted(spans), [], 0
    reach = -1  # the furthest end of the spans begun at or before the token
    for tok in toks:
        while at < len(spans) and spans[at][0] <= tok.start:
            reach = max(reach, spans[at][1])
            at += 1
        if tok.start >= reach:
            kept.append(tok)
    return kept


def _inside(text: str, conditional: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """The spans of the comments a server may skip inside `text` (not one that is all of it)."""
    return [(start, end) for start, end, _ in conditional if (start, end) != (0, len(text))]


def _user_variable(tok: Token) -> str:
    """`@name` (quoted or not) as the server compares it, lower case; "" for anything else."""
    if tok.kind != "var" or tok.value.startswith("@@"):
        return ""
    name = tok.value[1:]
    if name[:1] in ("`", "'", '"'):
        name = name[1:-1].replace(name[0] * 2, name[0])
    return _fold(name)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(name: str) -> str:
    """A variable's name as compared here: ASCII letters case-blind, the rest exact. Never equal
    where the server's are not: str.lower() makes the Kelvin sign `@\u212a` the server's other
    variable `@k`; names the server holds equal and this does not are refused, never confused."""
    return name.translate(_ASCII_LOWER)


def _only_user_variables(toks: list[Token]) -> bool:
    """EXECUTE's tail: nothing, or `USING @a, @b` (values bound to the text, never SQL)."""
    if not toks:
        return True
    names, commas = toks[1::2], toks[2::2]
    return (
        toks[0].value == "USING"
        and len(toks) % 2 == 0
        and all(_user_variable(t) for t in names)
        and all(t.value == "," for t in commas)
    )


def _literal(raw: str, quoting: Quoting) -> str:
    """A string token's value as the server reads it (doubled quotes, backslash escapes)."""
    quote, body = raw[0], raw[1:-1]
    if not quoting.escapes(quote):
        return body.replace(quote * 2, quote)
    return re.sub(
        r"\\(.)|" + quote * 2,
        lambda m: quote if m[1] is None else _ESCAPED.get(m[1], m[1]),
        body,
        flags=re.S,
    )


def _results(toks: list[Token], depth: int = 0) -> list[Token] | None:
    """The string literals an expression's value can only be one of, or None when it can be
    anything else (a function, a column, a variable, or nested deeper than _DEEPEST: each level
    reads its whole text again). Conditions are not results: the statement holding them is
    judged as any other."""
    while depth <= _DEEPEST and len(toks) > 2 and toks[0].value == "(" and _closing(toks, 0) == len(toks) - 1:
        toks, depth = toks[1:-1], depth + 1
    if depth > _DEEPEST:
        return None
    if len(toks) == 1:
        only = toks[0]
        return (
            [only] if only.kind == "string" else [] if only.value == "NULL" and only.kind == "word" else None
        )
    if not toks or toks[0].kind != "word":
        return None
    head = toks[0].value
    if head == "IF" and len(toks) > 2 and toks[1].value == "(" and _closing(toks, 1) == len(toks) - 1:
        parts = _split(toks[2:-1], {","})
        return (
            _joined([_results(part, depth + 1) for part in parts[1:]]) if parts and len(parts) == 3 else None
        )
    if head == "CASE" and toks[-1].value == "END":
        parts = _split(toks[1:-1], {"WHEN", "THEN", "ELSE"}, keep=True)
        if parts is None:
            return None
        return _joined(
            [_results(part[1:], depth + 1) for part in parts[1:] if part[0].value in ("THEN", "ELSE")]
        )
    if head == "SELECT":
        parts = _split(toks[1:], _SELECT_TAIL | _MORE_RESULTS | {","}, keep=True)
        if parts is None or any(part[0].value in _MORE_RESULTS for part in parts[1:]):
            return None  # another result: UNION, a row into variables, PROCEDURE ANALYSE()
        if len(parts) > 1 and parts[1][0].value == ",":
            return None  # more than one column
        result = parts[0]
        if len(result) > 2 and result[-2].value == "AS":
            result = result[:-2]
        return _results(result, depth + 1)
    return None


def _joined(found: list[list[Token] | None]) -> list[Token] | None:
    return None if any(part is None for part in found) else [tok for part in found for tok in part or []]


def _closing(toks: list[Token], at: int) -> int:
    """Where the parenthesis opened at `at` closes (-1: never)."""
    depth = 0
    for index in range(at, len(toks)):
        if toks[index].kind == "op" and toks[index].value in "()":
            depth += 1 if toks[index].value == "(" else -1
            if depth == 0:
                return index
    return -1


def _split(toks: list[Token], at: set[str], keep: bool = False) -> list[list[Token]] | None:
    """`toks` cut before each token outside parentheses and CASE ... END whose value is in `at`
    (kept with `keep`); None when those do not pair up (END is also a column's name)."""
    parts: list[list[Token]] = [[]]
    opened: list[str] = []
    for tok in toks:
        value = tok.value if tok.kind in ("word", "op") else ""
        if value in (")", "END"):
            if not opened or opened.pop() != ("(" if value == ")" else "CASE"):
                return None
        elif not opened and value in at:
            parts.append([tok] if keep else [])
            continue
        if value in ("(", "CASE"):
            opened.append(value)
        parts[-1].append(tok)
    return None if opened else parts


def _definers(toks: list[Token]) -> list[tuple[int, int, str]]:
    """Spans of `DEFINER = user@host` (or CURRENT_USER[()]) clauses, to be removed."""
    spans = []
    for index, tok in enumerate(toks):
        if (
            tok.kind != "word"
            or tok.value != "DEFINER"
            or index + 2 >= len(toks)
            or toks[index + 1].value != "="
        ):
            continue
        j = index + 2
        end = toks[j].end
        if (
            toks[j].value == "CURRENT_USER"
            and j + 2 < len(toks)
            and toks[j + 1].value == "("
            and toks[j + 2].value == ")"
        ):
            end = toks[j + 2].end
        elif j + 1 < len(toks) and toks[j + 1].kind == "var" and toks[j + 1].start == toks[j].end:
            end = toks[j + 1].end
        spans.append((tok.start, end, ""))
    return spans


# -- what a message may say ---------------------------------------------------


def kind_of(statement: Statement) -> str:
    """What a statement is, without its values: `INSERT INTO `gene``, `CREATE TABLE `t``."""
    words: list[str] = []
    skip = 0
    toks = list(tokens(read_part(statement)[:2000], statement.quoting))
    for index, tok in enumerate(toks):
        if skip:
            skip -= 1
            continue
        if index + 1 < len(toks) and toks[index + 1].value == "=":  # ALGORITHM=..., DEFINER=...
            skip = 3 if index + 3 < len(toks) and toks[index + 3].kind == "var" else 2
            continue
        if tok.kind == "word" and tok.value in ("SQL", "SECURITY", "DEFINER", "INVOKER", "OR", "REPLACE"):
            continue
        if tok.kind == "word" and len(words) < 4:
            words.append(tok.value)
            continue
        if tok.kind == "ident" or (tok.kind == "op" and tok.value == "." and words):
            words.append(f"`{printable(tok.name)}`" if tok.kind == "ident" else ".")
            if tok.kind == "ident":
                break
            continue
        break
    return " ".join(words).replace(" . ", ".") or "a statement"


# Server errors whose quoted parts are names (tables, columns, users), never values.
# -- migrations on scratch -----------------------------------------------------


@dataclass(frozen=True)
class GuardedSet(MigrationSet):
    """A MigrationSet whose statements pass the guard before the engine sees them."""

    guard: Guard

    def statements(
        self, migration: Migration, quoting: Callable[[], Quoting] = Quoting
    ) -> Iterator[Statement]:
        return guarded(super().statements(migration, quoting), self.guard, migration.filename)

    def verify_statements(
        self, migration: Migration, quoting: Callable[[], Quoting] = Quoting
    ) -> Iterator[Statement]:
        return guarded(super().verify_statements(migration, quoting), self.guard, migration.filename)


def guarded(statements: Iterator[Statement], guard: Guard, source: str) -> Iterator[Statement]:
    """`statements` as `guard` lets them run, those it skips left out; a refusal names `source`."""
    for statement in statements:
        try:
            allowed = guard.check(statement)
        except ConfinementRefused as exc:
            raise ConfinementRefused(f"{source}: {exc}", exc.kind) from None
        if allowed is not None:
            yield allowed


class ConfinedMigrator(Migrator):
    """The engine on a scratch database, every statement through `guard` first."""

    def __init__(self, profile: Profile, guard: Guard, progress: Progress | None = None) -> None:
        super().__init__(profile, progress)
        self.guard = guard

    def files(self) -> MigrationSet:
        found = super().files()
        return GuardedSet(found.directory, found.naming, found.migrations, found.placeholders, self.guard)
