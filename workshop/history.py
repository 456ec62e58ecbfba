"""The history of `invoke all` runs: each adds its sizes, the last N are kept.

It shows how sizes moved across runs, engines and Go versions. It is written like the size log:
under a lock, replaced whole, and never overwritten when it can't be read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from workshop.atomicfile import locked, read_document, replace_text
from workshop.errors import SizeLogError
from workshop.sizelog import SizeRecord

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
    def from_json(cls, data: Mapping[str, object]) -> Run:
        sizes = data["sizes"]
        if not isinstance(sizes, dict) or not all(isinstance(size, int) for size in sizes.values()):
            raise ValueError("a run's sizes are not a map of step to bytes")
        return cls(
            timestamp=str(data["timestamp"]),
            engine=str(data["engine"]),
            go_version=str(data["go_version"]),
            bases=str(data["bases"]),
            sizes={int(step): size for step, size in sizes.items()},
        )

    @classmethod
    def of(cls, records: Mapping[int, SizeRecord]) -> Run:
        """This run, from its records in the size log."""
        first = records[min(records)]
        bases = sorted({base.reference for record in records.values() for base in record.bases})
        return cls(
            timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            engine=f"{first.engine_version} ({first.storage_driver}, {first.builder} builder)",
            go_version=", ".join(sorted({record.go_version for record in records.values()})),
            bases=", ".join(bases),
            sizes={step: record.size for step, record in records.items()},
        )


class History:
    def __init__(self, path: Path | str, *, keep: int = 20) -> None:
        self.path = Path(path)
        self.keep = keep

    def read(self) -> list[Run]:
        try:
            document = read_document(self.path, schema=SCHEMA, kind="run history")
            return [] if document is None else [Run.from_json(run) for run in document["runs"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise self._unreadable(error) from None

    def add(self, run: Run) -> None:
        """Add `run`, keeping the last `keep` runs."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with locked(self.path):
            runs = [*self.read(), run][-self.keep :]
            document = {"schema": SCHEMA, "runs": [each.to_json() for each in runs]}
            replace_text(self.path, json.dumps(document, indent=2) + "\n")

    def _unreadable(self, error: object) -> SizeLogError:
        return SizeLogError(
            f"The run history {self.path} can't be read ({error}). It was left as it is. Move it "
            f"aside (mv {self.path} {self.path}.bad) or choose another (INVOKE_WORKSHOP_HISTORY="
            "PATH), then run again."
        )
