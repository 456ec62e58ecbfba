"""Building the workshop's images side by side, while the steps still show them in order.

`invoke all` starts steps 4 to 9 at once (their builds are independent, and a warm run spends
most of its time waiting for containers to start); each step task then collects its own result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import replace
from typing import TYPE_CHECKING

from workshop.catalogue import WORKSHOP_BUILD_STEPS, Step
from workshop.engine.client import EngineAPI, end_own_containers
from workshop.errors import WorkshopError
from workshop.progress import Progress
from workshop.steps.runner import BuildStepResult, run_build_step

if TYPE_CHECKING:
    from workshop.app.session import Session

__all__ = ["Ahead", "start_builds"]


class Ahead:
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


def start_builds(session: Session) -> None:
    """Start steps 4 to 9 side by side; each step task then collects its own, in order.

    Every output location is checked first, then every base is resolved (the roles side by
    side; a stand-in is built and noted once, under the resolver's lock). With verbose output
    the builds stay one at a time, so that their output stays readable.
    """
    session.check_outputs(history=True)
    if session.settings.verbose:
        return
    resolver = session.bases
    roles = dict.fromkeys(role for step in WORKSHOP_BUILD_STEPS.values() for role in step.roles)
    with ThreadPoolExecutor(max_workers=len(roles) + 1) as pool:
        # The engine's version and storage driver, asked once here rather than by every build
        # at once (`docker info` is one of the engine's slower answers).
        pool.submit(lambda: session.engine.info)
        list(pool.map(resolver.resolve, roles))
    background = Progress(session.progress.console, silent=True)
    plan = replace(session.plan(), progress=background)
    session.ahead = Ahead(
        lambda step: run_build_step(plan, step),
        WORKSHOP_BUILD_STEPS.values(),
        progress=background,
        engine=plan.engine,
    )
