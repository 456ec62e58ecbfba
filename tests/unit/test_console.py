"""What the consoles print of text from outside: control characters shown, never acted on."""

from __future__ import annotations

import io

import pytest
from rich.table import Table
from rich.text import Text

from workshop.console import make_console
from workshop.errors import StepFailed
from workshop.progress import Progress, Stopped
from workshop.signals import command

HOSTILE = "last words\x1b]0;TITLE\x07\x1b[2J\rgone"


@pytest.mark.parametrize("color_system", [None, "truecolor"])
def test_a_programs_escape_sequences_are_shown_not_acted_on(color_system: str | None) -> None:
    out = io.StringIO()
    console = make_console(file=out, color_system=color_system, width=200)
    table = Table("Why not")
    table.add_row(HOSTILE)
    console.print(table)
    console.print(Text(HOSTILE, style="bold red"))
    console.print(HOSTILE)
    printed = out.getvalue()
    # Rich drops BEL and CR itself; an escape sequence is shown, not sent.
    assert "\x07" not in printed and "\r" not in printed
    assert "\x1b]0;TITLE" not in printed and "\x1b[2J" not in printed
    assert printed.count("\\x1b]0;TITLE") == 3 and printed.count("\\x1b[2J") == 3
    # The console's own styling still reaches the terminal.
    assert ("\x1b[1;31m" in printed) == (color_system is not None)


def test_an_emoji_code_in_a_programs_text_is_shown_as_it_is() -> None:
    """rich reads ":smile:" in a string as an emoji, as it reads markup: a program's output,
    a file name in an image or a tag is shown as it is written."""
    out = io.StringIO()
    console = make_console(file=out, width=200)
    table = Table("File")
    table.add_row("/app/:thumbs_up:")
    console.print(table)
    console.print("said :smile: and :red_heart:")
    printed = out.getvalue()
    assert "/app/:thumbs_up:" in printed and "said :smile: and :red_heart:" in printed
    assert not {"\N{THUMBS UP SIGN}", "\N{SMILING FACE WITH OPEN MOUTH}"} & set(printed)


def test_an_error_message_is_shown_not_acted_on() -> None:
    with command(interrupted="Interrupted.") as ending:
        raise StepFailed(f"The program said: {HOSTILE}")
    assert ending.code == 1
    assert "\x1b" not in ending.message and "\\x1b]0;TITLE" in ending.message


@pytest.mark.parametrize(("verbose", "terminal"), [(False, False), (True, False), (False, True)])
def test_work_told_to_stop_stops_at_its_next_line_however_it_is_shown(
    verbose: bool, terminal: bool
) -> None:
    # A stand-in built in a thread that Ctrl-C does not reach: before, only silent progress
    # stopped it, and the process went on to debootstrap after saying it was interrupted.
    console = make_console(file=io.StringIO(), force_terminal=terminal)
    progress = Progress(console, verbose=verbose)
    with progress.activity("debootstrap") as on_line:
        on_line("I: Retrieving InRelease")
        progress.stop.set()
        with pytest.raises(Stopped):
            on_line("I: Retrieving Packages")
