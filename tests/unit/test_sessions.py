"""The nox sessions' arguments: `nox -- OPTIONS` runs lint, typecheck and tests, and what
follows `--` is meant for pytest (the tests session's docstring says so); mypy is given the
paths among them only."""

from __future__ import annotations

import pytest

import noxfile


@pytest.mark.parametrize(
    "posargs",
    [
        ["--durations=30"],
        ["-x", "--durations", "25"],
        ["-k", "engine"],
        ["-m", "not root"],
        # An option's value that happens to name a folder here is still the option's.
        ["-k", "workshop"],
        ["-k", "tests", "-p", "no:cacheprovider"],
        ["--deselect", "tests/unit/test_units.py::test_one"],
    ],
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


@pytest.mark.parametrize(
    ("posargs", "chooses"),
    [
        (["--durations=25"], False),
        # Deselecting one test adds an option: every other test of the session still runs.
        (["--deselect", "tests/unit/test_units.py::test_one"], False),
        (["-x", "--maxfail", "2"], False),
        (["tests/unit/test_units.py"], True),
        (["-k", "engine"], True),
        (["-m", "not root"], True),
    ],
)
def test_what_chooses_the_tests_a_session_runs(posargs: list[str], chooses: bool) -> None:
    """A path, `-m` or `-k` runs those tests instead of the session's; options alone add."""
    assert noxfile._chooses_tests(posargs) is chooses
