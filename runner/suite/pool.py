"""Run independent probes concurrently, each once, so a run takes as long as its slowest check."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any


class ProbePool:
    """Memoised probes, each on a daemon thread of its own: `start` early, `get` when a check
    needs the result. Daemon threads, not a pool: an interrupted run must not wait for a
    probe still sitting in its timeout before it can write its report and exit."""

    def __init__(self) -> None:
        self._futures: dict[Hashable, Future[Any]] = {}
        self.took: dict[Hashable, float] = {}  # each ended probe's own time, in seconds
        # (key, seconds waited) of every `get` on the main thread, where the checks run: the
        # suite tells from it which probes a check used and how long it only waited for them
        self.asked: list[tuple[Hashable, float]] = []

    def start(self, key: Hashable, probe: Callable[[], Any]) -> None:
        if key in self._futures:
            return
        future: Future[Any] = Future()
        self._futures[key] = future

        def run() -> None:
            began = time.monotonic()
            try:
                result = probe()
            except BaseException as exc:  # handed to whoever asks for the result
                self.took[key] = time.monotonic() - began
                future.set_exception(exc)
            else:
                self.took[key] = time.monotonic() - began
                future.set_result(result)

        threading.Thread(target=run, daemon=True, name=f"deploycheck-probe-{key}").start()

    def get(self, key: Hashable, probe: Callable[[], Any]) -> Any:
        """The probe's result (or its exception, re-raised); started now if nobody started it."""
        self.start(key, probe)
        began = time.monotonic()
        try:
            return self._futures[key].result()
        finally:
            if threading.current_thread() is threading.main_thread():
                self.asked.append((key, time.monotonic() - began))
