"""The engine tests split between workers that run side by side (`pytest -n 2 --dist each`).

Each worker collects every test and keeps its own share: whole modules (a module's tests share
its fixtures), and the modules that share an extra engine or a slow set-up together (a Docker 28
engine is started by one worker, not by two). The shares are balanced by the seconds each module
took in a measured run; a module not measured counts as DEFAULT_SECONDS. Every worker computes
the same split from the same collection, so no worker needs to be told what the others run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["DEFAULT_SECONDS", "split"]

DEFAULT_SECONDS = 30.0


def split(
    shared: Mapping[str, Iterable[str]], seconds: Mapping[str, float], count: int
) -> dict[str, int]:
    """Each module's worker, 0 to `count` - 1. `shared` maps each module to the names of what it
    shares with other modules (an extra engine's fixture, a slow set-up); modules that share a
    name are kept on one worker. The heaviest group goes first to the least loaded worker."""
    if count < 1:
        raise ValueError(f"the tests need a worker at least, not {count}")
    groups = _groups({module: set(names) for module, names in shared.items()})

    def weight(group: list[str]) -> float:
        return sum(seconds.get(module, DEFAULT_SECONDS) for module in group)

    loads = [0.0] * count
    assigned: dict[str, int] = {}
    for group in sorted(groups, key=lambda group: (-weight(group), group)):
        worker = min(range(count), key=lambda index: (loads[index], index))
        loads[worker] += weight(group)
        assigned.update(dict.fromkeys(group, worker))
    return assigned


def _groups(shared: dict[str, set[str]]) -> list[list[str]]:
    """The modules joined through the names they share, each group sorted."""
    parent = {module: module for module in shared}

    def root(module: str) -> str:
        while parent[module] != module:
            parent[module] = parent[parent[module]]
            module = parent[module]
        return module

    first_with: dict[str, str] = {}
    for module in sorted(shared):
        for name in sorted(shared[module]):
            if name in first_with:
                parent[root(module)] = root(first_with[name])
            else:
                first_with[name] = module
    grouped: dict[str, list[str]] = {}
    for module in sorted(shared):
        grouped.setdefault(root(module), []).append(module)
    return list(grouped.values())
