"""What a person sees while a long operation runs: the current line under a spinner, or every
line of output when asked for (verbose)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.text import Text

__all__ = ["Progress", "Stopped"]


class Stopped(Exception):
    """Work in the background was told to stop, before it logged anything."""


class Progress:
    def __init__(self, console: Console, *, verbose: bool = False, silent: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        # Work running in the background shows nothing (the step that collects it does), and
        # can be told to stop: at its next line of output, or its next checkpoint.
        self.silent = silent
        self.stop = threading.Event()
        self._noted: set[str] = set()

    def checkpoint(self) -> None:
        """A place where work may be stopped; raises Stopped if it was told to."""
        if self.stop.is_set():
            raise Stopped

    @contextmanager
    def activity(self, title: str) -> Iterator[Callable[[str], None]]:
        """Show `title` while the block runs; the callable it yields takes each output line.
        Where the work was told to stop, it raises Stopped at the next line: raising out of a
        build's output stream closes it, and the engine cancels it; a command is killed."""
        if self.silent:
            yield self._stoppable(lambda line: None)
            return
        if self.verbose or not self.console.is_terminal:
            self.console.print(Text(title, style="bold"))
            if self.verbose:
                yield self._stoppable(lambda line: self.console.print(Text(f"  {line}")))
            else:
                yield self._stoppable(lambda line: None)
            return
        with self.console.status(Text(title)) as status:

            def show(line: str) -> None:
                if line.strip():
                    status.update(Text(title) + Text(f" · {line.strip()[:100]}", style="dim"))

            yield self._stoppable(show)

    def _stoppable(self, show: Callable[[str], None]) -> Callable[[str], None]:
        def each_line(line: str) -> None:
            self.checkpoint()
            show(line)

        return each_line

    def note(self, text: str) -> None:
        """Say `text` once per run, however often it is noted."""
        if text not in self._noted:
            self._noted.add(text)
            self.console.print(Text("Note: ", style="yellow") + Text(text))
