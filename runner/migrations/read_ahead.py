"""Produce the next items of an iterator on a second thread while the caller works.

A large data migration alternates between splitting a statement (Python, CPU) and waiting
for the server to run it. Splitting the next statement while the server runs the current
one hides the splitting behind the server's work: the waiting thread holds no GIL.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(
    items: Iterator[T], depth: int = 4, pause_after: Callable[[T], bool] | None = None
) -> Iterator[T]:
    """What `items` yields, in order, produced up to `depth` items ahead. An exception raised
    by `items` arrives where it happened; closing this generator stops the producer.
    After an item for which `pause_after` is true the producer waits until the caller comes
    back for the next item, done with that one (a statement that may change how the rest of
    the file is to be read)."""
    ahead: queue.Queue[tuple[object, BaseException | None, bool]] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    resume = threading.Event()

    def put(entry: tuple[object, BaseException | None, bool]) -> bool:
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
                pause = pause_after is not None and pause_after(item)
                if not put((item, None, pause)):
                    return
                if pause:
                    while not resume.wait(0.1):
                        if stop.is_set():
                            return
                    resume.clear()
        except BaseException as exc:  # handed to the consumer, which re-raises it in order
            failure = exc
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        put((_END, failure, False))

    producer = threading.Thread(target=produce, name="deploycheck-read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item, failure, pause = ahead.get()
            if item is _END:
                if failure is not None:
                    raise failure
                return
            yield item  # type: ignore[misc]
            if pause:
                resume.set()
    finally:
        stop.set()
        producer.join()
