"""The one rule for what a test needs: skipped with the install command, failed under CI."""

from __future__ import annotations

import pytest

from tests.support.needs import FIXTURE_NEEDS, NEEDS, Need, require

LACKING = Need("thing", "a thing", "apt-get install thing", lambda: "thing is not on PATH")


def test_a_missing_need_skips_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require(LACKING)
    assert "needs a thing: thing is not on PATH. apt-get install thing." in str(skipped.value)


def test_in_ci_a_missing_need_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI provides everything"):
        require(LACKING)


def test_a_need_that_is_met_lets_the_test_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    require(Need("thing", "a thing", "nothing to do", lambda: None))


def test_every_need_is_a_registered_marker(pytestconfig: pytest.Config) -> None:
    registered = {line.split(":")[0] for line in pytestconfig.getini("markers")}
    assert set(NEEDS) <= registered
    assert {need for needs in FIXTURE_NEEDS.values() for need in needs} <= set(NEEDS)
