"""`${name}` placeholders in migrations: replaced in each statement as the server receives it.

Replacement happens after the file is split, so a value never changes where a statement, a
quote or a comment ends, and a placeholder in a comment that is not sent (`--`, `#`, `/* */`)
is not replaced. `$${name}` stands for the text `${name}` itself. `migrations.placeholder_mode`
says how a value goes in:

- `raw` (the default): as written, for identifiers, numbers, collations and the like; a value
  holding a quote, a backslash, `;`, `#`, `--`, `/*`, `*/` or a control character is refused
  with the other problems of the files that use it, before the database is touched (any of
  them could end a literal or a statement, or start a comment).
- `literal`: as a complete SQL string literal, quoted and escaped for the sql_mode of the
  session the statement runs in (NO_BACKSLASH_ESCAPES decides whether a backslash is doubled);
  write `VALUES (${smtp_password})`, not `'${smtp_password}'`: a placeholder inside quotes is
  refused, and so is a value with a backslash right after a non-ASCII character (see
  _SWALLOWED_BACKSLASH).

Values whose names say secret (password, token, key, ...), and values taken from a variable
whose name does (`api_base: ${API_TOKEN}`), are shown masked by a dry run, and masked, also in
fragments, in every error that is printed or recorded in the ledger.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace

from runner.errors import MigrationFileError
from runner.migrations.sqlsplit import Quoting, Statement
from runner.redact import MASK, MIN_LENGTH, is_secret_name, secret_values

PLACEHOLDER = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_.]*)\}")  # group 1 "$": the escape $${name}
_QUOTE_OR_PLACEHOLDER = re.compile(r"""['"`]|\$\$?\{[A-Za-z_][A-Za-z0-9_.]*\}""")
_UNSAFE_RAW = re.compile(r"""['"`\\;#]|--|/\*|\*/|[\x00-\x1f\x7f]""")
# `\` after a non-ASCII character: once doubled, gbk, sjis or big5 (a migration may SET NAMES to
# one) read the character's last byte and the first `\` as one character, and the quote ends early
_SWALLOWED_BACKSLASH = re.compile(r"[^\x00-\x7f]\\")


def _raw_problem(value: str) -> str | None:
    """What in `value` could change the statement it goes into as written (None: nothing)."""
    found = _UNSAFE_RAW.search(value)
    if found is None:
        return None
    what = found.group()
    return "a control character" if what < " " or what == "\x7f" else repr(what)


class Placeholders:
    """The values of one profile's placeholders and how they go into statements."""

    def __init__(self, values: Mapping[str, str], mode: str = "raw") -> None:
        self.values = dict(values)
        self.mode = mode
        # the profile interpolated `${API_TOKEN}` already: a secret-named variable's value is known
        # by its value alone, as the redactor knows it
        self._from_secret_variables = secret_values(os.environ)
        secrets = [v for k, v in self.values.items() if self._secret(k, v)]
        self._secrets = sorted(  # also as a literal sends it: what the server quotes in an error
            {form for v in secrets for form in (v, _quoted(v, False), _quoted(v, True))},
            key=len,
            reverse=True,
        )

    def problems(self, filename: str, text: str) -> list[str]:
        """What stops the placeholders `text` uses (`$${name}` uses none): unknown names, values
        the mode cannot carry. Names the value's offending character, never the value."""
        out = []
        for name in sorted({m.group(2) for m in PLACEHOLDER.finditer(text) if not m.group(1)}):
            if name not in self.values:
                out.append(
                    f"{filename}: unknown placeholder ${{{name}}} (define it under migrations.placeholders)"
                )
            elif "\0" in self.values[name]:
                out.append(
                    f"{filename}: placeholder ${{{name}}} holds a NUL byte, which no SQL text can carry"
                )
            elif self.mode == "literal" and _SWALLOWED_BACKSLASH.search(self.values[name]):
                out.append(
                    f"{filename}: placeholder ${{{name}}} holds a backslash right after a non-ASCII "
                    f"character, which a multibyte character set (gbk, sjis, big5) reads as part of it, "
                    f"ending the literal early: change the value"
                )
            elif self.mode == "raw" and (why := _raw_problem(self.values[name])):
                out.append(
                    f"{filename}: placeholder ${{{name}}} holds {why}, which migrations.placeholder_mode raw "
                    f"refuses (it could end a quote or a statement): set placeholder_mode: literal and write "
                    f"${{{name}}} without quotes, or change the value"
                )
        return out

    def shown(self) -> Placeholders:
        """The same placeholders with every secret value masked: what a dry run prints."""
        return Placeholders({k: MASK if self._secret(k, v) else v for k, v in self.values.items()}, self.mode)

    def _secret(self, name: str, value: str) -> bool:
        return bool(value) and (is_secret_name(name) or value in self._from_secret_variables)

    def substituted(
        self,
        split: Callable[[Callable[[], Quoting]], Iterator[Statement]],
        quoting: Callable[[], Quoting],
        source: str,
    ) -> Iterator[Statement]:
        """The statements `split(quoting)` yields, placeholders replaced; each with the quoting the
        splitter read it with (the last answer it had from `quoting` when it yielded it)."""
        last = [Quoting()]

        def asked() -> Quoting:
            last[0] = quoting()
            return last[0]

        for statement in split(asked):
            yield self.substitute(statement, last[0], source) if "${" in statement.text else statement

    def substitute(self, statement: Statement, quoting: Quoting, source: str = "<sql>") -> Statement:
        text, out, at, quote = statement.text, [], 0, ""
        while at < len(text):
            if quote:
                end = _quote_end(text, at, quote, quoting)
                out.append(PLACEHOLDER.sub(lambda m: self._inside_quotes(m, statement, source), text[at:end]))
                at, quote = end, ""
                continue
            found = _QUOTE_OR_PLACEHOLDER.search(text, at)
            if found is None:
                out.append(text[at:])
                break
            out.append(text[at : found.start()])
            if found.group() in "'\"`":
                quote = found.group()
                out.append(quote)
            else:
                out.append(self._value(PLACEHOLDER.fullmatch(found.group()), quoting))  # type: ignore[arg-type]
            at = found.end()
        return replace(statement, text="".join(out))

    def _value(self, match: re.Match[str], quoting: Quoting) -> str:
        if match.group(1):
            return match.group()[1:]
        value = self.values[match.group(2)]
        return value if self.mode == "raw" else f"'{_quoted(value, quoting.backslash_escapes)}'"

    def _inside_quotes(self, match: re.Match[str], statement: Statement, source: str) -> str:
        if match.group(1):
            return match.group()[1:]
        if self.mode == "literal":
            raise MigrationFileError(
                f"{source}:{statement.line}: statement {statement.number}: "
                f"${{{match.group(2)}}} is inside quotes, but placeholder_mode literal supplies the "
                f"quotes itself: write ${{{match.group(2)}}} without them (CONCAT() joins it with text)"
            )
        return self.values[match.group(2)]

    def mask(self, text: str) -> str:
        """`text` (a server error, a verify query) with every secret value masked, and every part of
        one at least MIN_LENGTH long: a server quotes the statement "near" an error cut anywhere."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        if not self._secrets:
            return text
        out, at = [], 0
        while at < len(text):
            longest = 0
            for secret in self._secrets:
                n = MIN_LENGTH
                while at + n <= len(text) and text[at : at + n] in secret:
                    n += 1
                longest = max(longest, n - 1 if n > MIN_LENGTH else 0)
            if longest >= MIN_LENGTH:
                out.append(MASK)
                at += longest
            else:
                out.append(text[at])
                at += 1
        return "".join(out)


def _quoted(value: str, backslash_escapes: bool) -> str:
    """`value` escaped to go between single quotes (backslashes doubled when they escape)."""
    return (value.replace("\\", "\\\\") if backslash_escapes else value).replace("'", "''")


def _quote_end(text: str, at: int, quote: str, quoting: Quoting) -> int:
    """Where the quoted text that starts at `at` (just after its opening `quote`) ends, its closing
    quote included; a doubled quote does not end it."""
    escapes = quoting.escapes(quote)
    i = at
    while i < len(text):
        c = text[i]
        if escapes and c == "\\":
            i += 2
        elif c == quote:
            if text.startswith(quote, i + 1):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return len(text)
