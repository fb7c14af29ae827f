"""A real IMAP mailbox on a loopback port, serving one user: dovecot (implicit TLS, and STARTTLS
on a second port) where it is installed, else pymap (a Python IMAP server, STARTTLS). The demo's
recipient reads its mail here; the tests' too (dovecot)."""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from runner.errors import UsageError
from runner.sandbox.mariadb import free_port


def find_dovecot() -> str | None:
    """dovecot's binary: $DEPLOYCHECK_DOVECOT if set (empty: none, as on a machine without
    it), else from /usr/sbin or /usr/bin, where Debian's dovecot-imapd puts it."""
    chosen = os.environ.get("DEPLOYCHECK_DOVECOT")
    if chosen is not None:
        return chosen or None
    return shutil.which("dovecot", path="/usr/sbin:/usr/bin")


@dataclass(frozen=True)
class Mailbox:
    port: int  # `security` on it: implicit TLS (dovecot; with tls=False: plain), or STARTTLS
    starttls_port: int
    ca_file: Path
    user: str
    password: str
    security: str = "tls"  # as the profile's smtp.imap.security says it
    server: str = "dovecot"

    def _session(self) -> imaplib.IMAP4:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if self.security == "tls":
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context, timeout=10)
        else:
            client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
            client.starttls(ssl_context=context)
        client.login(self.user, self.password)
        client.select("INBOX")
        return client

    def deliver(self, raw: bytes) -> None:
        """What the receiving server's delivery agent does, done over IMAP APPEND."""
        client = self._session()
        try:
            client.append("INBOX", None, None, raw)
        finally:
            client.logout()

    def empty(self) -> None:
        client = self._session()
        try:
            if client.select("INBOX")[1] != [b"0"]:  # STORE 1:* is an error in an empty folder
                client.store("1:*", "+FLAGS", "(\\Deleted)")
                client.expunge()
        finally:
            client.logout()

    def count(self) -> int:
        client = self._session()
        try:
            _, data = client.uid("SEARCH", "ALL")
            return len(data[0].split())
        finally:
            client.logout()


@contextlib.contextmanager
def dovecot_server(
    tls: bool = True,
    ca: trustme.CA | None = None,
    user: str = "ops@mail.test",
    password: str = "Imap-Secret-Passw0rd",
) -> Iterator[Mailbox]:
    """`tls=False`: a server that offers no TLS at all, on `port`. `ca` issues its certificate
    (default: a CA of its own, whose certificate is `ca_file`)."""
    binary = find_dovecot()
    if binary is None:
        raise UsageError("dovecot not found: install dovecot-imapd (apt-get install dovecot-imapd)")
    # its own folder in $TMPDIR: a private parent (0700) would keep dovecot's mail user out
    root = Path(tempfile.mkdtemp(prefix="deploycheck-dovecot-"))
    try:
        os.chmod(root, 0o755)
        _certificates(root, ca or trustme.CA())
        _write_users(root / "users", f"{user}:{{PLAIN}}{password}\n")
        port, starttls_port = free_port(), free_port()
        if not tls:  # plain IMAP on `port`, no implicit-TLS listener
            port, starttls_port = 0, port
        (root / "dovecot.conf").write_text(_config(root, tls, port, starttls_port))
        with (root / "stderr.log").open("wb") as stderr:
            proc = subprocess.Popen(
                [binary, "-F", "-c", str(root / "dovecot.conf")], stdout=subprocess.DEVNULL, stderr=stderr
            )
        try:
            _wait_for_port(port or starttls_port, proc, root)
            yield Mailbox(port or starttls_port, starttls_port, root / "ca.pem", user, password)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def pymap_server(ca: trustme.CA, user: str, password: str) -> Iterator[Mailbox]:
    """pymap's in-memory backend, STARTTLS with a certificate of `ca`, for a machine without
    dovecot. Its only way to set the one user's password is its command line: a throwaway
    password of a throwaway loopback mailbox that holds demo mail, gone when it stops."""
    root = Path(tempfile.mkdtemp(prefix="deploycheck-pymap-"))
    try:
        _certificates(root, ca)
        port = free_port()
        command = [sys.executable, "-c", "from pymap.main import main; main()", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--cert", str(root / "cert.pem"), "--key", str(root / "key.pem")]
        command += ["dict", "--demo-user", user, "--demo-password", password, "--demo-data"]
        with (root / "stderr.log").open("wb") as stderr:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            _wait_for_port(port, proc, root)
            yield Mailbox(port, port, root / "ca.pem", user, password, security="starttls", server="pymap")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _write_users(path: Path, text: str) -> None:
    """The passwd-file with the password: dovecot's auth process reads it as dovecot's internal
    user (root's case) or as us, never as every local user."""
    _write_private(path, text.encode())
    if os.getuid() == 0:
        shutil.chown(path, "dovecot", "dovecot")


def _write_private(path: Path, data: bytes) -> None:
    """A new file readable by its owner alone from the start (the folder is 0755 for dovecot)."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb") as out:
        out.write(data)


def _certificates(root: Path, ca: trustme.CA) -> None:
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
    _write_private(root / "key.pem", cert.private_key_pem.bytes())  # read by root or by us


def _config(root: Path, tls: bool, port: int, starttls_port: int) -> str:
    # dovecot refuses mail users with uid 0: as root, mail belongs to the package's dovecot user;
    # as anyone else, everything runs as that user (both ways tried on this machine)
    me, my_group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    mail_user, mail_group = ("dovecot", "dovecot") if os.getuid() == 0 else (me, my_group)
    (root / "mail").mkdir()
    shutil.chown(root / "mail", mail_user, mail_group)
    unprivileged = (
        ""
        if os.getuid() == 0
        else f"default_internal_user = {me}\ndefault_internal_group = {my_group}\n"
        f"default_login_user = {me}\n"
        "service imap-login {\n  chroot =\n}\nservice anvil {\n  chroot =\n}\n"
    )
    return (
        textwrap.dedent(f"""\
        base_dir = {root}/run
        state_dir = {root}/state
        log_path = {root}/dovecot.log
        protocols = imap
        listen = 127.0.0.1
        ssl = {"required" if tls else "no"}
        ssl_cert = <{root}/cert.pem
        ssl_key = <{root}/key.pem
        auth_mechanisms = plain login
        mail_location = maildir:{root}/mail/%u
        first_valid_uid = {pwd.getpwnam(mail_user).pw_uid}
        passdb {{
          driver = passwd-file
          args = {root}/users
        }}
        userdb {{
          driver = static
          args = uid={mail_user} gid={mail_group} home={root}/mail/%u
        }}
        service imap-login {{
          inet_listener imap {{
            port = {starttls_port}
          }}
          inet_listener imaps {{
            port = {port}
            ssl = yes
          }}
        }}
        """)
        + unprivileged
    )


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the IMAP server exited: {(root / 'stderr.log').read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    log = root / "dovecot.log"
    raise RuntimeError(f"the IMAP server did not listen on {port}: {log.read_text() if log.exists() else ''}")
