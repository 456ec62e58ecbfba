"""Building the workshop's images side by side, while the steps still show them in order.

`invoke all` starts steps 4 to 9 at once (their builds are independent, and a warm run spends
most of its time waiting for containers to start); each step task then collects its own result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress

from workshop.catalogue import Step
from workshop.engine.values import EngineAPI, end_own_containers
from workshop.errors import WorkshopError
from workshop.progress import Progress
from workshop.steps.runner import BuildStepResult

__all__ = ["SideBySide"]


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

    def take(self, number: int) -> Future[BuildStepResult] | None:
        """The started build of step `number`, once; None if it was not started here."""
        return self._pending.pop(number, None)

    def cancel(self) -> None:
        """Start nothing more, and stop the running builds before they log anything."""
        self._progress.stop.set()
        if self._engine is not None:
            # A step waiting on its app would otherwise wait out the run bound.
            with suppress(WorkshopError):
                end_own_containers(self._engine)
        self._pool.shutdown(wait=True, cancel_futures=True)
