"""Building the workshop's images side by side, while the steps still show them in order.

`invoke all` starts steps 4 to 9 at once (their builds are independent, and a warm run spends
most of its time waiting for containers to start); each step task then collects its own result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from typing import Any

from workshop.catalogue import Step
from workshop.engine.values import EngineAPI, end_own_containers
from workshop.errors import WorkshopError
from workshop.progress import Progress
from workshop.steps.runner import BuildStepResult

__all__ = ["STOP_BOUND", "SideBySide", "stop_threads"]


class SideBySide:
    """Builds started at once in threads (`invoke all`), each collected later by its step."""

    def __init__(
        self,
        build: Callable[[Step], BuildStepResult],
        steps: Iterable[Step],
        *,
        progress: Progress,
        engine: EngineAPI | None = None,
    ) -> None:
        steps = list(steps)
        self._progress = progress
        self._engine = engine
        self._pool = ThreadPoolExecutor(max_workers=len(steps), thread_name_prefix="workshop-step")
        self._pending: dict[int, Future[BuildStepResult]] = {
            step.number: self._pool.submit(build, step) for step in steps
        }
        self._started = list(self._pending.values())

    def take(self, number: int) -> Future[BuildStepResult] | None:
        """The started build of step `number`, once; None if it was not started here."""
        return self._pending.pop(number, None)

    def cancel(self) -> None:
        """Start nothing more, and stop the running builds before they log anything."""
        stop_threads(self._progress, self._engine, self._started, self._pool)


# How long stopping work side by side may take: the engine's removals, not the apps' run bound.
STOP_BOUND = 60.0


def stop_threads(
    progress: Progress,
    engine: EngineAPI | None,
    futures: Iterable[Future[Any]],
    pool: ThreadPoolExecutor,
) -> None:
    """Stop work running side by side in threads that Ctrl-C does not reach: nothing more is
    started, and this process's containers are removed again and again until every thread has
    ended, so that an app started just after one sweep (its build ended then) is caught by the
    next instead of running out its run bound. Within STOP_BOUND seconds."""
    progress.stop.set()
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + STOP_BOUND
    while True:
        if engine is not None:
            with suppress(WorkshopError):
                end_own_containers(engine)
        _, running = wait(list(futures), timeout=1.0)
        if not running or time.monotonic() > deadline:
            return
