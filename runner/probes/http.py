"""One HTTP GET with a hard timeout, its failure told apart: DNS, refused, TLS, timeout."""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runner.trust import client_context


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
        kind, text = _classify(exc)
        return HttpResult(url, error_kind=kind, error=text, elapsed_ms=_ms(started))
    elapsed = _ms(started)
    try:
        body = response.json()
    except ValueError:
        body = None
    return HttpResult(url, status=response.status_code, elapsed_ms=elapsed, body=body)


def _classify(exc: BaseException) -> tuple[str, str]:
    chain = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for err in chain:
        if isinstance(err, socket.gaierror):
            return "dns", f"DNS lookup failed: {err.strerror or err}"
        if isinstance(err, ssl.SSLCertVerificationError):
            return "tls", f"TLS certificate not accepted: {err.verify_message or err.reason}"
        if isinstance(err, ssl.SSLError):
            return "tls", f"TLS handshake failed: {err.reason or err}"
        if isinstance(err, ConnectionRefusedError):
            return "refused", "connection refused (nothing listens on that port)"
    text = str(exc)
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "dns", f"DNS lookup failed: {text}"
    if "SSL" in text or "certificate" in text:
        return "tls", f"TLS failed: {text}"
    if "refused" in text.lower():
        return "refused", "connection refused (nothing listens on that port)"
    return "connection", f"connection failed: {text}"


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
