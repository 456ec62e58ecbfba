"""Slow set-ups (a download, an extra engine's start) begun in the background while other tests
run, each made once per session and handed out by the fixture that needs it.

`start(names)` submits them in the order given to two worker threads; a set-up's dependencies
are given first, so a worker that waits on one never waits on work queued behind it. A fixture
`take(name)`s what it hands out (and then owns its removal); a set-up waits for another with
`made(name)`. Either runs the set-up in the caller's thread where it was never started.
`close()` removes what was made and never taken by a fixture (a test skipped or failed before it,
an interrupted session), so nothing outlives the session. `retire(name)` removes what a fixture
took as soon as its last test is done, beside the tests still to run, instead of at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["Background"]

# The longest a fixture waits for a set-up begun in the background.
BOUND = 1200


class Background:
    def __init__(self, starters: dict[str, Callable[[Background], Any]]) -> None:
        self._starters = starters
        self._futures: dict[str, Future[Any]] = {}
        self._taken: set[str] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tests-background")
        self._retired: dict[str, Future[None]] = {}
        self._removals = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tests-retire")
        self._closed = False

    def start(self, names: Iterable[str]) -> None:
        """Begin the set-ups `names`, in this order (dependencies before what needs them)."""
        with self._lock:
            for name in names:
                if name not in self._futures:
                    self._futures[name] = self._pool.submit(self._starters[name], self)

    def take(self, name: str) -> Any:
        """What set-up `name` made, for a fixture that now owns it (and removes it)."""
        with self._lock:
            self._taken.add(name)
        return self.made(name)

    def made(self, name: str) -> Any:
        """What set-up `name` made: waited for where it was begun, else made here and now."""
        with self._lock:
            future = self._futures.get(name)
            if future is None:
                future = self._futures[name] = Future()
                future.set_running_or_notify_cancel()
                run_here = True
            else:
                run_here = False
        if run_here:
            try:
                future.set_result(self._starters[name](self))
            except BaseException as error:
                future.set_exception(error)
        return future.result(timeout=BOUND)

    def retire(self, name: str, remove: Callable[[Any], None]) -> None:
        """Begin removing what a fixture took from set-up `name` (its last test is done), beside
        the tests still running; nothing where it was not made and taken, is retired, or the
        session's end has come (its fixture removed it then)."""
        with self._lock:
            future = self._futures.get(name)
            if self._closed or name in self._retired or name not in self._taken or future is None:
                return
            if not future.done() or future.cancelled() or future.exception() is not None:
                return
            self._retired[name] = self._removals.submit(remove, future.result())

    def retired(self, name: str) -> bool:
        """Whether `name` was retired: then its removal is waited for (and its error raised)."""
        with self._lock:
            removal = self._retired.get(name)
        if removal is None:
            return False
        removal.result(timeout=BOUND)
        return True

    def close(self, remove: Callable[[Any], None]) -> None:
        """Wait for every set-up begun, and `remove` what was made but never taken."""
        with self._lock:
            self._closed = True
        self._removals.shutdown(wait=True)
        self._pool.shutdown(wait=True, cancel_futures=True)
        for name, future in self._futures.items():
            made = future.done() and not future.cancelled() and future.exception() is None
            if made and name not in self._taken:
                remove(future.result())
