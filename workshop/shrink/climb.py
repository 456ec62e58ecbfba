"""`invoke shrink PATH`: the workshop's ladder on a person's own Go program.

Each rung (workshop.ladder) is built from the Dockerfile it writes, run by the id its build
returned with the program's check (workshop.appcheck), and measured like the workshop's steps. A
rung that passes is tagged `shrink-KEY-RUNG` (KEY: the program's name and where it is,
GoApp.key) and logged (build/shrink/KEY/sizes.json, the workshop's size log's shape); one that
breaks is shown with the reason, read from what happened, and removed. After rung 4 the
program's binary says what it needs on scratch (workshop.needs); rung 4b adds it, with each
addition's bytes, and rungs 5 and 6 keep it. The smallest working rung's Dockerfile is written
to build/shrink/KEY/Dockerfile.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workshop.engine.buildcontext import tar_context_file
from workshop.engine.values import BuildRequest, EngineAPI
from workshop.errors import BadInput, BaseUnavailable, StepFailed, TimedOut, WorkshopError
from workshop.labels import LABEL, PREFIX_LABEL
from workshop.platforms import PLATFORMS, slug
from workshop.progress import Progress
from workshop.records.datafile import check_folder, check_output, write_atomic
from workshop.records.measured import ProgramFacts
from workshop.records.sizelog import BaseUsed, SizeLog, SizeRecord
from workshop.releases import GO_RELEASES, release_key
from workshop.scratch import scratch_folder
from workshop.settings import Settings, check_tag
from workshop.shrink.appcheck import AppCheck, CheckFlags, Outcome, load_check, require_free_port
from workshop.shrink.goapp import GoApp, find_app, listed, packages
from workshop.shrink.goenv import NO_GO_ENV, GoEnvironment, go_environment
from workshop.shrink.ladder import EXTRAS, RUNGS, STATIC, Rung, dockerfile, roles, runs_as_built
from workshop.shrink.modfetch import GOPROXY_FOLDER, Fetched, ModuleNotFetched, fetch_modules
from workshop.shrink.needs import CERTS, TMP, TZDATA, USERS, Needs, needs_of
from workshop.steps.bases import ROLES, BaseResolver
from workshop.steps.gobinary import go_build_version
from workshop.steps.runner import BuildPlan, Passed, measure, measure_push_tag_and_log
from workshop.steps.sidebyside import stop_threads
from workshop.steps.startup import time_startup
from workshop.units import docker_size

__all__ = [
    "RungResult",
    "ShrinkResult",
    "Target",
    "discard_unnamed",
    "find_target",
    "find_targets",
    "shrink",
]

# The Dockerfile's name inside the build context, beside the program's own files.
CONTEXT_DOCKERFILE = ".shrink.Dockerfile"
# The context's .dockerignore: the program's files are already those its own .dockerignore
# keeps; this one keeps the rung's Dockerfile out of `COPY . .`, so that each rung copies the
# same files and the layer cache serves the compile one rung shares with another.
CONTEXT_IGNORE = f"{CONTEXT_DOCKERFILE}\n.dockerignore\n".encode()
STARTUP_RUNS = 5
# A rung to build, with its extras; a lane: rungs built one after another.
_Job = tuple[str, tuple[str, ...]]
_Lane = list[_Job]
# Where 4b puts each addition, to count its bytes.
_PATHS = {
    CERTS: "etc/ssl/certs/ca-certificates.crt",
    TZDATA: "zoneinfo.zip",
    USERS: "etc/passwd",
}


@dataclass(frozen=True)
class RungResult:
    rung: Rung
    dockerfile: str
    image_id: str = ""
    size: int = 0
    binary_size: int = 0
    outcome: Outcome | None = None
    # The build's last lines, where it failed.
    build_failure: tuple[str, ...] = ()
    record: SizeRecord | None = None
    reason: str = ""
    # Median seconds of the check on this rung and on the rung before (rung 6).
    startup: Mapping[str, float] | None = None
    # Why it was not built for this platform ("": it was).
    skipped: str = ""

    @property
    def works(self) -> bool:
        return self.outcome is not None and self.outcome.works


@dataclass(frozen=True)
class ShrinkResult:
    app: GoApp
    check: AppCheck
    # The platform its images were built for and checked on; whether its Dockerfiles
    # cross-compile (--platform was given), so that one builds every platform.
    platform: str
    cross: bool
    rungs: tuple[RungResult, ...]
    needs: Needs
    # Bytes of each addition of 4b, by need (STATIC: the binary's growth).
    costs: dict[str, int]
    folder: Path
    go_version: str
    smallest: RungResult | None = None
    notes: tuple[str, ...] = ()

    @property
    def kept(self) -> Path:
        return self.folder / "Dockerfile"

    def __rich__(self) -> RenderableType:
        app = self.app
        parts: list[RenderableType] = [
            Text(
                f"Shrinking {app.name} ({app.root}) for {self.platform}, built with "
                f"{self.go_version}",
                style="bold",
            ),
            Text(f"It works when {self.check.describe()}."),
            *(Text(note, style="dim") for note in self.notes),
        ]
        table = Table(header_style="bold")
        for column, justify in (
            ("Rung", "left"),
            ("Technique", "left"),
            ("Size", "right"),
            ("Change", "right"),
            ("/app", "right"),
            ("Works", "left"),
            ("Why not", "left"),
        ):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        before: RungResult | None = None
        for each in self.rungs:
            change = ""
            if each.size and before is not None and before.size:
                change = _change(each.size - before.size)
            table.add_row(
                Text(each.rung.key),
                Text(each.rung.title_for(app)),
                Text(docker_size(each.size) if each.size else "-"),
                Text(change),
                Text(docker_size(each.binary_size) if each.binary_size else "-"),
                Text("yes", style="green")
                if each.works
                else Text("-" if each.skipped else "no", style="dim" if each.skipped else "red"),
                Text(each.reason),
            )
            if each.size:
                before = each
        parts.append(table)
        for need, symbol in self.needs.found:
            cost = self.costs.get(need)
            parts.append(
                Text(
                    f"Needs {EXTRAS[need]} ({symbol} is linked)"
                    + (f": +{cost:,} bytes on scratch." if cost is not None else ".")
                )
            )
        if STATIC in self.costs:
            parts.append(
                Text(
                    f"Needs {EXTRAS[STATIC]} (it uses cgo, or asks for "
                    f"{self.needs.interpreter or 'a loader'}): {_change(self.costs[STATIC])} "
                    "of binary."
                )
            )
        for each in self.rungs:
            if each.startup:
                mine, before_ms = each.startup["median_ms"], each.startup["against_median_ms"]
                parts.append(
                    Text(
                        f"Start-up, median of {STARTUP_RUNS} checks each: rung {each.rung.key} "
                        f"{mine:.0f} ms, the rung before {before_ms:.0f} ms "
                        f"({mine - before_ms:+.0f} ms)."
                    )
                )
        if self.smallest is not None:
            smallest = self.smallest
            build = (
                f"docker buildx build --platform {', '.join(PLATFORMS).replace(', ', ',')}"
                if self.cross
                else "docker build"
            )
            parts.append(
                Text(
                    f"Smallest that works: rung {smallest.rung.key}, {docker_size(smallest.size)} "
                    f"({smallest.size:,} bytes). Its Dockerfile: {self.kept}\n"
                    f"  {build} -f {self.kept} -t {app.name} {app.root}\n"
                    f"Logged to {self.folder / 'sizes.json'}: nox -s verify -- --log PATH "
                    "checks it, INVOKE_WORKSHOP_SIZE_LOG=PATH invoke report reports it."
                )
            )
        else:
            parts.append(Text("No rung works: nothing was logged or written.", style="bold red"))
        return Group(*parts)


def _change(delta: int) -> str:
    return f"{'+' if delta >= 0 else '-'}{docker_size(abs(delta))}"


@dataclass(frozen=True)
class Target:
    """The program to shrink, how to check it, and where its Dockerfile and size log go."""

    app: GoApp
    check: AppCheck
    folder: Path
    size_log: SizeLog
    # Where its modules come from, where the build fetches them.
    go_env: GoEnvironment = NO_GO_ENV
    # The platform it is built for ("linux/arm64"); "": the engine's own.
    platform: str = ""


def find_targets(
    path: Path, flags: CheckFlags, *, shrink_dir: Path, platforms: tuple[str, ...] = ()
) -> list[Target]:
    """One target for each of `platforms` (the engine's own where none is given), each with
    its own folder (KEY/linux-arm64), tags and log; every output location checked first."""
    target = find_target(path, flags, shrink_dir=shrink_dir)
    if not platforms:
        return [target]
    if target.app.uses_cgo:
        raise BadInput(
            f'{target.app.name} uses cgo (import "C" in {", ".join(target.app.cgo_files[:3])}): '
            "building it for a platform needs a C cross-compiler, which the bases here lack. "
            "Run shrink without --platform (the engine's own), or on a machine of that platform."
        )
    targets = []
    for platform in platforms:
        folder = target.folder / slug(platform)
        size_log = _checked_outputs(folder)
        targets.append(replace(target, folder=folder, size_log=size_log, platform=platform))
    return targets


def _checked_outputs(folder: Path) -> SizeLog:
    """The size log of a ladder kept in `folder`, with the folder, its Dockerfile and its log
    checked as outputs before anything is built."""
    size_log = SizeLog(folder / "sizes.json", setting="shrink_dir")
    check_folder(folder, what="the shrink folder", setting="shrink_dir")
    check_output(folder / "Dockerfile", what="Dockerfile", setting="shrink_dir")
    size_log.check_writable()
    return size_log


def find_target(path: Path, flags: CheckFlags, *, shrink_dir: Path) -> Target:
    """The program at `path` and its check; every output location checked. Asks no engine."""
    app = find_app(path)
    check = load_check(path if path.is_dir() else path.parent, app.root, flags)
    require_free_port(check)
    folder = shrink_dir / app.key
    size_log = _checked_outputs(folder)
    return Target(app, check, folder, size_log, go_environment() if app.downloads else NO_GO_ENV)


# A build context heavier than this is said, with what a .dockerignore line would drop.
HEAVY_CONTEXT = 50_000_000


def _context_weight(app: GoApp) -> str:
    """What the build context weighs where that is heavy, and its heaviest files that are not
    Go's, which a .dockerignore line would drop; "" for a light one."""
    sizes = {}
    for name in app.files:
        with suppress(OSError):
            sizes[name] = (app.root / name).stat().st_size
    weight = sum(sizes.values())
    if weight <= HEAVY_CONTEXT:
        return ""
    droppable = sorted(
        (name for name in sizes if not name.endswith((".go", "go.mod", "go.sum"))),
        key=lambda name: sizes[name],
        reverse=True,
    )[:3]
    heaviest = ", ".join(f"{name} ({docker_size(sizes[name])})" for name in droppable)
    drop = (
        f" Its heaviest files that are not Go's: {heaviest}; a .dockerignore line for each the "
        f"program does not need would drop {docker_size(sum(sizes[n] for n in droppable))}."
        if droppable
        else ""
    )
    return (
        f"The build context weighs {docker_size(weight)}: every rung sends it to the engine, "
        f"and rungs 1 and 2 ship it.{drop}"
    )


def _context_notes(app: GoApp, go_env: GoEnvironment, modules: Fetched) -> list[str]:
    """What the output says about what the build gets: left out, chosen, fetched how."""
    notes = []
    if weight := _context_weight(app):
        notes.append(weight)
    if app.left_out:
        notes.append(
            f"Left out of the build as they look like secrets: {listed(list(app.left_out))}. "
            "A `!` line in .dockerignore keeps one that the build needs."
        )
    if app.other_mains:
        shown = packages(app.other_mains)
        notes.append(
            f"The module's other main packages ({shown}) were not built: {app.target[0]} was."
        )
    if app.downloads:
        notes.append(
            f"Modules fetched here through {go_env.describe()}, checked against go.sum and "
            f"handed to the build as a file proxy ({modules.modules} modules, "
            f"{docker_size(modules.size)}): no proxy address or credential is in any image."
        )
    if modules.left_to_build:
        notes.append(
            f"Fetched by the build from their source (GOPRIVATE, GONOPROXY or direct): "
            f"{listed(list(modules.left_to_build))}."
        )
    return notes


def _fetched(app: GoApp, go_env: GoEnvironment, plan: BuildPlan, settings: Settings) -> Fetched:
    """The module's dependencies, fetched here through the user's GOPROXY and checked against
    go.sum before anything is built (workshop/shrink/modfetch.py); nothing where it has none
    to fetch. StepFailed saying which and why where one can't be had."""
    if not app.downloads:
        return Fetched()
    try:
        with plan.progress.activity(f"Fetching {app.name}'s modules through {go_env.describe()}"):
            return fetch_modules(app.root, go_env, timeout=settings.engine_timeout)
    except ModuleNotFetched as error:
        raise StepFailed(
            f"{app.name} could not be built: its modules could not be fetched through "
            f"{go_env.describe()}: {error}. Nothing was built, logged or tagged. Where no proxy "
            f"can be reached, `go mod vendor` in {app.root} puts them in vendor/, and shrink "
            "builds from there."
        ) from None


def shrink(plan: BuildPlan, settings: Settings, target: Target) -> ShrinkResult:
    """Climb the ladder for `target`, on the engine and bases of `plan`."""
    app, check, folder = target.app, target.check, target.folder
    if plan.registry is not None:
        plan.registry.check()
    modules = _fetched(app, target.go_env, plan, settings)
    bases, notes = _bases(plan, settings, app)
    notes = _context_notes(app, target.go_env, modules) + notes
    plan = replace(plan, bases=bases, size_log=target.size_log, platform=target.platform)
    engine = plan.engine
    platform = target.platform or engine.info.platform
    # Asked once here rather than by every build at once; the roles are resolved side by side.
    with ThreadPoolExecutor(max_workers=4) as pool:
        pool.submit(lambda: engine.info)
        list(
            pool.map(
                bases.resolve, dict.fromkeys(role for key in RUNGS for role in roles(key, app))
            )
        )
    climb = _Climb(plan, app, check, target.go_env, modules)
    if target.platform and target.platform != engine.info.platform:
        # Rungs 1 to 3 ship on a base of the target platform: where that is a stand-in, the
        # target platform's own.
        climb.ship_bases = bases.for_platform(target.platform)
    try:
        # Rungs 1 to 4 are built side by side, as `invoke all` builds its steps; but rung 3
        # compiles as rung 2 does, so it comes after 2, its compile from the layer cache (a
        # cross build compiles 3 on the build platform and 2 on the target: nothing shared).
        first_four: list[_Lane] = (
            [[("1", ())], [("2", ())], [("3", ())], [("4", ())]]
            if target.platform
            else [[("1", ())], [("2", ()), ("3", ())], [("4", ())]]
        )
        results = climb.side_by_side(*first_four)
        _require_modules(results, app, target.go_env)
        first = results[0].outcome
        if first is not None and first.timed_out:
            raise TimedOut(
                f"{app.name} did not finish its check on rung 1 ({check.describe()}); its "
                "container was removed and nothing was logged. A program that serves or waits "
                "for input never exits: describe it as a server (port, path), or give it args "
                "and stdin that make it exit."
            )
        # The last unstripped binary that built: rung 4's, as scratch will hold it.
        binary = next(
            (
                each.outcome.binary
                for each in reversed(results)
                if each.outcome and each.outcome.binary
            ),
            b"",
        )
        needs = needs_of(binary) if binary else Needs(readable=False)
        # The Go that built it, from its build info (Go 1.18 on), else from the toolchain.
        go_version = go_build_version(binary) or bases.go_version(bases.resolve(roles("4", app)[0]))
        climb.trimpath = _at_least(go_version, (1, 13))
        extras = needs.names + ((STATIC,) if app.uses_cgo or needs.interpreter else ())
        costs: dict[str, int] = {}
        results += climb.side_by_side(*([[("4b", extras)]] if extras else []), [("5", extras)])
        if extras:
            costs = climb.costs(results[4], extras, against=results[3])
        # Rung 6 after 5: its start-up is timed against rung 5's image.
        results.append(climb.rung("6", extras=extras, startup_against=results[-1]))
    finally:
        # A failure here must not hide the one that brought us here.
        for image_id in climb.broken:
            discard_unnamed(engine, image_id)
    results = [
        replace(each, reason=each.skipped or _reason(each, app, needs, costs, target.go_env))
        for each in results
    ]
    working = [each for each in results if each.works]
    smallest = min(working, key=lambda each: each.size) if working else None
    if smallest is not None:
        write_atomic(
            folder / "Dockerfile", smallest.dockerfile, what="Dockerfile", setting="shrink_dir"
        )
    return ShrinkResult(
        app=app,
        check=check,
        platform=platform,
        cross=bool(target.platform),
        rungs=tuple(results),
        needs=needs,
        costs=costs,
        folder=folder,
        go_version=go_version,
        smallest=smallest,
        notes=tuple(notes),
    )


def _bases(plan: BuildPlan, settings: Settings, app: GoApp) -> tuple[BaseResolver, list[str]]:
    """The workshop's bases for a program without a go.mod; else those of its Go release."""
    if not app.go:
        return plan.bases, []
    wanted = tuple(int(part) for part in app.go.split("."))
    releases = sorted(GO_RELEASES, key=release_key)
    newer = [release for release in releases if release_key(release) >= wanted]
    if not newer:
        _require_go(plan, settings, app.go, newest=releases[-1])
    release = app.go if app.go in GO_RELEASES else (newer[0] if newer else releases[-1])
    notes = []
    if release != app.go:
        notes.append(
            f"go.mod asks for Go {app.go}; the stand-ins have no Go {app.go}, so where "
            f"golang:{app.go} is not present the stand-in for Go {release} builds it."
        )
    bases = BaseResolver.for_release(
        plan.engine, plan.progress, settings, release=app.go, standin_go=release
    )
    return bases, notes


def _require_go(plan: BuildPlan, settings: Settings, go: str, *, newest: str) -> None:
    """Before any stand-in is built: a go line newer than every stand-in's Go builds only on
    golang:GO itself, here or from a registry; BadInput saying so where neither has it."""
    reference = f"golang:{go}"
    if plan.engine.image(reference) is not None:
        return
    if settings.bases != "local" and plan.engine.pull(reference) is not None:
        return
    raise BadInput(
        f"go.mod asks for Go {go}, newer than any Go the stand-ins have (the newest is "
        f"{newest}), and {reference} is neither on the engine nor in a registry it reaches. "
        f"Nothing was built. Pull or load {reference} first, or lower the go line to {newest} "
        "or older if the program builds with it."
    )


def _at_least(go_version: str, wanted: tuple[int, int]) -> bool:
    found = re.match(r"go(\d+)\.(\d+)", go_version)
    return found is None or (int(found.group(1)), int(found.group(2))) >= wanted


# The scratch folders of rungs' build contexts (workshop/scratch.py): a killed run's go next time.
RUNG_SCRATCH = "workshop-rung"


@dataclass
class _Climb:
    plan: BuildPlan
    app: GoApp
    check: AppCheck
    go_env: GoEnvironment
    # The modules fetched here, handed to every rung's build as a file proxy.
    modules: Fetched = field(default_factory=Fetched)
    # Whether the toolchain knows -trimpath (Go 1.13 on), for rungs 5 and 6.
    trimpath: bool = True
    # Images of rungs that broke: shown, measured, then removed.
    broken: list[str] = field(default_factory=list)
    # For a foreign platform, the resolver of its own stand-ins, which rungs 1 to 3 ship on.
    ship_bases: BaseResolver | None = None

    def rung(
        self, key: str, *, extras: tuple[str, ...] = (), startup_against: RungResult | None = None
    ) -> RungResult:
        plan, app, rung = self.plan, self.app, RUNGS[key]
        engine, progress = plan.engine, plan.progress
        resolved = [plan.bases.resolve(role) for role in roles(key, app)]
        cross = bool(plan.platform)
        text = dockerfile(
            key,
            app,
            extras=extras,
            trust=self.check.trust,
            trimpath=self.trimpath,
            images={base.role: base.reference for base in resolved},
            args=self.check.args,
            buildkit=engine.builder == "buildkit",
            cross=cross,
        )
        result = RungResult(rung=rung, dockerfile=text)
        suffix = f"-{slug(plan.platform)}" if plan.platform else ""
        tag = check_tag(f"{plan.tag_prefix}shrink-{app.key}-{key}{suffix}")
        resolved, skipped = self._shipped_on_platform(key, resolved)
        if skipped:
            return replace(result, skipped=skipped)
        try:
            with (
                # On disk, not in memory: rungs build side by side, and a program's folder may
                # hold a large file (512 MiB of it was 2.14 GB resident with four in memory).
                scratch_folder(RUNG_SCRATCH) as scratch,
                progress.activity(f"Rung {key}: building {tag}") as on_line,
            ):
                context = tar_context_file(
                    app.root,
                    [name for name in app.files if name != ".dockerignore"],
                    written={
                        CONTEXT_DOCKERFILE: text.encode(),
                        ".dockerignore": CONTEXT_IGNORE,
                        **self._module_files(),
                    },
                    path=scratch / "context.tar",
                )
                built = engine.build(
                    BuildRequest(
                        context=context,
                        dockerfile=CONTEXT_DOCKERFILE,
                        buildargs={
                            **{ROLES[base.role].build_arg: base.reference for base in resolved},
                            **self.go_env.build_values,
                        },
                        labels={LABEL: "shrink", PREFIX_LABEL: plan.tag_prefix},
                        nocache=plan.nocache,
                        name=tag,
                        platform=plan.platform,
                    ),
                    on_line=on_line,
                )
        except StepFailed as failed:
            progress.checkpoint()
            return replace(result, build_failure=failed.log_tail or (failed.message,))
        try:
            return self._check_and_keep(
                result, built.image_id, built.seconds, tag, resolved, startup_against
            )
        except BaseException:
            # Interrupted or failed before it was kept: the image goes with it.
            discard_unnamed(engine, built.image_id)
            raise

    def _module_files(self) -> dict[str, bytes]:
        """The file proxy's files, with a note that is always there (so its folder is)."""
        if not self.app.downloads:
            return {}
        note = (
            b"Modules fetched by invoke shrink through your GOPROXY, checked against go.sum;\n"
            b"read by the build's modules stage as a file proxy (GOPROXY=file:///goproxy).\n"
        )
        return {f"{GOPROXY_FOLDER}/README": note, **self.modules.files}

    def _check_and_keep(
        self,
        result: RungResult,
        image_id: str,
        build_seconds: float,
        tag: str,
        resolved: list[BaseUsed],
        startup_against: RungResult | None,
    ) -> RungResult:
        plan, rung, key = self.plan, result.rung, result.rung.key
        engine, progress = plan.engine, plan.progress
        progress.checkpoint()
        with progress.activity(f"Rung {key}: checking {tag}"):
            outcome = self.check.judge(
                engine, image_id, as_built=self._as_built, platform=plan.platform
            )
        result = replace(
            result, image_id=image_id, outcome=outcome, binary_size=len(outcome.binary)
        )
        if not outcome.works:
            self.broken.append(image_id)
            return replace(result, size=measure(engine, image_id).size)
        startup = None
        if startup_against is not None and startup_against.works:
            with progress.activity(
                f"Rung {key}: timing its start-up against rung {startup_against.rung.key}"
            ):
                startup = time_startup(
                    engine,
                    image_id,
                    startup_against.image_id,
                    runs=STARTUP_RUNS,
                    timed=lambda reference: (
                        self.check.judge(
                            engine,
                            reference,
                            fetch=False,
                            as_built=self._as_built,
                            platform=plan.platform,
                        ).seconds
                    ),
                )
        record = measure_push_tag_and_log(
            plan,
            Passed(
                number=rung.number,
                tag=tag,
                image_id=image_id,
                bases=tuple(resolved),
                output=outcome.output,
                program=ProgramFacts.of(outcome.binary, go_build_version(outcome.binary)),
                build_seconds=build_seconds,
                startup=startup or {},
            ),
            what=f"Rung {key}",
        )
        return replace(result, size=record.size, record=record, startup=startup)

    def _shipped_on_platform(
        self, key: str, resolved: list[BaseUsed]
    ) -> tuple[list[BaseUsed], str]:
        """Rung `key`'s bases for its platform, and why it can't be built where it can't.

        Rungs 1 to 3 ship on their last base, which runs on the target platform. The official
        images are multi-platform; a local stand-in is one platform's, so for a foreign platform
        that platform's own stand-in is used (built where missing, under emulation)."""
        if self.ship_bases is None or key not in ("1", "2", "3") or not resolved[-1].standin:
            return resolved, ""
        shipped = resolved[-1]
        try:
            own = self.ship_bases.resolve(shipped.role)
        except BaseUnavailable as unavailable:
            return resolved, (
                f"not built: it ships on {shipped.reference}, a local stand-in for this "
                f"machine's platform only, and {self.ship_bases.platform}'s could not be had: "
                f"{unavailable.message}"
            )
        return [*resolved[:-1], own], ""

    @property
    def _as_built(self) -> bool:
        return runs_as_built(self.app, self.check.args)

    def side_by_side(self, *lanes: _Lane) -> list[RungResult]:
        """The rungs (key, extras) of each lane built, checked and measured one after another,
        the lanes at once; the results in the lanes' order.

        Their progress is one line; with verbose output they go one at a time, so that their
        output stays readable. Ctrl-C stops them all before they log anything.
        """
        progress = self.plan.progress
        jobs = [job for lane in lanes for job in lane]
        # A server on the host's network: one port for all, so one rung at a time.
        host_port = self.check.serves and self.check.network == "host"
        if progress.verbose or len(lanes) == 1 or host_port:
            return [self.rung(key, extras=extras) for key, extras in jobs]
        background = Progress(progress.console, silent=True)
        quiet = replace(self, plan=replace(self.plan, progress=background))
        keys = ", ".join(key for key, _ in jobs)

        def one_after_another(lane: _Lane) -> list[RungResult]:
            return [quiet.rung(key, extras=extras) for key, extras in lane]

        with (
            progress.activity(f"Rungs {keys}: building, checking and measuring side by side"),
            ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="shrink-rung") as pool,
        ):
            pending = [pool.submit(one_after_another, lane) for lane in lanes]
            try:
                return [result for each in pending for result in each.result()]
            except BaseException:
                # Only this thread hears Ctrl-C: the others stop at their next line of output
                # or checkpoint, and a check waiting on its program is ended by removing the
                # containers this process runs.
                stop_threads(background, self.plan.engine, pending, pool)
                raise

    def costs(
        self, added: RungResult, extras: tuple[str, ...], *, against: RungResult
    ) -> dict[str, int]:
        """The bytes of each of 4b's additions, read from its image (or the binary's growth)."""
        costs: dict[str, int] = {}
        if added.image_id:
            try:
                with self.plan.engine.files(added.image_id) as entries:
                    sizes = {entry.path: entry.size for entry in entries}
            except WorkshopError:
                sizes = {}
            for need in extras:
                if need in _PATHS and _PATHS[need] in sizes:
                    costs[need] = sizes[_PATHS[need]]
        if STATIC in extras and added.binary_size and against.binary_size:
            costs[STATIC] = added.binary_size - against.binary_size
        return costs


