"""Files that are replaced whole, under a lock: readers see the old content or the new, never half.

Shared by the size log and the run history: two runs writing at once both keep their changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["locked", "read_document", "replace_text"]


def read_document(path: Path, *, schema: int, kind: str) -> dict[str, Any] | None:
    """The JSON object in `path`, or None where there is no file.

    ValueError when it is not JSON, or not a schema `schema` `kind`; OSError passes through.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("schema") != schema:
        raise ValueError(f"it is not a schema {schema} {kind}")
    return document


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`'s lock file (beside it) while the block runs."""
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def replace_text(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        # Ctrl-C or a full disk: the file keeps its old content and no stray file is left.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
