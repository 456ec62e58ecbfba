"""The engine's values and the EngineAPI Protocol: what every layer above speaks. No docker-py.

Sizes. `ImageInfo.listed_size` is what `docker image ls` shows: `.Size` on the classic store;
on the containerd store (Docker 29's default) the stored content plus the unpacked snapshot,
about twice as much. `ImageInfo.size` is `.Size` on the classic store, the bytes of the image's
layers, which the workshop's figures are; on the containerd store it is the unpacked snapshot
(`ImageData.Size.Unpacked`), which counts disk blocks (+8% for go-big's 21,000 files), so
`EngineAPI.measured()` gives the bytes of the image's files there instead: one rule, here.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from workshop.labels import LABEL

__all__ = [
    "CLASSIC",
    "CONTAINERD",
    "CONTAINERS_STORAGE",
    "DOCKER_DESKTOP",
    "DOCKER_ENGINE",
    "FILES_MEASURED",
    "LOG_TAIL",
    "OWNER_LABEL",
    "PODMAN",
    "BuildRequest",
    "BuildResult",
    "ContainerInfo",
    "EngineAPI",
    "EngineInfo",
    "HistoryEntry",
    "ImageFile",
    "ImageInfo",
    "KnownFileBytes",
    "RunResult",
    "Serving",
    "Timeouts",
    "Where",
    "end_own_containers",
    "owner",
]

# Which process made a container: a container whose process is gone is a leftover.
OWNER_LABEL = f"{LABEL}.owner"
# How many lines of a failed build's output an error shows.
LOG_TAIL = 15


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Timeouts:
    """Seconds: one call to the engine; one build; one run of an app from start to exit."""

    engine: float = 60.0
    build: float = 1800.0
    run: float = 60.0


CLASSIC, CONTAINERD = "classic", "containerd"
# Podman's store (containers/storage): it lists a layer's size as its tar's, 512 bytes of header
# and padding for each file, so the workshop measures the files there, as on containerd's.
CONTAINERS_STORAGE = "containers-storage"
# The stores where the workshop's size is the bytes of the image's files, read from it.
FILES_MEASURED = (CONTAINERD, CONTAINERS_STORAGE)

# What answers on the socket: the products differ in what they can do for the tasks.
DOCKER_ENGINE, DOCKER_DESKTOP, PODMAN = "Docker Engine", "Docker Desktop", "Podman"

HERE, VM, ELSEWHERE = "here", "vm", "elsewhere"


@dataclass(frozen=True)
class Where:
    """Where an engine runs, seen from this machine."""

    kind: str  # HERE, VM or ELSEWHERE
    # In words: "this machine", "a VM on this machine (colima)", "the host 10.0.0.2".
    said: str
    # Where this machine reaches a port the engine publishes, and the address it is bound to
    # there: loopback for an engine here or in a VM (whose ports are forwarded to this
    # machine's loopback), the engine's host name for another host.
    published_on: str = "127.0.0.1"
    bind_to: str = "127.0.0.1"

    @property
    def shares_loopback(self) -> bool:
        """Whether the engine's host network is this machine's (a proxy on 127.0.0.1)."""
        return self.kind == HERE

    @property
    def crosses_network(self) -> bool:
        """Whether what is read from the engine (an image's files) crosses a real network."""
        return self.kind == ELSEWHERE

    @property
    def shares_kernel(self) -> bool:
        """Whether the engine's kernel is this machine's: its binfmt_misc is readable here."""
        return self.kind == HERE

    def consequences(self) -> list[str]:
        """What follows for the tasks, a line each."""
        if self.kind == HERE:
            return []
        return [
            f"A server's port is checked where the engine publishes it: {self.published_on}.",
            "Go modules are fetched here, through your GOPROXY, and handed to its builds.",
            "Whether another platform's programs run is asked of the engine, not read here.",
        ]


@dataclass(frozen=True)
class EngineInfo:
    version: str
    storage_driver: str
    # "classic" (a graph driver such as overlay2) or "containerd" (the containerd image store).
    image_store: str = CLASSIC
    context: str = "default"
    host: str = ""
    # What it builds and runs natively: "linux/amd64".
    platform: str = "linux/amd64"
    # Where it runs, seen from this machine.
    where: Where = Where(HERE, "this machine")
    # What the engine says it runs on ("Debian GNU/Linux 12", "Docker Desktop").
    operating_system: str = ""
    # Which product answers (DOCKER_ENGINE, DOCKER_DESKTOP or PODMAN), and whether its daemon
    # runs without root (in a user namespace: rootless Docker, rootless Podman).
    product: str = DOCKER_ENGINE
    rootless: bool = False

    @property
    def is_podman(self) -> bool:
        return self.product == PODMAN

    def describe(self) -> str:
        where = f"context {self.context!r}, " if self.context != "default" else ""
        # Docker Engine keeps the words its records have always had ("Docker 20.10.24 (...)").
        name = "Docker" if self.product == DOCKER_ENGINE else self.product
        mode = "rootless, " if self.rootless else ("rootful, " if self.is_podman else "")
        return (
            f"{name} {self.version} ({mode}{where}{self.host}, {self.storage_driver}, "
            f"{self.image_store} image store)"
        )

    def lacks(self) -> list[str]:
        """What this engine can't do that a task asks for, a line each (the task, and why)."""
        lacking = []
        if self.is_podman:
            lacking.append(
                "BuildKit: Podman's Docker API builds with Buildah; INVOKE_WORKSHOP_BUILDER="
                "buildkit needs Docker's engine, and step 15 builds once (no second, "
                "reproducible build)."
            )
        if self.rootless:
            lacking.append(
                "A bridge network of its own: a rootless engine's containers reach the network "
                "through slirp4netns or pasta, and their published ports through a user-space "
                "proxy, slower than a bridge; the steps and shrink's port checks still work."
            )
        return lacking


@dataclass(frozen=True)
class ImageInfo:
    id: str
    # The unpacked filesystem: comparable across stores and with the workshop's figures.
    size: int
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    created: str
    # What `docker image ls` shows: `size` on the classic store, content + unpacked on containerd.
    listed_size: int = -1
    # The platforms it holds here ("linux/amd64"): one on the classic store, each one pulled
    # on the containerd store.
    platforms: tuple[str, ...] = ()

    @property
    def listed(self) -> int:
        return self.size if self.listed_size < 0 else self.listed_size


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    status: str  # created, running, exited, dead, ...
    exit_code: int
    labels: Mapping[str, str]
    created: float  # seconds since the epoch


@dataclass(frozen=True)
class ImageFile:
    """One entry of an image's filesystem: its path (no leading /), size and kind."""

    path: str
    size: int
    kind: str  # "file", "dir", "link", "symlink" or "other"


@dataclass(frozen=True)
class HistoryEntry:
    """One line of `docker history`: the instruction that made a layer, and its size."""

    image_id: str
    created_by: str
    size: int
    tags: tuple[str, ...]
    comment: str


@dataclass(frozen=True)
class BuildRequest:
    """One build: a tar context and what to build from it. Untagged unless `tag` is given: a
    step tags its image only once it has passed."""

    # The tar itself, or a tar on disk (a person's program), streamed from there.
    context: bytes | Path
    dockerfile: str
    buildargs: Mapping[str, str]
    labels: Mapping[str, str]
    nocache: bool = False
    tag: str = ""
    # What the build makes, for messages ("go-scratch"): a step's image gets its tag later.
    name: str = ""
    # The network its RUN lines use: "" for the engine's default, "host" to reach a service
    # on the machine's own loopback (a module proxy there).
    network: str = ""
    # The platform to build for (BuildKit's --platform, the legacy builder's platform); ""
    # for the engine's own.
    platform: str = ""
    # The same image id from the same inputs: BuildKit with SOURCE_DATE_EPOCH=0, every file's
    # time rewritten to it, no provenance, exported as OCI and loaded (engine/builders.py).
    reproducible: bool = False

    @property
    def what(self) -> str:
        return self.name or self.tag or self.dockerfile


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    seconds: float


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    output: str
    seconds: float
    # The file asked for with `fetch`, read from the stopped container.
    fetched: bytes | None = None


@dataclass(frozen=True)
class Serving:
    """A container that serves on a port until the block that started it ends."""

    # Where this machine reaches the port: the engine's `Where.published_on` (127.0.0.1 for
    # an engine here or in a VM) and the port docker published it on.
    address: tuple[str, int]
    # Whether it has stopped, and what it printed so far.
    exited: Callable[[], int | None]
    output: Callable[[], str]


class KnownFileBytes(Protocol):
    """The bytes of images' files measured before, by "IMAGE_ID PLATFORM" (an image id names its
    content): kept by the layer above (workshop.records.measured), asked before an export."""

    def get(self, key: str) -> int | None: ...

    def put(self, key: str, value: int) -> None: ...


class EngineAPI(Protocol):
    """What the project asks of an engine. `Engine` is the real one; the tests' fake engine is
    held to this by mypy, so the two can't drift apart."""

    timeouts: Timeouts
    builder: str

    @property
    def info(self) -> EngineInfo: ...
    def image(self, reference: str) -> ImageInfo | None: ...
    def pull(
        self, reference: str, *, on_line: Callable[[str], None] = ..., platform: str = ""
    ) -> ImageInfo | None: ...
    def push(self, image_id: str, remote: str) -> None: ...
    def tag(self, image_id: str, reference: str) -> None: ...
    def untag(self, reference: str) -> None: ...
    def build(
        self, request: BuildRequest, *, on_line: Callable[[str], None] = ...
    ) -> BuildResult: ...
    def run(
        self,
        image: str,
        *,
        command: list[str] | None = None,
        fetch: str | None = None,
        stdin: bytes | None = None,
        network: str | None = None,
        bound: float | None = None,
        platform: str = "",
    ) -> RunResult: ...
    def serving(
        self,
        image: str,
        *,
        port: int,
        command: list[str] | None = None,
        network: str | None = None,
        platform: str = "",
    ) -> AbstractContextManager[Serving]: ...
    def platform_problem(self, platform: str) -> str: ...
    def files(self, reference: str) -> AbstractContextManager[Iterator[ImageFile]]: ...
    def file_bytes(self, reference: str) -> int: ...
    def measured(self, reference: str) -> ImageInfo | None: ...
    def saved(self, *references: str) -> AbstractContextManager[Iterator[bytes]]: ...
    def load(self, archive: IO[bytes]) -> list[str]: ...
    def read_file(self, reference: str, path: str) -> bytes: ...
    def history(self, reference: str) -> list[HistoryEntry]: ...
    def import_rootfs(
        self, tar_stream: IO[bytes], *, reference: str, changes: list[str]
    ) -> str: ...
    def image_names(self) -> list[str]: ...
    def images_labelled(self, label: str) -> list[ImageInfo]: ...
    def containers_labelled(self, label: str) -> list[ContainerInfo]: ...
    def images_in_use(self) -> set[str]: ...
    def remove_image(self, image_id: str) -> bool: ...
    def remove_container(self, container_id: str) -> None: ...


def end_own_containers(engine: EngineAPI) -> None:
    """Remove the containers this process runs: what ends the waits of threads that Ctrl-C
    does not reach (a step or a rung checked in the background, its program still running)."""
    mine = owner()
    ids = [
        container.id
        for container in engine.containers_labelled(OWNER_LABEL)
        if container.labels.get(OWNER_LABEL) == mine
    ]
    if not ids:
        return
    # All at once: each waits for the engine to kill its container and let its files go, and
    # Ctrl-C waits for the last (three in turn took 4.7 s on a busy machine, 0.7 s quiet).
    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        removals = [pool.submit(engine.remove_container, each) for each in ids]
    for removal in removals:
        removal.result()  # the first failure, once every removal was tried
