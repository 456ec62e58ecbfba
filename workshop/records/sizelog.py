"""The size log: one JSON file, one record per step, safe to share between runs.

Every write holds an exclusive lock beside the log, re-reads it, replaces one step's record and
renames a fully written file over it (workshop.datafile): readers see the old log or the new one,
never half of one, and two runs writing at once both keep their records. A log that can't be
read is never overwritten: the error names it and says how to go on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workshop.engine.values import (
    CLASSIC,
    CONTAINERD,
    CONTAINERS_STORAGE,
    DOCKER_DESKTOP,
    DOCKER_ENGINE,
    PODMAN,
)
from workshop.platforms import PLATFORMS, suffix
from workshop.records.datafile import DataFile, JsonObject

__all__ = [
    "OUTPUT_KEPT",
    "SCHEMA",
    "BaseUsed",
    "SizeLog",
    "SizeRecord",
    "evidence",
    "platform_log",
]

# 2 added what `docker image ls` shows, the image store, the engine's context and host, and the
# pull size; a schema 1 log reads as the classic store's, where the two sizes are one. 3 added
# the platform, 4 the floor's smallest pull (`smallest_pull`) and a second clean build's image
# id (`rebuilt_image_id`).
SCHEMA = 4
# An image's size as the engine counts it is an int64; a larger one is not a size.
MAX_SIZE = 2**63 - 1


@dataclass(frozen=True)
class BaseUsed:
    """A base image a step was built from, in one of the workshop's roles."""

    role: str
    reference: str
    image_id: str
    size: int
    standin: bool

    @classmethod
    def from_json(cls, data: object, what: str) -> BaseUsed:
        base = JsonObject(data, what).only("role", "reference", "image_id", "size", "standin")
        return cls(
            role=base.text("role"),
            reference=base.text("reference"),
            image_id=base.text("image_id"),
            size=base.integer("size"),
            standin=base.flag("standin"),
        )


def platform_log(path: Path, platform: str) -> Path:
    """Where the size log `path` keeps a foreign `platform`'s steps: beside it, the platform's
    platform in its name (build/sizes-linux-arm64.json); `path` itself for the engine's own ("")."""
    return path.with_name(f"{path.stem}{suffix(platform)}{path.suffix}") if platform else path


# How much of what a program printed a record keeps: its first and last halves of this.
OUTPUT_KEPT = 4096


def evidence(output: str) -> str:
    """What a program printed, as evidence: whole up to OUTPUT_KEPT characters, else its first
    and last 2 KiB or so, with how much was left out between them."""
    if len(output) <= OUTPUT_KEPT:
        return output
    # The marker fits in 64 characters, so what is kept is never longer than OUTPUT_KEPT and is
    # kept as it is when read back.
    half = (OUTPUT_KEPT - 64) // 2
    left_out = len(output) - 2 * half
    return f"{output[:half]}\n[... {left_out:,} characters left out ...]\n{output[-half:]}"


