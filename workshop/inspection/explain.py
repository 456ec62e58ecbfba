"""What is taking so much space? Measured, for any image: layers, contents, and wasted bytes.

- Layers come from the image's history: the instruction that made each, its size and share, and
  whether it came with the base image or from the image's own Dockerfile.
- Contents come from the image's filesystem, streamed from the engine (a container's export,
  read as it arrives with tarfile's stream mode, never unpacked): what the bytes are (the app,
  the Go toolchain, the C toolchain, the OS), and the largest directories and files.
- Wasted bytes, as dive counts them: what the layers carry that the final filesystem no longer
  shows, because a later layer overwrote or deleted it.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import zip_longest

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workshop.engine.values import EngineAPI, HistoryEntry, ImageFile
from workshop.errors import BadInput
from workshop.platforms import platform_read
from workshop.units import docker_size, ratio

__all__ = [
    "Explanation",
    "Layer",
    "check_reference",
    "explain",
    "parse_top",
    "what_it_is",
]

# Docker's image reference grammar, loosely: no spaces, quotes or shell metacharacters.
_REFERENCE = re.compile(r"[a-z0-9][a-z0-9._/:@-]{0,254}", re.IGNORECASE)
# Base images we can name without a log: the workshop's and this project's stand-ins.
_KNOWN_BASES = re.compile(r"(golang:1\.10(-alpine)?|alpine(:latest)?|workshop-base/.+)")

# What a path in an image is, by where it lives; the first match wins.
_WHAT = (
    ("the app", re.compile(r"(app|go/app\.go|go/app-smaller\.go)$")),
    ("Go build cache", re.compile(r"root/\.cache/go-build/")),
    ("Go toolchain", re.compile(r"usr/(lib|share)/go(-[0-9.]+)?/|usr/local/go/")),
    (
        "C toolchain",
        re.compile(r"usr/(lib|libexec)/gcc/|usr/include/|usr/bin/[^/]*(gcc|g\+\+|cpp|cc1)"),
    ),
)
OS_AND_REST = "the OS and the rest"


def _path_and_size(entry: tuple[str, int] | None) -> tuple[str, str]:
    return (f"/{entry[0]}", docker_size(entry[1])) if entry else ("", "")


def check_reference(reference: str) -> str:
    if not _REFERENCE.fullmatch(reference):
        raise BadInput(
            f"{reference!r} is not an image reference (like go-big or golang:1.10): it may hold "
            "letters, digits and . _ / : @ - only."
        )
    # The repository's path is lowercase (a registry host before it may not be), as the engine
    # requires; refused here, with exit 64, rather than by the engine.
    name = reference.split("@")[0]
    head, slash, rest = name.partition("/")
    path = rest if slash and ("." in head or ":" in head or head == "localhost") else name
    if ":" in path.rsplit("/", 1)[-1]:
        path = path.rsplit(":", 1)[0]
    if path != path.lower():
        raise BadInput(
            f"{reference!r} is not an image reference: a repository name is lowercase "
            f"({path.lower()!r}, not {path!r})."
        )
    return reference


def what_it_is(path: str) -> str:
    for label, pattern in _WHAT:
        if pattern.match(path):
            return label
    return OS_AND_REST


@dataclass(frozen=True)
class Layer:
    instruction: str
    size: int
    from_base: bool


@dataclass(frozen=True)
class Explanation:
    reference: str
    image_id: str
    size: int
    base: str  # the base image's reference, or "" (FROM scratch, or not known)
    layers: tuple[Layer, ...]
    parts: tuple[tuple[str, int], ...]  # what the bytes are, largest first
    directories: tuple[tuple[str, int], ...]
    files: tuple[tuple[str, int], ...]
    file_count: int
    file_bytes: int
    wasted: int
    seconds: float
    # The platform read ("linux/amd64"); "" where the engine said none.
    platform: str = ""

    @property
    def base_bytes(self) -> int:
        return sum(layer.size for layer in self.layers if layer.from_base)

    def share(self, part: str) -> float:
        return ratio(dict(self.parts).get(part, 0), self.file_bytes)

    def __rich__(self) -> RenderableType:
        size = self.size or 1
        layers = Table(title="Layers, newest first", title_style="bold", title_justify="left")
        for column in ("instruction", "size", "share", "from"):
            layers.add_column(column, justify="right" if column in ("size", "share") else "left")
        for layer in self.layers:
            layers.add_row(
                layer.instruction[:120],
                docker_size(layer.size),
                f"{ratio(layer.size, size):.1%}",
                "the base" if layer.from_base else "this image",
            )
        parts = Table(title="What the bytes are", title_style="bold", title_justify="left")
        for column in ("what", "size", "share"):
            parts.add_column(column, justify="left" if column == "what" else "right")
        for label, part_bytes in self.parts:
            parts.add_row(label, docker_size(part_bytes), f"{self.share(label):.1%}")
        largest = Table(
            title="Largest directories and files", title_style="bold", title_justify="left"
        )
        largest.add_column("directory")
        largest.add_column("size", justify="right")
        largest.add_column("file")
        largest.add_column("size", justify="right")
        for directory, file in zip_longest(self.directories, self.files):
            largest.add_row(*_path_and_size(directory), *_path_and_size(file))
        own = self.size - self.base_bytes
        base = (
            f"{docker_size(self.base_bytes)} came with {self.base}"
            if self.base
            else "no base image"
        )
        return Group(
            Text(
                f"{self.reference} ({self.image_id.removeprefix('sha256:')[:12]}"
                f"{', ' + self.platform if self.platform else ''}) is {docker_size(self.size)}",
                style="bold",
            ),
            Text(f"{base}; {docker_size(own)} from its own Dockerfile."),
            layers,
            parts,
            largest,
            Text(
                f"{self.file_count:,} files, {docker_size(self.file_bytes)}. Wasted: "
                f"{docker_size(self.wasted)} that layers carry but a later layer overwrote or "
                "deleted. "
                f"Read in {self.seconds:.1f} s."
            ),
        )


def explain(
    engine: EngineAPI,
    reference: str,
    *,
    known_bases: Mapping[str, str] | None = None,
    top: int = 8,
    platform: str = "",
    files: Iterable[ImageFile] | None = None,
) -> Explanation:
    """Explain `reference`. `known_bases` maps image ids to references (the size log's bases);
    `platform`, the one to read (platforms.platform_read); `files`, its filesystem where the
    caller has it already (its layers merged, `layers.flattened`), instead of its export."""
    started = time.monotonic()
    image = engine.image(check_reference(reference))
    if image is None:
        raise BadInput(
            f"There is no image {reference!r} on the engine. Build it first (invoke all)."
        )
    read = platform_read(reference, image.platforms, wanted=platform, own=engine.info.platform)
    layers, base = _layers(engine.history(image.id), known_bases or {})
    if files is None:
        with engine.files(image.id) as members:
            counted = _counted(members)
    else:
        counted = _counted(files)
    file_bytes = sum(member.size for member in counted)
    parts = Counter[str]()
    for member in counted:
        parts[what_it_is(member.path)] += member.size
    return Explanation(
        reference=reference,
        image_id=image.id,
        size=image.size,
        base=base,
        layers=layers,
        parts=tuple(parts.most_common()),
        directories=_largest_directories(counted, top),
        files=tuple(
            (member.path, member.size)
            for member in sorted(counted, key=lambda member: -member.size)[:top]
            if member.size
        ),
        file_count=len(counted),
        file_bytes=file_bytes,
        wasted=max(0, sum(layer.size for layer in layers) - file_bytes),
        seconds=time.monotonic() - started,
        platform=read,
    )


def _counted(members: Iterable[ImageFile]) -> list[ImageFile]:
    """The regular files, less the empty ones the engine adds to every container."""
    return [
        member
        for member in members
        if member.kind == "file" and not (member.path in _CONTAINER_MOUNTS and member.size == 0)
    ]


def parse_top(text: str) -> int:
    """`--top`'s value: a whole number of rows, 1 to 1000."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 1000:
        raise BadInput(f"--top is {text!r}; it takes a whole number of rows, from 1 to 1000.")
    return int(text)


def _layers(
    history: list[HistoryEntry], known_bases: Mapping[str, str]
) -> tuple[tuple[Layer, ...], str]:
    """The layers with bytes, and the base: the newest ancestor that is a known base image."""
    base_index, base = len(history), ""
    for index, entry in enumerate(history[1:], start=1):
        named = known_bases.get(entry.image_id)
        tags = [tag for tag in entry.tags if _KNOWN_BASES.fullmatch(tag)]
        if named or tags:
            base_index, base = index, named or tags[0]
            break
    layers = tuple(
        Layer(_instruction(entry), entry.size, from_base=index >= base_index)
        for index, entry in enumerate(history)
        if entry.size
    )
    return layers, base


def _instruction(entry: HistoryEntry) -> str:
    created_by = entry.created_by
    if not created_by:
        return (
            "docker import (a root filesystem)"
            if "Imported" in entry.comment
            else "(no instruction recorded)"
        )
    created_by = re.sub(r"^\|\d+ (\S+=\S* )*", "", created_by)
    if created_by.startswith("/bin/sh -c #(nop) "):
        return created_by.removeprefix("/bin/sh -c #(nop) ").strip()
    return "RUN " + created_by.removeprefix("/bin/sh -c ").strip()


# Empty files the engine adds to every container, which an export therefore shows.
_CONTAINER_MOUNTS = {".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "dev/console"}


def _largest_directories(
    files: Iterable[ImageFile], top: int, depth: int = 3
) -> tuple[tuple[str, int], ...]:
    """The largest directories down to `depth` levels, leaving out a parent all of one child."""
    sizes = Counter[str]()
    for member in files:
        parts = member.path.split("/")[:-1]
        for level in range(1, min(depth, len(parts)) + 1):
            sizes["/".join(parts[:level])] += member.size
    chosen: list[tuple[str, int]] = []
    for directory, size in sizes.most_common():
        if not size:
            break
        children = [
            other
            for other, other_size in sizes.items()
            if other.startswith(directory + "/") and other_size == size
        ]
        if not children:
            chosen.append((directory, size))
        if len(chosen) == top:
            break
    return tuple(chosen)
