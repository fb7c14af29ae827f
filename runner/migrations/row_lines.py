"""The lines of a dump that are one INSERT row each, found at C speed: the dump scan counts them,
the client-exact splitter takes them whole.

mariadb-dump writes each row of an INSERT on a line of its own, `(...),` or, for the last,
`(...);`: nearly every line of a dump. RE2 (a linear-time DFA that releases the GIL) finds how
far such lines go with one match over a piece of the dump, where Python would take each line.
Defined here, beside the splitter whose rules it must keep, because the splitter may only take
a line whole when the client would read nothing in it but plain text and complete strings.
"""

from __future__ import annotations

from typing import Any

try:
    import re2
except ImportError:  # pragma: no cover - depends on what is installed
    re2 = None

# Outside its strings a row holds nothing the client looks at: no quote, backslash, `#`, `/`
# (so no `/*`), `;`, and `-` only before a digit or `.` (so no `--`); nor `(` `)`, so that the
# line is exactly one row. Its strings are `'...'` closed on the same line, read with
# backslash escapes (a backslash never ends the line); `''` pairs off as two strings, which
# reads the same. A line break follows `,` or `;` only, so no CR stands before one (the
# client would drop it). No NUL: the client refuses a line holding one.
_OUTSIDE = rb"[^'\"`\\#/;()\n\x00-]|-[0-9.]"
_STRING = rb"'(?:[^'\\\n\x00]|\\[^\n\x00])*'"
_ROW = rb"\((?:" + _OUTSIDE + rb"|" + _STRING + rb")*\)"
_ROW_LINES = rb"(?:" + _ROW + rb",\n)*(?:" + _ROW + rb";\n)?"


def _compiled() -> Any:
    if re2 is None:
        return None
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1  # bytes as they are: strings hold any binary
    options.never_capture = True
    return re2.compile(_ROW_LINES, options)


_ROW_LINES_RE2 = _compiled()


def row_lines_end(buf: bytes, pos: int) -> int:
    """Where the run of one-row lines that starts at `pos` ends (`pos`: none, or no RE2); a run
    ends after the first row ending in `;`."""
    if _ROW_LINES_RE2 is None:
        return pos
    return _ROW_LINES_RE2.match(buf, pos).end()
