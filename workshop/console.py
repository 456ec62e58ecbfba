"""The two consoles: one for what a task shows, one for errors and notes.

Neither reads markup nor emoji codes: text from a log, an image or an app ("[blink red]EVIL[/]",
a tag like "[/bogus]", a file called ":thumbs_up:") is printed as it is. Styling is done with
`Text` and styles, never with markup.
Neither lets text act on the terminal: a control character in what is printed (an escape
sequence in a program's last line, a file name) is shown as an escape, like \\x1b; the
consoles' own styling and cursor moves are rich's control segments, and pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from rich.console import Console
from rich.segment import Segment
from rich.text import Text

from workshop.terminal import visible

__all__ = ["get_console", "get_err_console", "make_console", "show"]


class _Console(Console):
    def render_str(self, text: str, **options: Any) -> Text:
        # Shown before it is measured, so that a table's columns fit what is printed.
        return super().render_str(visible(text), **options)

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        shown = (
            each if each.control else Segment(visible(each.text), each.style) for each in buffer
        )
        return super()._render_buffer(shown)


def make_console(**options: Any) -> Console:
    """A console that reads no markup or emoji codes and shows control characters instead of
    sending them."""
    return _Console(**{"highlight": False, "markup": False, "emoji": False, **options})


@cache
def get_console() -> Console:
    return make_console()


@cache
def get_err_console() -> Console:
    return make_console(stderr=True)


def show(renderable: object) -> None:
    get_console().print(renderable)
