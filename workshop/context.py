"""What a task gets from its invoke context: settings, the shared engine, and error reporting.

Settings live in invoke config under `workshop` (defaults below, then invoke.yaml, then
INVOKE_WORKSHOP_* environment variables). Heavy modules (docker, rich) are imported inside the
functions that need them, so `invoke --list` answers quickly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from invoke import Context, Exit

from workshop.errors import BadInput, WorkshopError

if TYPE_CHECKING:
    from workshop.bases import Bases
    from workshop.engine import Engine
    from workshop.history import History
    from workshop.progress import Progress
    from workshop.runner import BuildStepResult, FileStepResult
    from workshop.sizelog import SizeLog
    from workshop.steps import Step
    from workshop.workspace import Workspace

__all__ = [
    "DEFAULTS",
    "bases",
    "beyond_summary",
    "build_bases",
    "build_step",
    "clean",
    "engine",
    "explain_image",
    "file_step",
    "make_report",
    "reported",
    "show",
    "size_log",
    "start_builds",
    "summary",
    "sweep",
]

BUILDERS = ("legacy", "buildkit")

DEFAULTS: dict[str, Any] = {
    "workspace": "build/workshop",
    "size_log": "build/sizes.json",
    # Each `invoke all` adds its sizes here; the last `history_keep` runs are kept.
    "history": "build/history.json",
    "history_keep": 20,
    # Where `invoke sweep` keeps a size log per Go release, and the table of them all.
    "sweep_dir": "build/sweep",
    # Where `invoke report` writes report.html and report.md.
    "report_dir": "build",
    # auto: the workshop's images where present or pullable, else local stand-ins;
    # workshop: only the workshop's images; local: only the stand-ins.
    "bases": "auto",
    # The Go release of the local stand-ins (Debian's).
    "go": "1.19",
    "debian_mirror": "http://deb.debian.org/debian",
    # Show every line of build output instead of the current instruction.
    "verbose": False,
    "no_cache": False,
    # legacy: the engine's builder, through the Docker SDK; buildkit: `docker buildx build --load`.
    "builder": "legacy",
    # Put before every step's tag (tests use one, to leave the workshop's own images alone).
    "tag_prefix": "",
    # Made on first use and shared by every task of the run.
    "engine": None,
    "resolver": None,
    # Builds `invoke all` started side by side, for the steps to collect.
    "ahead": None,
}


def _setting(c: Context, name: str, kind: type) -> Any:
    value = c.workshop[name]
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        wanted = "a non-empty string" if kind is str else f"a {kind.__name__}"
        raise BadInput(
            f"The setting workshop.{name} is {value!r}, which is not {wanted}. "
            f"Fix it in invoke.yaml or INVOKE_WORKSHOP_{name.upper()}, then run the step again."
        )
    return value


def tag_prefix(c: Context) -> str:
    prefix = c.workshop.tag_prefix
    if not isinstance(prefix, str) or not re.fullmatch(r"([a-z0-9][a-z0-9._-]{0,63})?", prefix):
        raise BadInput(
            f"The setting workshop.tag_prefix is {prefix!r}: an image name may hold only "
            "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit."
        )
    return prefix


def engine(c: Context) -> Engine:
    """The run's one Engine, connected on first use."""
    if c.workshop.engine is None:
        from workshop.engine import Engine

        c.workshop.engine = Engine.from_env()
    return c.workshop.engine


def progress(c: Context) -> Progress:
    from workshop.console import get_console
    from workshop.progress import Progress

    return Progress(get_console(), verbose=_setting(c, "verbose", bool))


def _bases_settings(c: Context) -> dict[str, str]:
    from workshop.bases import Bases

    settings = {
        "mode": _setting(c, "bases", str),
        "go": _setting(c, "go", str),
        "mirror": _setting(c, "debian_mirror", str),
    }
    Bases.check_settings(**settings)
    return settings


def bases(c: Context) -> Bases:
    """The run's one base resolver: each role is resolved, and noted, once."""
    if c.workshop.resolver is None:
        from workshop.bases import Bases

        settings = _bases_settings(c)
        c.workshop.resolver = Bases(engine=engine(c), progress=progress(c), **settings)
    return c.workshop.resolver


