"""The tests' background set-ups (tests/support/background.py): what a fixture took is removed
once, early where it was retired, and only what was made and taken is retired."""

from __future__ import annotations

import threading

import pytest

from tests.support.background import Background


class Made:
    def __init__(self, name: str, removed: list[str]) -> None:
        self.name, self._removed = name, removed

    def remove(self) -> None:
        self._removed.append(self.name)


def test_a_retired_set_up_is_removed_beside_the_caller_and_waited_for_once() -> None:
    removed: list[str] = []
    release = threading.Event()

    def slow_remove(made: Made) -> None:
        assert release.wait(5)
        made.remove()

    background = Background({"engine": lambda _: Made("engine", removed)})
    background.start(["engine"])
    made = background.take("engine")
    background.retire("engine", slow_remove)
    assert removed == []  # begun, not waited for: the caller goes on
    release.set()
    assert background.retired("engine") is True
    assert removed == ["engine"]
    background.retire("engine", slow_remove)  # retired once only
    background.close(lambda each: each.remove())
    assert removed == ["engine"] and made.name == "engine"


def test_what_was_not_taken_or_not_made_is_not_retired() -> None:
    removed: list[str] = []

    def failing(_: Background) -> Made:
        raise RuntimeError("no engine")

    background = Background({"kept": lambda _: Made("kept", removed), "broken": failing})
    background.start(["kept", "broken"])
    assert background.made("kept").name == "kept"  # made, but no fixture took it
    with pytest.raises(RuntimeError):
        background.take("broken")
    for name in ("kept", "broken", "never begun"):
        background.retire(name, lambda each: each.remove())
        assert background.retired(name) is False
    background.close(lambda each: each.remove())
    assert removed == ["kept"]  # removed at close, as before


def test_after_the_sessions_end_nothing_is_retired_twice() -> None:
    # The last test's teardown ends the session's fixtures first, then asks to retire.
    removed: list[str] = []
    background = Background({"engine": lambda _: Made("engine", removed)})
    made = background.take("engine")
    background.close(lambda each: each.remove())
    made.remove()  # by its fixture, at the session's end
    background.retire("engine", lambda each: each.remove())
    assert removed == ["engine"] and background.retired("engine") is False


def test_a_removal_that_fails_is_raised_where_it_is_waited_for() -> None:
    def broken_remove(_: Made) -> None:
        raise OSError("busy")

    background = Background({"engine": lambda _: Made("engine", [])})
    background.take("engine")
    background.retire("engine", broken_remove)
    with pytest.raises(OSError, match="busy"):
        background.retired("engine")
    background.close(lambda each: None)
