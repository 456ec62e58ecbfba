"""What differs between the systems a client runs on (Linux, macOS, Windows): whether this
process is root, an owner's name, a file's lock. No POSIX-only module is imported at import
time (`fcntl`, `pwd`, `grp`), so `invoke --list` works on Windows too; where one is missing, the
answer is the plain one (not root, the number for a name)."""

from __future__ import annotations

import importlib
import os

__all__ = ["group_name", "is_root", "nonblocking", "process_alive", "user_name"]


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
