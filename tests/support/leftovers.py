"""What this test run made on the engine, found and removed: images under RUN_PREFIX (or labelled
with a tag prefix that starts with it), and the build stages its builds left untagged."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.spareengine import HOST_FOOTPRINTS, processes_under
from workshop.engine.client import Engine
from workshop.engine.values import OWNER_LABEL
from workshop.labels import LABEL, PREFIX_LABEL
from workshop.steps.cleanup import is_leftover

__all__ = [
    "HOST_FOOTPRINTS",
    "RUN_BASE",
    "RUN_PREFIX",
    "WORKER",
    "Snapshot",
    "host_leftovers",
    "left_behind",
    "ours",
    "remove_build_stages",
    "remove_run_images",
    "run_images",
]

# Workers that run side by side (pytest-xdist) share the run's prefix, set by the process that
# started them, each adding its own name to it: `t1a2b3c4d-gw0-`. What the run as a whole made,
# whichever worker made it, starts with RUN_BASE.
RUN_BASE = os.environ.setdefault("WORKSHOP_TESTS_RUN", f"t{uuid.uuid4().hex[:8]}-")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
RUN_PREFIX = f"{RUN_BASE}{WORKER}-" if WORKER else RUN_BASE


def ours(image: dict[str, Any], prefix: str = RUN_PREFIX) -> bool:
    """Whether an image (from `docker image inspect` fields) is this test run's: named under
    `prefix`, or built with it as its tag prefix."""
    tags = [tag for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"]
    labels = (image.get("Config") or {}).get("Labels") or {}
    if tags:
        return all(tag.startswith(prefix) for tag in tags)
    return str(labels.get(PREFIX_LABEL, "")).startswith(prefix)


def run_images(host: str | None = None, prefix: str = RUN_PREFIX) -> list[str]:
    """The ids of every image of this test run (under `prefix`) on the engine at `host` (the
    main one if None)."""
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
    return [image["Id"] for image in json.loads(inspected.stdout or "[]") if ours(image, prefix)]


def remove_run_images(host: str | None = None, prefix: str = RUN_PREFIX) -> None:
    """This run's images, then this run's tags on images someone else has tagged too (a build
    that came out byte for byte as another run's is one image with both names)."""
    docker = ["docker", *(["--host", host] if host else [])]
    for _ in range(3):  # an image goes before the one it was built on: a few passes
        found = run_images(host, prefix)
        if not found:
            break
        subprocess.run(
            [*docker, "image", "rm", "--force", *found], capture_output=True, check=False
        )
    listed = subprocess.run(
        [*docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if tags := [tag for tag in listed if tag.startswith(prefix)]:
        subprocess.run([*docker, "image", "rm", *tags], capture_output=True, check=False)


def _lines(*command: str) -> set[str]:
    found = subprocess.run(["docker", *command], capture_output=True, text=True, check=False)
    return set(found.stdout.split())


@dataclass(frozen=True)
class Snapshot:
    """What the main engine holds: image ids (intermediate ones too), containers, networks,
    volumes."""

    images: frozenset[str]
    containers: frozenset[str]
    networks: frozenset[str]
    volumes: frozenset[str]

    @classmethod
    def take(cls) -> Snapshot:
        return cls(
            images=frozenset(_lines("image", "ls", "--all", "--quiet", "--no-trunc")),
            containers=frozenset(_lines("container", "ls", "--all", "--quiet", "--no-trunc")),
            networks=frozenset(_lines("network", "ls", "--quiet")),
            volumes=frozenset(_lines("volume", "ls", "--quiet")),
        )

    def new_since(self, before: Snapshot) -> list[str]:
        """What is here and was not at `before`, in words (a dangling image or a build stage
        counts; an image tagged by someone else while the tests ran does not)."""
        dangling = _lines("image", "ls", "--quiet", "--no-trunc", "--filter", "dangling=true")
        return [
            *(f"dangling image {each}" for each in sorted(dangling - before.images)),
            *(f"network {each}" for each in sorted(self.networks - before.networks)),
            *(f"volume {each}" for each in sorted(self.volumes - before.volumes)),
        ]


def remove_build_stages(before: Snapshot) -> None:
    """Remove the untagged build stages this run's builds left: dangling images that were not
    there at `before` and carry the project's label (inherited from the stand-ins they are
    built on), or no label at all (a layer an interrupted build committed after the builder's
    last line was read: FROM scratch, then COPY, and the labels come only at the end). Their
    untagged parents go with them; nothing tagged, nothing older. (A label-less build by
    someone else at the same moment on the same engine would lose its dangling layers too.)"""
    dangling = _lines("image", "ls", "--quiet", "--no-trunc", "--filter", "dangling=true")
    new = sorted(dangling - before.images)
    if not new:
        return
    inspected = subprocess.run(
        ["docker", "image", "inspect", *new], capture_output=True, text=True, check=False
    )
    ours_ = [
        image["Id"]
        for image in json.loads(inspected.stdout or "[]")
        if LABEL in ((image.get("Config") or {}).get("Labels") or {LABEL: "none"})
    ]
    if ours_:
        subprocess.run(["docker", "image", "rm", *ours_], capture_output=True, check=False)


def left_behind(before: Snapshot, prefix: str, *, whole_run: bool) -> list[str]:
    """Remove what the run made under `prefix`, then say what it left: its images, tagged or
    dangling, containers of its processes, networks and volumes new since `before`, and what
    its extra engines left on the host. Said, then removed all the same: a failed run leaves
    nothing on the machine either. A worker running beside others (`whole_run` False) leaves
    the build stages and what is new on the engine as a whole to the process that started it:
    another worker's builds may still be going."""
    engine = Engine.from_env()
    remove_run_images(prefix=prefix)
    if whole_run:
        remove_build_stages(before)
    after = Snapshot.take()
    containers = [
        container.id
        for container in engine.containers_labelled(LABEL)
        if OWNER_LABEL in container.labels
        and is_leftover(container, time.time())
        and container.id not in before.containers
    ]
    problems = [
        *(after.new_since(before) if whole_run else []),
        *(f"container {each}" for each in containers),
        *(f"image of this run {each}" for each in run_images(prefix=prefix)),
        *host_leftovers(),
    ]
    for container in containers:
        engine.remove_container(container)
    remove_run_images(prefix=prefix)
    if whole_run:
        remove_build_stages(before)
    return problems


def host_leftovers() -> list[str]:
    """What the extra engines and registries left on the host, in words."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    found = []
    for folder, bridge in HOST_FOOTPRINTS:
        pids = processes_under(folder)
        found += [f"process {pid} ({_command(pid)}) of {folder}" for pid in pids]
        found += [f"mount {point}" for point in mounts if point.startswith(f"{folder}/")]
        found += [f"folder {folder}"] if folder.exists() else []
        found += [f"bridge {bridge}"] if bridge and f" {bridge}:" in links else []
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
    except OSError:
        return "gone"
