"""The workshop's nine steps, as data: what each writes, builds, runs and compares."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BUILD_STEPS", "STEPS", "WORKSHOP_BUILD_STEPS", "Step"]


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    # Files the step creates in the workspace (from dockerfiles/), as the workshop's `cat <<EOF`.
    writes: tuple[str, ...] = ()
    # For a build step: the image, its Dockerfile, the sources its context holds, its base roles.
    tag: str = ""
    dockerfile: str = ""
    sources: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    # The step whose image this one is measured against.
    compare_with: int | None = None
    # Steps 10 on go beyond the workshop (`invoke beyond`).
    beyond: bool = False
    # Time the start-up of this image and of compare_with's, run after run.
    times_startup: bool = False
    # With a registry, also push the smallest image around its program by hand, pull it back,
    # run it and log what its pull downloads (the floor's, step 12).
    pushes_smallest: bool = False
    # Build it twice from scratch, reproducibly, where the engine can (steps/reproducible.py),
    # and log both image ids.
    builds_twice: bool = False

    @property
    def name(self) -> str:
        return f"step-{self.number}"

    @property
    def builds(self) -> bool:
        return bool(self.tag)


STEPS = {
    step.number: step
    for step in (
        Step(1, "Create app.go, a hello world in Go", writes=("app.go",)),
        Step(2, "Inspect app.go's content and size"),
        Step(
            3,
            "Create Dockerfile.big with build and packaging instructions",
            writes=("Dockerfile.big",),
        ),
        Step(
            4,
            "Build go-big on golang:1.10, check its size and run it",
            tag="go-big",
            dockerfile="Dockerfile.big",
            sources=("app.go",),
            roles=("golang",),
        ),
        Step(
            5,
            "Build go-alpine on golang:1.10-alpine instead of Debian",
            writes=("Dockerfile.alpine",),
            tag="go-alpine",
            dockerfile="Dockerfile.alpine",
            sources=("app.go",),
            roles=("golang-alpine",),
            compare_with=4,
        ),
        Step(
            6,
            "Build go-multi-stage: compile in one stage, ship on alpine",
            writes=("Dockerfile.multi-stage",),
            tag="go-multi-stage",
            dockerfile="Dockerfile.multi-stage",
            sources=("app.go",),
            roles=("golang-alpine", "alpine"),
            compare_with=5,
        ),
        Step(
            7,
            "Build go-scratch: the binary alone, FROM scratch",
            writes=("Dockerfile.scratch",),
            tag="go-scratch",
            dockerfile="Dockerfile.scratch",
            sources=("app.go",),
            roles=("golang-alpine",),
            compare_with=6,
        ),
        Step(
            8,
            "Build go-stripped: strip the binary's symbols",
            writes=("Dockerfile.stripped",),
            tag="go-stripped",
            dockerfile="Dockerfile.stripped",
            sources=("app.go",),
            roles=("golang-alpine",),
            compare_with=7,
        ),
        Step(
            9,
            "Build go-smaller: println instead of fmt, stripped",
            writes=("app-smaller.go", "Dockerfile.smaller"),
            tag="go-smaller",
            dockerfile="Dockerfile.smaller",
            sources=("app-smaller.go",),
            roles=("golang-alpine",),
            compare_with=4,
        ),
        Step(
            10,
            "Let the linker strip: -trimpath -ldflags='-s -w', no binutils",
            writes=("Dockerfile.ldflags",),
            tag="go-ldflags",
            dockerfile="Dockerfile.ldflags",
            sources=("app.go",),
            roles=("golang-alpine",),
            compare_with=8,
            beyond=True,
        ),
        Step(
            11,
            "Compress the binary with UPX, and time what it costs at start-up",
            writes=("Dockerfile.upx",),
            tag="go-upx",
            dockerfile="Dockerfile.upx",
            sources=("app.go",),
            roles=("golang-alpine",),
            compare_with=10,
            beyond=True,
            times_startup=True,
        ),
        Step(
            12,
            "The floor: the smallest static ELF that prints Hello world!",
            writes=("hello.asm", "hello-arm64.s", "Dockerfile.floor"),
            tag="go-floor",
            dockerfile="Dockerfile.floor",
            sources=("hello.asm", "hello-arm64.s"),
            roles=("debian",),
            compare_with=9,
            beyond=True,
            pushes_smallest=True,
        ),
        Step(
            13,
            "Run as an unprivileged user (USER 65534), and see what it costs",
            writes=("app-smaller.go", "Dockerfile.nonroot"),
            tag="go-nonroot",
            dockerfile="Dockerfile.nonroot",
            sources=("app-smaller.go",),
            roles=("golang-alpine",),
            compare_with=9,
            beyond=True,
        ),
        Step(
            14,
            "The smallest Go image: println, stripped, no inlining, UPX",
            writes=("app-smaller.go", "Dockerfile.tiniest"),
            tag="go-tiniest",
            dockerfile="Dockerfile.tiniest",
            sources=("app-smaller.go",),
            roles=("golang-alpine",),
            compare_with=9,
            beyond=True,
            times_startup=True,
        ),
        Step(
            15,
            "The same digest twice: go-smaller built twice from scratch, one image id",
            writes=("app-smaller.go", "Dockerfile.smaller"),
            tag="go-reproducible",
            dockerfile="Dockerfile.smaller",
            sources=("app-smaller.go",),
            roles=("golang-alpine",),
            compare_with=9,
            beyond=True,
            builds_twice=True,
        ),
    )
}

BUILD_STEPS = {number: step for number, step in STEPS.items() if step.builds}
# The workshop's own images, steps 4 to 9: what `invoke all` builds and verify requires.
WORKSHOP_BUILD_STEPS = {number: step for number, step in BUILD_STEPS.items() if not step.beyond}
