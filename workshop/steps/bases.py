"""Base images: the workshop's own where they can be had, local stand-ins from Debian where not.

The workshop builds on three images, each in a role its Dockerfiles take as a build arg:
golang:1.10 (GOLANG_IMAGE), golang:1.10-alpine (GOLANG_ALPINE_IMAGE) and alpine (ALPINE_IMAGE).
Where they are neither present nor pullable (a workshop room or CI runner with no registry),
stand-ins are built from Debian's packages: a debootstrap root filesystem imported into the
engine, Debian's Go on it, a static busybox in the alpine role, and Debian's Go on busybox.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from workshop.engine.buildcontext import tar_context, tar_context_file
from workshop.engine.values import BuildRequest, EngineAPI, ImageInfo
from workshop.errors import BadInput, BaseUnavailable, TimedOut
from workshop.labels import LABEL
from workshop.paths import BASES_DIR
from workshop.platforms import PLATFORMS, suffix
from workshop.progress import Progress
from workshop.records.datafile import write_atomic
from workshop.records.sizelog import BaseUsed
from workshop.releases import GO_RELEASES, GoRelease
from workshop.scratch import remove_leftovers, scratch_folder
from workshop.settings import Settings
from workshop.system import is_root
from workshop.units import docker_size

__all__ = [
    "ROLES",
    "BaseResolver",
    "Role",
    "Standins",
    "StandinsTable",
    "load_standins",
    "save_standins",
]

# What a stand-in was built from; one built from another recipe is built again.
RECIPE_LABEL = f"{LABEL}.recipe"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# How a foreign platform's root filesystem becomes an image (Docker 20.10 imports it mislabelled).
ROOTFS_DOCKERFILE = "Dockerfile.rootfs"
# The scratch folders of root filesystems in the making (workshop/scratch.py).
ROOTFS_SCRATCH = "workshop-rootfs"


@dataclass(frozen=True)
class Role:
    """A part a base image plays in the workshop's Dockerfiles."""

    name: str
    build_arg: str
    workshop_image: str


ROLES = {
    role.name: role
    for role in (
        Role("golang", "GOLANG_IMAGE", "golang:1.10"),
        Role("golang-alpine", "GOLANG_ALPINE_IMAGE", "golang:1.10-alpine"),
        Role("alpine", "ALPINE_IMAGE", "alpine"),
        # Not the workshop's: the build stage of the floor (step 12), which needs apt for nasm.
        Role("debian", "DEBIAN_IMAGE", "debian:bookworm"),
    )
}


@dataclass(frozen=True)
class Standins:
    """The stand-in images for one of Debian's Go releases, on the engine's own platform or on
    a foreign one (`platform`), whose names end in the platform (bookworm-linux-arm64)."""

    release: GoRelease
    platform: str = ""

    @classmethod
    def for_go(cls, go: str, *, platform: str = "") -> Standins:
        if go not in GO_RELEASES:
            known = ", ".join(GO_RELEASES)
            raise BadInput(f"Go {go!r} has no Debian stand-in here; choose one of: {known}.")
        return cls(GO_RELEASES[go], platform)

    @property
    def go(self) -> str:
        return self.release.version

    @property
    def suite(self) -> str:
        return self.release.suite

    @property
    def debian(self) -> str:
        return f"workshop-base/debian:{self.suite}{suffix(self.platform)}"

    @property
    def busybox(self) -> str:
        return f"workshop-base/busybox:{self.suite}{suffix(self.platform)}"

    @property
    def golang(self) -> str:
        return f"workshop-base/golang:{self.go}-{self.suite}{suffix(self.platform)}"

    @property
    def golang_busybox(self) -> str:
        return f"workshop-base/golang:{self.go}-busybox{suffix(self.platform)}"

    def for_role(self, role: Role) -> str:
        return {
            "golang": self.golang,
            "golang-alpine": self.golang_busybox,
            "alpine": self.busybox,
            "debian": self.debian,
        }[role.name]

    def all(self) -> tuple[str, ...]:
        """In the order they are built: each needs the ones before it."""
        return (self.debian, self.golang, self.busybox, self.golang_busybox)


