"""One HTTP GET with a hard timeout, its failure told apart: DNS, refused, TLS, timeout."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runner.trust import client_context, connection_failure


@dataclass(frozen=True)
class HttpResult:
    url: str
    status: int | None = None
    elapsed_ms: float = 0.0
    body: Any = None
    error_kind: str | None = None  # dns | refused | tls | timeout | connection
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.error_kind is None


def probe(url: str, timeout_s: float, ca_file: Path | None = None) -> HttpResult:
    verify: ssl.SSLContext | bool = client_context(ca_file) if ca_file else True
    # the clock starts after the client is made: loading the CA bundle is not the endpoint's time
    with httpx.Client(timeout=timeout_s, verify=verify, follow_redirects=False) as client:
        started = time.monotonic()
        try:
            response = client.get(url, headers={"User-Agent": "deploycheck"})
        except httpx.TimeoutException:
            return HttpResult(
                url, error_kind="timeout", error=f"no answer within {timeout_s:g} s", elapsed_ms=_ms(started)
            )
        except httpx.TransportError as exc:
            kind, text = connection_failure(exc)
            return HttpResult(url, error_kind=kind, error=text, elapsed_ms=_ms(started))
        elapsed = _ms(started)
    try:
        body = response.json()
    except ValueError:
        body = None
    return HttpResult(url, status=response.status_code, elapsed_ms=elapsed, body=body)


def json_problems(expected: dict[str, Any], body: Any) -> list[str]:
    """`{"db.connected": true}`: each dotted path must exist in the JSON body with that value,
    compared as JSON values (`json_equal`): `{"ok": 1}` does not answer `ok: true`."""
    if body is None:
        return ["the response is not JSON"]
    problems = []
    for path, want in expected.items():
        node = body
        for part in str(path).split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                problems.append(f"JSON field {path!r} is missing")
                break
        else:
            if not json_equal(want, node):
                kinds = f" (a {_kind(node)}, not a {_kind(want)})" if _kind(node) != _kind(want) else ""
                problems.append(f"JSON field {path!r} is {node!r}, expected {want!r}{kinds}")
    return problems


def json_equal(want: Any, got: Any) -> bool:
    """Equal as JSON values, not as Python's: a boolean is never a number (in Python 1 == True),
    a string never a number; a number is the same number written 1 or 1.0 (JSON has one number
    type); lists and objects compare item by item under the same rules."""
    if _kind(want) != _kind(got):
        return False
    if isinstance(want, dict):
        return want.keys() == got.keys() and all(json_equal(value, got[key]) for key, value in want.items())
    if isinstance(want, list):
        return len(want) == len(got) and all(map(json_equal, want, got))
    return bool(want == got)


def _kind(value: Any) -> str:
    """The JSON type of a value parsed from JSON (or YAML, for the expected side)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return (
        "array" if isinstance(value, list) else "object" if isinstance(value, dict) else type(value).__name__
    )


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
