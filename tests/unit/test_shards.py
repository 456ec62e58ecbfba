"""The engine tests' split between side-by-side workers (tests/support/shards.py): modules that
share an engine stay together, the loads are balanced, and every worker computes the same split."""

from __future__ import annotations

import pytest

from tests.support.shards import DEFAULT_SECONDS, split


def test_modules_that_share_an_engine_go_to_one_worker_even_through_a_third() -> None:
    shared = {
        "docker28": {"d28"},
        "registry": {"d28", "registry"},
        "mirror": {"registry"},
        "a": set(),
    }
    assigned = split(shared, {"docker28": 90, "registry": 40, "mirror": 5, "a": 100}, 2)
    assert assigned["docker28"] == assigned["registry"] == assigned["mirror"]
    assert assigned["a"] != assigned["docker28"]


def test_the_heaviest_goes_first_and_the_loads_come_out_even() -> None:
    seconds = {"shrink": 230.0, "beyond": 115.0, "docker28": 92.0, "modules": 68.0, "faults": 59.0}
    assigned = split(dict.fromkeys(seconds, ()), seconds, 2)
    loads = [sum(s for module, s in seconds.items() if assigned[module] == w) for w in (0, 1)]
    assert assigned["shrink"] == 0
    assert sorted(loads) == [275.0, 289.0]  # shrink + faults | beyond + docker28 + modules


def test_a_module_never_measured_counts_as_the_default() -> None:
    assigned = split({"measured": (), "new": ()}, {"measured": DEFAULT_SECONDS + 1}, 2)
    assert assigned == {"measured": 0, "new": 1}


def test_every_worker_computes_the_same_split_whatever_order_it_collected_in() -> None:
    shared = {f"m{i}": {f"e{i % 3}"} if i % 2 else set() for i in range(12)}
    seconds = {f"m{i}": float(i * 7 % 11) for i in range(12)}
    first = split(shared, seconds, 3)
    reordered = [*reversed(list(shared.items()))][5:] + [*reversed(list(shared.items()))][:5]
    assert split(dict(reordered), seconds, 3) == first
    assert set(first.values()) == {0, 1, 2}


def test_one_worker_takes_everything_and_none_is_refused() -> None:
    assert set(split({"a": (), "b": {"x"}}, {}, 1).values()) == {0}
    with pytest.raises(ValueError, match="a worker at least"):
        split({"a": ()}, {}, 0)