def workspace(c: Context) -> Workspace:
    from workshop.workspace import Workspace

    return Workspace(_setting(c, "workspace", str))


def size_log(c: Context) -> SizeLog:
    from workshop.sizelog import SizeLog

    return SizeLog(_setting(c, "size_log", str))


def file_step(c: Context, number: int) -> FileStepResult:
    from workshop.runner import run_file_step
    from workshop.steps import STEPS

    return run_file_step(workspace=workspace(c), step=STEPS[number])


def _step_builder(c: Context, progress: Progress) -> Callable[[Step], BuildStepResult]:
    """Run a build step with the run's settings; they and the log are checked first."""
    from workshop.runner import run_build_step

    log, folder, prefix = size_log(c), workspace(c), tag_prefix(c)
    _bases_settings(c)
    nocache = _setting(c, "no_cache", bool)
    builder = _setting(c, "builder", str)
    if builder not in BUILDERS:
        raise BadInput(f"Unknown builder {builder!r}; choose one of: {', '.join(BUILDERS)}.")
    # Checked before the engine is asked anything.
    log.check_writable()
    return functools.partial(
        run_build_step,
        engine=engine(c),
        bases=bases(c),
        workspace=folder,
        size_log=log,
        progress=progress,
        nocache=nocache,
        tag_prefix=prefix,
        builder=builder,
    )


def build_step(c: Context, number: int) -> BuildStepResult:
    """Run step `number`, or collect it where `start_builds` started it."""
    from workshop.runner import compared
    from workshop.steps import STEPS

    step = STEPS[number]
    pending = c.workshop.ahead.take(number) if c.workshop.ahead else None
    if pending is None:
        result = _step_builder(c, progress(c))(step=step)
    else:
        try:
            with progress(c).activity(f"Step {number}: building {tag_prefix(c)}{step.tag}"):
                result = pending.result()
        except BaseException:
            c.workshop.ahead.cancel()
            raise
    return compared(result, size_log(c))


def start_builds(c: Context) -> None:
    """Start steps 4 to 9 side by side; each step task then collects its own, in order.

    Every base is resolved first, one at a time, so that stand-ins are built and noted once.
    With verbose output the builds stay one at a time, so that their output stays readable.
    """
    from workshop.ahead import Ahead
    from workshop.console import get_console
    from workshop.progress import Progress
    from workshop.steps import WORKSHOP_BUILD_STEPS

    if _setting(c, "verbose", bool):
        return
    background = Progress(get_console(), silent=True)
    build = _step_builder(c, background)
    resolver = bases(c)
    for step in WORKSHOP_BUILD_STEPS.values():
        for role in step.roles:
            resolver.resolve(role)
    c.workshop.ahead = Ahead(
        lambda step: build(step=step), WORKSHOP_BUILD_STEPS.values(), progress=background
    )


def beyond_summary(c: Context) -> object:
    """Steps 10 on, set against go-big, go-stripped and go-smaller."""
    from workshop.figures import load_figures
    from workshop.summary import Summary

    records = size_log(c).read()
    shown = {step: records[step] for step in (4, 8, 9, 10, 11, 12, 13) if step in records}
    return Summary(shown, load_figures(), title="Beyond the workshop", quote_workshop=False)


def history(c: Context) -> History:
    from workshop.history import History

    keep = _setting(c, "history_keep", int)
    if keep < 1:
        raise BadInput(f"The setting workshop.history_keep is {keep}; it must be 1 or more.")
    return History(_setting(c, "history", str), keep=keep)


def summary(c: Context) -> object:
    """The table `invoke all` ends with; the run is added to the history too."""
    from workshop.figures import load_figures
    from workshop.history import Run
    from workshop.summary import Summary

    records = size_log(c).read()
    if records:
        history(c).add(Run.of(records))
    return Summary(records=records, figures=load_figures())


