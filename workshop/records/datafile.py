"""Files this project reads and writes: one atomic writer, one careful reader, one error type.

- Every write goes through `write_atomic`: a temporary file with an unpredictable name in the
  same folder, written, fsynced, given the old file's mode and owner, and renamed over the
  target; on any failure (a full disk, Ctrl-C) the target keeps its old content and the
  temporary file is removed. A target that is a symlink stays one: its target is written.
- Every read goes through `read_text`: only a regular file is read (never a device, a FIFO or a
  folder), and only up to `MAX_BYTES`.
- `DataFile` is a schema'd JSON document (the size log, the run history, the sweep table),
  changed under a lock beside it, parsed explicitly with `JsonObject`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from workshop.errors import DataFileError
from workshop.system import is_root, nonblocking, try_lock, unlock

__all__ = [
    "MAX_BYTES",
    "DataFile",
    "JsonObject",
    "check_folder",
    "check_output",
    "read_text",
    "write_atomic",
]

# No data file of this project comes near this; a larger one is not what it claims to be.
MAX_BYTES = 64 * 1024 * 1024
# A writer holds the lock for one read and one write: a minute is far past any honest one.
LOCK_TIMEOUT = 60.0


def _where(setting: str) -> str:
    return f" (the setting workshop.{setting})" if setting else ""


def read_text(path: Path, *, what: str, setting: str = "") -> str | None:
    """The text of the regular file at `path`, or None when there is none."""
    info = _existing_regular(path, path, what=what, setting=setting)
    if info is None:
        return None
    if info.st_size > MAX_BYTES:
        raise DataFileError(
            f"The {what} {path}{_where(setting)} is {info.st_size:,} bytes, more than any "
            f"{what} this project writes ({MAX_BYTES:,}); it was left as it is."
        )
    try:
        # O_NONBLOCK: were a FIFO put there since the check, opening it must not hang.
        descriptor = os.open(path, os.O_RDONLY | nonblocking)
        with os.fdopen(descriptor, "rb") as file:
            data = file.read(MAX_BYTES + 1)
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DataFileError(f"The {what} {path} is not UTF-8 text; it was left as it is.") from None
    except OSError as error:
        raise DataFileError(f"The {what} {path} can't be read: {error.strerror}.") from None


def _require_regular(path: Path, info: os.stat_result, *, what: str, setting: str) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    kind = (
        "a directory"
        if stat.S_ISDIR(info.st_mode)
        else "not a regular file (a device, FIFO or socket)"
    )
    raise DataFileError(
        f"The {what} {path}{_where(setting)} is {kind}, so it can't be used; nothing was read from "
        f"or written to it. Choose a regular file (INVOKE_WORKSHOP_{setting.upper() or 'SETTING'}"
        "=PATH), then run again."
    )


def _existing_regular(
    path: Path, target: Path, *, what: str, setting: str
) -> os.stat_result | None:
    """`target`'s stat (the real path of `path`), None where there is none; a file that is
    there must be a regular one."""
    try:
        info = target.stat()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DataFileError(f"The {what} {path} can't be used: {error.strerror}.") from None
    _require_regular(path, info, what=what, setting=setting)
    return info


def check_output(path: Path, *, what: str, setting: str = "") -> None:
    """Refuse, before any work is done, a file that could not be written."""
    target = Path(os.path.realpath(path))
    info = _existing_regular(path, target, what=what, setting=setting)
    check_folder(target.parent, what=f"the folder of the {what} {path}", setting=setting)
    if info is not None and not os.access(target, os.W_OK):
        raise DataFileError(
            f"The {what} {path}{_where(setting)} is not writable, so nothing was built. Make it "
            "writable or choose another, then run again."
        )


def check_folder(
    folder: Path, *, what: str, setting: str = "", nothing: str = "Nothing was built."
) -> None:
    """Make `folder` if needed, and refuse one that can't be written to; `nothing` says what
    was not done (a report builds nothing: "Nothing was written.")."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataFileError(
            f"{what[0].upper()}{what[1:]}{_where(setting)} can't be made: {error.strerror}. "
            f"{nothing} Choose a writable place, then run again."
        ) from None
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise DataFileError(
            f"{what[0].upper()}{what[1:]}{_where(setting)} is not a writable folder. {nothing} "
            "Choose a writable place, then run again."
        )


