from __future__ import annotations

import pytest

from workshop.steps.gobinary import go_build_version


def buildinfo(version: bytes, flags: int = 0x2) -> bytes:
    header = b"\xff Go buildinf:" + bytes([8, flags]) + b"\0" * 16
    return b"\x7fELF" + b"\0" * 100 + header + bytes([len(version)]) + version + b"\0" * 64


def test_reads_the_inlined_version_of_go_1_18_and_later() -> None:
    assert go_build_version(buildinfo(b"go1.19.8")) == "go1.19.8"


@pytest.mark.parametrize(
    "binary",
    [
        b"\x7fELF" + b"\0" * 200,
        buildinfo(b"go1.16.5", flags=0x0),
        buildinfo(b"garbage"),
        b"\xff Go buildinf:",
    ],
)
def test_none_where_the_binary_does_not_say(binary: bytes) -> None:
    assert go_build_version(binary) is None
