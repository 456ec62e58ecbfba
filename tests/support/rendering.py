"""Rich renderables as the plain text a person would read."""

from __future__ import annotations

import io

from rich.console import Console

__all__ = ["plain_console", "render", "said"]


def plain_console(width: int = 100) -> Console:
    return Console(file=io.StringIO(), width=width, color_system=None, markup=False)


def render(renderable: object, width: int = 100) -> str:
    console = plain_console(width)
    console.print(renderable)
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def said(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()
