"""Running a step: write its files, build its image, run it, measure it and log it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from workshop.catalogue import Step
from workshop.engine.builders import buildx_installed
from workshop.engine.registry import Registry
from workshop.engine.values import (
    CONTAINERD,
    CONTAINERS_STORAGE,
    DOCKER_ENGINE,
    BuildRequest,
    EngineAPI,
    ImageInfo,
)
from workshop.errors import StepFailed, WorkshopError
from workshop.labels import LABEL, PREFIX_LABEL, STEP_LABEL
from workshop.platforms import suffix
from workshop.progress import Progress
from workshop.records.measured import KnownPrograms, ProgramFacts
from workshop.records.sizelog import BaseUsed, SizeLog, SizeRecord
from workshop.settings import check_tag
from workshop.signals import deferred_interrupts
from workshop.steps.bases import ROLES, BaseResolver
from workshop.steps.gobinary import go_build_version
from workshop.steps.reproducible import why_built_once, why_not_reproducible
from workshop.steps.smallestpull import pulled_and_run, smallest_image
from workshop.steps.startup import time_startup
from workshop.steps.workspace import Workspace, Written
from workshop.units import docker_size, ratio, times

__all__ = [
    "BuildPlan",
    "BuildStepResult",
    "FileStepResult",
    "Passed",
    "compared",
    "measure",
    "measure_push_tag_and_log",
    "run_build_step",
    "run_file_step",
]

# What every step's program prints, byte for byte (stdout and stderr together).
EXPECTED_OUTPUT = "Hello world!\n"
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

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(f"Step {self.step.number}: {self.step.title}", style="bold")
        for shown in self.files:
            if shown.written is not None:
                yield Text(f"{shown.name}: {shown.written.value}", style="dim")
            if shown.listing:
                yield Text(f"$ ls -altr {shown.name}\n{shown.listing}\n$ cat {shown.name}")
            yield _source(shown, colored=console.color_system is not None and not console.no_color)


def _source(shown: ShownFile, *, colored: bool) -> RenderableType:
    """A file's text, highlighted where its colors are shown: into a pipe or a file (CI's log,
    `invoke all > out`) it goes as it is, and pygments is neither imported nor run."""
    if not colored:
        return Text(shown.content)
    # Imported here, not with the module: rich.syntax brings pygments (20 ms or more), which
    # `invoke all` then imports while its builds run, not before they start.
    from rich.syntax import Syntax

    lexer = "go" if shown.name.endswith(".go") else "docker"
    return Syntax(shown.content, lexer, theme="ansi_dark", background_color="default")


@dataclass(frozen=True)
class Comparison:
    record: SizeRecord
    other: SizeRecord

    def __rich__(self) -> RenderableType:
        this, other = self.record, self.other
        saved = other.size - this.size
        share = ratio(saved, other.size)
        return Text(
            f"{this.tag} is {this.size_human}: {docker_size(saved)} ({share:.0%}) less than "
            f"{other.tag} ({other.size_human}); {other.tag} is "
            f"{times(ratio(other.size, this.size))} times its size."
        )


@dataclass(frozen=True)
class BuildStepResult:
    step: Step
    record: SizeRecord
    written: tuple[tuple[str, Written], ...]
    comparison: Comparison | None = None
    # A foreign platform it was built for, named in its heading; "" for the engine's own.
    platform: str = ""

    def __rich__(self) -> RenderableType:
        record = self.record
        where = f" on {self.platform}" if self.platform else ""
        ls = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("REPOSITORY", "TAG", "IMAGE ID", "SIZE"):
            ls.add_column(column)
        ls.add_row(
            record.tag,
            "latest",
            record.image_id.removeprefix("sha256:")[:12],
            docker_size(record.listed),
        )
        parts: list[RenderableType] = [
            Text(f"Step {self.step.number}{where}: {self.step.title}", style="bold")
        ]
        parts += [Text(f"{name}: {written.value}", style="dim") for name, written in self.written]
        parts += [
            Text(f"$ docker image ls {record.tag}"),
            ls,
            *(
                [
                    Text(
                        "The containerd image store lists the stored content and the unpacked "
                        "snapshot together; the image's files, which the workshop measured, "
                        f"are {record.size_human}.",
                        style="dim",
                    )
                ]
                if record.image_store == CONTAINERD
                else [
                    Text(
                        "Podman lists each layer as a tar (a header and padding for each "
                        "file); the image's files, which the workshop measured, are "
                        f"{record.size_human}.",
                        style="dim",
                    )
                ]
                if record.image_store == CONTAINERS_STORAGE
                else []
            ),
            Text(f"$ docker run -ti --rm {record.tag}"),
            Text(record.output.rstrip("\n")),
        ]
        if record.pull_size:
            parts.append(
                Text(
                    f"A pull of {record.tag} downloads {docker_size(record.pull_size)} "
                    f"({record.pull_size:,} bytes: its config and compressed layers, as "
                    f"{record.registry} stores them)."
                )
            )
        if record.smallest_pull:
            parts.append(Text(smallest_pull_line(record)))
        if self.step.builds_twice:
            parts.append(Text(same_digest_line(record)))
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
            f"{base.reference}{' (stand-in)' if base.standin else ''}" for base in record.bases
        )
        with_go = f" with {record.go_version}" if record.go_version != NO_GO else ""
        engine = record.engine_host or "the engine"
        if record.engine_context != "default":
            engine = f"context {record.engine_context!r} ({engine})"
        product = "Docker" if record.engine_product == DOCKER_ENGINE else record.engine_product
        if record.engine_rootless:
            product += " (rootless)"
        parts.append(
            Text(
                f"Built on {bases}{with_go}, by {product} {record.engine_version} at {engine}, "
                f"{record.storage_driver}, {record.image_store} image store; logged.",
                style="dim",
            )
        )
        return Group(*parts)


def smallest_pull_line(record: SizeRecord) -> str:
    """What a pull of the smallest image around `record`'s program downloads, part by part."""
    parts = record.smallest_pull
    total = sum(parts.values())
    largest = max(parts, key=lambda part: parts[part])
    listed = ", ".join(f"{part} {size:,}" for part, size in parts.items())
    return (
        f"The smallest image around its {record.binary_size:,}-byte program, pushed by hand, "
        f"pulled back and run: a pull downloads {total:,} bytes ({listed}), against the "
        f"workshop's 682 kB; the {largest} is now the largest part."
    )


