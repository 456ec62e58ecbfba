"""The smallest image around the floor's program, as a registry serves it and an engine pulls it.

A `FROM scratch` image of a 91-byte program is 91 bytes on the engine, but a pull downloads
three documents: the manifest, the config and the layer. The engine's push makes them its own
way (a tar padded to 10 kB blocks, gzipped); this module makes each as small as the engine still
takes:

- the layer: one old-style (v7) tar header with only the name, the mode, the size and the
  checksum set, then the program, with neither the padding to 512 bytes nor the two zero blocks
  that end an archive (Go's tar reader, which Docker and containerd use, ends at the end of the
  stream), gzipped at level 9 with no name and no time;
- the config: the platform, the command and the layer's digest, and nothing else;
- the manifest: the config's and the layer's types, digests and sizes.

Pushed to the registry over its API, it is then pulled by digest, run by the id the pull gave,
checked, measured (manifest, config and layer bytes) and removed from the engine again.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass

from workshop.engine.registry import Registry, content_digest
from workshop.engine.values import EngineAPI
from workshop.errors import StepFailed

__all__ = ["MANIFEST_TYPE", "SmallestImage", "pulled_and_run", "smallest_image", "tar_member"]

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
PARTS = ("manifest", "config", "layer")


def _compact(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def tar_member(name: str, content: bytes, *, mode: int = 0o755) -> bytes:
    """A tar archive of one file, as short as a tar reader still takes: a v7 header (name,
    mode, size, checksum; the owner, the time and the type are zero, which reads as root, the
    epoch and a regular file) and the content, unpadded and with no end blocks."""
    encoded = name.encode()
    if not 0 < len(encoded) <= 100 or "/" in name:
        raise ValueError(f"a tar member's name is 1-100 bytes and no folder, not {name!r}")
    header = bytearray(512)
    header[0 : len(encoded)] = encoded
    header[100:108] = b"%o" % mode + bytes(8 - len(b"%o" % mode))
    size = b"%o" % len(content)
    header[124 : 124 + len(size)] = size
    # The checksum counts its own field as eight spaces.
    header[148:156] = b" " * 8
    checksum = b"%o" % sum(header)
    header[148:156] = checksum + bytes(8 - len(checksum))
    return bytes(header) + content


@dataclass(frozen=True)
class SmallestImage:
    """The three documents a pull downloads, and the digest that names the image."""

    manifest: bytes
    config: bytes
    layer: bytes

    @property
    def parts(self) -> dict[str, int]:
        return {part: len(getattr(self, part)) for part in PARTS}

    @property
    def largest(self) -> str:
        parts = self.parts
        return max(PARTS, key=lambda part: parts[part])


def smallest_image(program: bytes, *, platform: str, name: str = "app") -> SmallestImage:
    """The smallest image that runs `program` (as /`name`) on `platform` ("linux/amd64")."""
    tar = tar_member(name, program)
    layer = gzip.compress(tar, compresslevel=9, mtime=0)
    os_name, architecture = platform.split("/", 1)
    config = _compact(
        {
            "architecture": architecture,
            "os": os_name,
            "config": {"Cmd": [f"/{name}"]},
            "rootfs": {"type": "layers", "diff_ids": [content_digest(tar)]},
        }
    )
    manifest = _compact(
        {
            "schemaVersion": 2,
            "config": {
                "mediaType": CONFIG_TYPE,
                "digest": content_digest(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": LAYER_TYPE, "digest": content_digest(layer), "size": len(layer)}
            ],
        }
    )
    return SmallestImage(manifest=manifest, config=config, layer=layer)


def pulled_and_run(
    engine: EngineAPI,
    registry: Registry,
    image: SmallestImage,
    *,
    repository: str,
    expected: str,
    platform: str = "",
) -> str:
    """Push `image` to `registry` as `repository`, pull it into `engine` by digest, run the
    image the pull gave and check it prints `expected`; it leaves the engine again whatever
    happens. The reference it was pulled by."""
    registry.push_blob(repository, image.layer)
    registry.push_blob(repository, image.config)
    digest = registry.push_manifest(repository, "latest", image.manifest, MANIFEST_TYPE)
    reference = f"{registry.address}/{repository}@{digest}"
    pulled = engine.pull(reference)
    if pulled is None:
        raise StepFailed(
            f"The engine could not pull {reference}, the smallest image around the floor's "
            "program, from the registry it was just pushed to; nothing was logged for it."
        )
    try:
        ran = engine.run(pulled.id, platform=platform)
    finally:
        if not engine.remove_image(pulled.id):
            engine.untag(reference)
    if ran.exit_code != 0 or ran.output != expected:
        raise StepFailed(
            f"{reference} (image {pulled.id[:19]}), pulled from the registry, printed "
            f"{ran.output[:500]!r} and exited {ran.exit_code}; the workshop expects exactly "
            f"{expected!r}. Nothing was logged for it."
        )
    return reference
