"""Running a step: write its files, build its image, run it, measure it and log it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from workshop import LABEL
from workshop.bases import Bases, ResolvedBase
from workshop.engine import Engine
from workshop.errors import StepFailed
from workshop.gobinary import go_build_version
from workshop.progress import Progress
from workshop.sizelog import SizeLog, SizeRecord
from workshop.startup import time_startup
from workshop.steps import STEPS, Step
from workshop.units import docker_size, times
from workshop.workspace import Workspace, Written

__all__ = ["BuildStepResult", "FileStepResult", "compared", "run_build_step", "run_file_step"]

EXPECTED_OUTPUT = "Hello world!"
# The roles whose images build with Go; the floor's build stage (debian) assembles instead.
GO_ROLES = ("golang", "golang-alpine")
NO_GO = "none"


@dataclass(frozen=True)
class ShownFile:
    name: str
    content: str
    written: Written | None = None
    listing: str = ""


@dataclass(frozen=True)
class FileStepResult:
    step: Step
    files: tuple[ShownFile, ...]

    def __rich__(self) -> RenderableType:
        parts: list[RenderableType] = [
            Text(f"Step {self.step.number}: {self.step.title}", style="bold")
        ]
        for shown in self.files:
            if shown.written is not None:
                parts.append(Text(f"{shown.name}: {shown.written.value}", style="dim"))
            if shown.listing:
                parts.append(Text(f"$ ls -altr {shown.name}\n{shown.listing}\n$ cat {shown.name}"))
            lexer = "go" if shown.name.endswith(".go") else "docker"
            parts.append(
                Syntax(shown.content, lexer, theme="ansi_dark", background_color="default")
            )
        return Group(*parts)


@dataclass(frozen=True)
class Comparison:
    record: SizeRecord
    other: SizeRecord

    def __rich__(self) -> RenderableType:
        this, other = self.record, self.other
        saved = other.size - this.size
        share = saved / other.size if other.size else 0.0
        return Text(
            f"{this.tag} is {this.size_human}: {docker_size(saved)} ({share:.0%}) less than "
            f"{other.tag} ({other.size_human}); {other.tag} is "
            f"{times(other.size / this.size)} times its size."
        )


@dataclass(frozen=True)
class BuildStepResult:
    step: Step
    record: SizeRecord
    written: tuple[tuple[str, Written], ...]
    comparison: Comparison | None = None

    def __rich__(self) -> RenderableType:
        record = self.record
        ls = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("REPOSITORY", "TAG", "IMAGE ID", "SIZE"):
            ls.add_column(column)
        ls.add_row(
            record.tag, "latest", record.image_id.removeprefix("sha256:")[:12], record.size_human
        )
        parts: list[RenderableType] = [
            Text(f"Step {self.step.number}: {self.step.title}", style="bold")
        ]
        parts += [Text(f"{name}: {written.value}", style="dim") for name, written in self.written]
        parts += [
            Text(f"$ docker image ls {record.tag}"),
            ls,
            Text(f"$ docker run -ti --rm {record.tag}"),
            Text(record.output.rstrip("\n")),
        ]
        if self.comparison:
            parts.append(self.comparison)
        if record.startup and self.comparison:
            cost = record.startup["median_ms"] - record.startup["against_median_ms"]
            parts.append(
                Text(
                    f"Start-up, median of {record.startup['runs']:.0f} runs each: {record.tag} "
                    f"{record.startup['median_ms']:.0f} ms, {self.comparison.other.tag} "
                    f"{record.startup['against_median_ms']:.0f} ms: {cost:+.0f} ms."
                )
            )
        bases = ", ".join(
            f"{escape(base.reference)}{' (stand-in)' if base.standin else ''}"
            for base in record.bases
        )
        with_go = f" with {record.go_version}" if record.go_version != NO_GO else ""
        parts.append(Text.from_markup(f"[dim]Built on {bases}{with_go}; logged.[/]"))
        return Group(*parts)


def run_file_step(*, workspace: Workspace, step: Step) -> FileStepResult:
    """Steps 1-3: write the step's files into the workspace and show them (step 2 lists app.go)."""
    if step.writes:
        written = [(name, workspace.write(name)) for name in step.writes]
        # Read after writing: where an edited file was kept, it is what is shown.
        files = tuple(
            ShownFile(name, workspace.path(name).read_text(), written=outcome)
            for name, outcome in written
        )
    else:
        workspace.require(("app.go",), step=step.name)
        files = (
            ShownFile(
                "app.go", workspace.path("app.go").read_text(), listing=workspace.listing("app.go")
            ),
        )
    return FileStepResult(step=step, files=files)