DISCARD_WITHIN = 10.0


def discard_unnamed(engine: EngineAPI, image_id: str) -> None:
    """Remove `image_id`, an image a rung built and never named, waiting (a bounded while) for
    the container that an interrupt was removing from it to be gone: until then the engine
    refuses, as a container uses it. An image a name holds stays: the build cache gives a rung
    of a rerun the image of the last run's rung, and that run's tag is on it."""
    deadline = time.monotonic() + DISCARD_WITHIN
    with suppress(WorkshopError):
        image = engine.image(image_id)
        if image is None or image.tags:
            return
        while not engine.remove_image(image_id) and time.monotonic() < deadline:
            time.sleep(0.2)


_UNREACHABLE = re.compile(
    r"dial tcp|no such host|connection refused|i/o timeout|network is unreachable|"
    r"TLS handshake timeout|proxyconnect|server misbehaving"
)


def _module_failure(log: str, app: GoApp, go_env: GoEnvironment) -> str:
    """Why fetching or checking the modules failed, in words; "" where that is not why."""
    if not app.module:
        return ""
    too_new = re.search(r"go\.mod requires go >= ([\w.]+) \(running go ([\w.]+)", log)
    if too_new:
        wanted = ".".join(too_new.group(1).split(".")[:2])
        return (
            f"go.mod asks for Go {too_new.group(1)} and this base has Go {too_new.group(2)}; "
            "no toolchain is fetched in the build (GOTOOLCHAIN=local): lower the go line, or "
            f"build where golang:{wanted} can be pulled (the stand-ins here go up to Go "
            f"{max(GO_RELEASES, key=release_key)})"
        )
    if not app.downloads:
        return ""
    mismatch = re.search(r"verifying (\S+?):? checksum mismatch", log)
    if mismatch:
        return (
            f"{mismatch.group(1)} is not what go.sum says it is (checksum mismatch): what the "
            f"proxy served differs from what was recorded. Check {go_env.describe()}, or run "
            "`go mod tidy` if go.sum is the one that is wrong"
        )
    missing = re.search(
        r"missing go\.sum entry(?: for module providing package| for go\.mod file;)?\s*(\S*)", log
    )
    if missing:
        return (
            f"go.sum has no entry for {missing.group(1) or 'a module it needs'}: run "
            f"`go mod tidy` in {app.root}, then run shrink again"
        )
    not_found = re.search(r"(\S+@\S+): reading \S+: (404|410)", log)
    if not_found:
        return f"the proxy does not have {not_found.group(1)} ({go_env.describe()})"
    private = go_env.values.get("GONOPROXY") or go_env.values.get("GOPRIVATE") or ""
    direct = [
        module for module in app.requires if _matches_private(module, private) and module in log
    ]
    if direct:
        return (
            f"{direct[0]} is private (GOPRIVATE/GONOPROXY {private}), so Go fetches it from its "
            "source, not through the proxy, and the build could not: "
            f"{_last_go_error(log)}. Put it on the proxy, or run `go mod vendor` in {app.root}"
        )
    if _UNREACHABLE.search(log):
        direct_note = (
            f"; modules matching GOPRIVATE/GONOPROXY ({private}) are fetched from their source, "
            "not through the proxy"
            if private
            else ""
        )
        shown = ", ".join(app.requires[:6]) + (" and more" if len(app.requires) > 6 else "")
        return (
            f"its modules ({shown}) could not be fetched through {go_env.describe()}: nothing "
            f"it tried answered{direct_note}. Where no proxy can be reached, `go mod vendor` in "
            f"{app.root} puts them in vendor/, and shrink builds from there"
        )
    return ""


