"""The tables `invoke all` and `invoke beyond` end with: every step's size beside the workshop's
figure, a bar on a log scale, and the headline ratio."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from rich.bar import Bar
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workshop.catalogue import WORKSHOP_BUILD_STEPS
from workshop.records.sizelog import SizeRecord
from workshop.steps.figures import Figures, load_figures
from workshop.units import docker_size, ratio, times

__all__ = ["PlatformsSummary", "Summary", "beyond_summary", "by_platform", "workshop_summary"]

BAR_WIDTH = 20
BEYOND_SHOWN = (4, 8, 9, 10, 11, 12, 13, 14)


def log_bar(size: int, sizes: list[int], width: int = BAR_WIDTH) -> Bar:
    """A bar for `size` on a log scale: the largest of `sizes` full width, the smallest a sliver."""
    floor = max(min(sizes), 1) / 4
    span = math.log(max(sizes) / floor) or 1.0
    return Bar(size=span, begin=0, end=math.log(max(size, 1) / floor), width=width, color="cyan")


@dataclass(frozen=True)
class Summary:
    records: Mapping[int, SizeRecord]
    figures: Figures
    title: str = "The workshop, measured"
    # Set the headline beside the workshop's own words.
    quote_workshop: bool = True

    def __rich__(self) -> RenderableType:
        steps = sorted(self.records)
        first = self.records[steps[0]] if steps else None
        table = Table(title=self.title, title_style="bold")
        # A long tag prefix folds the image's name: the figures are never cut ("8…").
        table.add_column("step", justify="right")
        table.add_column("image", overflow="fold")
        for name in ("size", "workshop"):
            table.add_column(name, justify="right", no_wrap=True, min_width=7)
        pulled = any(record.pull_size for record in self.records.values())
        if pulled:
            table.add_column("pull", justify="right", no_wrap=True, min_width=7)
        table.add_column(
            f"{first.tag} ÷ size" if first else "ratio", justify="right", min_width=7,
            overflow="fold",
        )  # fmt: skip
        table.add_column("size, log scale", no_wrap=True, width=BAR_WIDTH)
        sizes = [self.records[step].size for step in steps]
        for step in steps:
            record = self.records[step]
            documented = self.figures.images.get(step)
            pull = [docker_size(record.pull_size) if record.pull_size else "—"] if pulled else []
            table.add_row(
                str(step),
                record.tag,
                record.size_human,
                documented.documented if documented else "",
                *pull,
                f"{times(ratio(first.size, record.size))}×" if first else "",
                log_bar(record.size, sizes),
            )
        parts: list[RenderableType] = [table]
        if first and len(steps) > 1:
            last = min(self.records.values(), key=lambda record: record.size)
            headline = (
                f"{first.tag} ({first.size_human}) is {times(ratio(first.size, last.size))} "
                f"times {last.tag} ({last.size_human})."
            )
            if self.quote_workshop:
                headline += f' The workshop: "{self.figures.headline}"'
            parts.append(Text(headline, style="bold"))
        return Group(*parts)


def workshop_summary(logged: Mapping[int, SizeRecord]) -> Summary:
    """The table `invoke all` ends with, of steps 4 to 9 only."""
    records = {step: logged[step] for step in WORKSHOP_BUILD_STEPS if step in logged}
    return Summary(records=records, figures=load_figures())


def beyond_summary(records: Mapping[int, SizeRecord]) -> Summary:
    """Steps 10 on, set against go-big, go-stripped and go-smaller."""
    shown = {step: records[step] for step in BEYOND_SHOWN if step in records}
    return Summary(shown, load_figures(), title="Beyond the workshop", quote_workshop=False)


@dataclass(frozen=True)
class PlatformsSummary:
    """One run's summaries on several platforms, their sizes side by side."""

    summaries: tuple[Summary, ...]

    def __rich__(self) -> RenderableType:
        named = [(_platform(summary), summary) for summary in self.summaries]
        steps = sorted({step for _, summary in named for step in summary.records})
        first_name, first = named[0]
        table = Table(title=f"{first.title}, platform by platform", title_style="bold")
        table.add_column("step", justify="right")
        table.add_column("image")
        # Every platform here is linux's: its architecture names it, and the table stays narrow.
        for name, _ in named:
            table.add_column(_arch(name), justify="right", no_wrap=True)
        for name, _ in named[1:]:
            table.add_column(f"{_arch(name)} ÷ {_arch(first_name)}", justify="right", no_wrap=True)
        table.add_column("workshop", justify="right", no_wrap=True)
        for step in steps:
            records = [summary.records.get(step) for _, summary in named]
            base = records[0]
            shares = [
                f"{record.size / base.size:.2f}" if record and base else "—"
                for record in records[1:]
            ]
            documented = first.figures.images.get(step)
            table.add_row(
                str(step),
                next(record.tag for record in records if record),
                *(record.size_human if record else "—" for record in records),
                *shares,
                documented.documented if documented else "",
            )
        parts: list[RenderableType] = [table]
        for name, summary in named:
            logged = list(summary.records.values())
            if len(logged) > 1:
                big = logged[0]
                small = min(logged, key=lambda record: record.size)
                parts.append(
                    Text(
                        f"{name}: {big.tag} ({big.size_human}) is "
                        f"{times(ratio(big.size, small.size))} times {small.tag} "
                        f"({small.size_human}).",
                        style="bold",
                    )
                )
        return Group(*parts)


def _platform(summary: Summary) -> str:
    return next((record.platform for record in summary.records.values()), "") or "?"


def _arch(platform: str) -> str:
    return platform.rpartition("/")[2]


def by_platform(summaries: Mapping[str, Summary]) -> Summary | PlatformsSummary:
    """The summary of a run on one platform, or of a run on several side by side."""
    found = tuple(summaries.values())
    return found[0] if len(found) == 1 else PlatformsSummary(found)