@dataclass
class BaseResolver:
    """Resolves each role to an image once per run, and builds the stand-ins."""

    engine: EngineAPI
    progress: Progress
    mode: str = "auto"
    go: str = "1.19"
    mirror: str = DEFAULT_MIRROR
    # Other images to try first in a role, by role name (the sweep's golang:1.21, say).
    images: dict[str, str] = field(default_factory=dict)
    # A platform other than the engine's own to resolve (and build stand-ins) for; "": its own.
    platform: str = ""
    # One resolution per role, and one `go version` per image id, for the session.
    _resolved: dict[str, BaseUsed] = field(default_factory=dict)
    _go_versions: dict[str, str] = field(default_factory=dict)
    _building: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # The mode and mirror were checked with the settings; the Go release may be a sweep's.
        self.standins = Standins.for_go(self.go, platform=self.platform)

    @classmethod
    def for_release(
        cls,
        engine: EngineAPI,
        progress: Progress,
        settings: Settings,
        *,
        release: str,
        standin_go: str = "",
    ) -> BaseResolver:
        """The bases of Go `release`: golang:X.Y and golang:X.Y-alpine where present or
        pullable, else the stand-ins of Debian's Go `standin_go` (the same release unless said)."""
        return cls(
            engine=engine,
            progress=progress,
            mode=settings.bases,
            go=standin_go or release,
            mirror=settings.debian_mirror,
            images={"golang": f"golang:{release}", "golang-alpine": f"golang:{release}-alpine"},
        )

    def for_platform(self, platform: str) -> BaseResolver:
        """A resolver like this one for `platform` (a foreign one, or "" for the engine's own),
        with nothing resolved yet."""
        return BaseResolver(
            engine=self.engine,
            progress=self.progress,
            mode=self.mode,
            go=self.go,
            mirror=self.mirror,
            images=dict(self.images),
            platform=platform,
        )

    def resolve(self, role_name: str) -> BaseUsed:
        if role_name not in self._resolved:
            self._resolved[role_name] = self._resolve(ROLES[role_name])
        return self._resolved[role_name]

    def _resolve(self, role: Role) -> BaseUsed:
        wanted = self.images.get(role.name, role.workshop_image)
        if self.mode != "local":
            # Another platform's image is passed over: its own is pulled, where a registry has it.
            image = self._for_platform(self.engine.image(wanted))
            if image is None:
                with self.progress.activity(f"Pulling {wanted}") as on_line:
                    pulled = self.engine.pull(wanted, on_line=on_line, platform=self.platform)
                image = self._for_platform(pulled)
            if image is not None:
                # What the image is decides, not the name it was pulled by: a stand-in pushed
                # as golang:1.10 and pulled back still carries its recipe.
                standin = RECIPE_LABEL in image.labels
                size = self._measured(image)
                return BaseUsed(role.name, wanted, image.id, size, standin=standin)
            if self.mode == "workshop":
                raise BaseUnavailable(
                    f"{wanted} is neither present nor pullable, and the bases mode is "
                    "'workshop'. Load it (docker load -i FILE), reach a registry, or set "
                    "INVOKE_WORKSHOP_BASES=auto to use local stand-ins built from Debian."
                )
        reference = self.standins.for_role(role)
        # Roles are resolved side by side; stand-ins share parents, each built once.
        with self._building:
            self.ensure(reference)
        image = self.engine.image(reference)
        if image is None:
            raise BaseUnavailable(f"The stand-in {reference} was built but can't be found.")
        if self.mode == "auto":
            made_of = {
                "alpine": "Debian's static busybox",
                "debian": f"Debian {self.standins.suite}, debootstrapped",
            }.get(role.name, f"Debian's Go {self.go}")
            which = f" for {self.platform}" if self.platform else ""
            self.progress.note(
                f"{wanted} is neither present nor pullable{which}: using the local stand-in "
                f"{reference} ({made_of}). Sizes will differ from the workshop's."
            )
        return BaseUsed(role.name, reference, image.id, self._measured(image), standin=True)

    def _measured(self, image: ImageInfo) -> int:
        """`image`'s size as the steps' images are measured on this engine's store (the bytes
        of its files, on a store that lists something else), so that a step's size less its
        base's is what the step added."""
        measured = self.engine.measured(image.id)
        return measured.size if measured is not None else image.size

    def _for_platform(self, image: ImageInfo | None) -> ImageInfo | None:
        """`image`, where it is of the platform resolved for (any, for the engine's own)."""
        if image is None or not self.platform or self.platform in image.platforms:
            return image
        return None

    def go_version(self, resolved: BaseUsed) -> str:
        """The Go release inside a Go base image, as `go version` tells it (go1.19.8)."""
        image_id = resolved.image_id
        if image_id not in self._go_versions:
            ran = self.engine.run(image_id, command=["go", "version"])
            found = re.search(r"go version (go\S+)", ran.output)
            self._go_versions[image_id] = found.group(1) if found else "unknown"
        return self._go_versions[image_id]

    def build_standins(self, *, rebuild: bool = False) -> list[str]:
        """Build every stand-in that is missing or from another recipe (all of them with
        `rebuild`), in order; returns those built."""
        if not rebuild:
            return [built for reference in self.standins.all() for built in self.ensure(reference)]
        recipes = self.recipes()
        for reference in self.standins.all():
            self._make(reference, recipes[reference])
        return list(self.standins.all())

    def current(self) -> list[str]:
        """The stand-ins that are here and of this recipe."""
        recipes = self.recipes()
        return [
            reference
            for reference, recipe in recipes.items()
            if (image := self.engine.image(reference)) is not None
            and image.labels.get(RECIPE_LABEL) == recipe
        ]

    def ensure(self, reference: str) -> list[str]:
        """Build `reference` if it is missing or from another recipe, and first the stand-ins it
        is built on, where they need it too; returns those built. A stand-in's recipe is a hash
        of what makes it: its Dockerfile and files, build args, and its parents' recipes."""
        recipe = self.recipes()[reference]
        image = self.engine.image(reference)
        if image is not None and image.labels.get(RECIPE_LABEL) == recipe:
            return []
        built = [each for parent in self._parents()[reference] for each in self.ensure(parent)]
        self._make(reference, recipe)
        return [*built, reference]

    def _make(self, reference: str, recipe: str) -> None:
        labels = {LABEL: "base", RECIPE_LABEL: recipe}
        if reference == self.standins.debian:
            self._import_debian(reference, labels)
        else:
            self._build(reference, labels)

    def _parents(self) -> dict[str, tuple[str, ...]]:
        standins = self.standins
        return {
            standins.debian: (),
            standins.golang: (standins.debian,),
            standins.busybox: (standins.debian,),
            standins.golang_busybox: (standins.golang, standins.busybox),
        }

    def recipes(self) -> dict[str, str]:
        """Each stand-in's recipe, in the order they are built."""
        standins = self.standins
        debian = _digest(
            "debootstrap --variant=minbase",
            standins.suite,
            self.mirror,
            BASES_DIR / "docker-clean",
            # The engine's own platform has no name here, as before platforms were built.
            *([self.platform, BASES_DIR / ROOTFS_DOCKERFILE] if self.platform else []),
        )
        recipes = {standins.debian: debian}
        for reference, parents in self._parents().items():
            if not parents:
                continue
            dockerfile, files = self._recipe_files(reference)
            recipes[reference] = _digest(
                *(recipes[parent] for parent in parents),
                *(BASES_DIR / name for name in (dockerfile, *files)),
                *sorted(self._buildargs(dockerfile).items()),
            )
        return recipes

    def _recipe_files(self, reference: str) -> tuple[str, tuple[str, ...]]:
        standins = self.standins
        return {
            standins.golang: ("Dockerfile.golang", ()),
            standins.busybox: ("Dockerfile.busybox", ()),
            standins.golang_busybox: ("Dockerfile.golang-busybox", ("apk", "package")),
        }[reference]

    def _buildargs(self, dockerfile: str) -> dict[str, str]:
        """The build args `dockerfile` declares (ARG NAME), with this run's values."""
        standins = self.standins
        values = {
            "DEBIAN_IMAGE": standins.debian,
            "GOLANG_IMAGE": standins.golang,
            "BUSYBOX_IMAGE": standins.busybox,
            "GO_VERSION": self.go,
            "DEBIAN_MIRROR": self.mirror,
            "BACKPORTS": standins.release.backports,
        }
        declared = re.findall(r"^ARG (\w+)", (BASES_DIR / dockerfile).read_text(), re.MULTILINE)
        return {name: values[name] for name in declared}

    def _build(self, reference: str, labels: dict[str, str]) -> None:
        dockerfile, files = self._recipe_files(reference)
        context = tar_context(BASES_DIR, (dockerfile, *files))
        with self.progress.activity(f"Building the stand-in {reference}") as on_line:
            self.engine.build(
                BuildRequest(
                    context=context,
                    dockerfile=dockerfile,
                    buildargs=self._buildargs(dockerfile),
                    labels=labels,
                    tag=reference,
                    platform=self.platform,
                ),
                on_line=on_line,
            )

    def _import_debian(self, reference: str, labels: dict[str, str]) -> None:
        """debootstrap a minimal Debian and `docker import` it, trimmed like Debian's own image."""
        if shutil.which("debootstrap") is None:
            raise BaseUnavailable(
                f"Building {reference} needs debootstrap, which is not installed. Install it "
                "(apt-get install debootstrap), or load the workshop's images, then try again."
            )
        if not is_root():
            raise BaseUnavailable(f"Building {reference} runs debootstrap, which needs root.")
        # What a run killed outright left: its chroot's mounts, and the folder.
        remove_leftovers(ROOTFS_SCRATCH)
        with scratch_folder(ROOTFS_SCRATCH) as scratch:
            rootfs = scratch / "rootfs"
            # A foreign architecture's second stage runs under emulation (binfmt_misc, QEMU).
            arch = [f"--arch={PLATFORMS[self.platform]}"] if self.platform else []
            command = [
                "debootstrap",
                "--variant=minbase",
                *arch,
                self.standins.suite,
                str(rootfs),
                self.mirror,
            ]
            with self.progress.activity(
                f"debootstrap {self.standins.suite} for {reference}"
            ) as on_line:
                _stream(
                    command,
                    on_line,
                    what=f"debootstrap for {reference}",
                    timeout=self.engine.timeouts.build,
                )
            for pattern in (
                "var/lib/apt/lists/*",
                "var/cache/apt/*.bin",
                "var/cache/apt/archives/*.deb",
            ):
                for path in rootfs.glob(pattern):
                    if path.is_file():
                        path.unlink()
            # As Debian's own images do: apt keeps no .debs or package caches in the layers built
            # on this base (without it, 216 MB of them stayed in the golang stand-in).
            shutil.copy(BASES_DIR / "docker-clean", rootfs / "etc/apt/apt.conf.d/docker-clean")
            if self.platform:
                self._build_rootfs(rootfs, reference, labels)
            else:
                self._import_rootfs(rootfs, reference, labels)

    def _import_rootfs(self, rootfs: Path, reference: str, labels: dict[str, str]) -> None:
        with self.progress.activity(f"Importing {reference}"):
            tar = subprocess.Popen(
                ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE
            )
            assert tar.stdout is not None
            try:
                self.engine.import_rootfs(
                    tar.stdout,
                    reference=reference,
                    changes=[
                        'CMD ["bash"]',
                        *(f"LABEL {key}={value}" for key, value in labels.items()),
                    ],
                )
            finally:
                tar.stdout.close()
                tar.wait()

    def _build_rootfs(self, rootfs: Path, reference: str, labels: dict[str, str]) -> None:
        """A foreign platform's root filesystem, built into an image of that platform."""
        folder = rootfs.parent
        subprocess.run(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(folder / "rootfs.tar"), "."],
            check=True,
            timeout=self.engine.timeouts.build,
        )
        shutil.copy(BASES_DIR / ROOTFS_DOCKERFILE, folder / ROOTFS_DOCKERFILE)
        context = tar_context_file(
            folder, (ROOTFS_DOCKERFILE, "rootfs.tar"), written={}, path=folder / "context.tar"
        )
        (folder / "rootfs.tar").unlink()
        with self.progress.activity(f"Building {reference} from it") as on_line:
            self.engine.build(
                BuildRequest(
                    context=context,
                    dockerfile=ROOTFS_DOCKERFILE,
                    buildargs={},
                    labels=labels,
                    tag=reference,
                    platform=self.platform,
                ),
                on_line=on_line,
            )