def build_bases(c: Context, *, rebuild: bool) -> object:
    from rich.table import Table

    from workshop.units import docker_size

    resolver = bases(c)
    built = resolver.build_standins(rebuild=rebuild)
    table = Table(title=f"Local stand-ins for Debian's Go {resolver.go}", title_style="bold")
    for column in ("image", "size", "built now"):
        table.add_column(column)
    for reference in resolver.standins.all():
        image = resolver.engine.image(reference)
        size = docker_size(image.attrs["Size"]) if image else "missing"
        table.add_row(reference, size, "yes" if reference in built else "")
    return table


def sweep(c: Context, releases: str) -> object:
    """Steps 4 to 9 for each of `releases` ("1.19,1.21"), and the table of their sizes."""
    from pathlib import Path

    from workshop.sweep import parse_versions, run_sweep

    chosen = parse_versions(releases)
    settings = _bases_settings(c)
    builder = _setting(c, "builder", str)
    return run_sweep(
        engine=engine(c),
        progress=progress(c),
        releases=chosen,
        workspace=workspace(c),
        folder=Path(_setting(c, "sweep_dir", str)),
        mode=settings["mode"],
        mirror=settings["mirror"],
        builder=builder,
        tag_prefix=tag_prefix(c),
    )


def explain_image(c: Context, image: str, *, top: int) -> object:
    """What is taking so much space in `image`; bases are named from the size log where it can."""
    from workshop.errors import SizeLogError
    from workshop.explain import check_reference, explain

    check_reference(image)
    if top < 1:
        raise BadInput(f"--top is {top}; it takes a whole number of rows, 1 or more.")
    try:
        records = size_log(c).read().values()
    except SizeLogError:
        records = []
    known = {base.image_id: base.reference for record in records for base in record.bases}
    return explain(engine(c), image, known_bases=known, top=top)


def make_report(c: Context) -> object:
    """Write the HTML report and the Markdown summary; explain each image the engine has."""
    import os
    from pathlib import Path

    from workshop.errors import EngineUnavailable
    from workshop.explain import explain
    from workshop.figures import load_figures
    from workshop.report import Report
    from workshop.verify import verify

    records = size_log(c).read()
    figures = load_figures()
    known = {base.image_id: base.reference for record in records.values() for base in record.bases}
    explanations = {}
    try:
        for step, record in records.items():
            if engine(c).image(record.tag) is not None:
                explanations[step] = explain(engine(c), record.tag, known_bases=known)
    except EngineUnavailable:
        explanations = {}
    verdict, note = None, ""
    try:
        verdict = verify(records, figures, log=size_log(c).path)
    except WorkshopError as error:
        note = error.message
    from workshop.sweep import read_sweep

    swept = read_sweep(Path(_setting(c, "sweep_dir", str)) / "sweep.json")
    report = Report(records, figures, explanations, verdict, note, history(c).read(), swept)
    folder = Path(_setting(c, "report_dir", str))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text(report.html(), encoding="utf-8")
    (folder / "report.md").write_text(report.markdown(), encoding="utf-8")
    if summary_file := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(summary_file, "a", encoding="utf-8") as job_summary:
            job_summary.write(report.markdown())
    return f"Wrote {folder / 'report.html'} and {folder / 'report.md'}."


def clean(c: Context, *, bases: bool) -> object:
    from workshop.cleanup import remove_built_images

    removed, kept = remove_built_images(engine(c), bases=bases)
    lines = [f"Removed {name}" for name in removed]
    lines += [f"Kept {name}: another image is built on it" for name in kept]
    return "\n".join(lines) or "Nothing to remove."


def show(renderable: object) -> None:
    from workshop.console import get_console

    get_console().print(renderable)


@contextmanager
def reported() -> Iterator[None]:
    """Turn a WorkshopError into invoke's Exit: its message and exit code, no traceback."""
    try:
        yield
    except WorkshopError as error:
        raise Exit(f"Error: {error.message}", code=error.exit_code) from None
    except KeyboardInterrupt:
        raise Exit(
            "Interrupted: the steps in progress were stopped before they logged anything.", code=130
        ) from None
