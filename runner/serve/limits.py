"""What a hostile client (or a web page in the operator's browser) cannot do to `serve`.

A web page can make the operator's browser send requests to the loopback dashboard under its
own name (DNS rebinding): only Host headers that name the bound address, `localhost` or a name
the profile allows are answered. A client that sends half a request, or one byte a second,
holds a worker for at most the request deadline and then gets 408; the workers are bounded, so
a flood waits in the listen queue instead of growing threads without end.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from runner.errors import DeploycheckError, UsageError

WORKERS = 16  # requests handled at once; more wait in the listen queue
_WILDCARDS = ("", "0.0.0.0", "::")


class TooSlow(DeploycheckError):
    """The request did not arrive whole within its deadline (answered 408)."""


class DeadlineReader(socket.SocketIO):
    """A socket reader whose every read waits only for what is left of one deadline, so a client
    that drips bytes cannot stretch its request beyond it (a per-read timeout alone would let it)."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        super().__init__(sock, "rb")
        self._deadline = time.monotonic() + seconds
        self._seconds = seconds

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TooSlow(f"the request did not arrive within {self._seconds:g} s")
        self._sock.settimeout(left)
        try:
            return super().readinto(buffer)
        except TimeoutError:
            raise TooSlow(f"the request did not arrive within {self._seconds:g} s") from None


class BoundedHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with at most WORKERS requests in hand and a deep listen queue, bound
    to an IPv4 or IPv6 address as its host is one (http.server alone binds IPv4 only)."""

    request_queue_size = 256
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(WORKERS)
        host, port = address
        try:  # "" stays every IPv4 address, as http.server has it
            self.address_family = (
                socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0] if host else socket.AF_INET
            )
        except socket.gaierror as exc:
            raise UsageError(f"--host {host}: not an address to listen on ({exc.strerror})") from None
        try:
            super().__init__((host, port), *args, **kwargs)
        except OSError as exc:  # the port taken, an address not this machine's
            raise UsageError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})") from None

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()  # a full house stops accepting; the kernel queues the rest
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away or stopped reading is not worth a traceback in the log."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class HostAllowList:
    """The names a request's Host header may give: the bound address (any IP literal when bound
    to all addresses: a literal cannot be rebound), the name given with --host, `localhost`,
    and serve.allowed_hosts."""

    def __init__(self, bound: str, given: str, allowed: list[str]) -> None:
        self.bound = _ip(bound)
        self.wildcard = bound in _WILDCARDS
        self.names = {"localhost", given.lower().rstrip("."), *(name.lower().rstrip(".") for name in allowed)}

    def allows(self, header: str) -> bool:
        host = _hostname(header)
        if host is None:
            return False
        literal = _ip(host)
        if literal is not None:
            return self.wildcard or literal == self.bound or host in self.names
        return host in self.names


def unbracketed(host: str) -> str:
    """`[::1]` -> `::1`: --host as a URL writes an IPv6 address, as the socket takes it."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def in_url(host: str) -> str:
    """`::1` -> `[::1]`: an IPv6 address as a URL's authority writes it."""
    return f"[{host}]" if ":" in host else host


def _hostname(header: str) -> str | None:
    """`example.org:8484` -> `example.org`, `[::1]:8484` -> `::1`; None when it is no host."""
    header = header.strip().lower()
    if header.startswith("["):
        host, bracket, port = header[1:].partition("]")
        if not bracket or (port and not (port.startswith(":") and port[1:].isdigit())):
            return None
    else:
        host, colon, port = header.partition(":")
        if colon and not port.isdigit():
            return None
    host = host.rstrip(".")
    return host or None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def bearer_matches(header: str, token: str) -> bool:
    """`Authorization: Bearer TOKEN` (the scheme in any case, RFC 9110), compared in constant
    time as bytes: headers arrive as Latin-1 text, so their bytes are what the client sent and
    a UTF-8 token matches."""
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    try:
        sent = given.strip().encode("latin-1")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sent, token.encode("utf-8"))
