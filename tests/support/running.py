"""The project's commands run as a person runs them: invoke tasks and the checks' command line,
each in a child process, with settings that keep a run's files and images apart."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.forkserver import ForkServer
from tests.support.paths import ROOT
from workshop.records.sizelog import SizeLog, SizeRecord

__all__ = ["WorkshopRun", "folder_settings", "invoke", "verify_cli"]


def invoke(
    *args: str, env: dict[str, str] | None = None, timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    """Run this project's invoke tasks as a person would, in a process of their own (a fork of
    one that has imported invoke, tests/support/forkserver.py)."""
    return _FORKS.run(args, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=timeout)


_FORKS = ForkServer()


def verify_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`nox -s verify -- ARGS` as CI runs it: the module in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "workshop.checks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def folder_settings(folder: Path, prefix: str, **extra: str) -> dict[str, str]:
    """Settings that keep a run's files in `folder` and its images under `prefix`."""
    return {
        "INVOKE_WORKSHOP_WORKSPACE": str(folder / "workspace"),
        "INVOKE_WORKSHOP_SIZE_LOG": str(folder / "sizes.json"),
        "INVOKE_WORKSHOP_HISTORY": str(folder / "history.json"),
        "INVOKE_WORKSHOP_REPORT_DIR": str(folder / "report"),
        "INVOKE_WORKSHOP_SWEEP_DIR": str(folder / "sweep"),
        "INVOKE_WORKSHOP_SHRINK_DIR": str(folder / "shrink"),
        "INVOKE_WORKSHOP_TAG_PREFIX": prefix,
        **extra,
    }


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
        return {**self.env, **folder_settings(folder, f"{self.prefix}{name}-", **settings)}

    def records(self) -> dict[int, SizeRecord]:
        return SizeLog(self.log).read()
