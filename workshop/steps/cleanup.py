"""Removing what this configuration built, and this project's leftovers, and nothing else.

- An image goes only under a name this configuration gives (its tag prefix and the steps' names,
  the sweep's too, and `invoke shrink`'s PREFIXshrink-KEY-RUNG), or untagged with this prefix's
  label (a build whose image failed its check, or was replaced by a newer one). An image that
  also has a name of someone else's keeps it.
- Nothing is forced: an image a container uses, or that another image is built on, stays.
- Containers this project made and lost (a process killed before it could remove them, an engine
  that died mid-build) go: runs and probes whose process is gone, and stopped containers from
  builds on the stand-ins (their label comes from the stand-in) left by a crash (exit 255) or
  never started.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.text import Text

from workshop.catalogue import BUILD_STEPS
from workshop.engine.values import OWNER_LABEL, ContainerInfo, EngineAPI, ImageInfo
from workshop.errors import EngineRefused
from workshop.labels import LABEL, PREFIX_LABEL
from workshop.platforms import PLATFORMS, suffix
from workshop.releases import GO_RELEASES
from workshop.steps.bases import Standins
from workshop.system import process_alive
from workshop.units import docker_size

__all__ = [
    "Cleaned",
    "clean_images",
    "is_leftover",
    "our_tags",
    "remove_leftover_containers",
]

# A stopped build container younger than this may belong to a build under way.
BUILD_CONTAINER_GRACE = 120.0


@dataclass(frozen=True)
class Cleaned:
    removed: tuple[str, ...]
    kept: tuple[tuple[str, str], ...]  # name, why
    containers: int
    # The build stages left untagged (the build cache), kept: how many, and their bytes.
    stages_kept: tuple[int, int] = (0, 0)

    def __rich__(self) -> RenderableType:
        lines = [Text(f"Removed {name}") for name in self.removed]
        lines += [Text(f"Kept {name}: {why}") for name, why in self.kept]
        if self.containers:
            lines.append(Text(f"Removed {self.containers} leftover containers of this project."))
        count, size = self.stages_kept
        if count:
            lines.append(
                Text(
                    f"Kept {count} build stages the builds left untagged ({docker_size(size)}): "
                    "they are the build cache, which the next build reuses. `invoke clean "
                    "--stages` removes them too."
                )
            )
        return Group(*lines) if lines else Text("Nothing to remove.")


def our_tags(prefix: str) -> set[str]:
    """Every name a configuration with `prefix` gives an image: steps (a foreign platform's
    too), and the sweep's."""
    steps = {step.tag for step in BUILD_STEPS.values()}
    names = {f"{name}{suffix(platform)}" for name in steps for platform in ("", *PLATFORMS)}
    swept = {f"go{release}-{name}" for release in GO_RELEASES for name in names}
    return {f"{prefix}{name}:latest" for name in names | swept}


def clean_images(engine: EngineAPI, *, prefix: str, bases: bool, stages: bool = False) -> Cleaned:
    """Remove this configuration's images (the stand-ins with `bases`); with `stages`, the
    build stages every build of this project left untagged (they carry the stand-ins' label)."""
    mine = our_tags(prefix)
    if bases:
        mine |= {
            f"{reference}" if ":" in reference else f"{reference}:latest"
            for go in GO_RELEASES
            for platform in ("", *PLATFORMS)
            for reference in Standins.for_go(go, platform=platform).all()
        }
    in_use = engine.images_in_use()
    removed: list[str] = []
    kept: list[tuple[str, str]] = []
    stages_kept = [0, 0]
    newest_first = sorted(
        engine.images_labelled(LABEL), key=lambda image: image.created, reverse=True
    )
    for image in newest_first:
        kind = image.labels.get(LABEL)
        shrunk = kind == "shrink" and image.labels.get(PREFIX_LABEL) == prefix
        if image.tags:
            ours = [
                tag
                for tag in image.tags
                if tag in mine or (shrunk and tag.startswith(f"{prefix}shrink-"))
            ]
            _clean_tagged(engine, image, ours, in_use, removed, kept)
        elif (
            (kind == "step" and image.labels.get(PREFIX_LABEL) == prefix)
            or shrunk
            or (kind == "base" and (bases or stages))
        ):
            name = f"untagged {image.id.removeprefix('sha256:')[:12]}"
            if kind == "base":
                name = f"the build stage {image.id.removeprefix('sha256:')[:12]}"
            if image.id not in in_use and engine.remove_image(image.id):
                removed.append(f"{name} ({docker_size(image.size)})")
        elif kind == "base" and image.id not in in_use:
            stages_kept[0] += 1
            stages_kept[1] += image.size
    return Cleaned(
        removed=tuple(removed),
        kept=tuple(kept),
        containers=0,
        stages_kept=(stages_kept[0], stages_kept[1]),
    )


def _clean_tagged(
    engine: EngineAPI,
    image: ImageInfo,
    ours: list[str],
    in_use: set[str],
    removed: list[str],
    kept: list[tuple[str, str]],
) -> None:
    """An image with names: ours go, someone else's stay with it."""
    if not ours:
        return
    name = ", ".join(ours)
    if image.id in in_use:
        kept.append((name, "a container uses it"))
    elif len(ours) < len(image.tags):
        for tag in ours:
            engine.untag(tag)
        removed.append(f"{name} (the image keeps its other names)")
    elif _remove_named(engine, image.id, ours):
        removed.append(name)
    else:
        kept.append((name, "another image is built on it"))


def _remove_named(engine: EngineAPI, image_id: str, names: list[str]) -> bool:
    """Remove an image all of whose names are ours: the engine refuses by id an image several
    names hold, so all names but one go first."""
    for extra in names[1:]:
        engine.untag(extra)
    return engine.remove_image(image_id)


def remove_leftover_containers(engine: EngineAPI) -> int:
    """Remove the containers this project made and lost; how many. One the engine will not
    remove yet stays for the next sweep: a killed run's last request can still be under way on
    a busy engine (a container being started as it is asked to go), and what a lost run left
    is no reason to stop the run that found it."""
    now = time.time()
    leftovers = [
        container for container in engine.containers_labelled(LABEL) if is_leftover(container, now)
    ]
    removed = 0
    for container in leftovers:
        try:
            engine.remove_container(container.id)
        except EngineRefused:
            continue
        removed += 1
    return removed


def is_leftover(container: ContainerInfo, now: float) -> bool:
    made_by = container.labels.get(OWNER_LABEL)
    if made_by:
        host, _, pid = made_by.rpartition(":")
        return host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))
    if container.status == "running":
        return False
    crashed = container.status == "exited" and container.exit_code == 255
    stale = now - container.created > BUILD_CONTAINER_GRACE
    return crashed or (container.status in ("created", "dead", "exited") and stale)
