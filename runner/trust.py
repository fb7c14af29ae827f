"""How deploycheck trusts a server it talks to over TLS: one verifying client context for the
database, SMTP, IMAP, HTTPS and TLS probes alike (the system store, or the CA file the profile
names; certificate and host name always checked), and the words for a connection that failed."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from runner.errors import ProfileError


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A context that verifies the chain against `ca_file` (or the system store) and the host name.
    A CA file that cannot be read or holds no certificate is the profile's fault (exit 2)."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except OSError as exc:  # ssl.SSLError is one
        reason = exc.strerror or getattr(exc, "reason", None) or str(exc)
        raise ProfileError(
            f"{ca_file}: cannot be used as a CA file ({reason}): name a readable file of PEM CA "
            "certificates in the profile (database.tls.ca, or the section's ca_file)"
        ) from None


def connection_failure(exc: BaseException) -> tuple[str, str]:
    """(kind, words) for why a connection failed, from the exception and its causes: dns,
    tls (certificate not accepted, handshake), refused, or connection."""
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
