"""Split SQL into statements exactly as the mysql/mariadb command-line client does in batch mode.

Written by hand because no library reproduces the client: sqlparse and the
migration tools split on `;` and know nothing of DELIMITER, of `\\g`, or of what
the client strips before sending. The rules below mirror `add_line()` and
`read_and_execute()` in the client's mysql.cc, so that the server receives the
same statement texts from `deploycheck migrate` as from `mariadb < file`:

- input is read line by line; `DELIMITER x` on a line of its own (at a statement
  start) changes the terminator; the terminator ends a statement anywhere
  outside quotes and comments, also inside `/*! */` executable comments;
- '...', "..." take backslash escapes, `...` does not; a backslash at the end of
  a line is dropped, as the client does. Like the client, the splitter follows
  the server's status flags: under sql_mode NO_BACKSLASH_ESCAPES no quote takes
  escapes, under ANSI_QUOTES (MariaDB reports it) "..." takes none. The flags are
  read again after every statement, because a statement may change sql_mode for
  the rest of the file, the rest of its own line included;
- `#` and `-- ` comments (and `--` opening a statement) run to the end of the
  line and are not sent; `/* */` comments are not sent (a space stands in for
  them), `/*! */`, `/*M! */` and `/*+ */` are sent;
- leading white space of a statement and trailing white space are not sent, nor
  are statements that are empty after that.

Client commands other than DELIMITER (`use`, `source`, `\\. file`, ...) are run by
the client itself, not sent; a migration that holds one is refused with the line
that has it, rather than being run differently from the client.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from runner.errors import MigrationFileError
from runner.migrations.row_lines import row_lines_end

_SPACE = " \t\n\v\f\r"
_QUOTES = "'\"`"

# Named client commands (mysql.cc `commands[]`) and whether they take arguments.
_CLIENT_COMMANDS = {
    "?": True,
    "clear": False,
    "connect": True,
    "delimiter": True,
    "edit": False,
    "ego": False,
    "exit": False,
    "go": False,
    "help": True,
    "nopager": False,
    "notee": False,
    "pager": True,
    "print": False,
    "prompt": True,
    "quit": False,
    "rehash": False,
    "source": True,
    "status": False,
    "system": True,
    "tee": True,
    "use": True,
    "charset": True,
    "warnings": False,
    "nowarning": False,
}


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement as the server will receive it; `line` is where it starts in the file,
    `delimiter` the one in force (under `;` no statement holds a `;` outside quotes)."""

    number: int
    line: int
    text: str
    delimiter: str = ";"
    problem: str = ""  # set when the file ends inside a quote or comment: the statement is cut short
    quoting: Quoting | None = field(default=None, compare=False)  # how its quotes were read (None: default)


# Server status flags the client reads after every statement (mysql_com.h).
NO_BACKSLASH_ESCAPES = 0x0200
ANSI_QUOTES = 0x8000  # MariaDB only; MySQL servers never set it


@dataclass(frozen=True, slots=True)
class Quoting:
    """How the client reads quotes: it follows the server's sql_mode, as reported in the
    status flags of the last reply."""

    backslash_escapes: bool = True  # off under NO_BACKSLASH_ESCAPES
    ansi_quotes: bool = False  # "..." is an identifier: no escapes inside

    @classmethod
    def from_server_status(cls, status: int) -> Quoting:
        return cls(not status & NO_BACKSLASH_ESCAPES, bool(status & ANSI_QUOTES))

    def escapes(self, quote: str) -> bool:
        """Whether a backslash escapes the next character inside `quote`."""
        if quote == "`" or not self.backslash_escapes:
            return False
        return not (quote == '"' and self.ansi_quotes)


_ONE_INSERT = re.compile(r"(?:INSERT|REPLACE)\b", re.IGNORECASE)


def may_change_quoting(statement: Statement) -> bool:
    """Whether running `statement` may change how the client reads quotes in what follows: only
    an assignment to sql_mode can, or dynamic SQL (stored routines restore the caller's
    sql_mode). Lets a splitter that runs ahead of the server know where to wait."""
    if statement.delimiter == ";" and _ONE_INSERT.match(statement.text):
        return False  # a single INSERT, however large its data: it sets no session variable
    lowered = statement.text.lower()
    return "sql_mode" in lowered or "execute" in lowered


