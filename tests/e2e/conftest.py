"""The engines the end-to-end tests run on, and one owner for everything they make.

Every image a test builds is named under RUN_PREFIX (`t1a2b3c4d-...`), or labelled with a tag
prefix that starts with it. The main engine is shared with everything else on the machine, so at
the end of the session `docker_engine` removes what this run made and fails the run if anything
is left; extra engines (a spare to crash, Docker 28, a registry's mirror) are each made once per
session, shared, and removed with everything they leave on the host.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.docker28 import Docker28, fetch_docker28
from tests.support.leftovers import (
    RUN_PREFIX,
    Snapshot,
    host_leftovers,
    remove_build_stages,
    remove_run_images,
    run_images,
)
from tests.support.loopback_registry import Registry
from tests.support.running import WorkshopRun, folder_settings, invoke
from tests.support.spareengine import SpareEngine
from workshop.engine.client import Engine
from workshop.engine.values import OWNER_LABEL
from workshop.labels import LABEL
from workshop.steps.cleanup import is_leftover


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    """The real engine, and the owner of everything this run makes on it and beside it.

    At the end of the session: this run's images go, then the build stages its builds left
    untagged (new since the start, carrying the project's label, which a build stage inherits
    from its stand-in); then the run fails if anything it made is still there: an image tagged
    or dangling, a container, a network, a volume, or what an extra engine leaves on the host
    (its processes, shims and `runc init` included, its mounts, its folder, its bridge)."""
    engine = Engine.from_env()
    before = Snapshot.take()
    yield engine
    remove_run_images()
    remove_build_stages(before)
    after = Snapshot.take()
    containers = [
        container.id
        for container in engine.containers_labelled(LABEL)
        if OWNER_LABEL in container.labels and is_leftover(container, time.time())
    ]
    problems = [
        *after.new_since(before),
        *(f"container {each}" for each in containers),
        *(f"image of this run {each}" for each in run_images()),
        *host_leftovers(),
    ]
    assert not problems, "the tests left behind: " + "; ".join(problems)


@pytest.fixture(scope="session")
def workshop_run(docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> WorkshopRun:
    """`invoke all` once, under the run's prefix, for every e2e test."""
    folder = tmp_path_factory.mktemp("workshop-run")
    env = folder_settings(folder, RUN_PREFIX)
    result = invoke("all", env=env)
    assert result.returncode == 0, f"invoke all failed:\n{result.stdout}\n{result.stderr}"
    return WorkshopRun(env=env, prefix=RUN_PREFIX, log=folder / "sizes.json", result=result)


@pytest.fixture(scope="session")
def spare_engine(workshop_run: WorkshopRun) -> Iterator[Any]:
    """A second engine holding the stand-ins step 7 needs, to stop and start at will."""
    spare = SpareEngine(Path(tempfile.mkdtemp(prefix="spare-engine-", dir="/tmp")))
    try:
        spare.start()
        spare.load_from_main("workshop-base/golang:1.19-busybox", "workshop-base/busybox:bookworm")
        yield spare
    finally:
        spare.remove()


STANDINS_FOR_ALL = (
    "workshop-base/golang:1.19-bookworm",
    "workshop-base/golang:1.19-busybox",
    "workshop-base/busybox:bookworm",
)


@pytest.fixture(scope="session")
def docker28_binaries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fetch_docker28(tmp_path_factory.mktemp("docker28-packages"))


def _docker28(binaries: Path, name: str, *, containerd_store: bool) -> Iterator[Any]:
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


PUBLISHED = {
    "library/golang:1.10": "workshop-base/golang:1.19-bookworm",
    "library/golang:1.10-alpine": "workshop-base/golang:1.19-busybox",
    "library/alpine:latest": "workshop-base/busybox:bookworm",
}


@pytest.fixture(scope="session")
def registry(workshop_run: WorkshopRun, docker28_binaries: Path) -> Iterator[Any]:
    """Debian's distribution registry on loopback, serving the stand-ins under the workshop's
    names (library/golang:1.10, ...), pushed from the main engine."""
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
