"""Removing what this project built, found by its label, and nothing else."""

from __future__ import annotations

from workshop import LABEL
from workshop.engine import Engine

__all__ = ["remove_built_images"]


def remove_built_images(engine: Engine, *, bases: bool = False) -> tuple[list[str], list[str]]:
    """Remove the step images (and the stand-in bases with `bases`): (removed, kept) names.

    Untagged images with the label go too: the legacy builder leaves each build stage behind as
    one, and it inherits the label from the stand-in base it was built on. Newest first, so that
    an image goes before the one it was built on; one that another image (not ours) is built on
    is kept.
    """
    kinds = {"step", "base"} if bases else {"step"}
    removed, kept = [], []
    newest_first = sorted(
        engine.images_labelled(LABEL),
        key=lambda image: image.attrs.get("Created", ""),
        reverse=True,
    )
    for image in newest_first:
        if image.labels.get(LABEL) in kinds or not image.tags:
            name = ", ".join(image.tags) or image.short_id
            (removed if engine.remove_image(image.id) else kept).append(name)
    return removed, kept
