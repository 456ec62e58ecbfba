"""`invoke engine --start`'s refusals; starting for real is what .ci/run does on a fresh machine."""

from __future__ import annotations

import os

import pytest

from workshop.dockerd import _start_local
from workshop.endpoint import DEFAULT_HOST, Endpoint
from workshop.errors import EngineUnavailable


def test_without_root_it_says_what_to_run_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(EngineUnavailable, match=r"needs root\. Run `sudo invoke engine --start`"):
        _start_local(Endpoint(DEFAULT_HOST, "default", "the default"), timeout=1)


def test_it_never_starts_a_remote_engine() -> None:
    remote = Endpoint("ssh://builder@10.0.0.2", "builder", "the context 'builder'")
    with pytest.raises(EngineUnavailable, match="only on this machine's default socket"):
        _start_local(remote, timeout=1)