def run_build_step(
    *,
    engine: Engine,
    bases: Bases,
    workspace: Workspace,
    size_log: SizeLog,
    step: Step,
    progress: Progress,
    nocache: bool = False,
    tag_prefix: str = "",
    builder: str = "legacy",
) -> BuildStepResult:
    """Steps 4-9: build the step's image from the workshop's Dockerfile, run, measure, log it."""
    tag = f"{tag_prefix}{step.tag}"
    size_log.check_writable()
    written = tuple((name, workspace.write(name)) for name in step.writes)
    workspace.require((step.dockerfile, *step.sources), step=step.name)
    resolved = [bases.resolve(role) for role in step.roles]
    with progress.activity(f"Step {step.number}: building {tag}") as on_line:
        built = engine.build(
            context=workspace.context((step.dockerfile, *step.sources)),
            dockerfile=step.dockerfile,
            tag=tag,
            buildargs={base.role.build_arg: base.reference for base in resolved},
            labels={LABEL: "step", f"{LABEL}.step": str(step.number)},
            nocache=nocache,
            on_line=on_line,
            builder=builder,
        )
    progress.checkpoint()
    with progress.activity(f"Step {step.number}: running {tag}"):
        ran = engine.run(tag, labels={LABEL: "run"}, fetch="/app")
    if ran.exit_code != 0 or ran.output.rstrip("\n") != EXPECTED_OUTPUT:
        raise StepFailed(
            f"{tag} printed {ran.output!r} and exited {ran.exit_code}; the workshop expects "
            f"exactly {EXPECTED_OUTPUT!r}. No size was logged for {step.name}."
        )
    image = engine.image(built.image_id)
    if image is None:
        raise StepFailed(f"{tag} was built as {built.image_id} but is gone from the engine.")
    size = int(image.attrs["Size"])
    binary = ran.fetched or b""
    startup = {}
    if step.times_startup and step.compare_with is not None:
        against = f"{tag_prefix}{STEPS[step.compare_with].tag}"
        with progress.activity(f"Step {step.number}: timing the start-up of {tag} and {against}"):
            startup = time_startup(engine, tag, against)
    record = SizeRecord(
        step=step.number,
        tag=tag,
        image_id=built.image_id,
        size=size,
        size_human=docker_size(size),
        binary_size=len(binary),
        bases=tuple(base.used() for base in resolved),
        go_version=_go_version(binary, bases, resolved[0]),
        engine_version=engine.info.version,
        storage_driver=engine.info.storage_driver,
        builder=builder,
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        output=ran.output,
        build_seconds=round(built.seconds, 3),
        startup=startup,
    )
    progress.checkpoint()
    size_log.record(record)
    return BuildStepResult(step=step, record=record, written=written)


def _go_version(binary: bytes, bases: Bases, build_stage: ResolvedBase) -> str:
    """The Go that built /app: from its build info, else the toolchain's; "none" without Go."""
    if build_stage.role.name not in GO_ROLES:
        return NO_GO
    return go_build_version(binary) or bases.go_version(build_stage)


def compared(result: BuildStepResult, size_log: SizeLog) -> BuildStepResult:
    """`result` with its comparison against the step it is measured against, where logged.

    Done when the result is shown, not when it is measured: steps built side by side finish in
    any order, and step 8 must be set against this run's step 7, not a previous one.
    """
    other = size_log.read().get(result.step.compare_with or 0)
    if other is None:
        return result
    return replace(result, comparison=Comparison(record=result.record, other=other))
