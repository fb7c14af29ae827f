"""SQL read token by token as the server reads it, for the confinement guard.

The splitter (sqlsplit) decides where statements end; this reads one statement's text with the
quoting the splitter used for it (the server's sql_mode then), opening `/*!NNNNN */` and
`/*M! */` executable comments as SQL whatever their version and skipping other comments. A
dump's extended INSERT is read head only when the rest is nothing but literal rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from runner.migrations.sqlsplit import Quoting, Statement

try:
    import re2
except ImportError:  # pragma: no cover - depends on what is installed
    re2 = None


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word | ident | string | number | var | op
    value: str  # words upper-cased (keywords are compared), identifiers unquoted
    start: int
    end: int
    name: str = ""  # a word or identifier as written (names are compared)


# What the server reads as one unquoted name: ASCII letters and digits, `_`, `$`, and every character
# beyond ASCII; Python's \s and \w would cut `t\u00a0WHERE` (a no-break space) or `t\u20acWHERE` in
# two. Only ASCII white space separates, only ASCII digits make a number.
_NAME = r"0-9A-Za-z_$\x80-\U0010ffff"


def _token_pattern(quoting: Quoting) -> re.Pattern[str]:
    def quoted(q: str) -> str:
        return rf"{q}(?:[^{q}\\]|\\.|{q}{q})*{q}" if quoting.escapes(q) else rf"{q}(?:[^{q}]|{q}{q})*{q}"

    return re.compile(
        r"(?P<space>[ \t\n\v\f\r]+)"
        r"|(?P<exec>/\*M?!(?:[0-9]{5,6})?)"  # fewer digits are no version: `/*!12*/` is 12
        r"|(?P<close>\*/)"
        r"|(?P<comment>/\*.*?(?:\*/|\Z)|\#[^\n]*|--(?:[\x00-\x09\x0b-\x20\x7f][^\n]*)?(?=\n|\Z))"
        rf"|(?P<squote>{quoted(chr(39))})"
        rf"|(?P<dquote>{quoted(chr(34))})"
        r"|(?P<ident>`(?:[^`]|``)*`)"
        rf"|(?P<var>@@?(?:`(?:[^`]|``)*`|{quoted(chr(39))}|{quoted(chr(34))}|[{_NAME}.]+)?)"
        r"|(?P<number>(?:0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?"
        rf"|(?<![{_NAME}`])\.[0-9]+(?:[eE][-+]?[0-9]+)?)(?![{_NAME}]))"
        rf"|(?P<word>[{_NAME}]+)"
        r"|(?P<op><=>|<>|!=|<=|>=|:=|\|\||&&|.)",
        re.S,
    )


_PATTERNS: dict[Quoting, re.Pattern[str]] = {}

# A dump's extended INSERT: a plain head, then nothing but literal rows. Only the head needs
# reading token by token; the rows are matched in one C-level pass (a 250 MB dump stays fast). Its
# column list holds no comment and only closed `names`: a skipped `/*!99999` or an open backtick
# there would end in the rows, unread. Its words and spaces are ASCII, as the server's are:
# `t\u00a0VALUES`, `tVALUES` and `ınsert` are names to the server, not a table and a keyword.
_SPACE = r"[ \t\n\v\f\r]"  # the server's white space (RE2's \s leaves out \v)
_COLUMNS = r"\((?:[^()'\"/#`-]|`(?:[^`]|``)*+`)*+\)"  # possessive: `a``b` is read one way only
_DATA_HEAD = re.compile(
    rf"\s*(?:INSERT|REPLACE)\s+(?:IGNORE\s+)?INTO\s+(?:`(?:[^`]|``)+`|[{_NAME}]+(?![{_NAME}]))"
    rf"(?:\s*{_COLUMNS})?\s*VALUES\s*",
    re.IGNORECASE | re.ASCII,
)


def _rows_source(quoting: Quoting, possessive: str) -> str:
    """Literal rows, `(1,'a'),(2,NULL)`, as a pattern; `possessive` "+" for re (no backtracking
    into a long string), "" for RE2 (which never backtracks)."""

    def quoted(q: str) -> str:
        if quoting.escapes(q):
            return rf"{q}(?:[^{q}\\]+{possessive}|\\.|{q}{q})*{possessive}{q}"
        return rf"{q}(?:[^{q}]+{possessive}|{q}{q})*{possessive}{q}"

    strings = quoted("'") + ("" if quoting.ansi_quotes else "|" + quoted('"'))
    literal = rf"(?:(?:_\w+{_SPACE}*)?(?:{strings})|0x[0-9a-fA-F]+|[xXbB]'[0-9a-fA-F]*'|NULL|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    row = rf"\({_SPACE}*{literal}(?:{_SPACE}*,{_SPACE}*{literal})*{possessive}{_SPACE}*\)"
    return rf"{row}(?:{_SPACE}*,{_SPACE}*{row})*{possessive}{_SPACE}*"


def _rows_matcher(quoting: Quoting) -> Callable[[str, int], bool]:
    """Whether a statement's text from a position on is nothing but literal rows. RE2, where it
    is installed, reads the UTF-8 bytes as a DFA, several times faster than re, and releases the
    GIL, so the drill's read-ahead thread checks the next INSERT while the server runs the one
    before. Both read ASCII classes only (re.ASCII; RE2's are), as the server does."""
    if re2 is None:
        pattern = re.compile(_rows_source(quoting, "+"), re.S | re.ASCII)  # as RE2 reads \s, \d, \w
        return lambda text, pos: pattern.fullmatch(text, pos) is not None
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1  # bytes as they are: strings hold any binary
    options.never_capture = True
    compiled = re2.compile(("(?s)" + _rows_source(quoting, "")).encode(), options)

    def matches(text: str, pos: int) -> bool:
        data = text.encode("utf-8", "surrogateescape")
        return compiled.fullmatch(data, len(text[:pos].encode("utf-8", "surrogateescape"))) is not None

    return matches


_ROWS: dict[Quoting, Callable[[str, int], bool]] = {}


def read_part(statement: Statement) -> str:
    """The part of `statement` the guard must read: all of it, or the head of a data INSERT."""
    head = _DATA_HEAD.match(statement.text)
    if head is None:
        return statement.text
    quoting = statement.quoting or Quoting()
    if quoting not in _ROWS:
        _ROWS[quoting] = _rows_matcher(quoting)
    return head.group() if _ROWS[quoting](statement.text, head.end()) else statement.text


# Executable comments a server may skip: MariaDB skips `/*!50700`..`/*!99999` (MySQL 5.7+ only) and
# versions above its own, MySQL skips `/*M!` and versions above its own; below 50700 all run them.
_CONDITIONAL = re.compile(r"/\*(?:M!|!(?:50[7-9]\d\d|5[1-9]\d{3}|[6-9]\d{4}|\d{6}))")


def tokens(
    text: str, quoting: Quoting | None = None, conditional: list[tuple[int, int, str]] | None = None
) -> Iterator[Token]:
    """The tokens the server reads in `text`; executable comments are opened, others skipped.
    `conditional` gets the span and opener (`/*!80023`) of each comment a server may skip (see
    _CONDITIONAL), its end -1 when a quote or comment inside runs past its first `*/`, where a
    skipping server ends it, or a `/*` comes before that (see _skipped_to)."""
    quoting = quoting or Quoting()
    pattern = _PATTERNS.setdefault(quoting, _token_pattern(quoting))
    opened: list[tuple[int, int, str]] = []  # (start, first `*/`, opener); start -1: not conditional
    close = -2  # the first `*/` at or after the last opener's end (-1: none), found once per text
    for match in pattern.finditer(text):
        kind = match.lastgroup
        raw = match.group()
        if kind in ("space", "comment"):
            continue
        if kind == "exec":
            if -1 < close < match.end() or close == -2:
                close = text.find("*/", match.end())
            skipped_to = _skipped_to(text, match.end(), close)
            opened.append((match.start() if _CONDITIONAL.match(raw) else -1, skipped_to, raw))
            continue
        if kind == "close" and opened:
            start, skipped_to, opener = opened.pop()
            if start >= 0 and conditional is not None:
                conditional.append((start, match.end() if match.start() == skipped_to else -1, opener))
            continue
        if kind == "close":
            yield Token("op", "*", match.start(), match.start() + 1)
            yield Token("op", "/", match.start() + 1, match.end())
            continue
        if kind == "dquote":
            kind = "ident" if quoting.ansi_quotes else "string"
        if kind == "squote":
            kind = "string"
        if kind == "ident":
            value = name = raw[1:-1].replace(raw[0] * 2, raw[0])
        else:
            # a keyword is ASCII: str.upper() would make the name `\u017fet` (long s) SET
            value, name = (raw.upper() if kind == "word" and raw.isascii() else raw), raw
        assert kind is not None
        yield Token(kind, value, match.start(), match.end(), name)
    if conditional is not None:  # never closed: a skipping server reads on after its first `*/`
        conditional += [
            (start, len(text) if to == -1 else -1, raw) for start, to, raw in opened if start >= 0
        ]


def _skipped_to(text: str, start: int, first: int) -> int:
    """Where a server that skips the comment opened before `start` ends it: its first `*/`, `first`
    (-1: none), or -2 when a `/*` comes first. MariaDB and MySQL let one `/*` nest in a skipped comment
    (a quote is nothing to them): `/*!99999 '/*' */ TABLE t */ DATABASE x` skips to the second `*/`
    and drops database x, where MySQL's `/*M!`, a plain comment to it, ends at the first."""
    return -2 if text.find("/*", start, len(text) if first < 0 else first + 1) >= 0 else first