def same_digest_line(record: SizeRecord) -> str:
    """Whether two clean builds of `record`'s image gave one image id, or why it can't."""
    if not record.rebuilt_image_id:
        why = why_built_once(record.engine_version, record.image_store, record.engine_product)
        return f"Not built twice: {why}."
    first, second = record.image_id[:19], record.rebuilt_image_id[:19]
    how = "with BuildKit, SOURCE_DATE_EPOCH=0 and rewrite-timestamp"
    if record.image_id == record.rebuilt_image_id:
        return f"Built twice from scratch {how}: the same image id both times, {first}."
    return f"Built twice from scratch {how}: two image ids, {first} and {second}."


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


@dataclass(frozen=True)
class BuildPlan:
    """What every build step of a run shares: where it builds, from what, and where it logs."""

    engine: EngineAPI
    bases: BaseResolver
    workspace: Workspace
    size_log: SizeLog
    progress: Progress
    nocache: bool = False
    tag_prefix: str = ""
    # Where each image is pushed to measure its pull size; None: not measured.
    registry: Registry | None = None
    # The platform its images are built for, where it is not the engine's own (their names
    # end in the platform: go-big-linux-arm64); "" for the engine's own.
    platform: str = ""
    # What each image's program was found to be, by image id; None: read it on every run.
    programs: KnownPrograms | None = None


