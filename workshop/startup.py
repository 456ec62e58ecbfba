"""What an image costs at start-up: the time `docker run` takes, run after run."""

from __future__ import annotations

import statistics

from workshop.engine import EngineAPI

__all__ = ["time_startup"]

RUNS = 15


def time_startup(engine: EngineAPI, image: str, against: str) -> dict[str, float]:
    """Median milliseconds to run `image` and `against` to completion, alternating the two so
    that whatever else the machine does weighs on both alike."""
    seconds: dict[str, list[float]] = {image: [], against: []}
    for _ in range(RUNS):
        for reference in (image, against):
            seconds[reference].append(engine.run(reference).seconds)
    return {
        "runs": RUNS,
        "median_ms": round(1000 * statistics.median(seconds[image]), 1),
        "against_median_ms": round(1000 * statistics.median(seconds[against]), 1),
    }
