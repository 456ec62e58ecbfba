"""What changed between two images, file by file: `invoke diff A B`, `invoke diff --steps 7 8`.

Each image's filesystem is rebuilt from its layers (`docker save`, streamed: whiteouts delete,
opaque folders hide what is below), so every path is known with the layer that made it. Paths
are added, removed or changed (their bytes differ), grouped like explain's categories. A binary
that changed is read from both images and its ELF sections compared: what strip took away.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workshop.engine.values import EngineAPI
from workshop.errors import BadInput
from workshop.inspection.explain import check_reference, what_it_is
from workshop.inspection.layers import Layer, final_tree, read_layers
from workshop.platforms import platform_read
from workshop.units import docker_size

__all__ = ["Change", "ImageDiff", "diff_images", "diff_layers", "final_tree"]

ELF_MAGIC = b"\x7fELF"
# A changed file at most this large is read from both images for its ELF sections.
ELF_READ_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class Change:
    path: str
    change: str  # added, removed or changed
    before: int
    after: int
    layer: str  # the layer that made the path as it is (in B; in A for a removed path)
    what: str

    @property
    def delta(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class ImageDiff:
    a: str
    b: str
    a_bytes: int
    b_bytes: int
    changes: tuple[Change, ...]  # the largest first
    # Per changed binary: (section, bytes in A, bytes in B) for each section that differs.
    sections: Mapping[str, tuple[tuple[str, int, int], ...]]
    top: int = 15
    # The platform read of A and of B.
    platforms: tuple[str, str] = ("", "")

    def by_what(self) -> list[tuple[str, int, int]]:
        """(category, bytes added, bytes taken away), the largest movement first."""
        added: dict[str, int] = {}
        removed: dict[str, int] = {}
        for change in self.changes:
            grown = max(change.delta, 0)
            added[change.what] = added.get(change.what, 0) + grown
            removed[change.what] = removed.get(change.what, 0) + grown - change.delta
        rows = [(what, added[what], removed[what]) for what in added]
        return sorted(rows, key=lambda row: -(row[1] + row[2]))

    def __rich__(self) -> RenderableType:
        net = self.b_bytes - self.a_bytes
        on_a, on_b = (f", {platform}" if platform else "" for platform in self.platforms)
        head = Text(
            f"{self.a} ({docker_size(self.a_bytes)} of files{on_a}) → {self.b} "
            f"({docker_size(self.b_bytes)}{on_b}): {'+' if net >= 0 else '-'}"
            f"{docker_size(abs(net))}, "
            f"{len(self.changes):,} {'path' if len(self.changes) == 1 else 'paths'} changed.",
            style="bold",
        )
        groups = Table(title="By what the bytes are", title_style="bold", title_justify="left")
        for column in ("what", "added", "taken away"):
            groups.add_column(column, justify="left" if column == "what" else "right")
        for what, added, removed in self.by_what():
            groups.add_row(what, f"+{docker_size(added)}", f"-{docker_size(removed)}")
        paths = Table(
            title=f"The {self.top} largest changes", title_style="bold", title_justify="left"
        )
        for column in ("path", "change", "before", "after", "layer"):
            paths.add_column(column, justify="right" if column in ("before", "after") else "left")
        for change in self.changes[: self.top]:
            paths.add_row(
                f"/{change.path}",
                change.change,
                docker_size(change.before) if change.change != "added" else "",
                docker_size(change.after) if change.change != "removed" else "",
                change.layer,
            )
        parts: list[RenderableType] = [head, groups, paths]
        for path, sections in self.sections.items():
            table = Table(
                title=f"/{path}, section by section", title_style="bold", title_justify="left"
            )
            for column in ("section", "before", "after", "change"):
                table.add_column(column, justify="left" if column == "section" else "right")
            for name, before, after in sections:
                table.add_row(name, f"{before:,}", f"{after:,}", f"{after - before:+,}")
            parts.append(table)
        return Group(*parts)


def diff_images(
    engine: EngineAPI, a: str, b: str, *, top: int = 15, platform: str = ""
) -> ImageDiff:
    """What changed from image `a` to image `b`; `platform`, the one to read of each
    (platforms.platform_read)."""
    ids, read = {}, {}
    for reference in (a, b):
        image = engine.image(check_reference(reference))
        if image is None:
            raise BadInput(f"There is no image {reference!r} on the engine. Build it first.")
        ids[reference] = image.id
        own = engine.info.platform
        read[reference] = platform_read(reference, image.platforms, wanted=platform, own=own)
    layers = {reference: read_layers(engine, image_id) for reference, image_id in ids.items()}
    found = diff_layers(engine, (a, ids[a], layers[a]), (b, ids[b], layers[b]), top=top)
    return replace(found, platforms=(read[a], read[b]))


def diff_layers(
    engine: EngineAPI,
    first: tuple[str, str, Sequence[Layer]],
    second: tuple[str, str, Sequence[Layer]],
    *,
    top: int = 15,
) -> ImageDiff:
    """The diff of two images given as (name, id, layers), their layers read already."""
    (a, a_id, a_layers), (b, b_id, b_layers) = first, second
    images = {a: a_id, b: b_id}
    layers = {a: a_layers, b: b_layers}
    before, after = final_tree(a_layers), final_tree(b_layers)
    changes = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if (old and old[1] != "file") or (new and new[1] != "file"):
            continue
        if old and new and old[0] == new[0]:
            continue
        change = "added" if old is None else "removed" if new is None else "changed"
        source, count = (new, len(layers[b])) if new else (old, len(layers[a]))
        assert source is not None
        where = f"layer {source[2] + 1} of {count} of {b if new else a}"
        changes.append(
            Change(
                path, change, old[0] if old else 0, new[0] if new else 0, where, what_it_is(path)
            )
        )
    changes.sort(key=lambda change: -abs(change.delta))
    sections = {
        change.path: found
        for change in changes[:top]
        if change.change == "changed" and max(change.before, change.after) <= ELF_READ_LIMIT
        if (found := _sections(engine, images[a], images[b], change.path))
    }
    return ImageDiff(
        a=a,
        b=b,
        a_bytes=sum(size for size, kind, _ in before.values() if kind == "file"),
        b_bytes=sum(size for size, kind, _ in after.values() if kind == "file"),
        changes=tuple(changes),
        sections=sections,
        top=top,
    )


def _sections(engine: EngineAPI, a: str, b: str, path: str) -> tuple[tuple[str, int, int], ...]:
    """The ELF sections of `path` whose bytes differ between the two images; () if not ELF."""

    sizes = []
    for image in (a, b):
        data = engine.read_file(image, "/" + path)
        if not data.startswith(ELF_MAGIC):
            return ()
        try:
            elf = ELFFile(io.BytesIO(data))
            sizes.append(
                {
                    section.name: int(section["sh_size"])
                    for section in elf.iter_sections()
                    if section.name
                }
            )
        except ELFError:
            return ()
    names = sorted(
        set(sizes[0]) | set(sizes[1]),
        key=lambda name: -abs(sizes[1].get(name, 0) - sizes[0].get(name, 0)),
    )
    return tuple(
        (name, sizes[0].get(name, 0), sizes[1].get(name, 0))
        for name in names
        if sizes[0].get(name, 0) != sizes[1].get(name, 0)
    )
