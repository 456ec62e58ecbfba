"""Trends: each image's size over the runs the history keeps, and where one grew too much.

    nox -s verify -- --trends [--history PATH] [--growth 0.05] [--baseline REF]

The baseline is the oldest run kept, or the one REF names (its number as listed, or a commit
prefix). An image that grew more than the share against it is flagged with the first run where
it did, that run's commit and branch, and which files grew: the diff of the image before and
after, where both are still on the engine. Exit 0: nothing grew too much. 1: an image did.
2: the history can't be read, or has no such baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workshop.engine.values import EngineAPI
from workshop.errors import DataFileError, WorkshopError
from workshop.inspection.diff import ImageDiff, diff_images
from workshop.records.history import Run
from workshop.units import docker_size, ratio

__all__ = ["DEFAULT_GROWTH", "Growth", "Trends", "find_trends"]

DEFAULT_GROWTH = 0.05


@dataclass(frozen=True)
class Growth:
    image: str
    baseline: Run
    grown: Run  # the first run where the image was more than the share over the baseline
    before: Run  # the run before that one
    files: ImageDiff | None
    why_no_files: str = ""

    @property
    def share(self) -> float:
        return ratio(self.grown.images[self.image].size, self.baseline.images[self.image].size) - 1


def _run_name(run: Run) -> str:
    where = f"commit {run.commit[:10]} on {run.branch}" if run.commit else "no git commit"
    on = f", {run.platform}" if run.platform else ""
    return f"the run of {run.timestamp} ({where}{on})"


@dataclass(frozen=True)
class Trends:
    runs: tuple[Run, ...]
    baseline: int
    share: float
    growths: tuple[Growth, ...]

    @property
    def exit_code(self) -> int:
        return 1 if self.growths else 0

    def __rich__(self) -> RenderableType:
        base, last = self.runs[self.baseline], self.runs[-1]
        table = Table(title=f"Sizes against the baseline, {_run_name(base)}", title_style="bold")
        for column in ("image", "baseline", "latest", "change", "verdict"):
            table.add_column(column, justify="left" if column in ("image", "verdict") else "right")
        flagged = {growth.image for growth in self.growths}
        for name, image in base.images.items():
            latest = last.images.get(name)
            if latest is None:
                continue
            change = ratio(latest.size, image.size) - 1
            verdict = (
                Text("GREW", style="bold red") if name in flagged else Text("ok", style="green")
            )
            table.add_row(
                name, docker_size(image.size), docker_size(latest.size), f"{change:+.1%}", verdict
            )
        parts: list[RenderableType] = [table]
        for growth in self.growths:
            parts.append(
                Text(
                    f"{growth.image} grew {growth.share:+.1%} against the baseline (over "
                    f"{self.share:.0%}), first in {_run_name(growth.grown)}.",
                    style="red",
                )
            )
            if growth.files is not None:
                grew = [change for change in growth.files.changes if change.delta > 0][:5]
                parts += [
                    Text(f"  /{change.path} {change.change} +{docker_size(change.delta)}")
                    for change in grew
                ]
            else:
                parts.append(
                    Text(f"  Which files grew is not known: {growth.why_no_files}", style="dim")
                )
        return Group(*parts)

    def to_json(self) -> dict[str, object]:
        return {
            "baseline": self.runs[self.baseline].to_json(),
            "share": self.share,
            "grown": [
                {
                    "image": growth.image,
                    "share": growth.share,
                    "first_run": growth.grown.to_json(),
                    "files": [
                        {"path": change.path, "change": change.change, "bytes": change.delta}
                        for change in (growth.files.changes if growth.files else ())
                        if change.delta > 0
                    ][:20],
                }
                for growth in self.growths
            ],
        }


def find_baseline(runs: Sequence[Run], reference: str) -> int:
    """The index of the run `reference` names: its number (1, the oldest kept) or a commit
    prefix."""
    if not reference:
        return 0
    if reference.isdigit() and 1 <= int(reference) <= len(runs):
        return int(reference) - 1
    matching = [
        index
        for index, run in enumerate(runs)
        if len(reference) >= 4 and run.commit.startswith(reference)
    ]
    if not matching:
        raise DataFileError(
            f"No run kept in the history is {reference!r}: give a run's number (1 to {len(runs)}) "
            "or a prefix of its commit (4 characters or more)."
        )
    return matching[-1]


def find_trends(
    runs: Sequence[Run], *, share: float, baseline: str, engine: EngineAPI | None
) -> Trends:
    if not runs:
        raise DataFileError(
            "The run history is empty: run `invoke all` to add a run, then check again."
        )
    start = find_baseline(runs, baseline)
    base = runs[start]
    # Only runs for the baseline's platform are set against it: an arm64 image is not an amd64
    # one grown (a history of schema 1 or 2 names none, and reads as one platform).
    alike = [index for index, run in enumerate(runs) if run.platform == base.platform]
    growths = []
    for name, image in base.images.items():
        later = [index for index in alike if index > start]
        over = next(
            (
                index
                for index in later
                if name in runs[index].images
                and runs[index].images[name].size > image.size * (1 + share)
            ),
            None,
        )
        if over is None:
            continue
        grown, before = runs[over], runs[max(index for index in alike if index < over)]
        files, why = _files(engine, before, grown, name)
        growths.append(Growth(name, base, grown, before, files, why))
    return Trends(tuple(runs), start, share, tuple(growths))


def _files(
    engine: EngineAPI | None, before: Run, grown: Run, name: str
) -> tuple[ImageDiff | None, str]:

    if engine is None:
        return None, "no Docker Engine answered to compare the two images."
    old, new = before.images.get(name), grown.images.get(name)
    if old is None or new is None or not old.image_id or not new.image_id:
        return None, "the history does not name both images."
    try:
        if engine.image(old.image_id) is None or engine.image(new.image_id) is None:
            return None, "one of the two images is no longer on the engine."
        return diff_images(engine, old.image_id, new.image_id, top=5), ""
    except WorkshopError as error:
        return None, error.message
