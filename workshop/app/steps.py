"""The workshop's steps as tasks: each step, the builds `invoke all` starts side by side, and
the tables `all` and `beyond` end with."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from invoke import Context

from workshop.app.exits import reported
from workshop.app.session import Session, session
from workshop.catalogue import STEPS, WORKSHOP_BUILD_STEPS
from workshop.console import show
from workshop.progress import Progress
from workshop.records.history import Run
from workshop.steps.runner import compared, run_build_step, run_file_step
from workshop.steps.sidebyside import SideBySide
from workshop.steps.summary import Summary, beyond_summary, workshop_summary

__all__ = ["beyond", "start_builds", "step", "summary"]


def step(c: Context, number: int) -> None:
    with reported():
        show(_step(session(c), number))


def start_builds(c: Context) -> None:
    with reported():
        _start_builds(session(c))


def summary(c: Context) -> None:
    with reported():
        show(_summary(session(c)))


def beyond(c: Context) -> None:
    with reported():
        show(_beyond(session(c)))


def _step(session: Session, number: int) -> object:
    """Run step `number`, or collect it where `invoke all` started it side by side."""
    step = STEPS[number]
    if not step.builds:
        return run_file_step(workspace=session.workspace, step=step)
    side_by_side = session.side_by_side
    pending = side_by_side.take(number) if side_by_side else None
    if pending is None:
        session.check_outputs()
        result = run_build_step(session.plan(), step)
    else:
        assert side_by_side is not None
        try:
            with session.progress.activity(
                f"Step {number}: building {session.settings.tag(step.tag)}"
            ):
                result = pending.result()
        except BaseException:
            side_by_side.cancel()
            raise
    return compared(result, session.size_log)


def _start_builds(session: Session) -> None:
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
    plan = session.plan(progress=background)
    session.side_by_side = SideBySide(
        lambda step: run_build_step(plan, step),
        WORKSHOP_BUILD_STEPS.values(),
        progress=background,
        engine=plan.engine,
    )


def _summary(session: Session) -> Summary:
    """`invoke all`'s closing table; the run joins the history."""
    summary = workshop_summary(session.size_log.read())
    if summary.records:
        session.history.add(Run.of(summary.records))
    return summary


def _beyond(session: Session) -> Summary:
    return beyond_summary(session.size_log.read())
