"""How deploycheck trusts a server it talks to over TLS: one verifying client context for the
database, SMTP, IMAP, HTTPS and TLS probes alike (the system store, or the CA file the profile
names; certificate and host name always checked)."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A context that verifies the chain against `ca_file` (or the system store) and the host name."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
