"""One multi-platform image index per image built on every platform (a workshop step's, or a
shrink rung's), and each platform's pull size read back through it.

`invoke all` and `shrink` with `--platform linux/amd64,linux/arm64` and a registry push each
platform's image under its own name (the tag, ending `-linux-arm64`; the engine's own
platform's step keeps the workshop's name). For an image that works on every platform, this
module then makes the name people would pull (the tag without the platform) an OCI image
index: it mounts each platform's blobs into that repository, puts each platform's manifest
there by digest, and puts the index listing them, with their platforms, as `latest`. Then it
reads each platform's pull size back through the index, as a client on that platform would
resolve it, and refuses a size that is not the one logged for that platform's image.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

from workshop.engine.registry import Registry, content_digest
from workshop.errors import RegistryError
from workshop.platforms import slug
from workshop.records.sizelog import SizeRecord
from workshop.units import docker_size

__all__ = ["INDEX_TYPE", "PlatformIndex", "index_document", "index_table", "push_indexes"]

INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class PlatformIndex:
    """An image's index: its reference and each platform's pull size, read through it."""

    rung: str  # the rung's key, or the step's number
    reference: str
    pull_sizes: dict[str, int]


def index_document(manifests: Sequence[tuple[str, bytes, str]]) -> bytes:
    """An OCI image index of `manifests`: (platform, the manifest's bytes, its media type)."""
    entries = []
    for platform, manifest, media_type in manifests:
        os_name, architecture = platform.split("/", 1)
        entries.append(
            {
                "mediaType": media_type,
                "digest": content_digest(manifest),
                "size": len(manifest),
                "platform": {"architecture": architecture, "os": os_name},
            }
        )
    document = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": entries}
    return json.dumps(document, separators=(",", ":")).encode()


def _platform_name(record: SizeRecord) -> str:
    return record.tag.split(":")[0]


def _blobs(manifest: bytes, what: str) -> list[str]:
    """The digests of the config and layers `manifest` lists."""
    document = json.loads(manifest)
    config, layers = document.get("config"), document.get("layers")
    blobs = [config, *layers] if isinstance(config, dict) and isinstance(layers, list) else []
    digests = [blob.get("digest") for blob in blobs if isinstance(blob, dict)]
    if not blobs or len(digests) != len(blobs) or not all(isinstance(d, str) for d in digests):
        raise RegistryError(f"The manifest of {what} lists no config and layers by digest.")
    return [str(digest) for digest in digests]


def push_indexes(
    registry: Registry, rungs: Sequence[tuple[str, Sequence[SizeRecord]]]
) -> list[PlatformIndex]:
    """For each (rung, its records on every platform) whose every record was pushed, push the
    index and read each platform's pull size back through it."""
    pushed = []
    for rung, records in rungs:
        if len(records) < 2 or not all(record.pull_size for record in records):
            continue
        first = records[0]
        name = _platform_name(first).removesuffix(f"-{slug(first.platform)}")
        listed = []
        for record in records:
            source = _platform_name(record)
            manifest, media_type = registry.manifest_bytes(source, "latest")
            for digest in _blobs(manifest, f"{registry.address}/{source}"):
                registry.mount_blob(name, digest, source)
            digest = content_digest(manifest)
            registry.push_manifest(name, digest, manifest, media_type)
            listed.append((record.platform, manifest, media_type))
        registry.push_manifest(name, "latest", index_document(listed), INDEX_TYPE)
        sizes = {
            record.platform: registry.pull_size(name, "latest", platform=record.platform)
            for record in records
        }
        for record in records:
            if sizes[record.platform] != record.pull_size:
                raise RegistryError(
                    f"Through the index {registry.address}/{name}, a {record.platform} pull "
                    f"downloads {sizes[record.platform]:,} bytes, but its own image "
                    f"{record.tag} was logged at {record.pull_size:,}: the registry changed it "
                    "in between. Run the task again."
                )
        pushed.append(PlatformIndex(rung, f"{registry.address}/{name}", sizes))
    return pushed


def index_table(indexes: Sequence[PlatformIndex], *, what: str = "Rung") -> Table:
    """Each rung's (or step's) index and what a pull of it downloads on each platform."""
    platforms = list(indexes[0].pull_sizes)
    table = Table(title="Pulled as a multi-platform index", header_style="bold")
    table.add_column(what)
    table.add_column("Index")
    for platform in platforms:
        table.add_column(f"pull on {platform}", justify="right")
    for index in indexes:
        sizes = [Text(docker_size(index.pull_sizes[platform])) for platform in platforms]
        table.add_row(Text(index.rung), Text(index.reference), *sizes)
    return table
