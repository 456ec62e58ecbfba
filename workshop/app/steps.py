"""The workshop's steps as tasks: each step, the builds `invoke all` starts side by side, the
runs of `all` and `beyond`, and the tables they end with.

Each build step is built for every platform of the run: the engine's own unless the setting
`platform` (or `--platform`) names others, a foreign one under its own names and size log.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from invoke import Context
from rich.console import Group, RenderableType

from workshop.app.exits import reported
from workshop.app.session import Session, session
from workshop.catalogue import STEPS, WORKSHOP_BUILD_STEPS
from workshop.console import show
from workshop.platforms import suffix
from workshop.progress import Progress
from workshop.records.history import Run
from workshop.steps.platformindex import index_table, push_indexes
from workshop.steps.runner import BuildStepResult, compared, run_build_step, run_file_step
from workshop.steps.sidebyside import SideBySide, stop_threads
from workshop.steps.summary import beyond_summary, by_platform, workshop_summary

__all__ = ["beyond", "run_all", "step"]

# What `invoke all` and `invoke beyond` run, in order: beyond needs steps 7 to 9's images and
# app.go (step 1), as `invoke step-10` would bring them in.
ALL_STEPS = (1, 2, 3, 4, 5, 6, 7, 8, 9)
BEYOND_STEPS = (1, 7, 8, 9, 10, 11, 12, 13, 14, 15)


def step(c: Context, number: int) -> None:
    with reported():
        _show_step(session(c), number)


def run_all(c: Context, *, platform: str | None = None) -> None:
    """`invoke all`: steps 1 to 9 (4 to 9 built side by side), then the summary."""
    with reported():
        current = session(c).with_platform(platform)
        # Steps 1 to 3 write the files the builds need; the builds start before they are
        # shown, so that the engine works while this process renders them.
        written = {n: _step(current, n) for n in ALL_STEPS[:3] if n not in current.done}
        try:
            _start_builds(current)
        finally:
            for number, shown in written.items():
                show(shown)
                current.done.add(number)
        for number in ALL_STEPS[3:]:
            _show_step(current, number)
        show(_summary(current))
        _show_indexes(current, ALL_STEPS)


def beyond(c: Context, *, platform: str | None = None) -> None:
    """`invoke beyond`: steps 10 to 15, and the steps they build on, then their summary."""
    with reported():
        current = session(c).with_platform(platform)
        for number in BEYOND_STEPS:
            _show_step(current, number)
        show(_beyond(current))
        _show_indexes(current, BEYOND_STEPS[BEYOND_STEPS.index(10) :])


def _show_indexes(session: Session, numbers: tuple[int, ...]) -> None:
    """With a registry and several platforms: each step's images, built on every platform,
    pushed as one multi-platform index under the workshop's name, each platform's pull size
    read back through it."""
    registry = session.registry
    if registry is None or len(session.platforms) < 2:
        return
    logs = [session.size_log_for(platform).read() for platform in session.platforms]
    steps = [
        (str(number), [log[number] for log in logs])
        for number in numbers
        if STEPS[number].builds and all(number in log for log in logs)
    ]
    with session.progress.activity(f"Pushing each step as one index to {registry.address}"):
        indexes = push_indexes(registry, steps)
    if indexes:
        show(index_table(indexes, what="Step"))


def _show_step(session: Session, number: int) -> None:
    """Show step `number`, once per process: `invoke all beyond` runs step 7 once."""
    if number not in session.done:
        show(_step(session, number))
        session.done.add(number)


def _step(session: Session, number: int) -> RenderableType:
    """Run step `number` for each platform, or collect it where `invoke all` started it."""
    step = STEPS[number]
    if not step.builds:
        return run_file_step(workspace=session.workspace, step=step)
    results = []
    for platform in session.platforms:
        side_by_side = session.side_by_side.get(platform)
        pending = side_by_side.take(number) if side_by_side else None
        if pending is None:
            session.check_outputs()
            result = run_build_step(session.plan(platform=platform), step)
        else:
            result = _collected(session, pending, number, platform)
        results.append(compared(result, session.size_log_for(platform)))
    return results[0] if len(results) == 1 else Group(*results)


def _collected(
    session: Session, pending: Future[BuildStepResult], number: int, platform: str
) -> BuildStepResult:
    """The result of a build started side by side; on any failure, every other one stops."""
    tag = f"{session.settings.tag(STEPS[number].tag)}{suffix(platform)}"
    try:
        with session.progress.activity(f"Step {number}: building {tag}"):
            return pending.result()
    except BaseException:
        for started in session.side_by_side.values():
            started.cancel()
        raise


def _start_builds(session: Session) -> None:
    """Start steps 4 to 9 side by side, for each platform; each step then collects its own,
    in order.

    Every output location is checked first, then every base is resolved (the roles side by
    side; a stand-in is built and noted once, under the resolver's lock). With verbose output
    the builds stay one at a time, so that their output stays readable.
    """
    session.check_outputs(history=True)
    if session.settings.verbose:
        return
    roles = dict.fromkeys(role for step in WORKSHOP_BUILD_STEPS.values() for role in step.roles)
    pool = ThreadPoolExecutor(max_workers=len(roles) + 1)
    # The engine's version and storage driver, asked once here rather than by every build at
    # once (`docker info` is one of the engine's slower answers).
    started: list[Future[Any]] = [pool.submit(lambda: session.engine.info)]
    started += [
        pool.submit(session.bases_for(platform).resolve, role)
        for platform in session.platforms
        for role in roles
    ]
    try:
        for future in started:
            future.result()
    except BaseException:
        # A stand-in may be building in another thread: Ctrl-C reaches only this one.
        stop_threads(session.progress, session.engine, started, pool)
        raise
    pool.shutdown()
    background = Progress(session.progress.console, silent=True)
    for platform in session.platforms:
        plan = session.plan(progress=background, platform=platform)
        session.side_by_side[platform] = SideBySide(
            lambda step, plan=plan: run_build_step(plan, step),  # type: ignore[misc]
            WORKSHOP_BUILD_STEPS.values(),
            progress=background,
            engine=plan.engine,
        )


def _summary(session: Session) -> RenderableType:
    """`invoke all`'s closing table, side by side where there are several platforms; each
    platform's run joins the history."""
    summaries = {p: workshop_summary(session.size_log_for(p).read()) for p in session.platforms}
    for summary in summaries.values():
        if summary.records:
            session.history.add(Run.of(summary.records))
    return by_platform(summaries)


def _beyond(session: Session) -> RenderableType:
    return by_platform(
        {p: beyond_summary(session.size_log_for(p).read()) for p in session.platforms}
    )
