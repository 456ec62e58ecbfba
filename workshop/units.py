"""Sizes written the way `docker image ls` writes them."""

from __future__ import annotations

import math
import re

__all__ = ["docker_size", "parse_docker_size", "ratio", "times"]

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def docker_size(size: float) -> str:
    """Format bytes as the docker CLI does (go-units HumanSizeWithPrecision(size, 3)).

    >>> docker_size(796_000_000), docker_size(6_420_000), docker_size(682_000)
    ('796MB', '6.42MB', '682kB')

    rich.filesize.decimal writes '796.0 MB'; matching the CLI's text lets an attendee compare
    what a step reports with what `docker image ls` prints, character for character.
    """
    unit = 0
    while size >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.3g}{_UNITS[unit]}"


def parse_docker_size(text: str) -> int:
    """Bytes from a size as docker writes it ('796MB', '6.42MB', '682kB'); ValueError otherwise."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(B|kB|MB|GB|TB|PB)", text)
    if match is None:
        raise ValueError(f"{text!r} is not a size as docker writes it (like 796MB or 682kB)")
    number, unit = match.groups()
    return round(float(number) * 1000.0 ** _UNITS.index(unit))


def times(value: float) -> str:
    """A size ratio for a sentence: '1.5', '123', '1,364'."""
    if not math.isfinite(value):
        return "∞"
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def ratio(part: float, whole: float) -> float:
    """part / whole, or infinity where whole is 0 (a log may say so; it never divides by 0)."""
    if whole == 0:
        return math.inf if part else 0.0
    try:
        return part / whole
    except OverflowError:
        return math.inf
