"""An image's layers, file by file, from `docker save` streamed from the engine.

Each layer is the list of entries its tar holds: files, directories, links, and whiteouts
(`.wh.NAME` marks NAME deleted by this layer). Layers come in the order the image's manifest
gives, the base first. The classic store saves each layer as `ID/layer.tar`, the containerd
store as an OCI blob (compressed or not); both name them in `manifest.json`.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workshop.engine.tarstream import chunk_stream, entries_of
from workshop.engine.values import EngineAPI, ImageFile
from workshop.errors import EngineRefused

__all__ = ["OPAQUE", "WHITEOUT", "Layer", "final_tree", "flattened", "read_layers"]

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True)
class Layer:
    entries: tuple[ImageFile, ...]

    @property
    def size(self) -> int:
        """The bytes of the layer's files."""
        return sum(entry.size for entry in self.entries if entry.kind == "file")

    def deleted(self) -> tuple[str, ...]:
        """The paths this layer's whiteouts delete."""
        paths = []
        for entry in self.entries:
            folder, name = posixpath.split(entry.path)
            if name.startswith(WHITEOUT) and name != OPAQUE:
                paths.append(posixpath.join(folder, name.removeprefix(WHITEOUT)))
        return tuple(paths)


def read_layers(engine: EngineAPI, reference: str) -> tuple[Layer, ...]:
    """`reference`'s layers, base first."""
    listings: dict[str, tuple[ImageFile, ...]] = {}
    # A layer saved twice is stored once: Docker 20.10's save links the second to the first.
    links: dict[str, str] = {}
    manifest: Any = []
    with (
        engine.saved(reference) as chunks,
        tarfile.open(fileobj=chunk_stream(chunks), mode="r|") as saved,
    ):
        for member in saved:
            if member.issym():
                target = posixpath.join(posixpath.dirname(member.name), member.linkname)
                links[member.name] = posixpath.normpath(target)
                continue
            if member.islnk():
                links[member.name] = member.linkname
                continue
            content = saved.extractfile(member)
            if content is None:
                continue
            if member.name == "manifest.json":
                manifest = json.loads(content.read())
                continue
            if not (member.name.endswith(".tar") or member.name.startswith("blobs/")):
                continue
            try:
                with tarfile.open(fileobj=content, mode="r|*") as layer:
                    listings[member.name] = tuple(entries_of(layer))
            except tarfile.ReadError:
                continue  # a config or manifest blob, not a layer
    try:
        order = [str(name) for name in manifest[0]["Layers"]]
        return tuple(Layer(listings[_followed(name, links)]) for name in order)
    except (IndexError, KeyError, TypeError) as error:
        raise EngineRefused(
            f"The engine's `docker save` of {reference} has no usable manifest ({error})."
        ) from None


def final_tree(layers: Sequence[Layer]) -> dict[str, tuple[int, str, int]]:
    """path -> (bytes, kind, the index of the layer that made it), as the image's filesystem is."""
    tree: dict[str, tuple[int, str, int]] = {}
    for index, layer in enumerate(layers):
        for entry in layer.entries:
            folder, name = posixpath.split(entry.path)
            gone = (
                folder
                if name == OPAQUE
                else (
                    posixpath.join(folder, name.removeprefix(WHITEOUT))
                    if name.startswith(WHITEOUT)
                    else ""
                )
            )
            if not gone:
                continue
            for path in [
                p for p in tree if p.startswith(gone + "/") or (p == gone and name != OPAQUE)
            ]:
                del tree[path]
        for entry in layer.entries:
            if not posixpath.basename(entry.path).startswith(WHITEOUT):
                tree[entry.path] = (entry.size, entry.kind, index)
    return tree


def flattened(layers: Sequence[Layer]) -> tuple[ImageFile, ...]:
    """The image's own files, its layers merged (`final_tree`), in the order a walk of the
    filesystem gives, as a container's export lists them. Unlike the export, it holds the
    image's /etc/hostname, hosts and resolv.conf, which a container's empty ones hide."""
    return tuple(
        ImageFile(path, size, kind)
        for path, (size, kind, _) in sorted(
            final_tree(layers).items(), key=lambda item: item[0].split("/")
        )
    )


def _followed(name: str, links: dict[str, str]) -> str:
    """The member a linked layer stands for (a few links deep at most)."""
    for _ in range(8):
        if name not in links:
            break
        name = links[name]
    return name