def write_atomic(
    path: Path, content: str | bytes | Iterable[bytes], *, what: str, setting: str = ""
) -> None:
    """Replace `path` with `content` whole, or leave it as it was. `content` may be a stream of
    chunks (an image saved from the engine): an error while it is read leaves `path` as it was
    too, and is raised as it came."""
    target = Path(os.path.realpath(path))
    if isinstance(content, str):
        chunks: Iterable[bytes] = (content.encode("utf-8"),)
    elif isinstance(content, bytes):
        chunks = (content,)
    else:
        chunks = content
    info = _existing_regular(path, target, what=what, setting=setting)
    temporary = ""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(descriptor, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            if info is not None:
                _set_mode(file.fileno(), stat.S_IMODE(info.st_mode))
                if is_root() and (info.st_uid, info.st_gid) != (0, 0):
                    os.fchown(file.fileno(), info.st_uid, info.st_gid)
            else:
                _set_mode(file.fileno(), 0o666 & ~_umask())
            os.fsync(file.fileno())
        os.replace(temporary, target)
        temporary = ""
    except OSError as error:
        raise DataFileError(
            f"Can't write the {what} {path}{_where(setting)}: {error.strerror}. It was left as "
            "it was."
        ) from None
    finally:
        if temporary:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _set_mode(descriptor: int, mode: int) -> None:
    # Windows keeps no POSIX mode (and Python before 3.13 has no os.fchmod there).
    if hasattr(os, "fchmod"):
        os.fchmod(descriptor, mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Threads of one process (the steps `invoke all` builds side by side) queue for a file on a lock
# of their own, handed over as soon as it is released; only another process waits on the lock
# file, tried again every LOCK_POLL seconds.
_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()
LOCK_POLL = 0.01


@contextlib.contextmanager
def locked(path: Path, *, what: str) -> Iterator[None]:
    """Hold an exclusive lock on a lock file beside `path` (its real path) while the block runs:
    flock on Linux and macOS, LockFileEx on Windows (`system.try_lock`). Within LOCK_TIMEOUT
    seconds."""
    target = Path(os.path.realpath(path))
    with _THREAD_LOCKS_GUARD:
        in_process = _THREAD_LOCKS.setdefault(target, threading.Lock())
    deadline = time.monotonic() + LOCK_TIMEOUT
    stayed_locked = DataFileError(
        f"The {what} {path} stayed locked for {LOCK_TIMEOUT:g} s: another task is writing it. "
        "Run again once it has finished."
    )
    if not in_process.acquire(timeout=LOCK_TIMEOUT):
        raise stayed_locked
    try:
        try:
            descriptor = _lock_file(target.with_name(target.name + ".lock"), deadline)
        except OSError as error:
            raise DataFileError(f"Can't lock the {what} {path}: {error.strerror}.") from None
        if descriptor is None:
            raise stayed_locked
        try:
            yield
        finally:
            try:
                unlock(descriptor)
            finally:
                os.close(descriptor)
    finally:
        in_process.release()


def _lock_file(lock: Path, deadline: float) -> int | None:
    """The descriptor of the file `lock`, opened (made where missing) and locked, tried every
    LOCK_POLL s; None where another process still held it at `deadline`."""
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while not try_lock(descriptor):
            if time.monotonic() >= deadline:
                os.close(descriptor)
                return None
            time.sleep(LOCK_POLL)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _strict_json(text: str) -> Any:
    """JSON where a key given twice in one object is an error, not the last one winning
    silently (a verdict could flip on which copy a reader keeps)."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                raise ValueError(f"the key {key!r} is given twice in one object")
            found[key] = value
        return found

    return json.loads(text, object_pairs_hook=unique)


class JsonObject:
    """A JSON object read field by field: each getter checks the type, or raises ValueError
    saying which field of what is wrong."""

    def __init__(self, data: object, what: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{what} is not a JSON object")
        self.data: dict[str, Any] = data
        self.what = what

    def only(self, *names: str) -> JsonObject:
        if unknown := sorted(set(self.data) - set(names)):
            raise ValueError(f"{self.what} has unknown fields: {', '.join(unknown)}")
        return self

    def _get(self, name: str) -> Any:
        if name not in self.data:
            raise ValueError(f"{self.what} lacks '{name}'")
        return self.data[name]

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            raise ValueError(f"{self.what}: '{name}' is {_shown(value)}, not text")
        return value

    def integer(self, name: str, *, minimum: int = 0, maximum: int = 2**63 - 1) -> int:
        value = self._get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
            raise ValueError(
                f"{self.what}: '{name}' is {_shown(value)}, not a whole number from {minimum:,} "
                f"to {maximum:,}"
            )
        return value

    def number(self, name: str, *, minimum: float = 0.0) -> float:
        value = self._get(name)
        try:
            number = float(value) if isinstance(value, int | float) else math.nan
        except OverflowError:  # an integer past what a float holds
            number = math.inf
        if isinstance(value, bool) or not math.isfinite(number) or number < minimum:
            raise ValueError(f"{self.what}: '{name}' is {_shown(value)}, not a number ≥ {minimum}")
        return number

    def flag(self, name: str) -> bool:
        value = self._get(name)
        if not isinstance(value, bool):
            raise ValueError(f"{self.what}: '{name}' is {_shown(value)}, not true or false")
        return value

    def list(self, name: str) -> list[Any]:
        value = self._get(name)
        if not isinstance(value, list):
            raise ValueError(f"{self.what}: '{name}' is {_shown(value)}, not a list")
        return value

    def object(self, name: str) -> JsonObject:
        return JsonObject(self._get(name), f"{self.what}: '{name}'")

    def get(self, name: str) -> JsonObject | None:
        return self.object(name) if name in self.data else None


def _shown(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


class DataFile:
    """A JSON document with a schema number, at `path`: read whole, changed under a lock."""

    def __init__(
        self,
        path: Path,
        *,
        schema: int,
        kind: str,
        setting: str,
        reads: tuple[int, ...] = (),
        parser: Callable[[JsonObject], Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        # Older schemas still read (and written back as `schema`).
        self.reads = (schema, *reads)
        self.kind = kind
        self.setting = setting
        # The reader's own parser: what is about to be written is read back with it first.
        self.parser = parser

    def read(self) -> JsonObject | None:
        """The document, or None where there is no file; DataFileError if it can't be read."""
        text = read_text(self.path, what=self.kind, setting=self.setting)
        if text is None:
            return None
        try:
            document = JsonObject(_strict_json(text), f"the {self.kind}")
            schema = document.data.get("schema")
            if type(schema) is not int or schema not in self.reads:
                raise ValueError(
                    f"it is not a schema {self.schema} {self.kind} (schema: {_shown(schema)})"
                )
            return document
        except RecursionError:
            raise self.unreadable("it is nested too deeply to be one") from None
        except ValueError as error:
            raise self.unreadable(error) from None

    def parse(self, parser: Callable[[JsonObject], Any]) -> Any:
        """`parser(document)`, with its ValueError reported as this file's."""
        document = self.read()
        if document is None:
            return None
        try:
            return parser(document)
        except (ValueError, RecursionError) as error:
            raise self.unreadable(error) from None

    def check_writable(self) -> None:
        check_output(self.path, what=self.kind, setting=self.setting)
        self.read()

    def update(
        self,
        change: Callable[[JsonObject | None], Mapping[str, Any]],
        *,
        publish: Callable[[], Callable[[], None]] | None = None,
    ) -> None:
        """Under the lock: read the document, `change` it, write the result whole.

        `publish`, if given, runs under the same lock just before the write and returns its
        undo, called if the write fails: what it makes public (an image's tag) and what the file
        says about it change together, even with another run writing at the same moment.
        """
        self.check_writable()
        with locked(self.path, what=self.kind):
            try:
                document = dict(change(self.read()))
            except (ValueError, RecursionError) as error:
                raise self.unreadable(error) from None
            document["schema"] = self.schema
            undo = publish() if publish is not None else None
            try:
                self.write(document)
            except BaseException:
                if undo is not None:
                    undo()
                raise

    def write(self, document: Mapping[str, Any]) -> None:
        """Write `document` whole, once it is known to read back: nothing written is unreadable."""
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        size = len(text.encode())
        try:
            if size > MAX_BYTES:
                raise ValueError(f"it would be {size:,} bytes, more than {MAX_BYTES:,}")
            read_back = JsonObject(_strict_json(text), f"the {self.kind}")
            if self.parser is not None:
                self.parser(read_back)
        except (ValueError, RecursionError) as error:
            raise DataFileError(
                f"The {self.kind} {self.path} was not written: what was to be written would not "
                f"read back ({error}). It is as it was; nothing in it is lost."
            ) from None
        write_atomic(self.path, text, what=self.kind, setting=self.setting)

    def unreadable(self, error: object) -> DataFileError:
        return DataFileError(
            f"The {self.kind} {self.path} can't be read ({error}). It was left as it is, so "
            f"nothing in it is lost. Move it aside (mv {self.path} {self.path}.bad) or choose "
            f"another (INVOKE_WORKSHOP_{self.setting.upper()}=PATH), then run again."
        )
