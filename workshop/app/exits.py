"""How a task ends: a WorkshopError becomes invoke's Exit (its message and exit code, no
traceback), and SIGTERM is taken as Ctrl-C. The one place below tasks.py that knows invoke."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from invoke import Exit

from workshop.errors import INTERRUPTED, WorkshopError
from workshop.signals import terminate_as_interrupt

__all__ = ["reported"]


@contextmanager
def reported() -> Iterator[None]:
    """Run a task body: its WorkshopError or interruption becomes an Exit with the right code."""
    try:
        with terminate_as_interrupt():
            yield
    except WorkshopError as error:
        raise Exit(f"Error: {error.message}", code=error.exit_code) from None
    except KeyboardInterrupt:
        raise Exit(
            "Interrupted: the steps in progress were stopped and their containers removed; "
            "nothing half-done was logged or tagged.",
            code=INTERRUPTED,
        ) from None
