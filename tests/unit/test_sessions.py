"""The nox sessions' arguments: `nox -- OPTIONS` runs lint, typecheck and tests, and what
follows `--` is meant for pytest (the tests session's docstring says so); mypy is given the
paths among them only."""

from __future__ import annotations

import pytest

import noxfile


@pytest.mark.parametrize(
    "posargs",
    [["--durations=30"], ["-x", "--durations", "25"], ["-k", "engine"], ["-m", "not root"]],
)
def test_pytests_options_are_not_given_to_mypy(posargs: list[str]) -> None:
    """`nox -- --durations=30` once failed typecheck: mypy refused pytest's option."""
    assert noxfile.mypy_arguments(posargs) == []


def test_paths_are_what_mypy_checks() -> None:
    assert noxfile.mypy_arguments(["workshop/engine", "-x", "tasks.py"]) == [
        "workshop/engine",
        "tasks.py",
    ]
    assert noxfile.mypy_arguments(["tests/unit/test_units.py::test_one"]) == [
        "tests/unit/test_units.py"
    ]
