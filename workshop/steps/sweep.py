"""Then and now: the workshop's images for several Go releases, side by side.

Each release gets its own bases (golang:1.X and golang:1.X-alpine where a registry has them,
Debian's packages where not), its own tags (go1.21-go-big, ...) and its own size log; the table
of sizes is written to one JSON file that the report shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from rich.console import RenderableType
from rich.table import Table

from workshop.catalogue import STEPS, WORKSHOP_BUILD_STEPS
from workshop.errors import BadInput
from workshop.platforms import suffix
from workshop.records.datafile import DataFile, JsonObject, check_folder
from workshop.records.sizelog import MAX_SIZE, SizeLog
from workshop.releases import GO_RELEASES
from workshop.settings import Settings
from workshop.steps.bases import BaseResolver
from workshop.steps.runner import BuildPlan, run_build_step
from workshop.units import docker_size, ratio, times

__all__ = ["Sweep", "parse_versions", "read_sweep", "run_sweep"]

SCHEMA = 1


@dataclass(frozen=True)
class Sweep:
    releases: tuple[str, ...]
    go_versions: Mapping[str, str]  # release -> what the toolchain says (go1.21.13)
    bases: Mapping[str, str]  # release -> the bases used
    sizes: Mapping[str, Mapping[int, int]]  # release -> step -> bytes
    tags: Mapping[int, str]
    timestamp: str

    def __rich__(self) -> RenderableType:
        table = Table(title="The workshop by Go release", title_style="bold")
        table.add_column("step", justify="right")
        table.add_column("image")
        for release in self.releases:
            table.add_column(self.go_versions.get(release, release), justify="right")
        for step in sorted(self.tags):
            row = [docker_size(self.sizes[release][step]) for release in self.releases]
            table.add_row(str(step), self.tags[step], *row)
        first, last = min(self.tags), max(self.tags)
        table.add_row(
            "",
            f"{self.tags[first]} ÷ {self.tags[last]}",
            *(f"{times(ratio(self.sizes[r][first], self.sizes[r][last]))}×" for r in self.releases),
        )
        return table

    def to_json(self) -> dict[str, object]:
        return {
            "schema": SCHEMA,
            "timestamp": self.timestamp,
            "releases": list(self.releases),
            "go_versions": dict(self.go_versions),
            "bases": dict(self.bases),
            "tags": {str(step): tag for step, tag in self.tags.items()},
            "sizes": {
                release: {str(step): size for step, size in sizes.items()}
                for release, sizes in self.sizes.items()
            },
        }


def parse_versions(text: str) -> tuple[str, ...]:
    """'1.19,1.21' -> ('1.19', '1.21'), each once and each one Debian ships; BadInput otherwise."""
    releases = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [release for release in releases if release not in GO_RELEASES]
    if not releases or unknown:
        raise BadInput(
            f"--go {text!r}: {', '.join(map(repr, unknown)) or 'no release'} is not one of "
            f"Debian's Go releases here ({', '.join(GO_RELEASES)}). Give them separated by commas."
        )
    return releases


def _table(folder: Path) -> DataFile:
    return DataFile(folder / "sweep.json", schema=SCHEMA, kind="sweep table", setting="sweep_dir")


def run_sweep(
    plan: BuildPlan, settings: Settings, releases_text: str, platforms: tuple[str, ...] = ("",)
) -> Sweep:
    """`invoke sweep`: steps 4 to 9 for each release on each platform ("" for the engine's
    own, a foreign one by name), each under its own tags and size log. Each is a column of the
    table (go1.21.13, go1.21.13 linux/arm64). The workshop's own outputs are the caller's to
    check first."""
    releases = parse_versions(releases_text)
    folder = settings.sweep_dir
    columns = [(release, platform) for release in releases for platform in platforms]
    logs = {
        column: SizeLog(folder / f"go{column[0]}{suffix(column[1])}.json", setting="sweep_dir")
        for column in columns
    }
    # Every output location is checked before the first build.
    check_folder(folder, what="the sweep folder", setting="sweep_dir")
    _table(folder).check_writable()
    for log in logs.values():
        log.check_writable()
    # Every file the workshop's steps write (Dockerfile.big is step 3's), as `invoke all` would.
    for step in STEPS.values():
        if not step.beyond:
            for name in step.writes:
                plan.workspace.write(name)
    go_versions, bases_used, sizes = {}, {}, {}
    for release, platform in columns:
        key = f"{release} {platform}" if platform else release
        bases = BaseResolver.for_release(
            plan.engine, plan.progress, settings, release=release
        ).for_platform(platform)
        log = logs[release, platform]
        release_plan = replace(
            plan,
            bases=bases,
            size_log=log,
            tag_prefix=f"{plan.tag_prefix}go{release}-",
            platform=platform,
        )
        for step in WORKSHOP_BUILD_STEPS.values():
            record = run_build_step(release_plan, step).record
            on = f" on {platform}" if platform else ""
            plan.progress.console.print(
                f"Go {release}{on}, step {step.number}: {record.tag} is {record.size_human}"
            )
        records = log.read()
        go_versions[key] = f"{records[4].go_version}{f' {platform}' if platform else ''}"
        bases_used[key] = ", ".join(
            sorted({b.reference for r in records.values() for b in r.bases})
        )
        sizes[key] = {
            step: record.size for step, record in records.items() if step in WORKSHOP_BUILD_STEPS
        }
    releases = tuple(sizes)
    sweep = Sweep(
        releases=releases,
        go_versions=go_versions,
        bases=bases_used,
        sizes=sizes,
        tags={number: step.tag for number, step in WORKSHOP_BUILD_STEPS.items()},
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    _table(folder).update(lambda document: sweep.to_json())
    return sweep


def _sweep(document: JsonObject) -> Sweep:
    document.only("schema", "timestamp", "releases", "go_versions", "bases", "tags", "sizes")
    releases = tuple(document.list("releases"))
    if not all(isinstance(release, str) for release in releases):
        raise ValueError("the releases are not all text")
    tags_object = document.object("tags")
    tags = {_step(step): tags_object.text(step) for step in tags_object.data}
    go_versions, bases, sizes = (
        document.object("go_versions"),
        document.object("bases"),
        document.object("sizes"),
    )
    sized = {}
    for release in releases:
        release_sizes = sizes.object(release)
        sized[release] = {
            step: release_sizes.integer(str(step), minimum=1, maximum=MAX_SIZE) for step in tags
        }
    return Sweep(
        releases=releases,
        go_versions={release: go_versions.text(release) for release in releases},
        bases={release: bases.text(release) for release in releases},
        sizes=sized,
        tags=tags,
        timestamp=document.text("timestamp"),
    )


def _step(text: str) -> int:
    if not text.isdigit() or len(text) > 3:
        raise ValueError(f"{text!r} is not a step")
    return int(text)


def read_sweep(folder: Path) -> Sweep | None:
    """The last sweep written in `folder`, or None when there is none."""
    sweep = _table(folder).parse(_sweep)
    return sweep if isinstance(sweep, Sweep) else None
