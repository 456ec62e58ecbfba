"""Then and now: the workshop's images for several Go releases, side by side.

Each release gets its own bases (golang:1.X and golang:1.X-alpine where a registry has them,
Debian's packages where not), its own tags (go1.21-go-big, ...) and its own size log; the table
of sizes is written to one JSON file that the report shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rich.console import RenderableType
from rich.table import Table

from workshop.atomicfile import locked, read_document, replace_text
from workshop.bases import GO_RELEASES, Bases
from workshop.engine import Engine
from workshop.errors import BadInput, SizeLogError
from workshop.progress import Progress
from workshop.runner import run_build_step
from workshop.sizelog import SizeLog
from workshop.steps import STEPS, WORKSHOP_BUILD_STEPS
from workshop.units import docker_size, times
from workshop.workspace import Workspace

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
            *(f"{times(self.sizes[r][first] / self.sizes[r][last])}×" for r in self.releases),
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
    """'1.19,1.21' -> ('1.19', '1.21'), each one Debian ships; BadInput otherwise."""
    releases = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [release for release in releases if release not in GO_RELEASES]
    if not releases or unknown:
        raise BadInput(
            f"--go {text!r}: {', '.join(map(repr, unknown)) or 'no release'} is not one of "
            f"Debian's Go releases here ({', '.join(GO_RELEASES)}). Give them separated by commas."
        )
    return releases


def run_sweep(
    *,
    engine: Engine,
    progress: Progress,
    releases: Sequence[str],
    workspace: Workspace,
    folder: Path,
    mode: str,
    mirror: str,
    builder: str,
    tag_prefix: str = "",
) -> Sweep:
    go_versions, bases_used, sizes = {}, {}, {}
    # Every file the workshop's steps write (Dockerfile.big is step 3's), as `invoke all` would.
    for step in STEPS.values():
        if not step.beyond:
            for name in step.writes:
                workspace.write(name)
    for release in releases:
        bases = Bases(
            engine=engine,
            progress=progress,
            mode=mode,
            go=release,
            mirror=mirror,
            images={"golang": f"golang:{release}", "golang-alpine": f"golang:{release}-alpine"},
        )
        log = SizeLog(folder / f"go{release}.json")
        for step in WORKSHOP_BUILD_STEPS.values():
            result = run_build_step(
                engine=engine,
                bases=bases,
                workspace=workspace,
                size_log=log,
                step=step,
                progress=progress,
                tag_prefix=f"{tag_prefix}go{release}-",
                builder=builder,
            )
            record = result.record
            progress.console.print(
                f"Go {release}, step {step.number}: {record.tag} is {record.size_human}"
            )
        records = log.read()
        go_versions[release] = records[4].go_version
        bases_used[release] = ", ".join(
            sorted({b.reference for r in records.values() for b in r.bases})
        )
        sizes[release] = {
            step: record.size for step, record in records.items() if step in WORKSHOP_BUILD_STEPS
        }
    sweep = Sweep(
        releases=tuple(releases),
        go_versions=go_versions,
        bases=bases_used,
        sizes=sizes,
        tags={number: step.tag for number, step in WORKSHOP_BUILD_STEPS.items()},
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    path = folder / "sweep.json"
    with locked(path):
        replace_text(path, json.dumps(sweep.to_json(), indent=2) + "\n")
    return sweep


def read_sweep(path: Path) -> Sweep | None:
    """The last sweep written to `path`, or None when there is none."""
    try:
        document = read_document(path, schema=SCHEMA, kind="sweep table")
        if document is None:
            return None
        return Sweep(
            releases=tuple(document["releases"]),
            go_versions=document["go_versions"],
            bases=document["bases"],
            sizes={
                r: {int(step): size for step, size in s.items()}
                for r, s in document["sizes"].items()
            },
            tags={int(step): tag for step, tag in document["tags"].items()},
            timestamp=document["timestamp"],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SizeLogError(
            f"The sweep table {path} can't be read ({error}); it was left as it is."
        ) from None
