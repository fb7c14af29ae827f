"""Splitter rules, and a property test: statements built from tricky tokens come back intact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import MigrationFileError
from runner.migrations.sqlsplit import (
    Quoting,
    Splitter,
    Statement,
    may_change_quoting,
    split_lines,
    split_sql,
)


def texts(sql: str) -> list[str]:
    return [s.text for s in split_sql(sql)]


def test_delimiter_change_keeps_semicolons_in_bodies() -> None:
    sql = "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END//\nDELIMITER ;\nSELECT 3;\n"
    assert texts(sql) == ["CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", "SELECT 3"]


def test_statement_line_numbers_point_at_the_first_line() -> None:
    statements = split_sql("-- header\n\nSELECT 1;\nSELECT\n 2;\n")
    assert [(s.number, s.line) for s in statements] == [(1, 3), (2, 4)]


def test_unterminated_last_statement_is_still_sent() -> None:
    assert texts("SELECT 1;\nSELECT 2\n") == ["SELECT 1", "SELECT 2"]


def test_comment_only_input_sends_nothing() -> None:
    assert texts("-- nothing\n/* at\nall */\n# here\n") == []


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SOURCE other.sql;\n", "'source' is a command of the mysql client"),
        ("use otherdb\n", "'use' is a command of the mysql client"),
        ("SELECT 1 \\. file.sql\n", "'\\.' is a command of the mysql client"),
        ("DELIMITER\n", "DELIMITER must be followed by a delimiter"),
        ("DELIMITER \\\\\n", "DELIMITER cannot contain a backslash"),
    ],
)
def test_client_commands_are_refused_with_their_line(sql: str, problem: str) -> None:
    with pytest.raises(MigrationFileError, match=":1: ") as caught:
        split_sql(sql, "V1__x.sql")
    assert problem in str(caught.value)


# -- property test -----------------------------------------------------------

_words = st.sampled_from(["SELECT", "a", "b1", "42", "-1", "1-2", "x/y", "(", ")", ",", "=", "*", "@v"])
_string_chars = st.sampled_from([*list("ab ;$/-#*\"`'\\\n"), "é", "✓", "),(", "$$", "//", "--", "/*"])


@st.composite
def _quoted(draw: st.DrawFn) -> str:
    quote = draw(st.sampled_from(["'", '"', "`"]))
    body = []
    for ch in draw(st.lists(_string_chars, max_size=8)):
        if ch == quote:
            body.append(quote * 2)
        elif ch == "\\" or (ch == "\n" and quote == "`"):
            body.append("\\\\" if quote != "`" else "_")
        elif ch in ("'", '"') and quote != "`":
            body.append("\\" + ch)
        else:
            body.append(ch)
    return quote + "".join(body) + quote


_token = st.one_of(_words, _quoted(), st.just("/*!50000 1 */"))
_statement = st.lists(_token, min_size=1, max_size=8).map(lambda ts: "SELECT " + " ".join(ts))
_separator = st.sampled_from([";", ";\n", "; -- done; really\n", ";\n# c;\n", "\n;\n", ";\n\n  "])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_statement, _separator), min_size=1, max_size=6), st.booleans())
def test_statements_come_back_exactly(pairs: list[tuple[str, str]], custom: bool) -> None:
    if custom:
        body = "".join(stmt + sep.replace(";", "$$") for stmt, sep in pairs)
        sql = "DELIMITER $$\n" + body + "\nDELIMITER ;\n"
    else:
        sql = "".join(stmt + sep for stmt, sep in pairs)
    assert texts(sql) == [stmt for stmt, _ in pairs]


def test_streaming_holds_only_the_current_statement() -> None:
    """A generator of lines is consumed lazily: statements arrive before the input ends."""
    consumed = []

    def lines():
        for i in range(1, 10_000):
            consumed.append(i)
            yield f"INSERT INTO t VALUES ({i});"

    first = next(iter(split_lines(lines())))
    assert first.text == "INSERT INTO t VALUES (1)"
    assert len(consumed) == 1


@pytest.mark.parametrize(
    ("text", "delimiter", "may"),
    [
        ("SET sql_mode = ''", ";", True),
        ("/*!40101 SET SQL_MODE=@OLD_SQL_MODE */", ";", True),
        ("SET @@SESSION.Sql_Mode = 'ANSI_QUOTES'", ";", True),
        ("EXECUTE stmt", ";", True),
        ("CREATE TABLE t (i INT)", ";", False),
        ("INSERT INTO notes VALUES ('set sql_mode = here is only data')", ";", False),
        ("insert into t values (1); SET sql_mode = ''", "//", True),
    ],
)
def test_which_statements_may_change_how_quotes_are_read(text: str, delimiter: str, may: bool) -> None:
    assert may_change_quoting(Statement(1, 1, text, delimiter)) is may


# -- a dump's row lines, taken whole -------------------------------------------


def _outcome(statements) -> tuple[list[Statement], str]:
    """What a splitter yields, and the error it stops at (if any), to compare two ways of reading."""
    got: list[Statement] = []
    try:
        got.extend(statements)
    except MigrationFileError as exc:
        return got, str(exc)
    return got, ""


def _line_by_line(body: bytes, quoting: Quoting) -> tuple[list[Statement], str]:
    """The reference: every line through the client's add_line(), as migrations are split."""
    lines = [line.removesuffix(b"\r").decode("utf-8", "surrogateescape") for line in body.split(b"\n")]
    if lines[-1] == "":
        lines.pop()
    return _outcome(split_lines(lines, "dump.sql", lambda: quoting))


