"""Integrity of one backup file and the restore preview: one pass through the inflated dump."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from runner.backups import dump_scan, gzip_stream
from runner.backups.dump_scan import DumpFacts
from runner.backups.gzip_stream import StreamFacts
from runner.errors import GzipProblem

if TYPE_CHECKING:
    from runner.backups.source import LocalSource, SshSource


@dataclass
class BackupCheck:
    """Named problems (each would break a restore) and warnings, plus what the dump holds."""

    name: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stream: StreamFacts = field(default_factory=StreamFacts)
    dump: DumpFacts = field(default_factory=DumpFacts)

    @property
    def is_intact(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        if self.is_intact:
            return f"{self.name}: intact"
        return f"{self.name}: " + "; ".join(f"{reason} ({detail})" for reason, detail in self.problems)

    def to_dict(self) -> dict[str, Any]:
        d = self.dump
        return {
            "file": self.name,
            "intact": self.is_intact,
            "problems": [{"reason": r, "detail": t} for r, t in self.problems],
            "warnings": self.warnings,
            "compressed_bytes": self.stream.compressed_bytes,
            "inflated_bytes": self.stream.inflated_bytes,
            "gzip_members": self.stream.members,
            "dump": {"header": d.header, "server_version": d.server_version, "completed": d.completed},
            "tables": {
                name: {"created": t.created, "dropped": t.dropped, "rows": t.rows, "bytes": t.insert_bytes}
                for name, t in sorted(d.real_tables.items())
            },
            "views": sorted(d.views),
            "routines": {k: sorted(v) for k, v in sorted(d.routines.items())},
        }


def check_in_source(source: LocalSource | SshSource, name: str, required_tables: list[str]) -> BackupCheck:
    with source.open(name) as handle:
        return check_stream(name, handle, required_tables)


def check_backup(path: Path, required_tables: list[str] | None = None) -> BackupCheck:
    with path.open("rb") as handle:
        return check_stream(path.name, handle, required_tables)


def check_stream(name: str, handle: IO[bytes], required_tables: list[str] | None = None) -> BackupCheck:
    """Check the backup `name` read from `handle` (a file, or `cat` over SSH), in one pass."""
    result = BackupCheck(name)
    head = handle.read(64)
    if not head:
        result.problems.append(("empty", "the file has no bytes"))
        return result
    if not head.startswith(gzip_stream.GZIP_MAGIC):
        plain = head.lstrip().startswith((b"--", b"/*", b"CREATE", b"INSERT", b"SET", b"DROP"))
        detail = "it is plain SQL named .gz" if plain else "the file does not start with the gzip signature"
        result.problems.append(("not gzip", detail))
        return result
    try:
        dump_scan.scan(gzip_stream.pieces(_Prefixed(head, handle), result.stream), result.dump)
    except GzipProblem as exc:
        result.problems.append((exc.reason, exc.detail))
        return result
    if result.stream.trailing_bytes:
        result.warnings.append(f"{result.stream.trailing_bytes} zero bytes after the gzip data (ignored)")
    if result.dump.sandbox_line:
        result.warnings.append(
            "starts with the MariaDB sandbox line, which a MySQL server refuses: strip the first line to restore on MySQL"
        )
    result.problems.extend(dump_scan.problems(result.dump, required_tables or []))
    return result


class _Prefixed:
    """A reader that first gives back the bytes already read from a stream that cannot seek."""

    def __init__(self, head: bytes, handle: IO[bytes]) -> None:
        self.head = head
        self.handle = handle

    def read(self, size: int = -1) -> bytes:
        if self.head:
            head, self.head = self.head, b""
            return head
        return self.handle.read(size)
