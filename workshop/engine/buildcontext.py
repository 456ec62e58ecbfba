"""Build contexts: a tar of exactly the files a build needs, nothing else from the folder."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["tar_context"]


def tar_context(
    folder: Path, names: Iterable[str], *, written: Mapping[str, bytes] | None = None
) -> bytes:
    """A tar holding `names` from `folder`, with their modes and times, owned by root, and
    the files `written` (a Dockerfile made for the build, say), by name and content."""
    buffer = io.BytesIO()
    # GNU format: buildx, reading a context on standard input, takes Python's default (PAX)
    # for a Dockerfile ("ambiguous Dockerfile source"); ustar and GNU it reads as a tar.
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in names:
            info = tar.gettarinfo(str(folder / name), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with open(folder / name, "rb") as file:
                tar.addfile(info, file)
        for name, content in (written or {}).items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
