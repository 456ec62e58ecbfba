"""The one rule for what a test needs (tests/support/needs.py), applied to every test, and the
console every test renders to. Unit fixtures are in unit/conftest.py, the engines in e2e's.

The engine tests can run on workers side by side (`-n 2 --dist each`): each worker keeps its own
share (tests/e2e/conftest.py) and removes what it made; the process that started them checks,
once all are done, that nothing new is left on the engine as a whole."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from tests.support.leftovers import RUN_BASE, Snapshot, left_behind
from tests.support.needs import FIXTURE_NEEDS, NEEDS, require
from tests.support.rendering import plain_console
from workshop.errors import EngineUnavailable

SIDE_BY_SIDE = "each"
RUN_START = pytest.StashKey[Snapshot]()


def _starts_workers_side_by_side(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and config.getoption("dist", "no") == SIDE_BY_SIDE


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each worker whether it keeps a share of the tests (`--dist each`) or gets them
    handed out one by one (which the engine tests refuse: they share engines in a process)."""
    node.workerinput["side_by_side"] = node.config.getoption("dist") == SIDE_BY_SIDE


def pytest_sessionstart(session: pytest.Session) -> None:
    if _starts_workers_side_by_side(session.config):
        session.config.stash[RUN_START] = Snapshot.take()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Once every worker is done: their build stages removed, and the run failed if anything
    new is left on the engine (a dangling image, a container, a network, a volume)."""
    before = session.config.stash.get(RUN_START, None)
    if before is None:
        return
    try:
        problems = left_behind(before, RUN_BASE, whole_run=True)
    except EngineUnavailable:
        return  # no engine: no engine test ran, and each said so
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "the tests left behind", red=True)
            reporter.write_line("; ".join(problems))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
