"""What a registry's answers can be, read by the client: every shape is a message (exit 5)."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator
from typing import ClassVar

import pytest

from tests.support.loopback import served
from workshop.engine.registry import Registry
from workshop.errors import RegistryError

LAYER = {"digest": "sha256:" + "a" * 64, "size": 100}


class Answers(http.server.BaseHTTPRequestHandler):
    documents: ClassVar[dict[str, object]] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.documents.get(self.path, {})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[tuple[Registry, dict[str, object]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    try:
        with served(server) as port:
            yield Registry.parse(f"127.0.0.1:{port}", timeout=5), Answers.documents
    finally:
        Answers.documents.clear()


@pytest.mark.parametrize(
    "manifest",
    [
        {"config": {"size": -5_000_000_000}, "layers": []},
        {"config": {"size": 10**26}, "layers": []},
        {"config": {"size": 1e400}, "layers": []},
        {"config": {"size": 5.5}, "layers": [LAYER]},
        {"config": {"size": True}, "layers": [LAYER]},
        {"config": LAYER, "layers": [1]},
        {"manifests": [1]},
        {"manifests": [{"platform": {"os": "linux", "architecture": "amd64"}}]},
        {"manifests": "x"},
    ],
    ids=[
        "negative",
        "26-digits",
        "1e400",
        "fraction",
        "bool",
        "layer-not-an-object",
        "manifests-of-numbers",
        "platform-without-digest",
        "manifests-not-a-list",
    ],
)
def test_a_manifest_of_the_wrong_shape_is_a_registry_error(
    registry: tuple[Registry, dict[str, object]], manifest: object
) -> None:
    client, documents = registry
    documents["/v2/x/manifests/latest"] = manifest
    with pytest.raises(RegistryError, match="can't be used"):
        client.pull_size("x")


def test_a_good_manifest_adds_up(registry: tuple[Registry, dict[str, object]]) -> None:
    client, documents = registry
    documents["/v2/x/manifests/latest"] = {"config": {"size": 7}, "layers": [LAYER, LAYER]}
    assert client.pull_size("x") == 207
