"""`invoke bases` and `invoke clean`: the stand-ins built, and what this project made removed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from invoke import Context
from rich.text import Text

from workshop.app.exits import reported
from workshop.app.session import Session, session
from workshop.console import show
from workshop.records.datafile import check_output
from workshop.steps.bases import StandinsTable, load_standins, save_standins
from workshop.steps.cleanup import Cleaned, clean_images, remove_leftover_containers

__all__ = ["bases", "clean"]


def bases(
    c: Context,
    *,
    rebuild: bool,
    platform: str | None = None,
    save: str | None = None,
    load: str | None = None,
) -> None:
    with reported():
        current = session(c).with_platform(platform)
        if save:
            # The file is checked before anything is asked of the engine.
            check_output(Path(save), what="stand-ins archive")
        if load:
            current.require_platforms()
            resolvers = [current.bases_for(each) for each in current.platforms]
            load_standins(resolvers, Path(load))
            tables = [StandinsTable.of(bases, []) for bases in resolvers]
        else:
            tables = _build_standins(current, rebuild=rebuild)
        for table in tables:
            show(table)
        if save:
            resolvers = [current.bases_for(each) for each in current.platforms]
            saved = save_standins(resolvers, Path(save))
            show(Text(f"Saved {len(saved)} stand-ins to {save}: `invoke bases --load FILE` there."))


def clean(c: Context, *, bases: bool, stages: bool = False) -> None:
    with reported():
        show(_clean(session(c), bases=bases, stages=stages))


def _build_standins(session: Session, *, rebuild: bool) -> list[StandinsTable]:
    """`invoke bases`: build the stand-ins that are missing or stale (all with `rebuild`), for
    each platform of the run (a foreign one's under emulation, checked first)."""
    session.require_platforms()
    tables = []
    for platform in session.platforms:
        bases = session.bases_for(platform)
        tables.append(StandinsTable.of(bases, bases.build_standins(rebuild=rebuild)))
    return tables


def _clean(session: Session, *, bases: bool, stages: bool = False) -> Cleaned:
    """`invoke clean`: this project's lost containers, this configuration's images (and the
    stand-ins with `bases`, the untagged build stages with `stages`)."""
    containers = remove_leftover_containers(session.engine)
    cleaned = clean_images(
        session.engine, prefix=session.settings.tag_prefix, bases=bases, stages=stages
    )
    return replace(cleaned, containers=containers)