def _matches_private(module: str, patterns: str) -> bool:
    """Go's GOPRIVATE matching: a glob against the module path or any leading part of it."""
    parts = module.split("/")
    return any(
        fnmatch.fnmatchcase("/".join(parts[: pattern.count("/") + 1]), pattern)
        for pattern in (each.strip() for each in patterns.split(","))
        if pattern
    )


def _last_go_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip().startswith("go: ")]
    return lines[-1][:300] if lines else "no answer"


def _require_modules(results: list[RungResult], app: GoApp, go_env: GoEnvironment) -> None:
    """One message, not four, where no rung could get the modules: nothing else can be tried."""
    reasons = [_module_failure("\n".join(each.build_failure), app, go_env) for each in results]
    if all(reasons) and all(each.build_failure for each in results):
        raise StepFailed(
            f"{app.name} could not be built: {reasons[0]}. Nothing was logged or tagged.",
            log_tail=results[0].build_failure[-6:],
        )


def _reason(
    result: RungResult,
    app: GoApp,
    needs: Needs,
    costs: dict[str, int],
    go_env: GoEnvironment = NO_GO_ENV,
) -> str:
    """Why a rung broke, in words, read from what happened; "" for a rung that works."""
    if result.works:
        return ""
    if result.build_failure:
        log = "\n".join(result.build_failure)
        last = next((line.strip() for line in reversed(result.build_failure) if line.strip()), "")
        if modules := _module_failure(log, app, go_env):
            return f"the build failed: {modules}"
        if app.uses_cgo and "golang-alpine" in roles(result.rung.key, app)[:1]:
            return (
                f'the build failed: it uses cgo (import "C" in {", ".join(app.cgo_files[:3])}) '
                "and the golang-alpine base has no C compiler"
            )
        if re.search(r"cannot find (package|module)|no required module provides", log):
            return (
                f"the build failed: {last}: a module is missing; `go mod vendor` puts it in vendor/"
            )
        if "unable to select packages" in log or "upx: not found" in log:
            return f"the build failed: {last}: this base offers no upx"
        return f"the build failed: {last}"
    outcome = result.outcome
    assert outcome is not None
    output = outcome.output
    said = _last_line(output)
    # What the image was shipped on: what lacks what the program needs.
    shipped_on = {"1": "golang", "2": "golang-alpine", "3": "alpine"}.get(
        result.rung.key, "scratch"
    )
    if lacks := _lacks(output, said, shipped_on, needs, costs):
        return lacks
    if "exec format error" in output:
        return "exec format error: /app is not a program this machine runs (another GOARCH?)"
    if re.search(r"no such file or directory", output) and needs.interpreter:
        fix = "rung 4b links it statically" if app.uses_cgo else "CGO_ENABLED=0 fixes it"
        return (
            f"no such file: the binary links libc (it asks for {needs.interpreter}, which "
            f"scratch lacks); {fix}"
        )
    return outcome.failure + (f": {said}" if said else "")