@functools.cache
def _run_pattern(delimiter: str, quoting: Quoting) -> re.Pattern[str]:
    """Regex that consumes, in one C-level match, a run of text holding nothing the splitter
    must look at: plain characters and complete one-line strings. Keeps a 250 MB dump of
    extended INSERTs from going through Python one character at a time."""
    first = delimiter[0]
    lone = [alt for char, alt in (("-", r"-(?!-)"), ("/", r"/(?!\*)")) if char != first]
    strings = [rf"{q}(?:[^{q}\\]++|\\.)*+{q}" if quoting.escapes(q) else rf"{q}[^{q}]*+{q}" for q in _QUOTES]
    return re.compile(
        rf"""(?:[^'"`\\#/\-{re.escape(first)}]++|"""
        + "|".join(strings)
        + "".join(f"|{alt}" for alt in lone)
        + ")*+"
    )


@functools.cache
def _string_stop(quote: str, quoting: Quoting) -> re.Pattern[str]:
    """Where the inside of an open `quote` may end: at the quote, or at an escaping backslash."""
    return re.compile(f"[{quote}\\\\]" if quoting.escapes(quote) else quote)


class Splitter:
    """Feed lines, get statements; state (delimiter, open quote or comment) carries across lines.
    `quoting` is asked before the first statement and again each time the caller comes back for
    the next one, by then having run the last: the answer must be what the server reports now."""

    def __init__(self, source: str = "<sql>", quoting: Callable[[], Quoting] = Quoting) -> None:
        self.source = source
        self.delimiter = ";"
        self._quoting_now = quoting
        self._quoting = quoting()
        self._run = _run_pattern(";", self._quoting)
        self._parts: list[str] = []
        self._size = 0
        self._blank = True
        self._start_line = 0
        self._in_string = ""
        self._quote_line = 0
        self._ml_comment = False
        self._count = 0
        self._problem = ""

    # -- public -------------------------------------------------------------

    def feed(self, line: str, lineno: int) -> Iterator[Statement]:
        """Process one line (without its newline); yield the statements it completes, each
        before the rest of the line is read."""
        if lineno == 1 and line.startswith("\ufeff"):
            line = line[1:]
        if "\0" in line:
            raise MigrationFileError(
                f"{self.source}:{lineno}: a NUL byte: the mariadb client refuses a file holding one "
                "(unless --binary-mode), so it would not run there; write it as \\0 in a string"
            )
        if not self._size and not self._in_string and not self._ml_comment:
            command = self._line_command(line)
            if command is not None:
                self._client_command(command, line, lineno)
                return
        yield from self._add_line(line, lineno)

    def finish(self) -> Iterator[Statement]:
        """End of input: the client sends what is left even without a terminator. When the file
        ends inside a quote, what is sent swallowed everything after it: say so, and where."""
        if self._in_string:
            self._problem = (
                f"the file ends inside a {self._in_string} quote opened on line {self._quote_line}: "
                "everything after it was read as part of the string"
            )
        yield from self._emit(self._start_line, terminated=False)

    def split_pieces(self, pieces: Iterable[bytes]) -> Iterator[Statement]:
        """Statements of a byte stream cut anywhere (a dump as `gunzip -c | mariadb` reads it):
        its lines as the client reads them (no line end, a CR before it dropped; bytes that are
        not UTF-8 kept as they are, by surrogateescape), except that where `_takes_rows()`, the
        run of row lines there comes as one text, found by one RE2 match: a dump's rows at C
        speed instead of each line through `_add_line` (mariadb-dump writes a row a line)."""
        lineno = 0
        carry = b""
        for piece in pieces:
            buf = carry + piece if carry else piece
            pos = 0
            while True:
                if self._takes_rows():
                    end = row_lines_end(buf, pos)  # whole lines only: a row the piece cuts waits
                    if end > pos:
                        lineno += buf.count(b"\n", pos, end)
                        yield from self._rows(buf[pos:end].decode("utf-8", "surrogateescape"), lineno)
                        pos = end
                        continue
                newline = buf.find(b"\n", pos)
                if newline == -1:
                    break
                lineno += 1
                yield from self.feed(_client_line(buf[pos:newline]), lineno)
                pos = newline + 1
            carry = buf[pos:]
        if carry:
            yield from self.feed(_client_line(carry), lineno + 1)
        yield from self.finish()

    # -- a dump's row lines, taken whole ------------------------------------

    def _takes_rows(self) -> bool:
        """Whether row lines (row_lines.py) may come next as one text: inside a statement (not
        at its start, where the client looks for its commands), outside quotes and comments,
        under the `;` delimiter, and with '...' reading backslash escapes, as the row pattern
        does (not under NO_BACKSLASH_ESCAPES). A row line then holds nothing that `_add_line`
        would act on but the last row's `;`, so taking the run whole sends the same text."""
        return (
            self._size > 0
            and not self._in_string
            and not self._ml_comment
            and self.delimiter == ";"
            and self._quoting.backslash_escapes
        )

    def _rows(self, text: str, lineno: int) -> Iterator[Statement]:
        """A run of row lines ending on line `lineno`, each with its line end, as `_add_line`
        would take them one by one (only when `_takes_rows()`): the last row's `;` ends the
        statement."""
        if text.endswith(";\n"):
            self._parts.append(text[:-2])
            yield from self._emit(lineno)
            return
        self._parts.append(text)
        self._size += len(text)

    # -- the client's add_line() --------------------------------------------

    def _add_line(self, line: str, lineno: int) -> Iterator[Statement]:
        if not line and not self._size:
            return
        pending: list[str] = []  # characters of this line not yet moved to the statement
        n = len(line)
        i = 0
        need_space = False
        delimiter = self.delimiter
        while i < n:
            c = line[i]
            if c in _SPACE and not pending and not self._size:
                i += 1
                continue
            if self._in_string:
                i = self._string_body(line, i, pending)
                continue
            if not self._ml_comment and not need_space:
                end = self._run.match(line, i).end()
                if end > i:
                    pending.append(line[i:end])
                    i = end
                    continue
            if not self._ml_comment and c == "\\":
                i += 1
                if i >= n:
                    break
                if line[i] == "N":
                    pending.append("\\N")
                    i += 1
                    continue
                if line[i] in "gG":
                    self._flush(pending, lineno)
                    yield from self._emit(lineno, terminated=False)
                    i += 1
                    continue
                raise MigrationFileError(
                    f"{self.source}:{lineno}: '\\{line[i]}' is a command of the mysql client, "
                    "not SQL; deploycheck does not run client commands: remove it"
                )
            if not self._ml_comment and line.startswith(delimiter, i):
                i += len(delimiter)
                self._flush(pending, lineno)
                yield from self._emit(lineno)
                continue
            if not self._ml_comment and (
                c == "#"
                or (
                    c == "-"
                    and line.startswith("-", i + 1)
                    and (i + 2 >= n or line[i + 2] in _SPACE or (not self._size and not pending))
                )
            ):
                break
            if c == "/" and line.startswith("*", i + 1) and not _executable_comment(line, i):
                i += 2
                self._ml_comment = True
                self._flush(pending, lineno)
                continue
            if self._ml_comment and c == "*" and line.startswith("/", i + 1):
                i += 2
                self._ml_comment = False
                self._flush(pending, lineno)
                need_space = True
                continue
            if not self._ml_comment and c in _QUOTES:
                self._in_string = c
                self._quote_line = lineno
            if not self._ml_comment:
                if need_space and c not in _SPACE:
                    pending.append(" ")
                need_space = False
                pending.append(c)
            i += 1
        if pending or self._size:
            text = "".join(pending)
            if text[:9].lower() != "delimiter" or self._in_string or self._ml_comment:
                pending.append("\n")
            if not self._ml_comment:
                self._flush(pending, lineno)
        if self._size and self._blank:
            self._reset()

    def _string_body(self, line: str, i: int, pending: list[str]) -> int:
        """Copy the inside of an open quote up to and including its end (or the line's end)."""
        quote = self._in_string
        match = _string_stop(quote, self._quoting).search(line, i)
        if match is None:
            pending.append(line[i:])
            return len(line)
        j = match.start()
        pending.append(line[i:j])
        if line[j] == "\\":
            if j + 1 >= len(line):
                return len(line)  # the client drops a backslash that ends a line
            pending.append(line[j : j + 2])
            return j + 2
        pending.append(quote)
        self._in_string = ""
        return j + 1

    def _flush(self, pending: list[str], lineno: int) -> None:
        if not pending:
            return
        if not self._size:
            self._start_line = lineno
        for part in pending:
            self._parts.append(part)
            self._size += len(part)
            self._blank = self._blank and not part.strip(_SPACE)
        pending.clear()

    def _reset(self) -> None:
        self._parts.clear()
        self._size = 0
        self._blank = True
        self._start_line = 0

    def _emit(self, lineno: int, *, terminated: bool = True) -> Iterator[Statement]:
        """Send the statement (the client's com_go); only a terminated one may be a client command.
        Once the caller comes back, the server has run it: read its quoting again."""
        text = "".join(self._parts).rstrip(_NOT_GRAPH)
        start = self._start_line or lineno
        self._reset()
        if not text:
            return
        command = _command_word(text) if terminated else None
        if command is not None:
            raise MigrationFileError(
                f"{self.source}:{start}: {command!r} is a command of the mysql client, not SQL; "
                + (
                    "put DELIMITER on a line of its own"
                    if command == "delimiter"
                    else "deploycheck does not run client commands: remove it"
                )
            )
        self._count += 1
        yield Statement(self._count, start, text, self.delimiter, self._problem, self._quoting)
        quoting = self._quoting_now()
        if quoting != self._quoting:
            self._quoting = quoting
            self._run = _run_pattern(self.delimiter, quoting)

    # -- the client's read_and_execute()/find_command() for a whole line ----

    def _line_command(self, line: str) -> str | None:
        stripped = line.lstrip(_SPACE)
        if "\\g" in stripped:
            return None
        if self.delimiter in stripped and stripped[:9].lower() != "delimiter":
            return None
        return _command_word(stripped)

    def _client_command(self, command: str, line: str, lineno: int) -> None:
        if command != "delimiter":
            raise MigrationFileError(
                f"{self.source}:{lineno}: {command!r} is a command of the mysql client, not SQL; "
                "deploycheck does not run client commands: remove it"
            )
        argument = _command_argument(line)
        if not argument:
            raise MigrationFileError(f"{self.source}:{lineno}: DELIMITER must be followed by a delimiter")
        if "\\" in argument:
            raise MigrationFileError(f"{self.source}:{lineno}: DELIMITER cannot contain a backslash")
        self.delimiter = argument
        self._run = _run_pattern(argument, self._quoting)


