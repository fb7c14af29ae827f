"""Keeps secrets out of everything deploycheck writes: reports, logs, tracebacks, test ids.

Secrets are collected from the profile (every `SecretStr`, and every value whose key
says password/secret/token/key) and from environments read on the target (values of
variables whose name says so). `mask()` replaces each with `********`.

Values are masked before they are encoded (`mask_data` for what becomes JSON, YAML or a page;
`mask_body` for what the server answers, decoding JSON first): once encoded, a secret holding
a quote, a backslash or non-ASCII text no longer reads as itself. For text that arrives encoded
already (an archived page, junit.xml), `mask()` also finds each secret as JSON, HTML, XML and
Prometheus labels write it.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, SecretStr

MASK = "********"
SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|(?:^|_)(?:PASS|PW)(?:_|$)|SECRET|TOKEN|KEY|CREDENTIAL", re.IGNORECASE
)
EXPOSITION = "text/plain; version=0.0.4"  # Prometheus's text format, as /metrics answers it
_LABEL_VALUE = re.compile(r'="((?:[^"\\\n]|\\.)*)"')  # a label value as written, escapes and all
MIN_LENGTH = 4  # shorter secrets are masked only where they stand alone: inside words they are text
# The report's own vocabulary (outcomes, summary keys, severities): a whole string that is one of
# them is a word of the schema, not text of the run, and masking part of it (a dev password
# `pass` in `passed`) would change what every reader of the report is told
WORDS = frozenset({"passed", "failed", "error", "errors", "warned", "skipped", "waived"})
WORDS |= {"blocker", "warning", "info"}


def is_secret_name(name: str) -> bool:
    """True for names that say they hold a secret (DB_PASSWORD, MYSQL_PASS, api_token, private_key...)."""
    return bool(SECRET_NAME.search(name))


def secret_values(env: Mapping[str, str]) -> set[str]:
    """The values of the variables whose names say secret: what a profile's `${DB_PASSWORD}`
    put into a key of any name."""
    return {value for name, value in env.items() if is_secret_name(name) and value}


class Redactor:
    """The set of secret strings of one run, and the masking of text against it."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str | None) -> None:
        for value in values:
            if value and value not in self._secrets:
                self._secrets.add(value)
                self._pattern = None

    def add_environment(self, env: Mapping[str, str]) -> None:
        self.add(*secret_values(env))

    def add_model(self, model: BaseModel) -> None:
        """Every secret in a profile: SecretStr fields, secret-named string keys, and what a
        section names with `masked_values()` (a request body, say), recursively."""
        for name, value in model:
            self._add_value(name, value)
        extra = getattr(model, "masked_values", None)
        if callable(extra):
            self.add(*extra())

    def _add_value(self, name: str, value: Any) -> None:
        if isinstance(value, SecretStr):
            self.add(value.get_secret_value())
        elif isinstance(value, BaseModel):
            self.add_model(value)
        elif isinstance(value, str) and is_secret_name(name):
            self.add(value)
        elif isinstance(value, str) and "://" in value:
            self.add_url(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self._add_value(str(key), item)
        elif isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
            for item in value:
                self._add_value(name, item)

    def add_url(self, url: str) -> None:
        """Credentials in a URL: the password of user:password@host, secret-named query values."""
        parts = urlsplit(url)
        self.add(parts.password)
        self.add(*(v for k, v in parse_qsl(parts.query) if is_secret_name(k)))

    def mask(self, text: str) -> str:
        """`text` with every secret masked, also where JSON, HTML, XML or a Prometheus label
        wrote it escaped."""
        if not self._secrets or not text:
            return text
        spans: list[list[int]] = []  # found at every position: secrets may overlap (a `pass` kept
        for found in self._compiled().finditer(text):  # in `passed` must not hide an `assed-x`)
            start, end = found.span(1)
            if _in_word(text, start, end):
                continue
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        parts, at = [], 0
        for start, end in spans:
            parts += [text[at:start], MASK]
            at = end
        return "".join([*parts, text[at:]])

    def _compiled(self) -> re.Pattern[str]:
        if self._pattern is None:
            forms = {
                (form, _alone(form) if len(secret) < MIN_LENGTH else re.escape(form))
                for secret in self._secrets
                for form in _encodings(secret)
            }
            ordered = sorted(forms, key=lambda f: len(f[0]), reverse=True)  # longest first: no partial leaks
            self._pattern = re.compile("(?=(" + "|".join(pattern for _, pattern in ordered) + "))")
        return self._pattern

    def mask_body(self, body: bytes, content_type: str) -> bytes:
        """An HTTP answer masked: JSON decoded, masked value by value and encoded again; a
        Prometheus exposition label value by value (the rest is metric names, fixed help text and
        numbers), so an outcome label stays a WORD as in JSON; any other text masked as text
        (bytes that are not UTF-8 kept as they are); other types as they are."""
        if not self._secrets or not body:
            return body
        if content_type.startswith(EXPOSITION):
            text = body.decode("utf-8", "surrogateescape")
            if self._compiled().search(text) is None:  # the usual case, in one pass
                return body
            return _LABEL_VALUE.sub(
                lambda found: f'="{found[1] if found[1] in WORDS else self.mask(found[1])}"', text
            ).encode("utf-8", "surrogateescape")
        if "json" in content_type:
            try:
                data = json.loads(body)
            except ValueError:
                pass  # not JSON after all (a cut file): masked as text
            else:
                return (json.dumps(self.mask_data(data), indent=2) + "\n").encode()
        if content_type.startswith("text/") or "json" in content_type or "xml" in content_type:
            return self.mask(body.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        return body

    def mask_data(self, value: Any) -> Any:
        """`value` (str, dict, list, tuple: what JSON, YAML and templates are made of) with every
        string masked, keys included, before it is encoded: once encoded, a secret holding a
        quote, a backslash or non-ASCII text no longer reads as itself. A string that is one of
        the report's WORDS is left as it is."""
        if isinstance(value, str):
            return value if value in WORDS else self.mask(value)
        if isinstance(value, Mapping):
            return {self.mask_data(k): self.mask_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_data(v) for v in value]
        return value

    def logging_filter(self) -> logging.Filter:
        redactor = self

        class _Mask(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                record.msg = redactor.mask(record.getMessage())
                record.args = None
                return True

        return _Mask()


def _in_word(text: str, start: int, end: int) -> bool:
    """Whether a secret found at text[start:end] is part of one of the report's WORDS that is not
    the secret itself: a page that says `passed` says so under a password `pass`."""
    first, last = start, end
    while first and text[first - 1].isalpha():
        first -= 1
    while last < len(text) and text[last].isalpha():
        last += 1
    word = text[first:last]
    return word.lower() in WORDS and word != text[start:end]


def _alone(form: str) -> str:
    """A pattern for a short secret's form where no letter or digit adjoins it: a dev password
    `abc` is masked in `password=abc` and `'abc'`, not in `abcd` or `tabc`."""
    before = r"(?<![^\W_])" if form[:1].isalnum() else ""
    after = r"(?![^\W_])" if form[-1:].isalnum() else ""
    return before + re.escape(form) + after


def _encodings(secret: str) -> set[str]:
    """The forms a secret takes in the formats deploycheck writes: itself; a JSON string's
    content (ASCII-escaped or not); a Prometheus label value; HTML and XML text and attributes
    (html.escape, markupsafe's `&#34;`/`&#39;`, ElementTree's `&#10;`); JSON inside HTML."""
    label = secret.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    forms = {secret, label, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    for text in list(forms):
        escaped = html.escape(text, quote=False)
        forms |= {
            escaped,
            html.escape(text),
            escaped.replace('"', "&#34;").replace("'", "&#39;"),
            escaped.replace('"', "&quot;"),
            escaped.replace('"', "&quot;")
            .replace("\n", "&#10;")
            .replace("\t", "&#09;")
            .replace("\r", "&#13;"),
        }
    return forms


def for_profile(*profiles: BaseModel) -> Redactor:
    """A redactor that knows the profiles' secrets and the secret-named variables of this process
    (`serve` over several targets masks every target's answers against all of them)."""
    redactor = Redactor()
    for profile in profiles:
        redactor.add_model(profile)
    redactor.add_environment(os.environ)
    return redactor


def printable(text: str, instead: str = "?") -> str:
    """`text` with control and format (bidi) characters replaced: a name from a dump, a compose
    file or a server error must not send escape sequences to the terminal that shows it."""
    return "".join(ch if ch.isprintable() else instead for ch in text)