def run_build_step(plan: BuildPlan, step: Step) -> BuildStepResult:
    """Steps 4 on: build the step's image from its Dockerfile, run it by the id the build
    returned, measure it, and only then tag it and log it, together.

    An image that fails its check is never tagged: after any failure or interruption, the tag
    still names the image its log record names.
    """
    engine, progress = plan.engine, plan.progress
    tag = check_tag(f"{plan.tag_prefix}{step.tag}{suffix(plan.platform)}")
    plan.size_log.check_writable()
    written = tuple((name, plan.workspace.write(name)) for name in step.writes)
    plan.workspace.require((step.dockerfile, *step.sources), step=step.name)
    resolved = [plan.bases.resolve(role) for role in step.roles]
    twice = step.builds_twice and not why_not_reproducible(
        engine.info.version,
        engine.info.image_store,
        buildx=buildx_installed(),
        product=engine.info.product,
    )
    request = BuildRequest(
        context=plan.workspace.context((step.dockerfile, *step.sources)),
        dockerfile=step.dockerfile,
        buildargs={ROLES[base.role].build_arg: base.reference for base in resolved},
        labels={LABEL: "step", STEP_LABEL: str(step.number), PREFIX_LABEL: plan.tag_prefix},
        nocache=plan.nocache or twice,
        name=tag,
        reproducible=twice,
        platform=plan.platform,
    )
    with progress.activity(f"Step {step.number}: building {tag}") as on_line:
        built = engine.build(request, on_line=on_line)
    progress.checkpoint()
    rebuilt = ""
    if twice:
        again = f"Step {step.number}: building {tag} again, from scratch"
        with progress.activity(again) as on_line:
            rebuilt = engine.build(request, on_line=on_line).image_id
        if rebuilt != built.image_id:
            engine.remove_image(rebuilt)
        progress.checkpoint()
    # An image id names its content: /app, read from this image's container before, is known.
    key = f"{built.image_id} {plan.platform or engine.info.platform} /app"
    known = plan.programs.get(key) if plan.programs is not None else None
    needs_bytes = step.pushes_smallest and plan.registry is not None
    with progress.activity(f"Step {step.number}: running {tag}"):
        fetch = None if known is not None and not needs_bytes else "/app"
        ran = engine.run(built.image_id, fetch=fetch, platform=plan.platform)
    if ran.exit_code != 0 or ran.output != EXPECTED_OUTPUT:
        raise StepFailed(
            f"{tag} (image {built.image_id[:19]}) printed {ran.output[:500]!r} and exited "
            f"{ran.exit_code}; the workshop expects exactly {EXPECTED_OUTPUT!r}. It was not "
            f"tagged, and no size was logged for {step.name}."
        )
    program = known
    if program is None or ran.fetched is not None:
        binary = ran.fetched or b""
        program = ProgramFacts.of(binary, go_build_version(binary))
        if plan.programs is not None and binary:
            plan.programs.put(key, program)
    startup: dict[str, float] = {}
    if step.times_startup and step.compare_with is not None:
        against = plan.size_log.read().get(step.compare_with)
        if against is not None:
            with progress.activity(
                f"Step {step.number}: timing the start-up of {tag} and {against.tag}"
            ):
                startup = time_startup(engine, built.image_id, against.image_id)
    smallest: dict[str, int] = {}
    if step.pushes_smallest and plan.registry is not None:
        smallest = _smallest_pull(plan, plan.registry, tag, ran.fetched or b"")
    record = measure_push_tag_and_log(
        plan,
        Passed(
            number=step.number,
            tag=tag,
            image_id=built.image_id,
            bases=tuple(resolved),
            output=ran.output,
            program=program,
            build_seconds=built.seconds,
            startup=startup,
            smallest_pull=smallest,
            rebuilt_image_id=rebuilt,
        ),
        what=f"Step {step.number}",
    )
    return BuildStepResult(step=step, record=record, written=written, platform=plan.platform)


def _smallest_pull(plan: BuildPlan, registry: Registry, tag: str, program: bytes) -> dict[str, int]:
    """The bytes of the smallest image around `program` that `registry` serves and the
    engine pulls and runs (steps/smallestpull.py)."""
    image = smallest_image(program, platform=plan.platform or plan.engine.info.platform)
    repository = f"{tag.split(':')[0]}-smallest"
    with plan.progress.activity(f"{tag}: pushing the smallest image around it, pulling it back"):
        pulled_and_run(
            plan.engine,
            registry,
            image,
            repository=repository,
            expected=EXPECTED_OUTPUT,
            platform=plan.platform,
        )
    return image.parts


