"""Run independent probes concurrently, each once, so a run takes as long as its slowest check."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class Probes:
    """Memoised probes on a thread pool: `start` early, `get` when a check needs the result."""

    def __init__(self, workers: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploycheck-probe")
        self._futures: dict[Hashable, Future[Any]] = {}

    def start(self, key: Hashable, probe: Callable[[], Any]) -> None:
        if key not in self._futures:
            self._futures[key] = self._pool.submit(probe)

    def get(self, key: Hashable, probe: Callable[[], Any]) -> Any:
        """The probe's result (or its exception, re-raised); started now if nobody started it."""
        self.start(key, probe)
        return self._futures[key].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
