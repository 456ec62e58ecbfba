"""The sweep's arguments and its table file (the sweep itself runs in test_beyond_e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workshop.errors import BadInput, DataFileError
from workshop.steps.sweep import parse_versions, read_sweep


def test_a_release_named_twice_is_built_once() -> None:
    assert parse_versions("1.19,1.21,1.19, 1.21") == ("1.19", "1.21")


@pytest.mark.parametrize("text", ["", ",", "1.99", "1.19;reboot"])
def test_a_release_debian_lacks_is_refused(text: str) -> None:
    with pytest.raises(BadInput, match="not one of Debian's Go releases"):
        parse_versions(text)


def test_a_sweep_table_that_says_nothing_true_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sweep.json").write_text('{"schema": 1, "releases": "1.19"}')
    with pytest.raises(DataFileError, match="sweep table"):
        read_sweep(tmp_path)
    assert read_sweep(tmp_path / "nothing-here") is None
