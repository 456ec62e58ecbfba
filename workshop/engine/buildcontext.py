"""Build contexts: a tar of exactly the files a build needs, nothing else from the folder; small
ones in memory, a person's program on disk (a build streams it from there); and a folder's
.dockerignore, read by docker's own rules (docker-py's matcher)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from docker.utils.build import Pattern, PatternMatcher

__all__ = ["IgnoreRules", "tar_context", "tar_context_file"]


class IgnoreRules:
    """A .dockerignore's lines, matched as docker matches them: patterns with `*`, `**` and
    `?`, a folder's pattern covering what is in it, and `!` lines keeping again what an
    earlier line left out. Blank lines and `#` comments are skipped, as the CLI skips them."""

    def __init__(self, text: str = "") -> None:
        self.lines = tuple(
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")
        )
        self._matcher = PatternMatcher(list(self.lines))
        self._kept = [Pattern(line[1:]) for line in self.lines if line.startswith("!")]

    def ignores(self, name: str) -> bool:
        """Whether docker leaves `name` (a path relative to the context, with /) out."""
        return bool(self._matcher.matches(name))  # type: ignore[arg-type]  # a str is what it splits

    def keeps_explicitly(self, name: str) -> bool:
        """Whether a `!` line names `name` or a folder it is in: kept on purpose."""
        parts = name.split("/")
        return any(
            pattern.match("/".join(parts[:count]))
            for pattern in self._kept
            for count in range(1, len(parts) + 1)
        )


def tar_context(
    folder: Path, names: Iterable[str], *, written: Mapping[str, bytes] | None = None
) -> bytes:
    """A tar holding `names` from `folder`, with their modes and times, owned by root, and
    the files `written` (a Dockerfile made for the build, say), by name and content."""
    buffer = io.BytesIO()
    _write_tar(buffer, folder, names, written or {})
    return buffer.getvalue()


def tar_context_file(
    folder: Path, names: Iterable[str], *, written: Mapping[str, bytes], path: Path
) -> Path:
    """The same tar as `tar_context`, written to `path`: a program's folder may hold a large
    file, and a build streams its context from disk instead of holding it in memory."""
    with open(path, "wb") as file:
        _write_tar(file, folder, names, written)
    return path


def _write_tar(
    out: IO[bytes], folder: Path, names: Iterable[str], written: Mapping[str, bytes]
) -> None:
    # GNU format: buildx, reading a context on standard input, takes Python's default (PAX)
    # for a Dockerfile ("ambiguous Dockerfile source"); ustar and GNU it reads as a tar.
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in names:
            info = tar.gettarinfo(str(folder / name), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with open(folder / name, "rb") as file:
                tar.addfile(info, file)
        for name, content in written.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
