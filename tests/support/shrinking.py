"""`invoke shrink` as a person runs it, and what a run leaves in its folder."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.running import WorkshopRun, invoke
from workshop.records.sizelog import SizeLog, SizeRecord
from workshop.shrink.goapp import find_app

__all__ = ["Ladder", "shrink", "started_shrink"]


@dataclass(frozen=True)
class Ladder:
    """One `invoke shrink` run: its output, exit code and what it left in its folder."""

    result: subprocess.CompletedProcess[str]
    folder: Path
    prefix: str

    @property
    def records(self) -> dict[int, SizeRecord]:
        return SizeLog(self.folder / "sizes.json").read()

    def rung(self, key: str) -> SizeRecord | None:
        """The logged record of rung `key` (1 2 3 4 4b 5 6 are logged as 1 to 7)."""
        number = ["1", "2", "3", "4", "4b", "5", "6"].index(key) + 1
        return self.records.get(number)

    def row(self, key: str) -> str:
        """Rung `key`'s row of the table, its wrapped lines joined."""
        lines = self.result.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(f"│ {key} "))
        rows = [lines[start]]
        for line in lines[start + 1 :]:
            if not line.startswith("│      "):
                break
            rows.append(line)
        cells = [
            " ".join(parts) for parts in zip(*(row.split("│")[1:-1] for row in rows), strict=True)
        ]
        return " | ".join(" ".join(cell.split()) for cell in cells)


def shrink(
    run: WorkshopRun, tmp_path: Path, name: str, program: Path, *args: str, **env: str
) -> Ladder:
    settings = run.own(f"s{name}", tmp_path, COLUMNS="200", **env)
    result = invoke("shrink", str(program), *args, env=settings, timeout=1200)
    key = find_app(program).key
    return Ladder(result, tmp_path / "shrink" / key, settings["INVOKE_WORKSHOP_TAG_PREFIX"])


def started_shrink(
    program: Path, env: dict[str, str], *, own_group: bool = False
) -> subprocess.Popen[str]:
    """`invoke shrink PROGRAM` started, not waited for, to be interrupted; in a process group
    of its own with `own_group` (a terminal's Ctrl-C reaches the whole group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "shrink", str(program)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=own_group,
    )
