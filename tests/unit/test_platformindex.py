"""A multi-platform index names each platform's manifest by digest, size and platform."""

from __future__ import annotations

import hashlib
import json

from workshop.steps.platformindex import INDEX_TYPE, index_document

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def test_the_index_lists_each_platforms_manifest_as_the_registry_stores_it() -> None:
    amd, arm = b'{"schemaVersion":2,"a":1}', b'{"schemaVersion":2,"b":22}'
    index = json.loads(
        index_document(
            [("linux/amd64", amd, DOCKER_MANIFEST), ("linux/arm64", arm, DOCKER_MANIFEST)]
        )
    )
    assert index["mediaType"] == INDEX_TYPE and index["schemaVersion"] == 2
    assert [entry["platform"] for entry in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux"},
    ]
    for entry, manifest in zip(index["manifests"], (amd, arm), strict=True):
        assert entry["digest"] == "sha256:" + hashlib.sha256(manifest).hexdigest()
        assert (entry["size"], entry["mediaType"]) == (len(manifest), DOCKER_MANIFEST)
