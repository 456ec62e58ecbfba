"""What was read from an image, kept by image id, so that each image is read once.

On the stores where the workshop's size is the bytes of an image's files (containerd's,
Podman's), measuring reads the image's whole export: go-big's is 849 MB, and a warm `invoke all`
on Podman spent most of its 15 s reading the exports of images it had measured the run before.
A step's program (/app) is read from its stopped container: on Docker 20.10 each read starts a
helper process in the container's filesystem, and a warm `invoke all` spent a tenth of its time
on six of them (1.69 s against 1.55 s without, `nox -s bench`).
An image id names its content, so what was read under an id holds for as long as the id
exists; it is kept per platform too (a multi-platform index's id names every platform's files,
and the engine exports only its own).

Each file is a cache: one that can't be read is read again and written anew, one that can't
be written costs a read next time, and neither stops a run.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from workshop.errors import DataFileError
from workshop.records.datafile import DataFile, JsonObject

__all__ = ["KnownPrograms", "MeasuredFiles", "ProgramFacts"]

SCHEMA = 1
# The most images kept: the oldest read go first.
KEEP = 500

T = TypeVar("T")


@dataclass(frozen=True)
class ProgramFacts:
    """What the size log keeps of a step's program: its size, and the Go release its build
    info names ("" where it has none)."""

    size: int
    go_build: str

    @classmethod
    def of(cls, binary: bytes, go_build: str | None) -> ProgramFacts:
        return cls(len(binary), go_build or "")


class _ByImage(Generic[T]):
    """`get` and `put` what was read from an image, by "IMAGE_ID PLATFORM", safe from threads
    and from other runs writing at the same moment (DataFile's lock)."""

    kind = ""

    def __init__(self, path: Path) -> None:
        self.file = DataFile(path, schema=SCHEMA, kind=self.kind, setting="workspace")
        self._lock = threading.Lock()
        self._known: dict[str, T] | None = None

    def load(self, images: JsonObject, key: str) -> T:
        raise NotImplementedError

    def dump(self, value: T) -> Any:
        raise NotImplementedError

    def _entries(self, document: JsonObject) -> dict[str, T]:
        images = document.only("schema", "images").object("images")
        return {key: self.load(images, key) for key in images.data}

    def _read(self) -> dict[str, T]:
        try:
            return self.file.parse(self._entries) or {}
        except DataFileError:
            return {}

    def get(self, key: str) -> T | None:
        with self._lock:
            if self._known is None:
                self._known = self._read()
            return self._known.get(key)

    def put(self, key: str, value: T) -> None:
        with self._lock:
            if self._known is None:
                self._known = self._read()
            self._known[key] = value

            def change(document: JsonObject | None) -> dict[str, Any]:
                kept = self._entries(document) if document is not None else {}
                kept.pop(key, None)
                kept[key] = value
                return {"images": self._dumped(kept)}

            try:
                self.file.update(change)
            except DataFileError:
                # Unreadable: written anew with what this run knows. Unwritable: read again.
                with contextlib.suppress(DataFileError):
                    self.file.write({"schema": SCHEMA, "images": self._dumped(self._known)})

    def _dumped(self, entries: dict[str, T]) -> dict[str, Any]:
        return {key: self.dump(value) for key, value in list(entries.items())[-KEEP:]}


class MeasuredFiles(_ByImage[int]):
    """The bytes of an image's files."""

    kind = "cache of measured images"

    def load(self, images: JsonObject, key: str) -> int:
        return images.integer(key)

    def dump(self, value: int) -> int:
        return value


class KnownPrograms(_ByImage[ProgramFacts]):
    """What a step's program is, by the image that holds it ("IMAGE_ID PLATFORM PATH")."""

    kind = "cache of the steps' programs"

    def load(self, images: JsonObject, key: str) -> ProgramFacts:
        program = images.object(key).only("size", "go_build")
        return ProgramFacts(program.integer("size"), program.text("go_build"))

    def dump(self, value: ProgramFacts) -> dict[str, Any]:
        return {"size": value.size, "go_build": value.go_build}
