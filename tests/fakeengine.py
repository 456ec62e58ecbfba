"""A small hand-written stand-in for `workshop.engine.Engine`, for error paths without an engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workshop.engine import BuildResult, EngineInfo, RunResult
from workshop.errors import StepFailed


@dataclass
class FakeImage:
    id: str
    attrs: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    short_id: str = ""


@dataclass
class FakeEngine:
    """Images by reference; builds succeed with `size`, unless `fail_build` says why not."""

    images: dict[str, FakeImage] = field(default_factory=dict)
    pullable: set[str] = field(default_factory=set)
    output: str = "Hello world!\n"
    exit_code: int = 0
    fail_build: str = ""
    size: int = 1_819_268
    builds: list[dict[str, Any]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    pulls: list[str] = field(default_factory=list)
    info: EngineInfo = field(
        default_factory=lambda: EngineInfo("20.10.24", "1.41", "overlay2", "x86_64")
    )

    def add(self, reference: str, size: int = 1000) -> FakeImage:
        image = FakeImage(
            id=f"sha256:{len(self.images):064x}", attrs={"Size": size}, tags=[reference]
        )
        self.images[reference] = self.images[image.id] = image
        return image

    def image(self, reference: str) -> FakeImage | None:
        return self.images.get(reference)

    def pull(self, reference: str) -> FakeImage | None:
        self.pulls.append(reference)
        return self.add(reference) if reference in self.pullable else None

    def build(
        self,
        *,
        context: bytes,
        dockerfile: str,
        tag: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
        nocache: bool = False,
        on_line: Callable[[str], None] = lambda line: None,
        builder: str = "legacy",
    ) -> BuildResult:
        self.builds.append(
            {
                "tag": tag,
                "dockerfile": dockerfile,
                "buildargs": dict(buildargs),
                "context": context,
                "builder": builder,
            }
        )
        on_line("Step 1/4 : FROM somewhere")
        if self.fail_build:
            on_line("Step 3/4 : RUN go build -o /app app.go")
            on_line("./app.go:5:3: undefined: fmt.Printn")
            raise StepFailed(
                f"Building {tag} failed: {self.fail_build}",
                instruction="RUN go build -o /app app.go",
                log_tail=("./app.go:5:3: undefined: fmt.Printn",),
            )
        image = self.add(tag, self.size)
        return BuildResult(image_id=image.id, log=("Step 1/4 : FROM somewhere",), seconds=0.1)

    def run(
        self,
        image: str,
        *,
        labels: Mapping[str, str],
        command: list[str] | None = None,
        fetch: str | None = None,
        **_: Any,
    ) -> RunResult:
        self.runs.append(image)
        if command == ["go", "version"]:
            return RunResult(0, "go version go1.19.8 linux/amd64\n", 0.1)
        # A binary without Go build info, as Go before 1.18 writes: the version is asked for.
        fetched = b"\x7fELF".ljust(self.size, b"\0") if fetch else None
        return RunResult(self.exit_code, self.output, 0.1, fetched=fetched)
