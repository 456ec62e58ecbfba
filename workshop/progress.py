"""What a person sees while a long operation runs: the current line under a spinner, or every
line of output when asked for (verbose)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

__all__ = ["Progress"]


class Progress:
    def __init__(self, console: Console, *, verbose: bool = False, silent: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        # Work running in the background shows nothing: the step that collects it does.
        self.silent = silent
        self._noted: set[str] = set()

    @contextmanager
    def activity(self, title: str) -> Iterator[Callable[[str], None]]:
        """Show `title` while the block runs; the callable it yields takes each output line."""
        if self.silent:
            yield lambda line: None
            return
        if self.verbose or not self.console.is_terminal:
            self.console.print(f"[bold]{escape(title)}[/]")
            if self.verbose:
                yield lambda line: self.console.print(f"  {escape(line)}")
            else:
                yield lambda line: None
            return
        with self.console.status(escape(title)) as status:

            def show(line: str) -> None:
                if line.strip():
                    status.update(f"{escape(title)} [dim]· {escape(line.strip()[:100])}[/]")

            yield show

    def note(self, text: str) -> None:
        """Say `text` once per run, however often it is noted."""
        if text not in self._noted:
            self._noted.add(text)
            self.console.print(f"[yellow]Note:[/] {escape(text)}")
