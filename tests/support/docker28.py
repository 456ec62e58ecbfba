"""Docker Engine 28 beside the host's engine: sid's docker.io and containerd, run as binaries.

The packages are fetched with a throwaway apt configuration (the host's sources stay as they
are; sid's Release files can be past their Valid-Until) and unpacked with dpkg-deb, so no system
service starts. Each engine runs dockerd with a managed containerd, the host's runc, and its own
socket, data root, exec root, pidfile and bridge; `containerd_store` turns on the containerd
image store (`{"features": {"containerd-snapshotter": true}}`), the default of new Docker 29
installs. It starts, loads and stops like the spare engine (tests/spareengine.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support.paths import debian_mirror
from tests.support.spareengine import SpareEngine

PACKAGES = ("docker.io", "containerd", "docker-registry")


def fetch_docker28(folder: Path) -> Path:
    """sid's dockerd, containerd and distribution registry unpacked under `folder`; the root
    they were unpacked into."""
    root = folder / "root"
    if (root / "usr" / "sbin" / "dockerd").is_file():
        return root
    lists = folder / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (folder / "sources.list").write_text(f"deb {debian_mirror()} sid main\n")
    options = [
        "-o", f"Dir::Etc::SourceList={folder / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::State::Lists={lists}",
        "-o", "Debug::NoLocking=1",
        "-o", "Acquire::Check-Valid-Until=false",
    ]  # fmt: skip
    subprocess.run(["apt-get", "-qq", *options, "update"], check=True, capture_output=True)
    subprocess.run(
        ["apt-get", "-qq", *options, "download", *PACKAGES],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    for deb in sorted(folder.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


class Docker28(SpareEngine):
    """sid's dockerd 28 with a managed containerd and the host's runc; `containerd_store` turns
    the containerd image store on."""

    name = "Docker 28"

    def __init__(self, binaries: Path, root: Path, *, bridge: str, containerd_store: bool) -> None:
        root.mkdir(parents=True, exist_ok=True)
        features = {"containerd-snapshotter": containerd_store}
        (root / "daemon.json").write_text(json.dumps({"features": features}))
        super().__init__(root, bridge=bridge, extra=("--config-file", str(root / "daemon.json")))
        self.binaries = binaries
        self.dockerd = str(binaries / "usr/sbin/dockerd")

    def environment(self) -> dict[str, str]:
        # Its containerd, shim and docker-init come from sid's packages; runc from the host.
        path = f"{self.binaries / 'usr/bin'}:{self.binaries / 'usr/sbin'}:{os.environ['PATH']}"
        return {**os.environ, "PATH": path}
