"""Where backups are read from: a local folder, or a folder on another host over SSH (read-only).

Chosen by the scheme of `backups.source`, as testinfra chooses its backends. The SSH source
runs the system `ssh` client (BatchMode, strict host key checking, connect timeout) with
`find` to list and `cat` to stream; nothing on the remote host is ever written.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

from runner.atomic import partial_file
from runner.errors import DeploycheckError, TargetUnreachable, UsageError

if TYPE_CHECKING:
    from runner.profile.model import Backups


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    mtime: datetime
    kind: str  # "file", "link" or "other"
    link_target: str | None = None
    link_ok: bool = True


@dataclass(frozen=True)
class Space:
    """Room left on the file system that holds the backups (for an unprivileged writer)."""

    free_bytes: int
    free_inodes: int


class LocalSource:
    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise UsageError(f"backups.source: {directory} is not a directory")
        self.directory = directory

    def __str__(self) -> str:
        return str(self.directory)

    def entries(self) -> list[Entry]:
        out = []
        for entry in os.scandir(self.directory):
            if not plain_name(entry.name):
                continue
            if entry.is_symlink():
                target = os.readlink(entry.path)
                out.append(
                    Entry(
                        entry.name, 0, _now(), "link", Path(target).name, (self.directory / target).is_file()
                    )
                )
            elif entry.is_file():
                stat = entry.stat()
                out.append(
                    Entry(entry.name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC), "file")
                )
        return out

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        with (self.directory / name).open("rb") as handle:
            yield handle

    def space(self) -> Space:
        stat = os.statvfs(self.directory)
        return Space(stat.f_bavail * stat.f_frsize, stat.f_favail)


class SshSource:
    """ssh://user@host[:port]/path, with backups.identity_file and backups.known_hosts_file."""

    def __init__(self, url: str, identity: Path | None, known_hosts: Path | None, timeout_s: float) -> None:
        parts = urlsplit(url)  # its user, host, path and port were checked when the profile loaded
        self.port = parts.port or 22
        self.url = url
        self.target = f"{parts.username}@{parts.hostname}" if parts.username else parts.hostname
        self.path = PurePosixPath(parts.path)
        self.identity = identity
        self.known_hosts = known_hosts
        self.timeout_s = timeout_s

    def __str__(self) -> str:
        return self.url

    def _command(self, remote: str) -> list[str]:
        command = [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={max(1, round(self.timeout_s))}",
            "-o",  # a remote `cat` that stops sending fails after the timeout instead of hanging
            f"ServerAliveInterval={max(1, round(self.timeout_s))}",
            "-o",
            "ServerAliveCountMax=1",
            "-o",
            "StrictHostKeyChecking=yes",
            "-p",
            str(self.port),
        ]
        if self.identity:
            command += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts:
            command += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        return [*command, "--", self.target, remote]  # `--`: the destination is never an option

    def _run(self, remote: str) -> bytes:
        try:
            done = subprocess.run(self._command(remote), capture_output=True, timeout=self.timeout_s * 3)
        except subprocess.TimeoutExpired:
            raise TargetUnreachable(f"{self.url}: no answer within {self.timeout_s * 3:g} s") from None
        error = done.stderr.decode(errors="replace").strip()
        if done.returncode == 255:
            raise TargetUnreachable(f"{self.url}: ssh failed: {error}")
        if done.returncode != 0:
            raise DeploycheckError(f"{self.url}: {remote.split()[0]} failed on the remote host: {error}")
        return done.stdout

    def entries(self) -> list[Entry]:
        """One `find -printf` with NUL after every field: no file name (a name may hold any byte
        but NUL and '/') can end a field or an entry early and forge another."""
        listing = self._run(
            f"find {shlex.quote(str(self.path))} -mindepth 1 -maxdepth 1 "
            "-printf '%f\\0%s\\0%T@\\0%y\\0%l\\0%Y\\0'"
        )
        fields = listing.split(b"\0")[:-1]
        if len(fields) % 6:
            raise DeploycheckError(f"{self.url}: the remote `find` gave a listing that cannot be read")
        out = []
        for at in range(0, len(fields), 6):
            raw, size, mtime, kind, target, resolved = fields[at : at + 6]
            name = raw.decode(errors="surrogateescape")
            if not plain_name(name):
                continue
            when = datetime.fromtimestamp(float(mtime), UTC)
            if kind == b"l":
                shown = PurePosixPath(target.decode(errors="replace")).name
                out.append(Entry(name, 0, when, "link", shown, resolved == b"f"))
            elif kind == b"f":
                out.append(Entry(name, int(size), when, "file"))
        return out

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        remote = f"cat {shlex.quote(str(self.path / name))}"
        proc = subprocess.Popen(self._command(remote), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        try:
            yield proc.stdout
        finally:
            proc.stdout.close()
            error = proc.stderr.read().decode(errors="replace").strip()
            proc.stderr.close()
            code = proc.wait()
        if code not in (0, -13):  # -13: we stopped reading early (SIGPIPE), which is fine
            raise TargetUnreachable(f"{self.url}: reading {name} failed: {error}")

    def space(self) -> Space:
        answer = (
            self._run(f"stat -f -c '%a %S %d' {shlex.quote(str(self.path))}").decode(errors="replace").split()
        )
        try:
            blocks, size, inodes = (int(v) for v in answer)
        except ValueError:
            raise DeploycheckError(
                f"{self.url}: cannot read the free space there (stat said {answer!r})"
            ) from None
        return Space(blocks * size, inodes)

    def sha256(self, name: str) -> str:
        """Read from stdin: sha256sum marks the line of a name holding a backslash with one more."""
        remote = f"sha256sum < {shlex.quote(str(self.path / name))}"
        return self._run(remote).decode(errors="replace").split()[0]


def plain_name(name: str) -> bool:
    """A file name deploycheck lists: UTF-8 (undecodable bytes are surrogates, not printable)
    without control or format characters. Others cannot be the backups it looks for, and would
    break the lines (or the encoding) of what it prints."""
    return name.isprintable()


def open_source(cfg: Backups, timeout_s: float = 10.0) -> LocalSource | SshSource:
    if cfg.source.startswith("ssh://"):
        return SshSource(cfg.source, cfg.identity_file, cfg.known_hosts_file, timeout_s)
    return LocalSource(Path(cfg.source))


def fetch(source: LocalSource | SshSource, name: str, destination: Path) -> Path:
    """Copy one backup down, verifying its SHA-256 against the remote one; nothing half-written
    is left, and the copy is readable by its owner alone (0600), like production data should be."""
    target = destination / name if destination.is_dir() else destination
    digest = hashlib.sha256()
    with partial_file(target) as (out, partial):
        with source.open(name) as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        out.close()
        expected = source.sha256(name) if isinstance(source, SshSource) else digest.hexdigest()
        if digest.hexdigest() != expected:
            raise DeploycheckError(f"{name}: checksum of the copy differs from the remote file; try again")
        partial.rename(target)
        return target


def _now() -> datetime:
    return datetime.now(UTC)
