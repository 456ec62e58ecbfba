from __future__ import annotations

import pytest

from workshop.units import docker_size, parse_docker_size, times


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (796_000_000, "796MB"),
        (6_420_000, "6.42MB"),
        (1_819_268, "1.82MB"),
        (1_200_000, "1.2MB"),
        (682_000, "682kB"),
        (999, "999B"),
        (1_068_589_102, "1.07GB"),
    ],
)
def test_docker_size_matches_the_cli(size: int, shown: str) -> None:
    assert docker_size(size) == shown


@pytest.mark.parametrize(
    ("text", "size"), [("796MB", 796_000_000), ("6.42MB", 6_420_000), ("682kB", 682_000)]
)
def test_parse_docker_size(text: str, size: int) -> None:
    assert parse_docker_size(text) == size


@pytest.mark.parametrize("text", ["796mb", "MB", "12", "1.2 MB", "x1kB"])
def test_parse_docker_size_refuses_other_spellings(text: str) -> None:
    with pytest.raises(ValueError, match="not a size as docker writes it"):
        parse_docker_size(text)


def test_times() -> None:
    assert (times(1.49), times(123.4), times(1363.8)) == ("1.5", "123", "1,364")
