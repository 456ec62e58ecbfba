"""Shared fixtures: a fake engine for error paths, one real workshop run for the e2e tests, and
one owner for everything the tests make on the real engine.

Every image a test builds is named under RUN_PREFIX (`t1a2b3c4d-...`), or labelled with a tag
prefix that starts with it. At the end of the session `engine_resources` removes all of them,
then looks again and fails the run if any is left: the engine is shared with everything else on
the machine, so the tests must leave nothing behind and touch nothing they did not make.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tests.fakeengine import FakeEngine
from workshop.engine.client import Engine
from workshop.engine.values import OWNER_LABEL
from workshop.labels import LABEL, PREFIX_LABEL
from workshop.progress import Progress
from workshop.records.sizelog import SizeLog, SizeRecord
from workshop.steps.bases import Bases
from workshop.steps.cleanup import is_leftover
from workshop.steps.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
RUN_PREFIX = f"t{uuid.uuid4().hex[:8]}-"


def render(renderable: object, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, markup=False)
    console.print(renderable)
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


@pytest.fixture
def console() -> Console:
    return Console(file=io.StringIO(), width=100, color_system=None, markup=False)


def said(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


@pytest.fixture
def fake_engine() -> FakeEngine:
    engine = FakeEngine()
    for reference in ("golang:1.10", "golang:1.10-alpine", "alpine"):
        engine.add(reference, size=400_000_000)
    return engine


@pytest.fixture
def fake_bases(fake_engine: FakeEngine, console: Console) -> Bases:
    return Bases(engine=fake_engine, progress=Progress(console))


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "workshop")


@pytest.fixture
def size_log(tmp_path: Path) -> SizeLog:
    return SizeLog(tmp_path / "sizes.json")


def invoke(
    *args: str, env: dict[str, str] | None = None, timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    """Run this project's invoke tasks as a person would, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def verify_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`nox -s verify -- ARGS` as CI runs it: the module in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "workshop.checks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def folder_settings(folder: Path, prefix: str, **extra: str) -> dict[str, str]:
    """Settings that keep a run's files in `folder` and its images under `prefix`."""
    return {
        "INVOKE_WORKSHOP_WORKSPACE": str(folder / "workspace"),
        "INVOKE_WORKSHOP_SIZE_LOG": str(folder / "sizes.json"),
        "INVOKE_WORKSHOP_HISTORY": str(folder / "history.json"),
        "INVOKE_WORKSHOP_REPORT_DIR": str(folder / "report"),
        "INVOKE_WORKSHOP_SWEEP_DIR": str(folder / "sweep"),
        "INVOKE_WORKSHOP_SHRINK_DIR": str(folder / "shrink"),
        "INVOKE_WORKSHOP_TAG_PREFIX": prefix,
        **extra,
    }


