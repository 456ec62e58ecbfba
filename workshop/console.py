"""The two consoles: one for what a step shows, one for errors and notes."""

from __future__ import annotations

from functools import cache

from rich.console import Console

__all__ = ["get_console", "get_err_console"]


@cache
def get_console() -> Console:
    return Console(highlight=False)


@cache
def get_err_console() -> Console:
    return Console(stderr=True, highlight=False)
