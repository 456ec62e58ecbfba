"""`invoke shrink`: the workshop's ladder on a person's own Go program."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from invoke import Context
from rich.table import Table
from rich.text import Text

from workshop.app.exits import reported
from workshop.app.session import Session, session
from workshop.console import show
from workshop.engine.emulation import require_platforms
from workshop.errors import BadInput, StepFailed
from workshop.platforms import parse_platforms
from workshop.records.sizelog import SizeRecord
from workshop.scratch import remove_leftovers
from workshop.shrink.appcheck import CheckFlags
from workshop.shrink.climb import RUNG_SCRATCH, ShrinkResult, find_targets
from workshop.shrink.climb import shrink as climb_ladder
from workshop.steps.cleanup import remove_leftover_containers
from workshop.steps.platformindex import index_table, push_indexes
from workshop.units import docker_size

__all__ = ["shrink"]


def shrink(c: Context, program: str, *, platform: str | None = None, **flags: str | None) -> None:
    """`flags`: the check's flags as invoke gives them (see CheckFlags.parse); `platform`,
    the --platform flag, over the setting."""
    with reported():
        _shrink(session(c).with_platform(platform), program, CheckFlags.parse(**flags))


def _shrink(session: Session, program: str, flags: CheckFlags) -> None:
    """`invoke shrink`: climb, show the ladder; exit 1 where no rung works."""
    if not program.strip():
        raise BadInput("Give shrink a Go program: the folder of its main package, or a .go file.")
    settings = session.settings
    platforms = parse_platforms(settings.platform)
    targets = find_targets(
        Path(program).expanduser(), flags, shrink_dir=settings.shrink_dir, platforms=platforms
    )
    if platforms and settings.builder != "buildkit":
        # Only BuildKit builds for another platform; said, not asked.
        session = Session(replace(settings, builder="buildkit"))
        show(
            Text(
                "Building with BuildKit: --platform needs it (the legacy builder builds only "
                "the engine's own platform).",
                style="dim",
            )
        )
    require_platforms(session.engine, platforms)
    # What a shrink killed outright left: a server still publishing its port, context tars.
    remove_leftover_containers(session.engine)
    remove_leftovers(RUNG_SCRATCH)
    results = []
    for target in targets:
        result = climb_ladder(session.plan(), session.settings, target)
        show(result)
        results.append(result)
    # Again once the ladder is done: a killed run's last request can reach a busy engine after
    # the sweep above (a container created or started late), or be under way as it asked.
    remove_leftover_containers(session.engine)
    if len(results) > 1:
        show(_side_by_side(results))
        registry = session.registry
        if registry is not None:
            indexes = push_indexes(registry, _every_platform(results))
            if indexes:
                show(index_table(indexes))
    failed = [result for result in results if result.smallest is None]
    if failed:
        where = f" for {failed[0].platform}" if len(results) > 1 else ""
        raise StepFailed(
            f"No rung of the ladder works for {failed[0].app.name}{where}: the reasons are in "
            "the table. Nothing was logged for it, and no Dockerfile was written."
        )


def _every_platform(results: list[ShrinkResult]) -> list[tuple[str, list[SizeRecord]]]:
    """Each rung with its logged record on every platform, where it has one on each."""
    rungs = []
    for index, rung in enumerate(results[0].rungs):
        records = [result.rungs[index].record for result in results]
        if all(record is not None for record in records):
            rungs.append((rung.rung.key, [record for record in records if record is not None]))
    return rungs


def _side_by_side(results: list[ShrinkResult]) -> Table:
    """Each rung's size on each platform, and what it is against the first platform's."""
    table = Table(title="The ladder on each platform", header_style="bold")
    table.add_column("Rung")
    for result in results:
        table.add_column(result.platform, justify="right")
    for index, rung in enumerate(results[0].rungs):
        cells = [Text(rung.rung.key)]
        for result in results:
            each = result.rungs[index]
            cells.append(Text(docker_size(each.size) if each.works else "-"))
        table.add_row(*cells)
    return table
