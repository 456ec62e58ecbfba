"""`invoke shrink` as a person runs it, and what a run leaves in its folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.running import WorkshopRun, invoke
from workshop.records.sizelog import SizeLog, SizeRecord
from workshop.shrink.goapp import find_app
from workshop.steps.workspace import DOCKERFILES

__all__ = ["Ladder", "check_hello_ladder", "hello_program", "shrink", "started_shrink"]


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


def hello_program(folder: Path) -> Path:
    """The workshop's hello world as a program of its own (its app.go alone) in `folder`."""
    program = folder / "hello"
    program.mkdir(parents=True)
    shutil.copy(DOCKERFILES / "app.go", program / "app.go")
    return program


def check_hello_ladder(
    ladder: Ladder, steps: dict[int, SizeRecord], engine_id: Callable[[str], str]
) -> None:
    """The hello world's ladder on an engine that ran the workshop's `steps`: it passed; rungs 1
    to 6 each say hello, and 4b is not needed; rungs 1 to 4 hold the binaries steps 4 to 7
    built there (the same Dockerfiles); each rung's id is what the engine's own CLI gives for
    it (`engine_id`, an image id with or without "sha256:")."""
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    assert ladder.rung("4b") is None
    for key in ("1", "2", "3", "4", "5", "6"):
        record = ladder.rung(key)
        assert record is not None, ladder.row(key)
        assert record.output == "Hello world!\n", key
        listed = engine_id(record.image_id).strip().removeprefix("sha256:")
        assert listed == record.image_id.removeprefix("sha256:"), key
    for key, step in (("1", 4), ("2", 5), ("3", 6), ("4", 7)):
        record = ladder.rung(key)
        assert record is not None and record.binary_size == steps[step].binary_size, key