_DEFAULT = Quoting()


class _CountingSplitter(Splitter):
    """Counts the lines that go through the client's add_line() one by one."""

    lines = 0

    def _add_line(self, line: str, lineno: int):
        self.lines += 1
        return super()._add_line(line, lineno)


def _taken_line_by_line(body: bytes, quoting: Quoting = _DEFAULT) -> int:
    splitter = _CountingSplitter("dump.sql", lambda: quoting)
    statements, error = _outcome(splitter.split_pieces([body]))
    assert (statements, error) == _line_by_line(body, quoting)
    return splitter.lines


_ROWS = b"".join(b"(%d,'it\\'s; -- # /* \\\\ \\g',NULL,-1.5e-05),\n" % n for n in range(1, 1000))
_DUMP = (
    b"/*!40000 ALTER TABLE `t` DISABLE KEYS */;\nINSERT INTO `t` VALUES\n"
    + _ROWS
    + b"(1000,'',NULL,0);\nUNLOCK TABLES;\n"
)


def test_a_dumps_row_lines_are_taken_whole_not_line_by_line() -> None:
    """1,000 row lines after the INSERT's VALUES line: only the three other lines go through
    add_line(); the statement is the one it would build, its `;` and line numbers included."""
    assert _taken_line_by_line(_DUMP) == 3
    statements, _ = _outcome(Splitter().split_pieces([_DUMP]))
    assert [(s.line, s.text[-22:]) for s in statements] == [
        (1, "ER TABLE `t` DISABLE KEYS */"[-22:]),
        (2, "NULL,-1.5e-05),\n(1000,'',NULL,0)"[-22:]),
        (1003, "UNLOCK TABLES"),
    ]


@pytest.mark.parametrize(
    ("body", "quoting"),
    [
        pytest.param(_DUMP.replace(b"\n", b"\r\n"), Quoting(), id="CR LF line ends"),
        pytest.param(_DUMP, Quoting(backslash_escapes=False), id="NO_BACKSLASH_ESCAPES"),
        pytest.param(
            b"DELIMITER $$\n" + _DUMP.replace(b"UNLOCK TABLES;", b"$$"), Quoting(), id="another delimiter"
        ),
        pytest.param(
            _DUMP.replace(b"VALUES\n", b"VALUES /* rows\n").replace(b"(1000", b"*/ (1000"),
            Quoting(),
            id="inside a comment",
        ),
        pytest.param(
            _DUMP.replace(b"VALUES\n", b'VALUES ("\n').replace(b"(1000", b'", (1000'),
            Quoting(),
            id="inside a string",
        ),
    ],
)
def test_row_lines_go_line_by_line_where_the_row_pattern_may_misread_them(
    body: bytes, quoting: Quoting
) -> None:
    assert _taken_line_by_line(body, quoting) >= 1000


