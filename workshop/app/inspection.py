"""`invoke explain` and `invoke diff`: what is in an image, and what changed between two."""

from __future__ import annotations

from invoke import Context
from rich.text import Text

from workshop.app.exits import reported
from workshop.app.session import Session, session
from workshop.console import show
from workshop.errors import BadInput, DataFileError
from workshop.inspection import explain as explaining
from workshop.inspection.diff import ImageDiff, diff_images
from workshop.inspection.explain import Explanation
from workshop.platforms import parse_platforms
from workshop.units import docker_size

__all__ = ["diff", "explain"]


def explain(c: Context, image: str, top: str, *, platform: str = "") -> None:
    with reported():
        read = one_platform(platform)
        show(_explain(session(c), image, top=explaining.parse_top(top), platform=read))


def diff(c: Context, before: str, after: str, *, steps: bool, top: str, platform: str = "") -> None:
    with reported():
        read = one_platform(platform)
        top_n = explaining.parse_top(top)
        show(_diff(session(c), before, after, steps=steps, top=top_n, platform=read))


def one_platform(text: str) -> str:
    """The --platform of explain and diff: one platform, or "" for what the image holds."""
    platforms = parse_platforms(text, what="--platform")
    if len(platforms) > 1:
        raise BadInput(
            f"--platform {text}: explain and diff read one platform at a time; name one of "
            f"{', '.join(platforms)}."
        )
    return platforms[0] if platforms else ""


def _explain(session: Session, image: str, *, top: int, platform: str = "") -> Explanation:
    """`invoke explain`: bases are named from the size log where it can be read."""
    explaining.check_reference(image)
    try:
        records = session.size_log.read().values()
    except DataFileError:
        records = {}.values()
    known = {base.image_id: base.reference for record in records for base in record.bases}
    _say_what_crosses(session, image)
    return explaining.explain(session.engine, image, known_bases=known, top=top, platform=platform)


def _diff(
    session: Session, a: str, b: str, *, steps: bool, top: int, platform: str = ""
) -> ImageDiff:
    """`invoke diff A B`, or with `steps`, the images the size log names for steps A and B."""
    if not a or not b:
        raise BadInput(
            "invoke diff takes two images (invoke diff go-scratch go-stripped), or --steps "
            "and two steps (invoke diff --steps 7 8)."
        )
    if steps:
        records = session.size_log.read()
        chosen = []
        for step in (a, b):
            if not step.isdigit() or int(step) not in records:
                logged = ", ".join(map(str, sorted(records))) or "none"
                raise BadInput(
                    f"--steps {a} {b}: step {step} is not in the size log "
                    f"{session.size_log.path} (logged: {logged}). Run it first."
                )
            chosen.append(records[int(step)].tag)
        a, b = chosen
    _say_what_crosses(session, a, b)
    return diff_images(session.engine, a, b, top=top, platform=platform)


def _say_what_crosses(session: Session, *images: str) -> None:
    """Reading an image's files from an engine on another host brings its layers over the
    network to this machine: say so, and how much, before it starts."""
    where = session.engine.info.where
    if not where.crosses_network:
        return
    for image in images:
        found = session.engine.image(image)
        weight = f" ({docker_size(found.size)})" if found is not None else ""
        show(
            Text(
                f"Reading {image}{weight} from the engine on {where.said}: its files cross the "
                "network to this machine, read as they stream and kept nowhere."
            )
        )
