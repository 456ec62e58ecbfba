"""What an image costs at start-up: the time `docker run` takes, run after run."""

from __future__ import annotations

import statistics
from collections.abc import Callable

from workshop.engine.values import EngineAPI

__all__ = ["time_startup"]

RUNS = 15


def time_startup(
    engine: EngineAPI,
    image: str,
    against: str,
    *,
    runs: int = RUNS,
    timed: Callable[[str], float] | None = None,
) -> dict[str, float]:
    """Median milliseconds to run `image` and `against` to completion (or as `timed` times a
    reference), alternating the two so that whatever else the machine does weighs on both."""
    timed = timed or (lambda reference: engine.run(reference).seconds)
    seconds: dict[str, list[float]] = {image: [], against: []}
    for _ in range(runs):
        for reference in (image, against):
            seconds[reference].append(timed(reference))
    return {
        "runs": runs,
        "median_ms": round(1000 * statistics.median(seconds[image]), 1),
        "against_median_ms": round(1000 * statistics.median(seconds[against]), 1),
    }
