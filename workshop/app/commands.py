"""What each invoke task does: the one module that knows the session.

tasks.py names the tasks and their flags and calls one function here with its Context and the
flags' text. Each takes the run's session, asks the lower layers for their work with plain values
(a build plan, the bases, the engine), shows what they return, and ends the way every task ends
(`reported()`: an exit code and a paragraph, no traceback). tasks.py imports this module inside
the tasks, so that `invoke --list` imports no docker-py.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from invoke import Context

from workshop.catalogue import STEPS, WORKSHOP_BUILD_STEPS
from workshop.console import show
from workshop.engine.dockerd import EngineStatus, start_local
from workshop.engine.endpoint import find_endpoint
from workshop.errors import BadInput, DataFileError, EngineUnavailable, StepFailed
from workshop.inspection import explain as explaining
from workshop.inspection.diff import ImageDiff, diff_images
from workshop.inspection.explain import Explanation
from workshop.progress import Progress
from workshop.records.history import Run
from workshop.report.render import write_report
from workshop.shrink.appcheck import CheckFlags
from workshop.shrink.climb import find_target
from workshop.shrink.climb import shrink as climb_ladder
from workshop.steps.bases import StandinsTable
from workshop.steps.cleanup import Cleaned, clean_images, remove_leftover_containers
from workshop.steps.runner import compared, run_build_step, run_file_step
from workshop.steps.sidebyside import SideBySide
from workshop.steps.summary import Summary, beyond_summary, workshop_summary
from workshop.steps.sweep import Sweep, run_sweep

from .exits import reported
from .session import Session, session

__all__ = [
    "bases",
    "beyond",
    "clean",
    "diff",
    "engine",
    "explain",
    "report",
    "shrink",
    "start_builds",
    "step",
    "summary",
    "sweep",
]


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


def sweep(c: Context, go: str) -> None:
    with reported():
        show(_sweep(session(c), go))


def shrink(c: Context, program: str, **flags: str | None) -> None:
    """`flags`: the check's flags as invoke gives them (see CheckFlags.parse)."""
    with reported():
        _shrink(session(c), program, CheckFlags.parse(**flags))


def explain(c: Context, image: str, top: str) -> None:
    with reported():
        show(_explain(session(c), image, top=explaining.parse_top(top)))


def diff(c: Context, before: str, after: str, *, steps: bool, top: str) -> None:
    with reported():
        show(_diff(session(c), before, after, steps=steps, top=explaining.parse_top(top)))


def report(c: Context) -> None:
    with reported():
        show(_report(session(c)))


def engine(c: Context, *, start: bool) -> None:
    with reported():
        show(_engine_status(session(c), start=start))


def bases(c: Context, *, rebuild: bool) -> None:
    with reported():
        show(_build_standins(session(c), rebuild=rebuild))


def clean(c: Context, *, bases: bool) -> None:
    with reported():
        show(_clean(session(c), bases=bases))


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


def _sweep(session: Session, releases: str) -> Sweep:
    session.check_outputs()
    return run_sweep(session.plan(), session.settings, releases)


def _shrink(session: Session, program: str, flags: CheckFlags) -> None:
    """`invoke shrink`: climb, show the ladder; exit 1 where no rung works."""
    if not program.strip():
        raise BadInput("Give shrink a Go program: the folder of its main package, or a .go file.")
    settings = session.settings
    target = find_target(Path(program).expanduser(), flags, shrink_dir=settings.shrink_dir)
    result = climb_ladder(session.plan(), settings, target)
    show(result)
    if result.smallest is None:
        raise StepFailed(
            f"No rung of the ladder works for {result.app.name}: the reasons are in the table. "
            "Nothing was logged, and no Dockerfile was written."
        )


def _explain(session: Session, image: str, *, top: int) -> Explanation:
    """`invoke explain`: bases are named from the size log where it can be read."""
    explaining.check_reference(image)
    try:
        records = session.size_log.read().values()
    except DataFileError:
        records = {}.values()
    known = {base.image_id: base.reference for record in records for base in record.bases}
    return explaining.explain(session.engine, image, known_bases=known, top=top)


def _diff(session: Session, a: str, b: str, *, steps: bool, top: int) -> ImageDiff:
    """`invoke diff A B`, or with `steps`, the images the size log names for steps A and B."""
    if not a or not b:
        raise BadInput(
            "invoke diff takes two images (invoke diff go-scratch go-stripped), or --steps "
            "and two steps (invoke diff --steps 7 8)."
        )
    if steps:
        records = session.size_log.read()
        chosen = []
        for step in (a, b):
            if not step.isdigit() or int(step) not in records:
                logged = ", ".join(map(str, sorted(records))) or "none"
                raise BadInput(
                    f"--steps {a} {b}: step {step} is not in the size log "
                    f"{session.size_log.path} (logged: {logged}). Run it first."
                )
            chosen.append(records[int(step)].tag)
        a, b = chosen
    return diff_images(session.engine, a, b, top=top)


def _report(session: Session) -> str:
    settings = session.settings
    return write_report(
        session.engine,
        size_log=session.size_log,
        history=session.history,
        sweep_dir=settings.sweep_dir,
        folder=settings.report_dir,
    )


def _engine_status(session: Session, *, start: bool) -> EngineStatus:
    """Which engine, and whether it answers; with `start`, start a local one if it does not."""
    endpoint = find_endpoint()
    try:
        return EngineStatus(endpoint, session.engine.info)
    except EngineUnavailable:
        if not start:
            raise
    start_local(endpoint, timeout=session.settings.engine_timeout)
    session.forget_engine()
    return EngineStatus(endpoint, session.engine.info, started=True)


def _build_standins(session: Session, *, rebuild: bool) -> StandinsTable:
    """`invoke bases`: build the stand-ins that are missing or stale (all with `rebuild`)."""
    bases = session.bases
    return StandinsTable.of(bases, bases.build_standins(rebuild=rebuild))


def _clean(session: Session, *, bases: bool) -> Cleaned:
    """`invoke clean`: this project's lost containers, this configuration's images (and the
    stand-ins with `bases`)."""
    containers = remove_leftover_containers(session.engine)
    cleaned = clean_images(session.engine, prefix=session.settings.tag_prefix, bases=bases)
    return replace(cleaned, containers=containers)