def _lacks(output: str, said: str, shipped_on: str, needs: Needs, costs: dict[str, int]) -> str:
    """What the base the rung shipped on lacks that the program's output asked for, and what
    rung 4b adds for it; "" where it is none of those."""
    fourb = "rung 4b adds"
    if re.search(
        r"x509: (certificate signed by unknown authority|failed to load system roots)", output
    ):
        return f"{said}: scratch has no CA bundle; {fourb} /etc/ssl/certs{_cost(costs.get(CERTS))}"
    if "unknown time zone" in output:
        cost = _cost(costs.get(TZDATA))
        return f"{said}: {shipped_on} has no time-zone data; {fourb} Go's zoneinfo.zip{cost}"
    if re.search(r"user: (unknown user|Current requires|lookup)", output):
        cost = _cost(costs.get(USERS))
        return f"{said}: {shipped_on} has no /etc/passwd; {fourb} one, and USER 65534{cost}"
    if re.search(r"/tmp\S*: no such file or directory", output) or (  # noqa: S108 - a message
        TMP in needs and "no such file or directory" in output
    ):
        cost = _cost(costs.get(TMP))
        return f"{said}: {shipped_on} has no /tmp; {fourb} an empty, writable one{cost}"
    return ""


def _last_line(output: str) -> str:
    """The program's last words: where Go's log.Fatal and panics put the error."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


def _cost(cost: int | None) -> str:
    return f" (+{docker_size(cost)})" if cost else ""
