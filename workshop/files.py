"""Small files from outside, read without hanging on them or reading them whole: a docker config,
a context's meta.json, a TOML file someone wrote. The caller words the message."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

from workshop.system import nonblocking

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["NotReadable", "parse_toml", "read_small_text"]


class NotReadable(ValueError):
    """The file is there, but is not small UTF-8 text in a regular file; the reason in words."""


def read_small_text(path: Path, *, limit: int) -> str:
    """The UTF-8 text of the regular file at `path`, at most `limit` bytes. FileNotFoundError
    where there is none; NotReadable for a FIFO, device, socket or directory (opened without
    blocking, so a FIFO never hangs the reader), a larger file, or bytes that are not UTF-8."""
    descriptor = os.open(path, os.O_RDONLY | nonblocking)
    with os.fdopen(descriptor, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise NotReadable("it is not a regular file (a directory, device, FIFO or socket)")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise NotReadable(f"it is more than {limit:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotReadable("it is not UTF-8 text") from None


def parse_toml(text: str) -> dict[str, Any]:
    """`text` as TOML; ValueError with the reason for anything TOML can't be: bad syntax, tables
    nested past the interpreter's depth, an integer of more digits than Python converts."""
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except RecursionError:
        raise ValueError("its tables or arrays nest too deep") from None
    return document