def save_standins(resolvers: list[BaseResolver], path: Path) -> list[str]:
    """Every platform's stand-ins, saved to `path` as one archive (`docker save`), which
    `load_standins` (or `docker load`, `podman load`) takes on another engine; returns what was
    saved. A stand-in missing or of another recipe stops it before anything is written."""
    missing = [
        reference
        for bases in resolvers
        for reference in bases.standins.all()
        if reference not in bases.current()
    ]
    if missing:
        raise BaseUnavailable(
            f"{listed_names(missing)} {'is' if len(missing) == 1 else 'are'} not here, or not "
            "of this recipe, so nothing was saved. Run `invoke bases` (with the same "
            "--platform) first, then save."
        )
    references = [reference for bases in resolvers for reference in bases.standins.all()]
    engine = resolvers[0].engine
    with engine.saved(*references) as stream:
        write_atomic(path, stream, what="stand-ins archive")
    return references


def load_standins(resolvers: list[BaseResolver], path: Path) -> list[str]:
    """The stand-ins of a `save_standins` archive, loaded into this engine (no root and no
    registry needed); returns those that are now here and current. One that the archive
    lacks, or holds of another recipe, is said by name."""
    try:
        archive = path.open("rb")
    except OSError as error:
        raise BadInput(
            f"The stand-ins archive {path} can't be read: {error.strerror}. Nothing was loaded. "
            "Give the file `invoke bases --save FILE` wrote."
        ) from None
    engine = resolvers[0].engine
    with archive:
        engine.load(archive)
    wanted = [reference for bases in resolvers for reference in bases.standins.all()]
    current = [reference for bases in resolvers for reference in bases.current()]
    lacking = [reference for reference in wanted if reference not in current]
    if lacking:
        raise BaseUnavailable(
            f"{path} did not hold {listed_names(lacking)} of this recipe (it was saved from "
            "another version of this project, or for another platform or Go). Save it again "
            "where they are current, or build them here: `invoke bases`."
        )
    return current


