"""The size log: one JSON file, one record per step, safe to share between runs.

Every write holds an exclusive lock on a file beside the log, re-reads the log, replaces one
step's record and renames a fully written temporary file over the log: readers see the old log or
the new one, never half of one, and two runs writing at once both keep their records. A log that
can't be read is never overwritten: the error names it and says how to go on.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from workshop.atomicfile import locked, read_document, replace_text
from workshop.errors import SizeLogError

__all__ = ["SCHEMA", "BaseUsed", "SizeLog", "SizeRecord"]

SCHEMA = 1


@dataclass(frozen=True)
class BaseUsed:
    """A base image a step was built from, in one of the workshop's roles."""

    role: str
    reference: str
    image_id: str
    size: int
    standin: bool


@dataclass(frozen=True)
class SizeRecord:
    """What one step built and measured."""

    step: int
    tag: str
    image_id: str
    size: int
    size_human: str
    # The size of /app, the program the image exists for.
    binary_size: int
    bases: tuple[BaseUsed, ...]
    go_version: str
    engine_version: str
    storage_driver: str
    builder: str
    timestamp: str
    output: str
    build_seconds: float
    # Start-up timing, for the steps that measure it (step 11): runs, median_ms, against_median_ms.
    startup: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> SizeRecord:
        """Read a record, or raise ValueError saying which field is wrong."""
        _expect_object(data, "a record", cls)
        bases = data["bases"]
        if not isinstance(bases, list):
            raise ValueError(f"step {data.get('step')}: 'bases' is not a list")
        for base in bases:
            _expect_object(base, f"a base of step {data.get('step')}", BaseUsed)
        record = cls(**{**data, "bases": tuple(BaseUsed(**base) for base in bases)})
        if record.size < 0:
            raise ValueError(f"step {record.step}: a negative size")
        return record


def _expect_object(data: Any, what: str, kind: type) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not a JSON object")
    expected = {field.name: field.type for field in fields(kind)}
    optional = {field.name for field in fields(kind) if field.default_factory is not MISSING}
    if missing := sorted(expected.keys() - data.keys() - optional):
        raise ValueError(f"{what} lacks {', '.join(missing)}")
    if unknown := sorted(data.keys() - expected.keys()):
        raise ValueError(f"{what} has unknown fields {', '.join(unknown)}")
    scalar = {"int": int, "str": str, "bool": bool, "float": (int, float)}
    for name, annotation in expected.items():
        wanted = scalar.get(str(annotation))
        if name not in data:
            continue
        value = data[name]
        if wanted and (
            not isinstance(value, wanted) or (wanted is int and isinstance(value, bool))
        ):
            raise ValueError(f"{what}: '{name}' should be {annotation}, not {value!r}")


class SizeLog:
    """The JSON size log at `path`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"SizeLog({str(self.path)!r})"

    def read(self) -> dict[int, SizeRecord]:
        """The records by step; empty when there is no log yet."""
        try:
            document = read_document(self.path, schema=SCHEMA, kind="size log")
            if document is None:
                return {}
            records = [SizeRecord.from_json(entry) for entry in document["records"]]
        except IsADirectoryError:
            raise self._unusable("it is a directory") from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise self._unreadable(error) from None
        return {record.step: record for record in records}

    def check_writable(self) -> None:
        """Refuse, before any work is done, a log that could not be written."""
        if self.path.is_dir():
            raise self._unusable("it is a directory")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._unusable(f"its folder can't be made ({error.strerror})") from None
        if not os.access(self.path.parent, os.W_OK):
            raise self._unusable("its folder is not writable")
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise self._unusable("it is not writable")
        self.read()

    def record(self, record: SizeRecord) -> None:
        """Replace `record.step`'s record, keeping every other step's."""
        self.check_writable()
        with locked(self.path):
            records = self.read()
            records[record.step] = record
            self._write(records)

    def _write(self, records: dict[int, SizeRecord]) -> None:
        document = {
            "schema": SCHEMA,
            "records": [records[step].to_json() for step in sorted(records)],
        }
        replace_text(self.path, json.dumps(document, indent=2) + "\n")

    def _unreadable(self, error: object) -> SizeLogError:
        return SizeLogError(
            f"The size log {self.path} can't be read ({error}). It was left as it is, so nothing "
            f"in it is lost. Move it aside (mv {self.path} {self.path}.bad) or choose another log "
            "(INVOKE_WORKSHOP_SIZE_LOG=PATH), then run the step again."
        )

    def _unusable(self, why: str) -> SizeLogError:
        return SizeLogError(
            f"The size log {self.path} can't be written: {why}. Nothing was built. Choose a file "
            "in a writable folder (INVOKE_WORKSHOP_SIZE_LOG=PATH, or workshop.size_log in "
            "invoke.yaml), then run the step again."
        )