def ours(image: dict[str, Any]) -> bool:
    """Whether an image (from `docker image ls --format json` fields) is this test run's."""
    tags = [tag for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"]
    labels = (image.get("Config") or {}).get("Labels") or {}
    if tags:
        return all(tag.startswith(RUN_PREFIX) for tag in tags)
    return str(labels.get(PREFIX_LABEL, "")).startswith(RUN_PREFIX)


def run_images(host: str | None = None) -> list[str]:
    """The ids of every image of this test run on the engine at `host` (the main one if None)."""
    docker = ["docker", *(["--host", host] if host else [])]
    ids = subprocess.run(
        [*docker, "image", "ls", "--all", "--quiet", "--no-trunc"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if not ids:
        return []
    inspected = subprocess.run(
        [*docker, "image", "inspect", *sorted(set(ids))],
        capture_output=True,
        text=True,
        check=False,
    )
    return [image["Id"] for image in json.loads(inspected.stdout or "[]") if ours(image)]


def remove_run_images(host: str | None = None) -> None:
    docker = ["docker", *(["--host", host] if host else [])]
    for _ in range(3):  # an image goes before the one it was built on: a few passes
        found = run_images(host)
        if not found:
            return
        subprocess.run(
            [*docker, "image", "rm", "--force", *found], capture_output=True, check=False
        )


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    """The real engine; unreachable fails in CI (CI=true) and skips elsewhere. At the end of
    the session every image of this run is removed, and the run fails if one is left."""
    from workshop.errors import EngineUnavailable

    try:
        engine = Engine.from_env()
        engine.info  # noqa: B018 - asks the engine something
    except EngineUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs the engine tests, and no engine answered: {error}")
        pytest.skip(f"no Docker Engine (set CI=true to make this a failure): {error}")
    yield engine
    remove_run_images()
    left = run_images()
    # Left behind: made by a process of this project that has ended. A run of someone else's
    # that is still going on the same engine is not ours to count.
    containers = [
        container.id
        for container in engine.containers_labelled(LABEL)
        if OWNER_LABEL in container.labels and is_leftover(container, time.time())
    ]
    assert not left, f"the tests left {len(left)} images of this run behind: {left}"
    assert not containers, f"the tests left containers behind: {containers}"


@dataclass(frozen=True)
class WorkshopRun:
    env: dict[str, str]
    prefix: str
    log: Path
    result: subprocess.CompletedProcess[str]

    def tag(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def own(self, name: str, folder: Path, **settings: str) -> dict[str, str]:
        """Settings for a test's own run: its own tags (under the run's prefix), log, workspace."""
        return {**self.env, **folder_settings(folder, f"{self.prefix}{name}-", **settings)}

    def records(self) -> dict[int, SizeRecord]:
        return SizeLog(self.log).read()


@pytest.fixture(scope="session")
def workshop_run(docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> WorkshopRun:
    """`invoke all` once, under the run's prefix, for every e2e test."""
    folder = tmp_path_factory.mktemp("workshop-run")
    env = folder_settings(folder, RUN_PREFIX)
    result = invoke("all", env=env)
    assert result.returncode == 0, f"invoke all failed:\n{result.stdout}\n{result.stderr}"
    return WorkshopRun(env=env, prefix=RUN_PREFIX, log=folder / "sizes.json", result=result)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def spare_engine(workshop_run: WorkshopRun) -> Iterator[Any]:
    """A second engine holding the stand-ins step 7 needs, to stop and start at will."""
    from tests.spareengine import SpareEngine

    spare = SpareEngine(Path(tempfile.mkdtemp(prefix="spare-engine-", dir="/tmp")))
    try:
        spare.start()
        spare.load_from_main("workshop-base/golang:1.19-busybox", "workshop-base/busybox:bookworm")
        yield spare
    finally:
        spare.remove()


# The stand-ins `invoke all` needs, copied into each extra engine (no registry is needed).
STANDINS_FOR_ALL = (
    "workshop-base/golang:1.19-bookworm",
    "workshop-base/golang:1.19-busybox",
    "workshop-base/busybox:bookworm",
)


@pytest.fixture(scope="session")
def docker28_binaries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.docker28 import fetch_docker28

    return fetch_docker28(tmp_path_factory.mktemp("docker28-packages"))


def _docker28(binaries: Path, name: str, *, containerd_store: bool) -> Iterator[Any]:
    from tests.docker28 import Docker28

    # A short folder: containerd's socket lives under it, and a socket path has 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/tmp"))
    engine = Docker28(binaries, folder, bridge=f"ws{name}0", containerd_store=containerd_store)
    try:
        engine.start()
        engine.load_from_main(*STANDINS_FOR_ALL)
        yield engine
    finally:
        engine.remove()


@pytest.fixture(scope="session")
def docker28_classic(workshop_run: WorkshopRun, docker28_binaries: Path) -> Iterator[Any]:
    """Docker 28 with the classic image store (overlay2), holding the stand-ins."""
    yield from _docker28(docker28_binaries, "d28c", containerd_store=False)


@pytest.fixture(scope="session")
def docker28_containerd(workshop_run: WorkshopRun, docker28_binaries: Path) -> Iterator[Any]:
    """Docker 28 with the containerd image store, holding the stand-ins."""
    yield from _docker28(docker28_binaries, "d28s", containerd_store=True)


# The workshop's images, as a class registry would serve them: here, the stand-ins.
PUBLISHED = {
    "library/golang:1.10": "workshop-base/golang:1.19-bookworm",
    "library/golang:1.10-alpine": "workshop-base/golang:1.19-busybox",
    "library/alpine:latest": "workshop-base/busybox:bookworm",
}


@pytest.fixture(scope="session")
def registry(workshop_run: WorkshopRun, docker28_binaries: Path) -> Iterator[Any]:
    """Debian's distribution registry on loopback, serving the stand-ins under the workshop's
    names (library/golang:1.10, ...), pushed from the main engine."""
    from tests.registry import Registry

    served = Registry(
        docker28_binaries / "usr/bin/docker-registry",
        Path(tempfile.mkdtemp(prefix="registry-", dir="/tmp")),
    )
    try:
        served.start()
        for name, local in PUBLISHED.items():
            served.push_from_main(local, name)
        yield served
    finally:
        served.remove()


@pytest.fixture(scope="session")
def mirror_engine(registry: Any) -> Iterator[Any]:
    """A fresh engine whose Docker Hub mirror is the registry: `docker pull golang:1.10` is
    answered from it, and a name it lacks falls through to Docker Hub and fails at once."""
    from tests.spareengine import SpareEngine

    engine = SpareEngine(
        Path(tempfile.mkdtemp(prefix="mirror-engine-", dir="/tmp")),
        bridge="wsmirror0",
        extra=("--registry-mirror", registry.url),
    )
    try:
        engine.start()
        yield engine
    finally:
        engine.remove()
