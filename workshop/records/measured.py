"""The bytes of images' files, kept by image id, so that each image's export is read once.

On the stores where the workshop's size is the bytes of an image's files (containerd's,
Podman's), measuring reads the image's whole export: go-big's is 849 MB, and a warm `invoke all`
on Podman spent most of its 15 s reading the exports of images it had measured the run before.
An image id names its content, so what was measured under an id holds for as long as the id
exists; it is kept per platform too (a multi-platform index's id names every platform's files,
and the engine exports only its own).

The file is a cache: one that can't be read is measured again and written anew, one that can't
be written costs a measurement next time, and neither stops a run.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from workshop.errors import DataFileError
from workshop.records.datafile import DataFile, JsonObject

__all__ = ["MeasuredFiles"]

SCHEMA = 1
# The most images kept: the oldest measured go first.
KEEP = 500


def _entries(document: JsonObject) -> dict[str, int]:
    images = document.only("schema", "images").object("images")
    return {key: images.integer(key) for key in images.data}


class MeasuredFiles:
    """`get` and `put` the bytes of an image's files by "IMAGE_ID PLATFORM", safe from threads
    and from other runs writing at the same moment (DataFile's lock)."""

    def __init__(self, path: Path) -> None:
        self.file = DataFile(
            path, schema=SCHEMA, kind="cache of measured images", setting="workspace"
        )
        self._lock = threading.Lock()
        self._known: dict[str, int] | None = None

    def _read(self) -> dict[str, int]:
        try:
            return self.file.parse(_entries) or {}
        except DataFileError:
            return {}

    def get(self, key: str) -> int | None:
        with self._lock:
            if self._known is None:
                self._known = self._read()
            return self._known.get(key)

    def put(self, key: str, value: int) -> None:
        with self._lock:
            if self._known is None:
                self._known = self._read()
            self._known[key] = value

            def change(document: JsonObject | None) -> dict[str, Any]:
                kept = _entries(document) if document is not None else {}
                kept.pop(key, None)
                kept[key] = value
                return {"images": dict(list(kept.items())[-KEEP:])}

            try:
                self.file.update(change)
            except DataFileError:
                # Unreadable: written anew with what this run knows. Unwritable: measured again.
                with contextlib.suppress(DataFileError):
                    self.file.write(
                        {"schema": SCHEMA, "images": dict(list(self._known.items())[-KEEP:])}
                    )
