"""Fixtures for the tests that need no engine: a small fake engine, for error paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from tests.support.fakeengine import FakeEngine
from workshop.progress import Progress
from workshop.records.sizelog import SizeLog
from workshop.steps.bases import BaseResolver
from workshop.steps.workspace import Workspace


@pytest.fixture
def fake_engine() -> FakeEngine:
    engine = FakeEngine()
    for reference in ("golang:1.10", "golang:1.10-alpine", "alpine"):
        engine.add(reference, size=400_000_000)
    return engine


@pytest.fixture
def fake_bases(fake_engine: FakeEngine, console: Console) -> BaseResolver:
    return BaseResolver(engine=fake_engine, progress=Progress(console))


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "workshop")


@pytest.fixture
def size_log(tmp_path: Path) -> SizeLog:
    return SizeLog(tmp_path / "sizes.json")
