"""Inflate a .gz backup as a stream, checking what `gzip -t` checks and naming what is wrong.

Uses isal (or zlib-ng) for speed, the stdlib zlib otherwise; all three take the same
decompressobj(wbits=31) API, which checks each member's CRC-32 and length.
Concatenated members are read as one stream, as gzip does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from queue import Queue
from typing import IO, Any

from runner.errors import GzipProblem

try:
    from isal import isal_zlib as fast_zlib
except ImportError:  # pragma: no cover - depends on what is installed
    try:
        from zlib_ng import zlib_ng as fast_zlib
    except ImportError:
        import zlib as fast_zlib

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 256 << 10  # compressed bytes read at a time
PIECE = 1 << 20  # inflated bytes handed on at a time


@dataclass
class StreamFacts:
    compressed_bytes: int = 0
    inflated_bytes: int = 0
    members: int = 0
    trailing_bytes: int = 0  # bytes after the last member: zeros are padding, anything else garbage


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def inflate(handle: IO[bytes], facts: StreamFacts) -> Iterator[bytes]:
    """Inflated data of every member, in pieces; raises GzipProblem with a named reason."""
    first = True
    pending = b""
    decomp: Any = None
    for chunk in _chunks(handle):
        facts.compressed_bytes += len(chunk)
        data = pending + chunk if pending else chunk
        pending = b""
        if first:
            if len(data) < 2 or data[:2] != GZIP_MAGIC:
                raise GzipProblem("not gzip", "the file does not start with the gzip signature")
            first = False
        while data:
            if decomp is None:
                if len(data) < 2:
                    pending = data
                    break
                if data[:2] != GZIP_MAGIC:
                    facts.trailing_bytes += len(data)
                    if data.strip(b"\0"):
                        raise GzipProblem(
                            "trailing garbage", f"{len(data)}+ bytes after the last gzip member"
                        )
                    break
                decomp = fast_zlib.decompressobj(31)
                facts.members += 1
            try:
                out = decomp.decompress(data, PIECE)  # bounded: a 1000:1 stream must not fill memory
            except fast_zlib.error as exc:
                raise _named(exc) from None
            if out:
                facts.inflated_bytes += len(out)
                yield out
            if decomp.eof:
                data = decomp.unused_data
                decomp = None
            else:
                data = decomp.unconsumed_tail
    if first:
        raise GzipProblem("empty", "the file has no bytes")
    if decomp is not None:
        raise GzipProblem("truncated", "the gzip stream ends before its last member is complete")


def _named(exc: Exception) -> GzipProblem:
    text = str(exc)
    if "data check" in text or "crc" in text.lower():
        return GzipProblem(
            "CRC mismatch", "the inflated data does not match the stored CRC-32 (corrupt bytes)"
        )
    if "length check" in text:
        return GzipProblem("CRC mismatch", "the inflated length does not match the stored length")
    return GzipProblem("corrupt", f"the deflate data is damaged ({text})")


def pieces(handle: IO[bytes], facts: StreamFacts) -> Iterator[bytes]:
    """The inflated stream in pieces of at most PIECE bytes. Inflation runs on its own thread
    (isal and zlib release the GIL while they work), so on two cores it overlaps with what
    the caller does with each piece."""
    queue: Queue[bytes | BaseException | None] = Queue(maxsize=4)

    def produce() -> None:
        try:
            for piece in inflate(handle, facts):
                queue.put(piece)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put(exc)
            return
        queue.put(None)

    worker = threading.Thread(target=produce, daemon=True, name="deploycheck-inflate")
    worker.start()
    try:
        while (piece := queue.get()) is not None:
            if isinstance(piece, BaseException):
                raise piece
            yield piece
    finally:
        while worker.is_alive():  # let a stopped consumer release the producer
            while not queue.empty():
                queue.get_nowait()
            worker.join(timeout=0.05)
