"""dive's measures on crafted layers, and where its rules go wrong and ours do not."""

from __future__ import annotations

import math

import pytest

from workshop.checks.budgets import Budget, Limit, _judge
from workshop.engine.values import ImageFile
from workshop.inspection.efficiency import measure
from workshop.inspection.layers import Layer


def layer(*entries: tuple[str, int] | tuple[str, int, str]) -> Layer:
    return Layer(tuple(ImageFile(e[0], e[1], str(e[2]) if len(e) > 2 else "file") for e in entries))


def test_a_single_layer_image_wastes_nothing_and_has_a_defined_percent() -> None:
    measures = measure([layer(("app", 1_819_268))])
    assert (measures.efficiency, measures.wasted_bytes, measures.user_bytes) == (1.0, 0, 0)
    assert math.isnan(measures.dive_user_wasted_percent)  # dive divides 0 by 0
    assert measures.user_wasted_percent == 0.0


def test_a_file_written_again_is_wasted_in_every_copy() -> None:
    measures = measure(
        [layer(("etc", 0, "dir"), ("etc/a", 1000)), layer(("etc", 0, "dir"), ("etc/a", 1200))]
    )
    assert measures.wasted_bytes == 2200
    assert measures.efficiency == pytest.approx(1000 / 2200)
    assert measures.user_wasted_percent == pytest.approx(2200 / 1200)
    assert measures.wasted_paths == (("etc/a", 2, 2200),)


def test_a_deleted_file_counts_and_a_deleted_folder_is_sized_as_dive_sizes_it() -> None:
    base = layer(("big", 3_000_000), ("d", 0, "dir"), ("d/x", 500), ("d/y", 300))
    measures = measure([base, layer((".wh.big", 0), (".wh.d", 0))])
    # The file's deletion is a second node of /big (0 bytes); the folder's is a node of /d, 800
    # bytes, a path seen once, as dive's efficiency.go does it.
    assert measures.wasted_bytes == 3_000_000
    assert measures.efficiency == pytest.approx(
        (0 + 500 + 300 + 800) / (3_000_000 + 500 + 300 + 800)
    )


MB = Limit(1_000_000, "1MB", "docker's units, powers of 1000")


def test_a_small_image_that_rewrites_one_small_file_passes_here_and_fails_dives_percent() -> None:
    base = layer(("usr/lib/libbig.so", 100_000_000), ("etc/config", 10_000))
    measures = measure([base, layer(("etc/config", 10_000))])
    assert measures.user_wasted_percent == pytest.approx(2.0)  # dive: 200% > 20%: FAIL
    budget = Budget(("x",), "test", highest_user_wasted_percent=0.2, wasted_floor=MB)
    (result,) = _judge(budget, "x:latest", 100_020_000, measures, None)
    assert result.verdict == "pass"  # 20 kB wasted, under the 1MB floor
    big = measure([base, layer(("usr/lib/libbig.so", 100_000_000))])
    (result,) = _judge(budget, "x:latest", 200_010_000, big, None)
    assert result.verdict == "fail" and "/usr/lib/libbig.so" in result.message
