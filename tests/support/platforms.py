"""What the platform tests share: switching arm64 emulation off for one test, and a
multi-platform index read back from a registry as a client on each platform would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

__all__ = ["INDEX_TYPE", "emulation_off", "index_pull_sizes"]

INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
QEMU_AARCH64 = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


@contextmanager
def emulation_off() -> Iterator[None]:
    """arm64 emulation disabled for the block only, on a machine the tests own."""
    assert QEMU_AARCH64.read_text().startswith("enabled"), "engine --start did not set it up"
    QEMU_AARCH64.write_text("0")
    try:
        yield
    finally:
        QEMU_AARCH64.write_text("1")


def index_pull_sizes(url: str, name: str) -> dict[str, int]:
    """What a pull of `name:latest` downloads on each architecture its index lists: the
    config and layers of the manifest the index names for it."""
    answer = requests.get(
        f"{url}/v2/{name}/manifests/latest", headers={"Accept": INDEX_TYPE}, timeout=30
    )
    assert answer.headers["Content-Type"] == INDEX_TYPE
    sizes = {}
    for entry in answer.json()["manifests"]:
        manifest = requests.get(
            f"{url}/v2/{name}/manifests/{entry['digest']}",
            headers={"Accept": entry["mediaType"]},
            timeout=30,
        ).json()
        pulled = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
        sizes[entry["platform"]["architecture"]] = pulled
    return sizes