def listed_names(names: list[str]) -> str:
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]


def _digest(*parts: object) -> str:
    """A short hash of `parts`; a Path counts by its content."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.read_bytes() if isinstance(part, Path) else repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _stream(
    command: list[str], on_line: Callable[[str], None], *, what: str, timeout: float
) -> None:
    """Run `command` (never through a shell), passing each output line on; fail with its tail.
    It is killed after `timeout` seconds, and on Ctrl-C."""
    tail: list[str] = []
    # A group of its own: debootstrap's children (dpkg in the chroot) end with it.
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as process:
        assert process.stdout is not None
        watchdog = threading.Timer(timeout, _end_group, (process,))
        watchdog.start()
        try:
            for line in process.stdout:
                on_line(line.rstrip())
                tail = [*tail[-14:], line.rstrip()]
        except BaseException:
            _end_group(process)
            raise
        finally:
            watchdog.cancel()
    if process.returncode == -9:
        raise TimedOut(f"{what} took longer than {timeout:g} s (workshop.build_timeout).")
    if process.returncode != 0:
        raise BaseUnavailable(
            f"{what} failed (exit {process.returncode}). Last lines:\n" + "\n".join(tail)
        )


def _end_group(process: subprocess.Popen[str]) -> None:
    """Kill `process` and every process of its group, and wait (bounded) for it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    # Its children may take a moment to go: the chroot's mounts are theirs until then.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.1)


@dataclass(frozen=True)
class StandinsTable:
    """What `invoke bases` shows: each stand-in, its size, and whether this run built it."""

    go: str
    rows: tuple[tuple[str, int | None, bool], ...]  # reference, size (None: missing), built now
    # A foreign platform they are built for; "" for the engine's own.
    platform: str = ""

    @classmethod
    def of(cls, bases: BaseResolver, built: list[str]) -> StandinsTable:
        rows = []
        for reference in bases.standins.all():
            image = bases.engine.image(reference)
            rows.append((reference, image.size if image else None, reference in built))
        return cls(go=bases.go, rows=tuple(rows), platform=bases.platform)

    def __rich__(self) -> Table:
        title = f"Local stand-ins for Debian's Go {self.go}"
        title += f", for {self.platform}" if self.platform else ""
        table = Table(title=title, title_style="bold")
        for column in ("image", "size", "built now"):
            table.add_column(column)
        for reference, size, built in self.rows:
            shown = docker_size(size) if size is not None else "missing"
            table.add_row(reference, shown, "yes" if built else "")
        return table
