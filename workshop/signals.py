"""Signals: SIGTERM (timeout, a CI cancel, `docker stop`) is handled as Ctrl-C is, and a few
places finish what they started before an interrupt is let through. `command()` is how every
command ends on an error or an interruption: a paragraph and its exit code, never a traceback."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from workshop.errors import INTERRUPTED, WorkshopError
from workshop.terminal import visible

__all__ = ["Ending", "command", "deferred_interrupts", "terminate_as_interrupt"]

_pending: list[int] = []
_deferring = threading.local()


def _interrupt(number: int, frame: FrameType | None) -> None:
    if getattr(_deferring, "depth", 0):
        _pending.append(number)
        return
    raise KeyboardInterrupt


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT raise KeyboardInterrupt (in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    for number in previous:
        signal.signal(number, _interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Let the block finish before an interrupt that arrives during it is raised: for the few
    steps that must happen together (tag an image, then log it)."""
    _deferring.depth = getattr(_deferring, "depth", 0) + 1
    try:
        yield
    finally:
        _deferring.depth -= 1
        if (
            not _deferring.depth
            and _pending
            and threading.current_thread() is threading.main_thread()
        ):
            _pending.clear()
            raise KeyboardInterrupt


@dataclass
class Ending:
    """How a command ended, where it did not finish: its paragraph and exit code (0: it did)."""

    code: int = 0
    message: str = ""


class command:
    """Run a command's body with SIGTERM taken as Ctrl-C. A WorkshopError ends it with its
    message and exit code, an interruption with `interrupted` and 130; the caller shows them
    (an invoke task through its Exit, the checks' command line on its error console)."""

    def __init__(self, *, interrupted: str) -> None:
        self._interrupted = interrupted
        self._ending = Ending()
        self._signals = terminate_as_interrupt()

    def __enter__(self) -> Ending:
        self._signals.__enter__()
        return self._ending

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: object
    ) -> bool:
        self._signals.__exit__(kind, error, None)
        if isinstance(error, WorkshopError):
            message = f"Error: {visible(error.message)}"
            self._ending.code, self._ending.message = error.exit_code, message
            return True
        if isinstance(error, KeyboardInterrupt):
            self._ending.code, self._ending.message = INTERRUPTED, self._interrupted
            return True
        return False