def test_a_run_of_row_lines_resumes_after_a_line_that_is_not_one() -> None:
    """A double-quoted string, two rows on a line, a comment, a function, comments, `;` or a
    backslash inside a row: each of those lines goes through add_line(), the row lines around
    them are still taken whole."""
    odd = [
        b'(1,"dq",NULL,0),\n',
        b"(2,'a',NULL,0),(3,'b',NULL,0),\n",
        b"-- a comment\n",
        b"(4,CONCAT('x'),NULL,0),\n",
        b"(5,'a',-- 'b',0),\n",
        b"(6,'a',# 'b',0),\n",
        b"(7,'a',/* 'b' */0),\n",
        b"(8,`a`,NULL,0),\n",
        b"(9,'a',\\g,0),\n",
        b"(10,'a';'b',0),\n",
    ]
    rows = _ROWS.splitlines(keepends=True)
    body = b"INSERT INTO `t` VALUES\n" + b"".join(rows[:300] + odd + rows[300:]) + b"(1000,'',NULL,0);\n"
    assert _taken_line_by_line(body) == 1 + len(odd)


@pytest.mark.parametrize("size", [1, 7, 1 << 20])
def test_a_nul_byte_is_refused_as_the_client_refuses_it(size) -> None:
    """`mariadb < dump` stops at a raw NUL ("ASCII '\\0' appeared in the statement", unless
    --binary-mode): mariadb-dump writes \\0, so a dump holding one does not restore, in a row
    line taken whole or not."""
    body = b"INSERT INTO t VALUES\n(1,'a'),\n(2,'b\0c'),\n(3,'d');\n"
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    statements, error = _outcome(Splitter("dump.sql").split_pieces(pieces))
    assert not statements and error.startswith("dump.sql:3: a NUL byte"), error
    assert _line_by_line(body, _DEFAULT) == (statements, error)


_DUMP_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\0": "\\0"}
_dump_value = st.one_of(
    st.text(alphabet="'\\\n\r\0;-#/*\"`$g aé\t\x1a", max_size=10).map(
        lambda text: "'" + "".join(_DUMP_ESCAPES.get(c, c) for c in text) + "'"
    ),
    st.sampled_from(["NULL", "1", "-2.5", "1e-05", "''''", "_binary 'x'", "0x1F", "\udcff"]),
    # what mariadb-dump never writes (each must end the run taken whole, not be misread), and
    # strings that read otherwise under NO_BACKSLASH_ESCAPES
    st.sampled_from([";", "1;2", "--", "-- x", "#", "/* c */", '"d;q"', "`b`", "\\N", "\\g", "(", "'a\\"]),
    st.sampled_from(["'\\'", "'\\', '#', '-- '", "\0", "'n\0ul'", "\r", "'c\rr'", "'\\\0'"]),
)
_dump_line = st.lists(_dump_value, min_size=1, max_size=4).map(lambda values: "(" + ",".join(values) + ")")


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_dump_line, min_size=1, max_size=12),
    crlf=st.booleans(),
    delimiter=st.sampled_from([";", "$$"]),
    escapes=st.booleans(),
    values_line=st.booleans(),
    size=st.integers(1, 200),
)
def test_row_lines_split_as_line_by_line_in_pieces_of_any_size(
    lines: list[str], crlf: bool, delimiter: str, escapes: bool, values_line: bool, size: int
) -> None:
    """Whatever the rows hold, the line ends, the delimiter, the quoting mode, whether a statement
    starts with them and where the pieces are cut: the same statements (or the same refusal) as
    every line through add_line()."""
    end = "\r\n" if crlf else "\n"
    head = ("" if delimiter == ";" else f"DELIMITER {delimiter}{end}") + f"SELECT 0{delimiter}{end}"
    head += f"INSERT INTO t VALUES{end}" if values_line else ""
    sql = head + f",{end}".join(lines) + f";{end}SELECT 1{delimiter}{end}"
    body = sql.encode("utf-8", "surrogateescape")
    quoting = Quoting(backslash_escapes=escapes)
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    assert _outcome(Splitter("dump.sql", lambda: quoting).split_pieces(pieces)) == _line_by_line(
        body, quoting
    )
