"""`invoke engine --start`'s refusals; starting for real is what .ci/run does on a fresh machine."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from workshop.engine.dockerd import _answers_within, start_local
from workshop.engine.endpoint import Endpoint
from workshop.errors import EngineUnavailable


def test_it_never_starts_a_remote_engine() -> None:
    remote = Endpoint("ssh://builder@10.0.0.2", "builder", "the context 'builder'")
    with pytest.raises(EngineUnavailable, match="only on this machine's default socket"):
        start_local(remote, timeout=1)


def test_a_stale_socket_is_an_engine_not_answering_yet(tmp_path: Path) -> None:
    # What a killed dockerd leaves behind, and what `invoke engine --start` waits on while the
    # new one starts: a socket file nothing listens on (connect is refused, not "no such file").
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))
    assert not _answers_within(f"unix://{path}", timeout=1.2)


def test_a_missing_socket_is_an_engine_not_answering_yet(tmp_path: Path) -> None:
    assert not _answers_within(f"unix://{tmp_path / 'docker.sock'}", timeout=0.6)