@dataclass(frozen=True)
class SizeRecord:
    """What one step built and measured. What its program printed is kept as evidence: its
    first and last 2 KiB (`evidence()`), whatever it printed."""

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
    startup: Mapping[str, float] = field(default_factory=dict)
    # What `docker image ls` shows, where it is not `size` (the containerd image store).
    listed_size: int = 0
    image_store: str = CLASSIC
    engine_context: str = "default"
    engine_host: str = ""
    # Which product built it ("Docker Engine", "Podman", "Docker Desktop"), and whether its
    # daemon ran without root; absent from logs before Podman was known: Docker Engine.
    engine_product: str = DOCKER_ENGINE
    engine_rootless: bool = False
    # What a pull downloads (config and compressed layers), read back from `registry`; 0: not
    # measured (no registry set).
    pull_size: int = 0
    registry: str = ""
    # The platform it was built for and run on ("linux/arm64"); "" in a log of schema 1 or 2,
    # which recorded none (the engine's own).
    platform: str = ""
    # For the floor, with a registry: the bytes a pull of the smallest image around its program
    # downloads, pushed by hand (workshop/steps/smallestpull.py): manifest, config and layer.
    smallest_pull: Mapping[str, int] = field(default_factory=dict)
    # For a step built twice from scratch (step 15): the second build's image id; "" where the
    # engine can't build reproducibly and it was built once.
    rebuilt_image_id: str = ""

    @property
    def listed(self) -> int:
        return self.listed_size or self.size

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", evidence(self.output))

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "startup": dict(self.startup),
            "smallest_pull": dict(self.smallest_pull),
        }

    @classmethod
    def from_json(cls, data: object) -> SizeRecord:
        """Read a record, or raise ValueError saying which field of which step is wrong."""
        step = data.get("step") if isinstance(data, dict) else None
        record = JsonObject(data, f"the record of step {step}" if step is not None else "a record")
        record.only(*cls.__dataclass_fields__)
        startup = record.get("startup")
        timing = {}
        if startup is not None:
            startup.only("runs", "median_ms", "against_median_ms")
            timing = {name: startup.number(name) for name in startup.data}
        smallest = record.get("smallest_pull")
        pull_parts = {}
        if smallest is not None:
            smallest.only("manifest", "config", "layer")
            pull_parts = {name: smallest.integer(name, maximum=MAX_SIZE) for name in smallest.data}
        return cls(
            step=record.integer("step", minimum=1, maximum=999),
            tag=record.text("tag"),
            image_id=record.text("image_id"),
            # An image that holds /app is at least a byte: the ratios divide by it.
            size=record.integer("size", minimum=1, maximum=MAX_SIZE),
            size_human=record.text("size_human"),
            binary_size=record.integer("binary_size", maximum=MAX_SIZE),
            bases=tuple(
                BaseUsed.from_json(base, f"a base of step {step}") for base in record.list("bases")
            ),
            go_version=record.text("go_version"),
            engine_version=record.text("engine_version"),
            storage_driver=record.text("storage_driver"),
            builder=record.text("builder"),
            timestamp=record.text("timestamp"),
            output=record.text("output"),
            build_seconds=record.number("build_seconds"),
            startup=timing,
            listed_size=record.integer("listed_size", maximum=MAX_SIZE)
            if "listed_size" in record.data
            else 0,
            image_store=_choice(record, "image_store", (CLASSIC, CONTAINERD, CONTAINERS_STORAGE)),
            engine_context=record.text("engine_context")
            if "engine_context" in record.data
            else "default",
            engine_host=record.text("engine_host") if "engine_host" in record.data else "",
            engine_product=_choice(
                record, "engine_product", (DOCKER_ENGINE, PODMAN, DOCKER_DESKTOP)
            ),
            engine_rootless=record.flag("engine_rootless")
            if "engine_rootless" in record.data
            else False,
            pull_size=record.integer("pull_size", maximum=MAX_SIZE)
            if "pull_size" in record.data
            else 0,
            registry=record.text("registry") if "registry" in record.data else "",
            platform=_platform(record),
            smallest_pull=pull_parts,
            rebuilt_image_id=record.text("rebuilt_image_id")
            if "rebuilt_image_id" in record.data
            else "",
        )


def _platform(record: JsonObject) -> str:
    if "platform" not in record.data:
        return ""
    value = record.text("platform")
    if value and value not in PLATFORMS:
        raise ValueError(
            f"{record.what}: 'platform' is {value!r}, not one of {', '.join(PLATFORMS)}"
        )
    return value


def _choice(record: JsonObject, name: str, choices: tuple[str, ...]) -> str:
    if name not in record.data:
        return choices[0]
    value = record.text(name)
    if value not in choices:
        raise ValueError(f"{record.what}: '{name}' is {value!r}, not one of {', '.join(choices)}")
    return value


def _records(document: JsonObject) -> dict[int, SizeRecord]:
    document.only("schema", "records")
    records: dict[int, SizeRecord] = {}
    for entry in document.list("records"):
        record = SizeRecord.from_json(entry)
        if record.step in records:
            raise ValueError(f"step {record.step} has two records")
        records[record.step] = record
    return records


class SizeLog:
    """The JSON size log at `path`."""

    def __init__(self, path: Path | str, *, setting: str = "size_log") -> None:
        self.file = DataFile(
            Path(path),
            schema=SCHEMA,
            kind="size log",
            setting=setting,
            reads=(1, 2, 3),
            parser=_records,
        )

    @property
    def path(self) -> Path:
        return self.file.path

    def __repr__(self) -> str:
        return f"SizeLog({str(self.path)!r})"

    def read(self) -> dict[int, SizeRecord]:
        """The records by step; empty when there is no log yet."""
        return self.file.parse(_records) or {}

    def check_writable(self) -> None:
        """Refuse, before any work is done, a log that could not be written or read."""
        self.file.check_writable()
        self.read()

    def record(
        self, record: SizeRecord, *, publish: Callable[[], Callable[[], None]] | None = None
    ) -> None:
        """Replace `record.step`'s record, keeping every other step's; `publish` (tagging the
        image) runs under the log's lock, so the tag and the log name the same image."""

        def change(document: JsonObject | None) -> dict[str, Any]:
            records = _records(document) if document is not None else {}
            records[record.step] = record
            return {"records": [records[step].to_json() for step in sorted(records)]}

        self.file.update(change, publish=publish)
