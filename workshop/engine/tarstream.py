"""Tar streams as they arrive from the engine: entries listed, contents skipped, never unpacked."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from typing import Any

from workshop.engine.values import ImageFile

__all__ = ["chunk_stream", "entries_of", "read_tar"]


def read_tar(chunks: Iterator[bytes]) -> Iterator[ImageFile]:
    """The entries of a tar stream as they arrive, their contents skipped, never unpacked."""
    raw = _ChunkStream(iter(chunks))
    with tarfile.open(fileobj=io.BufferedReader(raw, 1 << 20), mode="r|") as archive:
        yield from entries_of(archive)


def entries_of(archive: tarfile.TarFile) -> Iterator[ImageFile]:
    for member in archive:
        yield ImageFile(
            path=member.name.removeprefix("./").rstrip("/"),
            size=member.size,
            kind=_KINDS.get(member.type, "other"),
        )


def chunk_stream(chunks: Iterator[bytes]) -> io.BufferedReader:
    """A buffered file over a streamed HTTP answer's chunks."""
    return io.BufferedReader(_ChunkStream(iter(chunks)), 1 << 20)


_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.LNKTYPE: "link",
    tarfile.SYMTYPE: "symlink",
}


class _ChunkStream(io.RawIOBase):
    """A raw stream over an iterator of byte chunks (a streamed HTTP answer)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._left:
            self._left = next(self._chunks, b"")
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size
