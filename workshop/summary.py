"""The table `invoke all` ends with: every step's size beside the workshop's figure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workshop.figures import Figures
from workshop.sizelog import SizeRecord
from workshop.units import times

__all__ = ["Summary"]


BAR_WIDTH = 20


def bar(size: int, sizes: list[int], width: int = BAR_WIDTH) -> str:
    """A bar for `size` on a log scale, the largest of `sizes` full width, the smallest a sliver."""
    floor = min(sizes) / 4
    span = math.log(max(sizes) / floor) or 1.0
    eighths = round(8 * width * math.log(max(size, 1) / floor) / span)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


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
        table.add_column("step", justify="right")
        table.add_column("image", no_wrap=True)
        table.add_column("size", justify="right")
        table.add_column("workshop", justify="right")
        table.add_column(f"{first.tag} ÷ size" if first else "ratio", justify="right")
        table.add_column("size, log scale", no_wrap=True)
        sizes = [self.records[step].size for step in steps]
        for step in steps:
            record = self.records[step]
            documented = self.figures.images.get(step)
            table.add_row(
                str(step),
                record.tag,
                record.size_human,
                documented.documented if documented else "",
                f"{times(first.size / record.size)}×" if first and record.size else "",
                Text(bar(record.size, sizes), style="cyan"),
            )
        parts: list[RenderableType] = [table]
        if first and len(steps) > 1:
            last = min(self.records.values(), key=lambda record: record.size)
            parts.append(
                Text(
                    f"{first.tag} ({first.size_human}) is {times(first.size / last.size)} times "
                    f"{last.tag} ({last.size_human})."
                    + (f' The workshop: "{self.figures.headline}"' if self.quote_workshop else ""),
                    style="bold",
                )
            )
        return Group(*parts)
