"""The workshop's documented figures and claims, read from figures.toml."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from workshop.units import parse_docker_size

__all__ = ["FIGURES_FILE", "Claim", "DocumentedImage", "Figures", "load_figures"]

FIGURES_FILE = Path(__file__).with_name("figures.toml")


@dataclass(frozen=True)
class DocumentedImage:
    step: int
    tag: str
    documented: str
    quote: str

    @property
    def size(self) -> int:
        return parse_docker_size(self.documented)


@dataclass(frozen=True)
class Claim:
    id: str
    kind: str
    quote: str
    reason: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Figures:
    source: str
    headline: str
    workshop_bases: tuple[str, ...]
    # The platform the workshop measured on.
    platform: str
    figure_tolerance: float
    figure_tolerance_reason: str
    images: Mapping[int, DocumentedImage]
    claims: tuple[Claim, ...]


@cache
def load_figures() -> Figures:
    data = tomllib.loads(FIGURES_FILE.read_text(encoding="utf-8"))
    images = {entry["step"]: DocumentedImage(**entry) for entry in data["image"]}
    claims = tuple(
        Claim(
            id=entry["id"],
            kind=entry["kind"],
            quote=entry["quote"],
            reason=" ".join(entry["reason"].split()),
            params={
                key: value
                for key, value in entry.items()
                if key not in ("id", "kind", "quote", "reason")
            },
        )
        for entry in data["claim"]
    )
    return Figures(
        source=data["source"],
        headline=data["headline"],
        workshop_bases=tuple(data["workshop_bases"]),
        platform=data["platform"],
        figure_tolerance=float(data["figure_tolerance"]),
        figure_tolerance_reason=" ".join(data["figure_tolerance_reason"].split()),
        images=images,
        claims=claims,
    )
