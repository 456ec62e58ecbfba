"""The history of `invoke all` runs: each adds its sizes, the last N are kept.

It shows how sizes moved across runs, engines and Go versions. It is written like the size log:
under a lock, replaced whole, and never overwritten when it can't be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workshop.datafile import DataFile, JsonObject
from workshop.sizelog import MAX_SIZE, SizeRecord
from workshop.steps import WORKSHOP_BUILD_STEPS

__all__ = ["History", "Run"]

SCHEMA = 1


@dataclass(frozen=True)
class Run:
    timestamp: str
    engine: str
    go_version: str
    bases: str
    sizes: Mapping[int, int]  # step -> bytes

    def to_json(self) -> dict[str, object]:
        return {
            "timestamp": self.timestamp,
            "engine": self.engine,
            "go_version": self.go_version,
            "bases": self.bases,
            "sizes": {str(step): size for step, size in sorted(self.sizes.items())},
        }

    @classmethod
    def from_json(cls, data: object) -> Run:
        run = JsonObject(data, "a run").only("timestamp", "engine", "go_version", "bases", "sizes")
        sizes = run.object("sizes")
        steps = {}
        for step in sizes.data:
            if not step.isdigit() or len(step) > 3:
                raise ValueError(f"a run's sizes name {step!r}, which is not a step")
            steps[int(step)] = sizes.integer(step, minimum=1, maximum=MAX_SIZE)
        return cls(
            timestamp=run.text("timestamp"),
            engine=run.text("engine"),
            go_version=run.text("go_version"),
            bases=run.text("bases"),
            sizes=steps,
        )

    @classmethod
    def of(cls, records: Mapping[int, SizeRecord]) -> Run:
        """This run, from the workshop's steps in the size log."""
        records = {step: records[step] for step in WORKSHOP_BUILD_STEPS if step in records}
        first = records[min(records)]
        bases = sorted({base.reference for record in records.values() for base in record.bases})
        return cls(
            timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            engine=f"{first.engine_version} ({first.storage_driver}, {first.builder} builder)",
            go_version=", ".join(sorted({record.go_version for record in records.values()})),
            bases=", ".join(bases),
            sizes={step: record.size for step, record in records.items()},
        )


def _runs(document: JsonObject) -> list[Run]:
    return [Run.from_json(run) for run in document.only("schema", "runs").list("runs")]


class History:
    def __init__(self, path: Path, *, keep: int) -> None:
        self.file = DataFile(path, schema=SCHEMA, kind="run history", setting="history")
        self.keep = keep

    @property
    def path(self) -> Path:
        return self.file.path

    def read(self) -> list[Run]:
        return self.file.parse(_runs) or []

    def check_writable(self) -> None:
        self.file.check_writable()
        self.read()

    def add(self, run: Run) -> None:
        """Add `run`, keeping the last `keep` runs."""

        def change(document: JsonObject | None) -> dict[str, Any]:
            runs = [*(_runs(document) if document else []), run][-self.keep :]
            return {"runs": [each.to_json() for each in runs]}

        self.file.update(change)
