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
  a line is dropped, as the client does;
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

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from runner.errors import MigrationFileError

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
    """One statement as the server will receive it; `line` is where it starts in the file."""

    number: int
    line: int
    text: str


class _Run:
    """Regex that consumes, in one C-level match, a run of text holding nothing the splitter
    must look at: plain characters and complete one-line strings. Keeps a 250 MB dump of
    extended INSERTs from going through Python one character at a time."""

    def __init__(self, delimiter: str) -> None:
        first = delimiter[0]
        lone = [alt for char, alt in (("-", r"-(?!-)"), ("/", r"/(?!\*)")) if char != first]
        self.pattern = re.compile(
            rf"""(?:[^'"`\\#/\-{re.escape(first)}]++"""
            r"""|'(?:[^'\\]++|\\.)*+'|"(?:[^"\\]++|\\.)*+"|`[^`]*+`"""
            + "".join(f"|{alt}" for alt in lone)
            + ")*+"
        )


_STRING_STOP = {"'": re.compile(r"['\\]"), '"': re.compile(r'["\\]'), "`": re.compile(r"`")}


class Splitter:
    """Feed lines, get statements; state (delimiter, open quote or comment) carries across lines."""

    def __init__(self, source: str = "<sql>") -> None:
        self.source = source
        self.delimiter = ";"
        self._run = _Run(";")
        self._parts: list[str] = []
        self._size = 0
        self._blank = True
        self._start_line = 0
        self._in_string = ""
        self._ml_comment = False
        self._count = 0

    # -- public -------------------------------------------------------------

    def feed(self, line: str, lineno: int) -> list[Statement]:
        """Process one line (without its newline); return the statements it completed."""
        out: list[Statement] = []
        if lineno == 1 and line.startswith("\ufeff"):
            line = line[1:]
        if not self._size and not self._in_string and not self._ml_comment:
            command = self._line_command(line)
            if command is not None:
                self._client_command(command, line, lineno)
                return out
        self._add_line(line, lineno, out)
        return out

    def finish(self) -> list[Statement]:
        """End of input: the client sends what is left even without a terminator."""
        out: list[Statement] = []
        self._emit(out, self._start_line, terminated=False)
        return out

    # -- the client's add_line() --------------------------------------------

    def _add_line(self, line: str, lineno: int, out: list[Statement]) -> None:
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
                end = self._run.pattern.match(line, i).end()
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
                    self._emit(out, lineno, terminated=False)
                    i += 1
                    continue
                raise MigrationFileError(
                    f"{self.source}:{lineno}: '\\{line[i]}' is a command of the mysql client, "
                    "not SQL; deploycheck does not run client commands: remove it"
                )
            if not self._ml_comment and line.startswith(delimiter, i):
                i += len(delimiter)
                self._flush(pending, lineno)
                self._emit(out, lineno)
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
        match = _STRING_STOP[quote].search(line, i)
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

    def _emit(self, out: list[Statement], lineno: int, *, terminated: bool = True) -> None:
        """Send the statement (the client's com_go); only a terminated one may be a client command."""
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
        out.append(Statement(self._count, start, text))

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
        self._run = _Run(argument)


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


def split_lines(lines: Iterable[str], source: str = "<sql>") -> Iterator[Statement]:
    """Statements of `lines` (each without its newline), streamed."""
    splitter = Splitter(source)
    for lineno, line in enumerate(lines, 1):
        yield from splitter.feed(line, lineno)
    yield from splitter.finish()


def split_sql(text: str, source: str = "<sql>") -> list[Statement]:
    """Statements of a whole SQL text; for small inputs and tests."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return list(split_lines(lines, source))
