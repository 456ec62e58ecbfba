"""Walk the headers of a tar stream, skipping the contents, as fast as the engine sends it.

Written by hand because tarfile's stream mode reads go-big's export (1.07 GB, 24,000 files) in
7.2 s here, where the stream itself arrives in 2.5 s: explain only needs each member's path,
size and type. It understands ustar with prefixes, PAX path and size records, and GNU long
names, which is what Docker's archive code writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["TarMember", "walk_tar"]

BLOCK = 512


@dataclass(frozen=True)
class TarMember:
    path: str
    size: int
    kind: str  # "file", "dir", "link", "symlink" or "other"


_KINDS = {b"0": "file", b"\0": "file", b"7": "file", b"5": "dir", b"1": "link", b"2": "symlink"}


def walk_tar(chunks: Iterable[bytes]) -> Iterator[TarMember]:
    buffer = bytearray()
    position = 0  # where the next header starts in buffer
    skip = 0  # content bytes still to pass over before the next header
    long_path: str | None = None
    pax: dict[str, str] = {}
    for chunk in chunks:
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        # Drop what was consumed before growing the buffer, so each byte is moved at most once.
        del buffer[:position]
        position = 0
        buffer += memoryview(chunk)[skip:]
        skip = 0
        while len(buffer) - position >= BLOCK:
            header = buffer[position : position + BLOCK]
            if not any(header):
                position += BLOCK
                continue
            size = _number(header[124:136])
            padded = -(-size // BLOCK) * BLOCK
            typeflag = bytes(header[156:157])
            if typeflag in (b"x", b"g", b"L"):
                # Their content describes the next member: wait until it is all here.
                if len(buffer) - position < BLOCK + padded:
                    break
                data = bytes(buffer[position + BLOCK : position + BLOCK + size])
                if typeflag == b"L":
                    long_path = data.rstrip(b"\0").decode("utf-8", "replace")
                elif typeflag == b"x":
                    pax = _pax(data)
                position += BLOCK + padded
                continue
            name = _text(header[0:100])
            prefix = _text(header[345:500]) if header[257:262] == b"ustar" else ""
            path = pax.get("path") or long_path or (f"{prefix}/{name}" if prefix else name)
            size = int(pax.get("size", size))
            padded = -(-size // BLOCK) * BLOCK
            yield TarMember(
                path=path.removeprefix("./").rstrip("/"),
                size=size,
                kind=_KINDS.get(typeflag, "other"),
            )
            long_path, pax = None, {}
            available = len(buffer) - position - BLOCK
            if padded <= available:
                position += BLOCK + padded
            else:
                skip = padded - available
                position = len(buffer)
                break


def _text(field: bytes | bytearray) -> str:
    return bytes(field).split(b"\0", 1)[0].decode("utf-8", "replace")


def _number(field: bytes | bytearray) -> int:
    if field[0] & 0x80:  # base-256, for sizes past 8 GiB
        return int.from_bytes(bytes(field[1:]), "big")
    digits = bytes(field).strip(b"\0 ")
    return int(digits, 8) if digits else 0


def _pax(data: bytes) -> dict[str, str]:
    """PAX records: "LENGTH KEY=VALUE\\n", one after another."""
    records = {}
    offset = 0
    while offset < len(data):
        length_text, _, _ = data[offset:].partition(b" ")
        if not length_text.isdigit():
            break
        length = int(length_text)
        record = data[offset + len(length_text) + 1 : offset + length - 1]
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        offset += length
    return records
