"""Produce the next items of an iterator on a second thread while the caller works.

A large data migration alternates between splitting a statement (Python, CPU) and waiting
for the server to run it. Splitting the next statement while the server runs the current
one hides the splitting behind the server's work: the waiting thread holds no GIL.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """What `items` yields, in order, produced up to `depth` items ahead. An exception raised
    by `items` arrives where it happened; closing this generator stops the producer."""
    ahead: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        failure: BaseException | None = None
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it in order
            failure = exc
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        put((_END, failure))

    producer = threading.Thread(target=produce, name="deploycheck-read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item, failure = ahead.get()
            if item is _END:
                if failure is not None:
                    raise failure
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        producer.join()
