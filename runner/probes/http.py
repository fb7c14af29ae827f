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
    started = time.monotonic()
    try:
        with httpx.Client(timeout=timeout_s, verify=verify, follow_redirects=False) as client:
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
    """`{"db.connected": true}`: each dotted path must exist in the JSON body with that value."""
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
            if node != want:
                problems.append(f"JSON field {path!r} is {node!r}, expected {want!r}")
    return problems


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
