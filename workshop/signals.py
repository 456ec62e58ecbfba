"""Signals: SIGTERM (timeout, a CI cancel, `docker stop`) is handled as Ctrl-C is, and a few
places finish what they started before an interrupt is let through."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["deferred_interrupts", "terminate_as_interrupt"]

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
