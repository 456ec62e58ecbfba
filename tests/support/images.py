"""Images as the docker CLI shows them: what the workshop's steps are called, their files and
binaries read back, archives made to measure, and the containers a run made."""

from __future__ import annotations

import io
import json
import secrets
import socket
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from workshop.labels import LABEL

__all__ = [
    "TAGS",
    "ContainerEvent",
    "MadeImage",
    "all_image_ids",
    "app_of",
    "binary",
    "container_events",
    "containers_of",
    "docker",
    "images_made_since",
    "layer_files",
    "said_by",
    "saved_archive",
    "saved_files",
]

# The workshop's images, by step.
TAGS = {
    4: "go-big",
    5: "go-alpine",
    6: "go-multi-stage",
    7: "go-scratch",
    8: "go-stripped",
    9: "go-smaller",
}


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def member(archive: tarfile.TarFile, name: str) -> bytes:
    extracted = archive.extractfile(name)
    assert extracted is not None, name
    return extracted.read()


def saved_files(tag: str) -> list[str]:
    """Every file in every layer of `tag`, read from `docker save`."""
    saved = subprocess.run(["docker", "save", tag], capture_output=True, check=True).stdout
    names = []
    with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
        manifest = json.loads(member(archive, "manifest.json"))
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=io.BytesIO(member(archive, layer))) as layer_tar:
                names += [entry.name for entry in layer_tar.getmembers()]
    return names


def app_of(image: str) -> bytes:
    """/app of `image`, copied out of a container that is never started."""
    container = docker("create", image, "/app").strip()
    try:
        copied = subprocess.run(
            ["docker", "cp", f"{container}:/app", "-"], capture_output=True, check=True
        ).stdout
    finally:
        docker("rm", "--force", container)
    with tarfile.open(fileobj=io.BytesIO(copied)) as tar:
        return member(tar, "app")


def binary(tag: str) -> ELFFile:
    return ELFFile(io.BytesIO(app_of(tag)))


def _of_process(pid: int, host: str | None, *args: str) -> str:
    """What `docker ARGS` (on `host`) prints of what the invoke process `pid` made."""
    owner = f"{LABEL}.owner={socket.gethostname()}:{pid}"
    return subprocess.run(
        ["docker", *(["--host", host] if host else []), *args, "--filter", f"label={owner}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def containers_of(pid: int, host: str | None = None) -> list[str]:
    """The containers the invoke process `pid` made, still on the engine."""
    return _of_process(pid, host, "ps", "--all", "--quiet").split()


def running_containers_of(pid: int, host: str | None = None) -> list[str]:
    """The containers the invoke process `pid` made that are running (started, not ended)."""
    return _of_process(pid, host, "ps", "--quiet", "--filter", "status=running").split()


@dataclass(frozen=True)
class ContainerEvent:
    at: float  # seconds since the epoch
    action: str  # "kill", "die", "destroy"...
    container: str  # its full id
    signal: str  # a kill's signal ("9"), else ""


def container_events(
    pid: int, since: float, until: float, host: str | None = None
) -> list[ContainerEvent]:
    """What the engine says befell the containers the invoke process `pid` made between
    `since` and `until` (seconds since the epoch, `until` past), in order."""
    listed = _of_process(
        pid,
        host,
        *("events", "--since", f"{since:.9f}", "--until", f"{until:.9f}"),
        *("--format", "{{json .}}", "--filter", "type=container"),
    )
    events = [json.loads(line) for line in listed.splitlines() if line.strip()]
    return [
        ContainerEvent(
            at=event["timeNano"] / 1e9,
            action=event["Action"],
            container=event["Actor"]["ID"],
            signal=event["Actor"]["Attributes"].get("signal", "")
            if event["Action"] == "kill"
            else "",
        )
        for event in events
    ]


def saved_archive(*layers: dict[str, int]) -> bytes:
    """A `docker save` archive of `layers`, each {path: size}. A layer that repeats an earlier
    one is a symlink to it, as Docker 20.10 saves two identical layers."""
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w") as archive:
        names = []
        for number, files in enumerate(layers):
            if files in layers[:number]:
                name = f"layer{number}/layer.tar"
                names.append(name)
                link = tarfile.TarInfo(name)
                link.type = tarfile.SYMTYPE
                link.linkname = f"../layer{layers.index(files)}/layer.tar"
                archive.addfile(link)
                continue
            inner = io.BytesIO()
            with tarfile.open(fileobj=inner, mode="w") as layer_tar:
                for path, size in files.items():
                    info = tarfile.TarInfo(path)
                    info.size = size
                    layer_tar.addfile(info, io.BytesIO(b"x" * size))
            name = f"layer{number}/layer.tar"
            names.append(name)
            info = tarfile.TarInfo(name)
            info.size = len(inner.getvalue())
            archive.addfile(info, io.BytesIO(inner.getvalue()))
        manifest = json.dumps([{"Layers": names}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        archive.addfile(info, io.BytesIO(manifest))
    return outer.getvalue()


def all_image_ids() -> set[str]:
    """Every image on the engine, intermediate ones (a build stage's layers) included."""
    return set(docker("image", "ls", "--all", "--quiet", "--no-trunc").split())


def layer_files(image: str) -> dict[str, bytes]:
    """The files `image`'s own top layer added (overlay2: its upper folder), by path. On the
    legacy builder every instruction makes an image of one new layer: across every image a
    build made, these are every byte it wrote."""
    upper = docker("image", "inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", image)
    root = Path(upper.strip())
    assert root.is_dir(), f"{image}: not an overlay2 layer ({upper.strip()!r})"
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


@dataclass(frozen=True)
class MadeImage:
    """An image read as soon as a run had made it: its top layer's files, its history's
    commands and what `docker image inspect` says of it."""

    id: str
    files: dict[str, bytes]
    history: str
    inspected: str


def images_made_since(before: set[str]) -> list[MadeImage]:
    """Every image on the engine that was not there `before`, intermediate ones included, each
    read at once. The engine is shared (the other test workers build beside this one): an image
    that is gone by the time it is read, another worker's build stage removed by it, is passed
    over, as it holds nothing on the engine any more. Any other failure to read one fails."""
    made = []
    for image in sorted(all_image_ids() - before):
        try:
            made.append(
                MadeImage(
                    image,
                    layer_files(image),
                    docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image),
                    docker("image", "inspect", image),
                )
            )
        except subprocess.CalledProcessError as failed:
            if "No such image" not in str(failed.stderr):
                raise
    return made


def said_by(cli: Callable[..., str], image: str, *command: str) -> str:
    """What `image` printed (both streams), run by an engine's own CLI (`cli` returns what one
    command of it printed, and fails on a non-zero exit): run under a name of its own, then its
    log read and the container removed. Not `run --rm`'s attached output: Podman 4.3 rootless
    printed nothing for go-smaller that way once in a CI run, exit 0, where the workshop's own
    run of the same image through the API had heard it say hello."""
    name = f"ws-said-{secrets.token_hex(6)}"
    try:
        cli("run", "--name", name, image, *command)
        return cli("logs", name)
    finally:
        cli("rm", "--force", name)
