"""runner/read_ahead.py: order, errors where they happened, and a producer that stops."""

from __future__ import annotations

import threading

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
    threading.Event().wait(0.2)  # time for a producer that did not pause to run ahead
    assert [n for n, _ in produced] == [0, 1, 2]
    state["mode"] = "new"  # what running item 2 changed
    assert list(ahead) == [3, 4, 5]
    assert produced == [(0, "old"), (1, "old"), (2, "old"), (3, "new"), (4, "new"), (5, "new")]


def test_closing_while_the_producer_pauses_stops_it() -> None:
    ahead = read_ahead(iter(range(10)), depth=4, pause_after=lambda n: n == 0)
    assert next(ahead) == 0
    ahead.close()
    assert not [t for t in threading.enumerate() if t.name == "deploycheck-read-ahead"]
