"""Removing what this project built, found by its label, and nothing else."""

from __future__ import annotations

from workshop import LABEL
from workshop.engine import Engine

__all__ = ["remove_built_images"]


def remove_built_images(engine: Engine, *, bases: bool = False) -> list[str]:
    """Remove the step images (and the stand-in bases with `bases`); returns their tags or ids.

    Untagged images with the label go too: the legacy builder leaves each build stage behind as
    one, and it inherits the label from the stand-in base it was built on.
    """
    kinds = {"step", "base"} if bases else {"step"}
    removed = []
    for image in engine.images_labelled(LABEL):
        if image.labels.get(LABEL) in kinds or not image.tags:
            engine.remove_image(image.id)
            removed.append(", ".join(image.tags) or image.short_id)
    return removed
