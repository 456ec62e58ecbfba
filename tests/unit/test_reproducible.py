"""Where two clean builds can give one image id, and why not elsewhere."""

from __future__ import annotations

import pytest

from workshop.steps.reproducible import why_not_reproducible


@pytest.mark.parametrize(
    ("version", "store", "said"),
    [
        ("20.10.24+dfsg1", "classic", "Docker 20.10.24+dfsg1's BuildKit stamps each build"),
        ("25.0.5", "containerd", "came with Docker 26"),
        ("28.5.2+dfsg3", "classic", "the classic image store keeps each file's time"),
        ("", "containerd", "stamps each build"),
        ("28.5.2+dfsg3", "containerd", ""),
        ("29.0.0", "containerd", ""),
    ],
)
def test_only_a_new_engine_with_the_containerd_store_builds_reproducibly(
    version: str, store: str, said: str
) -> None:
    why = why_not_reproducible(version, store)
    assert (why == "") == (said == "")
    assert said in why


def test_without_buildx_it_says_what_to_install() -> None:
    assert "docker-buildx" in why_not_reproducible("28.5.2", "containerd", buildx=False)