@dataclass(frozen=True)
class Passed:
    """An image that was built and passed its check, ready to be measured, tagged and logged."""

    number: int
    tag: str
    image_id: str
    bases: tuple[BaseUsed, ...]
    output: str
    program: ProgramFacts
    build_seconds: float
    startup: Mapping[str, float] = field(default_factory=dict)
    smallest_pull: Mapping[str, int] = field(default_factory=dict)
    rebuilt_image_id: str = ""


def measure(engine: EngineAPI, image_id: str) -> ImageInfo:
    """`image_id` as the engine measures it on its store (EngineAPI.measured)."""
    image = engine.measured(image_id)
    if image is None:
        raise StepFailed(f"The image {image_id} was built but is gone from the engine.")
    return image


def measure_push_tag_and_log(plan: BuildPlan, passed: Passed, *, what: str) -> SizeRecord:
    """Measure `passed` (and its pull size, where a registry is set), then tag it and log it
    together; a step's and a shrink rung's record alike."""
    engine, progress, tag = plan.engine, plan.progress, passed.tag
    with progress.activity(f"{what}: measuring {tag}"):
        image = measure(engine, passed.image_id)
    # The registry's name for the image is dropped whatever happens; where the step fails, the
    # image goes with it, as it was never tagged or logged.
    remote = f"{plan.registry.address}/{tag}" if plan.registry is not None else ""
    try:
        pull_size = 0
        if plan.registry is not None:
            with progress.activity(f"{what}: pushing {tag} to {plan.registry.address}"):
                engine.push(passed.image_id, remote)
                pull_size = plan.registry.pull_size(tag)
        record = SizeRecord(
            step=passed.number,
            tag=tag,
            image_id=passed.image_id,
            size=image.size,
            size_human=docker_size(image.size),
            listed_size=image.listed,
            image_store=engine.info.image_store,
            engine_context=engine.info.context,
            engine_host=engine.info.host,
            engine_product=engine.info.product,
            engine_rootless=engine.info.rootless,
            pull_size=pull_size,
            registry=plan.registry.address if plan.registry else "",
            binary_size=passed.program.size,
            bases=passed.bases,
            go_version=_go_version(passed.program, plan.bases, passed.bases[0]),
            engine_version=engine.info.version,
            storage_driver=engine.info.storage_driver,
            builder=engine.builder,
            timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            output=passed.output,
            build_seconds=round(passed.build_seconds, 3),
            startup=passed.startup,
            platform=plan.platform or engine.info.platform,
            smallest_pull=passed.smallest_pull,
            rebuilt_image_id=passed.rebuilt_image_id,
        )
        progress.checkpoint()
        with deferred_interrupts():
            _tag_and_log(engine, plan.size_log, record)
    finally:
        if remote:
            # A failure here must not hide the one that brought us here.
            with suppress(WorkshopError):
                engine.untag(remote)
    return record


def _tag_and_log(engine: EngineAPI, size_log: SizeLog, record: SizeRecord) -> None:
    """Point the tag at the new image and log it, both under the log's lock (two runs at once
    leave tag and log naming the same image); if the log can't be written, the tag goes back to
    the image it named before."""

    def publish() -> Callable[[], None]:
        before = engine.image(record.tag)
        engine.tag(record.image_id, record.tag)

        def undo() -> None:
            if before is not None:
                engine.tag(before.id, record.tag)
            else:
                engine.untag(record.tag)

        return undo

    size_log.record(record, publish=publish)


def _go_version(program: ProgramFacts, bases: BaseResolver, build_stage: BaseUsed) -> str:
    """The Go that built /app: from its build info, else the toolchain's; "none" without Go."""
    if build_stage.role not in GO_ROLES:
        return NO_GO
    return program.go_build or bases.go_version(build_stage)


def compared(result: BuildStepResult, size_log: SizeLog) -> BuildStepResult:
    """`result` with its comparison against the step it is measured against, where logged.

    Done when the result is shown, not when it is measured: steps built side by side finish in
    any order, and step 8 must be set against this run's step 7, not a previous one.
    """
    other = size_log.read().get(result.step.compare_with or 0)
    if other is None:
        return result
    return replace(result, comparison=Comparison(record=result.record, other=other))
