"""TLS endpoints: the certificates a server sends, and whether a client would accept them.

Two handshakes per endpoint: one with pyOpenSSL that accepts anything, to read the whole
chain as sent (an expired certificate is then reported as expired, with its dates, not as
"unreachable"); one with the ssl module as a real client would verify it (trust store or
tls.ca_file, host name). Python 3.11's ssl cannot hand back an unverified chain.
"""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from OpenSSL import SSL

from runner.errors import TargetUnreachable
from runner.profile.model import Endpoint
from runner.trust import client_context


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    key: str  # "RSA 2048", "EC 256", "Ed25519"
    rsa_bits: int | None

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def dates(self) -> str:
        return f"valid {self.not_before:%Y-%m-%d} to {self.not_after:%Y-%m-%d}"


@dataclass
class TlsResult:
    endpoint: Endpoint
    chain: list[CertInfo] = field(default_factory=list)
    protocol: str = ""
    cipher: str = ""
    verify_error: str | None = None  # why a client would refuse the chain or the host name


def probe(endpoint: Endpoint, timeout_s: float, ca_file: Path | None = None) -> TlsResult:
    result = TlsResult(endpoint)
    _read_chain(endpoint, timeout_s, result)
    context = client_context(ca_file)
    try:
        with _connect(endpoint, timeout_s) as raw, context.wrap_socket(raw, server_hostname=endpoint.host):
            pass
    except ssl.SSLCertVerificationError as exc:
        result.verify_error = exc.verify_message or str(exc)
    except (ssl.SSLError, OSError) as exc:
        result.verify_error = f"handshake failed: {exc}"
    return result


def _read_chain(endpoint: Endpoint, timeout_s: float, result: TlsResult) -> None:
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE, lambda *args: True)
    # reading only: a server stuck on TLS 1.0/1.1 or a weak key is then judged, not "unreachable"
    context.set_min_proto_version(SSL.TLS1_VERSION)
    context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    with _connect(endpoint, timeout_s) as raw:
        # pyOpenSSL wants a blocking socket; the kernel enforces the timeout instead of Python
        raw.settimeout(None)
        limit = struct.pack("ll", int(timeout_s), int((timeout_s % 1) * 1_000_000))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
        conn = SSL.Connection(context, raw)
        conn.set_tlsext_host_name(endpoint.host.encode("idna"))
        conn.set_connect_state()
        try:
            conn.do_handshake()
        except (SSL.Error, OSError) as exc:
            raise TargetUnreachable(f"{endpoint.text}: TLS handshake failed: {exc}") from None
        result.protocol = conn.get_protocol_version_name()
        result.cipher = conn.get_cipher_name() or ""
        result.chain = [_info(cert.to_cryptography()) for cert in conn.get_peer_cert_chain() or []]
        conn.shutdown()


def _connect(endpoint: Endpoint, timeout_s: float) -> socket.socket:
    """A TCP connection ready for the TLS handshake (after STARTTLS for smtp+starttls)."""
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s)
    except socket.gaierror as exc:
        raise TargetUnreachable(f"{endpoint.text}: unreachable: DNS lookup failed ({exc.strerror})") from None
    except TimeoutError:
        raise TargetUnreachable(
            f"{endpoint.text}: unreachable: no connection within {timeout_s:g} s"
        ) from None
    except OSError as exc:
        raise TargetUnreachable(f"{endpoint.text}: unreachable: {exc.strerror or exc}") from None
    if endpoint.scheme == "smtp+starttls":
        try:
            _starttls(sock, endpoint)
        except BaseException as exc:
            sock.close()  # also when STARTTLS is missing or refused
            if isinstance(exc, OSError):  # TimeoutError too
                raise TargetUnreachable(
                    f"{endpoint.text}: unreachable: SMTP did not answer ({exc})"
                ) from None
            raise
    return sock


def _starttls(sock: socket.socket, endpoint: Endpoint) -> None:
    reader = sock.makefile("rb")

    def reply() -> tuple[int, list[str]]:
        lines = []
        while True:
            line = reader.readline(1024).decode("latin-1").rstrip("\r\n")
            if not line:
                raise OSError("connection closed")
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), lines

    code, _ = reply()
    sock.sendall(b"EHLO deploycheck\r\n")
    code, capabilities = reply()
    if not any(c.upper().startswith("STARTTLS") for c in capabilities):
        raise TargetUnreachable(f"{endpoint.text}: the server does not offer STARTTLS")
    sock.sendall(b"STARTTLS\r\n")
    code, lines = reply()
    if code != 220:
        raise TargetUnreachable(f"{endpoint.text}: STARTTLS refused: {code} {' '.join(lines)}")


def _info(cert: x509.Certificate) -> CertInfo:
    key = cert.public_key()
    rsa_bits = key.key_size if isinstance(key, rsa.RSAPublicKey) else None
    if rsa_bits:
        kind = f"RSA {rsa_bits}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind = f"EC {key.curve.key_size}"
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        kind = type(key).__name__.removesuffix("PublicKey")
    elif isinstance(key, dsa.DSAPublicKey):
        kind = f"DSA {key.key_size}"
    else:
        kind = type(key).__name__
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key=kind,
        rsa_bits=rsa_bits,
    )


def protocol_ok(protocol: str) -> bool:
    return protocol in ("TLSv1.2", "TLSv1.3")
