"""The two consoles: one for what a task shows, one for errors and notes.

Neither reads markup: text from a log, an image or an app ("[blink red]EVIL[/]", a tag like
"[/bogus]") is printed as it is. Styling is done with `Text` and styles, never with markup.
"""

from __future__ import annotations

from functools import cache

from rich.console import Console

__all__ = ["get_console", "get_err_console", "show"]


@cache
def get_console() -> Console:
    return Console(highlight=False, markup=False)


@cache
def get_err_console() -> Console:
    return Console(stderr=True, highlight=False, markup=False)


def show(renderable: object) -> None:
    get_console().print(renderable)
