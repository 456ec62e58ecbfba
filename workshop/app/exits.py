"""How a task ends: a WorkshopError becomes invoke's Exit (its message and exit code, no
traceback), and SIGTERM is taken as Ctrl-C. The one place below tasks.py that knows invoke."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from invoke import Exit

from workshop.signals import command

__all__ = ["reported"]


@contextmanager
def reported() -> Iterator[None]:
    """Run a task body: its WorkshopError or interruption becomes an Exit with the right code."""
    with command(
        interrupted="Interrupted: the steps in progress were stopped and their containers "
        "removed; nothing half-done was logged or tagged."
    ) as ending:
        yield
    if ending.code:
        raise Exit(ending.message, code=ending.code)
