"""The one rule for what a test needs (tests/support/needs.py), applied to every test, and the
console every test renders to. Unit fixtures are in unit/conftest.py, the engines in e2e's."""

from __future__ import annotations

import pytest
from rich.console import Console

from tests.support.needs import FIXTURE_NEEDS, NEEDS, require
from tests.support.rendering import plain_console


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a fixture with a need gets its marker, before -m selects by markers."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        for marker in dict.fromkeys(m for name in fixtures for m in FIXTURE_NEEDS.get(name, ())):
            item.add_marker(marker)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, need in NEEDS.items():
        if item.get_closest_marker(marker) is not None:
            require(need)


@pytest.fixture
def console() -> Console:
    return plain_console()
