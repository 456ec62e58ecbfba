"""Docker Engine 28 beside the host's engine: sid's docker.io and containerd, run as binaries.

The packages are fetched with a throwaway apt configuration (the host's sources stay as they
are; sid's Release files can be past their Valid-Until) and unpacked with dpkg-deb, so no system
service starts. Each engine runs dockerd with a managed containerd, the host's runc, and its own
socket, data root, exec root, pidfile and bridge; `containerd_store` turns on the containerd
image store (`{"features": {"containerd-snapshotter": true}}`), the default of new Docker 29
installs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

SID = "deb http://deb.debian.org/debian sid main"
PACKAGES = ("docker.io", "containerd", "docker-registry")


def fetch_docker28(folder: Path) -> Path:
    """sid's dockerd, containerd and distribution registry unpacked under `folder`; the root
    they were unpacked into."""
    root = folder / "root"
    if (root / "usr" / "sbin" / "dockerd").is_file():
        return root
    lists = folder / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (folder / "sources.list").write_text(SID + "\n")
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


class Docker28:
    def __init__(
        self, binaries: Path, folder: Path, *, bridge: str, containerd_store: bool
    ) -> None:
        self.binaries = binaries
        self.folder = folder
        self.bridge = bridge
        self.containerd_store = containerd_store
        self.host = f"unix://{folder}/docker.sock"
        self.process: subprocess.Popen[bytes] | None = None

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "--host", self.host, *args], capture_output=True, text=True, check=check
        )

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode:
            subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
            subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        features = {"containerd-snapshotter": self.containerd_store}
        (self.folder / "daemon.json").write_text(json.dumps({"features": features}))
        path = f"{self.binaries / 'usr/bin'}:{self.binaries / 'usr/sbin'}:{os.environ['PATH']}"
        with open(self.folder / "dockerd.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(self.binaries / "usr/sbin/dockerd"),
                    "--config-file",
                    str(self.folder / "daemon.json"),
                    "--host",
                    self.host,
                    "--data-root",
                    str(self.folder / "data"),
                    "--exec-root",
                    str(self.folder / "exec"),
                    "--pidfile",
                    str(self.folder / "docker.pid"),
                    "--bridge",
                    self.bridge,
                    "--iptables=false",
                    "--ip-masq=false",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PATH": path},
            )
        deadline = time.monotonic() + 90
        while self.docker("info", check=False).returncode != 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                log_tail = (self.folder / "dockerd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Docker 28 did not start:\n{log_tail}")
            time.sleep(0.3)

    def load_from_main(self, *references: str) -> None:
        """Copy images from the main engine: no registry is needed."""
        with subprocess.Popen(["docker", "save", *references], stdout=subprocess.PIPE) as save:
            subprocess.run(
                ["docker", "--host", self.host, "load", "-q"],
                stdin=save.stdout,
                check=True,
                capture_output=True,
            )
        assert save.returncode == 0

    def remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)
        # containerd's snapshots are overlay mounts under the data root: unmount before removing.
        mounts = Path("/proc/mounts").read_text().splitlines()
        for line in sorted(mounts, reverse=True):
            point = line.split()[1]
            if point.startswith(str(self.folder)):
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            shutil.rmtree(self.folder)
