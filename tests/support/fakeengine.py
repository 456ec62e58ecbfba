"""A small hand-written stand-in for `workshop.engine.Engine`, for error paths without an engine.

It satisfies `workshop.engine.EngineAPI`, which mypy checks (`assert_engine` below), so it
can't drift from the real adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import IO

from workshop.engine.values import (
    BuildRequest,
    BuildResult,
    ContainerInfo,
    EngineAPI,
    EngineInfo,
    HistoryEntry,
    ImageFile,
    ImageInfo,
    RunResult,
    Serving,
    Timeouts,
)
from workshop.errors import EngineRefused, StepFailed


@dataclass
class FakeEngine:
    """Images by reference and id; builds succeed with `size`, unless `fail_build` says why not."""

    images: dict[str, ImageInfo] = field(default_factory=dict)
    pullable: set[str] = field(default_factory=set)
    output: str = "Hello world!\n"
    exit_code: int = 0
    fail_build: str = ""
    size: int = 1_819_268
    builds: list[BuildRequest] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    pulls: list[str] = field(default_factory=list)
    pushes: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    containers: list[ContainerInfo] = field(default_factory=list)
    # Containers whose removal the engine refuses (409: one being started as it is asked).
    busy_containers: set[str] = field(default_factory=set)
    in_use: set[str] = field(default_factory=set)
    # Images another image is built on: removing them is refused, as the engine does (409).
    parents: set[str] = field(default_factory=set)
    # `docker save` archives by reference, for saved().
    archives: dict[str, bytes] = field(default_factory=dict)
    # File contents by (reference, path), for read_file().
    files_in: dict[tuple[str, str], bytes] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    builder: str = "legacy"
    # Why another platform's programs can't run, by platform (none: every platform runs).
    platform_problems: dict[str, str] = field(default_factory=dict)
    _info: EngineInfo = field(default_factory=lambda: EngineInfo("20.10.24", "overlay2"))

    @property
    def info(self) -> EngineInfo:
        return self._info

    def add(
        self,
        reference: str = "",
        size: int = 1000,
        labels: dict[str, str] | None = None,
        created: str = "",
        platforms: tuple[str, ...] = (),
    ) -> ImageInfo:
        image = ImageInfo(
            id=f"sha256:{len(self.images) + 1:064x}",
            size=size,
            tags=(f"{reference}:latest" if ":" not in reference else reference,)
            if reference
            else (),
            labels=labels or {},
            created=created,
            platforms=platforms,
        )
        self.images[image.id] = image
        if reference:
            self.tag(image.id, reference)
        return image

    def _find(self, reference: str) -> ImageInfo | None:
        name = (
            reference
            if ":" in reference or reference.startswith("sha256:")
            else reference + ":latest"
        )
        if name in self.images:
            return self.images[name]
        return next((image for image in self.images.values() if name in image.tags), None)

    def image(self, reference: str) -> ImageInfo | None:
        return self._find(reference)

    def pull(
        self,
        reference: str,
        *,
        on_line: Callable[[str], None] = lambda line: None,
        platform: str = "",
    ) -> ImageInfo | None:
        self.pulls.append(f"{reference} for {platform}" if platform else reference)
        if reference not in self.pullable:
            return None
        on_line("abc123: Pull complete")
        return self.add(reference, platforms=(platform,) if platform else ())

    def push(self, image_id: str, remote: str) -> None:
        self.pushes.append((image_id, remote))

    def tag(self, image_id: str, reference: str) -> None:
        name = reference if ":" in reference else f"{reference}:latest"
        self.untag(name)
        image = self.images[image_id]
        tags = (*image.tags, name) if name not in image.tags else image.tags
        self.images[image_id] = replace(image, tags=tags)

    def untag(self, reference: str) -> None:
        name = reference if ":" in reference else f"{reference}:latest"
        for image_id, image in list(self.images.items()):
            if name in image.tags:
                tags = tuple(tag for tag in image.tags if tag != name)
                self.images[image_id] = replace(image, tags=tags)

    def build(
        self, request: BuildRequest, *, on_line: Callable[[str], None] = lambda line: None
    ) -> BuildResult:
        self.builds.append(request)
        on_line("Step 1/4 : FROM somewhere")
        if self.fail_build:
            on_line("Step 3/4 : RUN go build -o /app app.go")
            on_line("./app.go:5:3: undefined: fmt.Printn")
            raise StepFailed(
                f"Building {request.dockerfile} failed: {self.fail_build}",
                instruction="RUN go build -o /app app.go",
                log_tail=("./app.go:5:3: undefined: fmt.Printn",),
            )
        image = self.add(request.tag, self.size, labels=dict(request.labels))
        return BuildResult(image_id=image.id, seconds=0.1)

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
    ) -> RunResult:
        self.runs.append(image)
        if command == ["go", "version"]:
            return RunResult(0, "go version go1.19.8 linux/amd64\n", 0.1)
        # A binary without Go build info, as Go before 1.18 writes: the version is asked for.
        fetched = b"\x7fELF".ljust(self.size, b"\0") if fetch else None
        return RunResult(self.exit_code, self.output, 0.1, fetched=fetched)

    def serving(
        self,
        image: str,
        *,
        port: int,
        command: list[str] | None = None,
        network: str | None = None,
        platform: str = "",
    ) -> AbstractContextManager[Serving]:
        @contextmanager
        def served() -> Iterator[Serving]:
            self.runs.append(image)
            yield Serving(("127.0.0.1", 9), lambda: self.exit_code, lambda: self.output)

        return served()

    def platform_problem(self, platform: str) -> str:
        return self.platform_problems.get(platform, "")

    def files(self, reference: str) -> AbstractContextManager[Iterator[ImageFile]]:
        @contextmanager
        def listing() -> Iterator[Iterator[ImageFile]]:
            yield iter([ImageFile("app", self.size, "file")])

        return listing()

    def measured(self, reference: str) -> ImageInfo | None:
        return self._find(reference)

    def file_bytes(self, reference: str) -> int:
        image = self._find(reference)
        assert image is not None
        return image.size

    def read_file(self, reference: str, path: str) -> bytes:
        return self.files_in.get((reference, path), b"")

    def saved(self, *references: str) -> AbstractContextManager[Iterator[bytes]]:
        @contextmanager
        def archive() -> Iterator[Iterator[bytes]]:
            yield iter([self.archives[reference] for reference in references])

        return archive()

    def load(self, archive: IO[bytes]) -> list[str]:
        raise NotImplementedError("the fake engine loads nothing")

    def history(self, reference: str) -> list[HistoryEntry]:
        image = self._find(reference)
        assert image is not None
        return [HistoryEntry(image.id, "COPY file:abc in /", image.size, image.tags, "")]

    def import_rootfs(self, tar_stream: IO[bytes], *, reference: str, changes: list[str]) -> str:
        return self.add(reference).id

    def image_names(self) -> list[str]:
        return sorted(tag for image in self.images.values() for tag in image.tags)

    def images_labelled(self, label: str) -> list[ImageInfo]:
        return [image for image in self.images.values() if label in image.labels]

    def containers_labelled(self, label: str) -> list[ContainerInfo]:
        return [container for container in self.containers if label in container.labels]

    def images_in_use(self) -> set[str]:
        return set(self.in_use)

    def remove_image(self, image_id: str) -> bool:
        # As the engine does: by id, an image several names hold, or one built on, stays (409).
        image = self.images.get(image_id)
        if image_id in self.parents or (image is not None and len(image.tags) > 1):
            return False
        self.removed.append(image_id)
        del self.images[image_id]
        return True

    def remove_container(self, container_id: str) -> None:
        if container_id in self.busy_containers:
            raise EngineRefused(f"removal of container {container_id} is already in progress")
        self.containers = [each for each in self.containers if each.id != container_id]
        self.removed.append(container_id)


def assert_engine(engine: FakeEngine) -> EngineAPI:
    """A FakeEngine is an EngineAPI: mypy checks this assignment."""
    return engine