_NOT_GRAPH = "".join(chr(c) for c in range(33)) + "\x7f"


def _executable_comment(line: str, i: int) -> bool:
    """`/*!`, `/*M!` and `/*+` comments are sent to the server; other `/*` comments are not."""
    return line.startswith(("/*!", "/*+", "/*M!"), i)


def _command_word(text: str) -> str | None:
    """The client command `text` starts with, as the client's find_command() would see it."""
    match = re.match(r"([^ \t]*)[ \t]*(.*)", text, re.S)
    assert match is not None
    word, rest = match.group(1).lower(), match.group(2)
    takes_params = _CLIENT_COMMANDS.get(word)
    if takes_params is None:
        return None
    if rest.strip(_SPACE) and not takes_params:
        return None
    return word


def _command_argument(line: str) -> str:
    """The argument of a client command line, as the client's get_arg(): a word or a quoted string."""
    parts = line.strip(_SPACE).split(None, 1)
    rest = parts[1] if len(parts) > 1 else ""
    if rest and rest[0] in _QUOTES:
        end = rest.find(rest[0], 1)
        return rest[1:end] if end > 0 else rest[1:]
    return rest.split(" ", 1)[0].rstrip(_SPACE)


def split_lines(
    lines: Iterable[str], source: str = "<sql>", quoting: Callable[[], Quoting] = Quoting
) -> Iterator[Statement]:
    """Statements of `lines` (each without its newline), streamed; see Splitter for `quoting`."""
    splitter = Splitter(source, quoting)
    for lineno, line in enumerate(lines, 1):
        yield from splitter.feed(line, lineno)
    yield from splitter.finish()


def _client_line(raw: bytes) -> str:
    return raw.removesuffix(b"\r").decode("utf-8", "surrogateescape")


def split_sql(text: str, source: str = "<sql>") -> list[Statement]:
    """Statements of a whole SQL text; for small inputs and tests."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return list(split_lines(lines, source))
