"""runner/read_ahead.py: order, errors where they happened, and a producer that stops."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from runner.migrations.read_ahead import read_ahead


def test_items_arrive_in_order() -> None:
    assert list(read_ahead(iter(range(1000)), depth=3)) == list(range(1000))


def test_an_error_arrives_after_the_items_before_it() -> None:
    def items():
        yield 1
        yield 2
        raise ValueError("line 3 is broken")

    seen = []
    with pytest.raises(ValueError, match="line 3 is broken"):
        for item in read_ahead(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_closing_early_stops_the_producer_and_closes_the_source() -> None:
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    ahead = read_ahead(endless(), depth=2)
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "deploycheck-read-ahead"]


def _waits_for_the_caller() -> bool:
    """Whether the read-ahead thread is blocked in its pause (an Event.wait called by the producer)."""
    for thread in threading.enumerate():
        if thread.name != "deploycheck-read-ahead" or thread.ident is None:
            continue
        frame = sys._current_frames().get(thread.ident)
        while frame is not None:
            if frame.f_code is threading.Event.wait.__code__ and frame.f_back.f_code.co_name == "produce":
                return True
            frame = frame.f_back
    return False


def test_after_a_pausing_item_the_producer_waits_for_the_caller_to_come_back() -> None:
    """What the caller did with a pausing item is seen by the producer before it goes on."""
    state = {"mode": "old"}
    produced: list[tuple[int, str]] = []

    def items():
        for n in range(6):
            produced.append((n, state["mode"]))
            yield n

    ahead = read_ahead(items(), depth=4, pause_after=lambda n: n == 2)
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    # seen, not slept on: the producer either runs ahead (3 produced) or waits for the caller
    deadline = time.monotonic() + 30
    while len(produced) == 3 and not _waits_for_the_caller() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [n for n, _ in produced] == [0, 1, 2] and _waits_for_the_caller()
    state["mode"] = "new"  # what running item 2 changed
    assert list(ahead) == [3, 4, 5]
    assert produced == [(0, "old"), (1, "old"), (2, "old"), (3, "new"), (4, "new"), (5, "new")]


def test_closing_while_the_producer_pauses_stops_it() -> None:
    ahead = read_ahead(iter(range(10)), depth=4, pause_after=lambda n: n == 0)
    assert next(ahead) == 0
    ahead.close()
    assert not [t for t in threading.enumerate() if t.name == "deploycheck-read-ahead"]
