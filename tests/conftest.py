"""Shared fixtures: a fake engine for error paths, and one real workshop run for the e2e tests."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from tests.fakeengine import FakeEngine
from workshop.bases import Bases
from workshop.progress import Progress
from workshop.sizelog import SizeLog
from workshop.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent


def render(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


@pytest.fixture
def console() -> Console:
    return Console(file=io.StringIO(), width=100, color_system=None)


@pytest.fixture
def fake_engine() -> FakeEngine:
    engine = FakeEngine()
    for reference in ("golang:1.10", "golang:1.10-alpine", "alpine"):
        engine.add(reference, size=400_000_000)
    return engine


@pytest.fixture
def fake_bases(fake_engine: FakeEngine, console: Console) -> Bases:
    return Bases(engine=fake_engine, progress=Progress(console))  # type: ignore[arg-type]


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "workshop")


@pytest.fixture
def size_log(tmp_path: Path) -> SizeLog:
    return SizeLog(tmp_path / "sizes.json")


def invoke(
    *args: str, env: dict[str, str] | None = None, timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    """Run this project's invoke tasks as a person would, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def docker_engine() -> object:
    """The real engine; unreachable fails in CI (CI=true) and skips elsewhere."""
    from workshop.engine import Engine
    from workshop.errors import EngineUnavailable

    try:
        engine = Engine.from_env()
        engine.info  # noqa: B018 - asks the engine something
    except EngineUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs the engine tests, and no engine answered: {error}")
        pytest.skip(f"no Docker Engine (set CI=true to make this a failure): {error}")
    return engine


@dataclass(frozen=True)
class WorkshopRun:
    env: dict[str, str]
    prefix: str
    log: Path
    result: subprocess.CompletedProcess[str]

    def tag(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def own(self, name: str, folder: Path, **settings: str) -> dict[str, str]:
        """Settings for a test's own run: its own tags (under the run's prefix), log, workspace."""
        return {
            **self.env,
            "INVOKE_WORKSHOP_TAG_PREFIX": f"{self.prefix}{name}-",
            "INVOKE_WORKSHOP_WORKSPACE": str(folder / "workspace"),
            "INVOKE_WORKSHOP_SIZE_LOG": str(folder / "sizes.json"),
            "INVOKE_WORKSHOP_HISTORY": str(folder / "history.json"),
            "INVOKE_WORKSHOP_REPORT_DIR": str(folder / "report"),
            **settings,
        }

    def records(self) -> dict[int, object]:
        return SizeLog(self.log).read()  # type: ignore[return-value]


@pytest.fixture(scope="session")
def workshop_run(
    docker_engine: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkshopRun]:
    """`invoke all` once, under unique tags, for every e2e test; its images are removed after."""
    folder = tmp_path_factory.mktemp("workshop-run")
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    env = {
        "INVOKE_WORKSHOP_WORKSPACE": str(folder / "workspace"),
        "INVOKE_WORKSHOP_SIZE_LOG": str(folder / "sizes.json"),
        "INVOKE_WORKSHOP_HISTORY": str(folder / "history.json"),
        "INVOKE_WORKSHOP_REPORT_DIR": str(folder / "report"),
        "INVOKE_WORKSHOP_TAG_PREFIX": prefix,
    }
    result = invoke("all", env=env)
    assert result.returncode == 0, f"invoke all failed:\n{result.stdout}\n{result.stderr}"
    yield WorkshopRun(env=env, prefix=prefix, log=folder / "sizes.json", result=result)
    for name in (
        "go-big",
        "go-alpine",
        "go-multi-stage",
        "go-scratch",
        "go-stripped",
        "go-smaller",
    ):
        subprocess.run(
            ["docker", "image", "rm", "-f", f"{prefix}{name}"], capture_output=True, check=False
        )


def read_json(path: Path) -> object:
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def spare_engine(workshop_run: WorkshopRun) -> Iterator[object]:
    """A second engine holding the stand-ins step 7 needs, to stop and start at will."""
    from tests.spareengine import SpareEngine

    spare = SpareEngine(Path(tempfile.mkdtemp(prefix="spare-engine-", dir="/tmp")))
    try:
        spare.start()
        spare.load_from_main("workshop-base/golang:1.19-busybox", "workshop-base/busybox:bookworm")
        yield spare
    finally:
        spare.remove()
