"""The history of `invoke all` runs: each adds its sizes, the last N are kept.

It shows how sizes moved across runs, engines and Go versions. It is written like the size log:
under a lock, replaced whole, and never overwritten when it can't be read.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workshop.catalogue import STEPS, WORKSHOP_BUILD_STEPS
from workshop.paths import PROJECT_ROOT
from workshop.records.datafile import DataFile, JsonObject
from workshop.records.sizelog import MAX_SIZE, SizeRecord

__all__ = ["History", "ImageSize", "Run", "git_revision"]

# 2 added the git commit and branch, and each image by name with its id (trends, diffs); 3 the
# platform its images were built for.
SCHEMA = 3


@dataclass(frozen=True)
class ImageSize:
    size: int
    image_id: str = ""


@dataclass(frozen=True)
class Run:
    timestamp: str
    engine: str
    go_version: str
    bases: str
    sizes: Mapping[int, int]  # step -> bytes
    # Each image by its name (the step's image, without the tag prefix).
    images: Mapping[str, ImageSize] = field(default_factory=dict)
    commit: str = ""
    branch: str = ""
    # The platform its images were built for ("linux/arm64"); "" in a history of schema 1 or 2.
    platform: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "timestamp": self.timestamp,
            "engine": self.engine,
            "go_version": self.go_version,
            "bases": self.bases,
            "sizes": {str(step): size for step, size in sorted(self.sizes.items())},
            "images": {
                name: {"size": image.size, "image_id": image.image_id}
                for name, image in self.images.items()
            },
            "commit": self.commit,
            "branch": self.branch,
            "platform": self.platform,
        }

    @classmethod
    def from_json(cls, data: object) -> Run:
        run = JsonObject(data, "a run").only(
            "timestamp",
            "engine",
            "go_version",
            "bases",
            "sizes",
            "images",
            "commit",
            "branch",
            "platform",
        )
        sizes = run.object("sizes")
        steps = {}
        for step in sizes.data:
            if not step.isdigit() or len(step) > 3:
                raise ValueError(f"a run's sizes name {step!r}, which is not a step")
            steps[int(step)] = sizes.integer(step, minimum=1, maximum=MAX_SIZE)
        images = {}
        listed = run.get("images")
        if listed is not None:
            for name in listed.data:
                image = listed.object(name).only("size", "image_id")
                images[name] = ImageSize(
                    image.integer("size", minimum=1, maximum=MAX_SIZE), image.text("image_id")
                )
        else:  # schema 1: the steps' images, by their workshop names
            images = {
                STEPS[step].tag: ImageSize(size) for step, size in steps.items() if step in STEPS
            }
        return cls(
            timestamp=run.text("timestamp"),
            engine=run.text("engine"),
            go_version=run.text("go_version"),
            bases=run.text("bases"),
            sizes=steps,
            images=images,
            commit=run.text("commit") if "commit" in run.data else "",
            branch=run.text("branch") if "branch" in run.data else "",
            platform=run.text("platform") if "platform" in run.data else "",
        )

    @classmethod
    def of(cls, records: Mapping[int, SizeRecord]) -> Run:
        """This run, from the workshop's steps in the size log, with the project's git commit."""
        records = {step: records[step] for step in WORKSHOP_BUILD_STEPS if step in records}
        first = records[min(records)]
        bases = sorted({base.reference for record in records.values() for base in record.bases})
        commit, branch = git_revision()
        return cls(
            timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            engine=f"{first.engine_version} ({first.storage_driver}, {first.builder} builder)",
            go_version=", ".join(sorted({record.go_version for record in records.values()})),
            bases=", ".join(bases),
            sizes={step: record.size for step, record in records.items()},
            images={
                STEPS[step].tag: ImageSize(record.size, record.image_id)
                for step, record in records.items()
            },
            commit=commit,
            branch=branch,
            platform=first.platform,
        )


def git_revision() -> tuple[str, str]:
    """The project's git commit and branch, or ("", "") outside a repository (one git process:
    it runs after the last step, while `invoke all` waits)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD", "--abbrev-ref", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "", ""
    answers = done.stdout.split()
    if done.returncode != 0 or len(answers) != 2:
        return "", ""
    return answers[0], answers[1]


def _runs(document: JsonObject) -> list[Run]:
    return [Run.from_json(run) for run in document.only("schema", "runs").list("runs")]


class History:
    def __init__(self, path: Path, *, keep: int) -> None:
        self.file = DataFile(
            path, schema=SCHEMA, kind="run history", setting="history", reads=(1, 2), parser=_runs
        )
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
