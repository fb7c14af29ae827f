"""Splitter rules, and a property test: statements built from tricky tokens come back intact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import MigrationFileError
from runner.migrations.sqlsplit import Statement, may_change_quoting, split_lines, split_sql


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
