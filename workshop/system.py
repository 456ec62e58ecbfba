"""What differs between the systems a client runs on (Linux, macOS, Windows): whether this
process is root, an owner's name, a file's lock. No module of one system only is imported at
import time (`fcntl`, `pwd`, `grp`, `msvcrt`), so `invoke --list` works everywhere; where one
is missing, the answer is the plain one (not root, the number for a name)."""

from __future__ import annotations

import errno
import importlib
import os

__all__ = [
    "group_name",
    "is_root",
    "nonblocking",
    "process_alive",
    "try_lock",
    "unlock",
    "user_name",
]

# Chosen once, as os.name is: what locks a file (fcntl on POSIX, msvcrt on Windows).
_WINDOWS = os.name == "nt"


def is_root() -> bool:
    """Whether this process runs as root (never on Windows, which has no effective uid)."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def process_alive(pid: int) -> bool:
    """Whether the process `pid` is still there (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # Windows: no such process, or not one to signal
        return False
    return True


def user_name(uid: int) -> str:
    """The name of the user `uid`, as `ls -l` shows it; the number where none is known."""
    return _name("pwd", "getpwuid", "pw_name", uid)


def group_name(gid: int) -> str:
    return _name("grp", "getgrgid", "gr_name", gid)


def _name(module: str, lookup: str, attribute: str, number: int) -> str:
    try:
        found = getattr(importlib.import_module(module), lookup)(number)
    except (ImportError, KeyError):
        return str(number)
    return str(getattr(found, attribute))


# Opening a FIFO with this never waits for a writer; Windows has no FIFOs, nor the flag.
nonblocking = getattr(os, "O_NONBLOCK", 0)


def try_lock(descriptor: int) -> bool:
    """Take an exclusive lock on the open file `descriptor` unless another holder has one:
    flock on Linux and macOS, the file's first byte (`msvcrt.locking`) on Windows. Either is
    released when the file is closed, or its process ends however it ends."""
    if _WINDOWS:
        msvcrt = importlib.import_module("msvcrt")
        os.lseek(descriptor, 0, os.SEEK_SET)
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EDEADLK):  # another process holds it
                return False
            raise
        return True
    fcntl = importlib.import_module("fcntl")
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def unlock(descriptor: int) -> None:
    """Release what `try_lock` took on `descriptor`."""
    if _WINDOWS:
        msvcrt = importlib.import_module("msvcrt")
        os.lseek(descriptor, 0, os.SEEK_SET)
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
        return
    fcntl = importlib.import_module("fcntl")
    fcntl.flock(descriptor, fcntl.LOCK_UN)
