"""Podman as the tests run it: Debian's podman serving the Docker API on a socket of its own,
beside the host's engine, with its own storage and state in one folder, removed whole.

Its containers get `nofile` and `nproc` at 1024 (containers.conf's default_ulimits): this
machine has no CAP_SYS_RESOURCE, and Podman's defaults (1048576) are past its limits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.support.spareengine import HOST_FOOTPRINTS, end_processes_under, unmount_under

__all__ = ["PodmanService", "containers_conf"]

# The bridge Podman's default network makes on a container's first run.
BRIDGE = "podman0"


def containers_conf() -> str:
    """default_ulimits this machine lets a container have: Podman's defaults (1048576) are past
    its limits, and runc may not raise nproc to the hard limit here either; 1024 runs."""
    return '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'


class PodmanService:
    """`podman system service` rootful, every path of its own under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "podman.sock"
        self.host = f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None
        # Its bridge is this test run's only where the host had none before.
        self._bridge = "" if _link_exists(BRIDGE) else BRIDGE
        HOST_FOOTPRINTS.append((root, self._bridge))

    def podman(self, *arguments: str) -> list[str]:
        """A podman command line on this service's storage (its own CLI, to check by)."""
        return [
            "podman",
            "--root",
            str(self.root / "storage"),
            "--runroot",
            str(self.root / "run"),
            "--tmpdir",
            str(self.root / "tmp"),
            "--network-config-dir",
            str(self.root / "networks"),
            *arguments,
        ]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": str(self.root / "containers.conf")}

    def start(self) -> None:
        (self.root / "containers.conf").write_text(containers_conf())
        for name in ("networks", "tmp"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        with (self.root / "service.log").open("wb") as log:
            self.process = subprocess.Popen(
                self.podman("system", "service", "--time=0", self.host),
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answered = subprocess.run(
                ["docker", "--host", self.host, "version"], capture_output=True, check=False
            )
            if answered.returncode == 0:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"podman's service did not answer: {(self.root / 'service.log')}")

    def _quietly(self, *arguments: str) -> None:
        """A podman command on this storage whose failure changes nothing (bounded)."""
        subprocess.run(
            self.podman(*arguments),
            env=self.environment(),
            capture_output=True,
            check=False,
            timeout=300,
        )

    def remove(self) -> None:
        """The service and its containers (their networks torn down by Podman), its mounts,
        its folder with the images in it, and its bridge."""
        if self.process is not None and self.process.poll() is None:
            self._quietly("rm", "--all", "--force")
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        end_processes_under(self.root)
        # Its images go with its folder, unmounted first: `podman rmi --all` took 48 s after
        # a shrink where unmounting and deleting the folder take 3.
        unmount_under(self.root)
        if self._bridge:
            subprocess.run(["ip", "link", "delete", self._bridge], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            shutil.rmtree(self.root)


def _link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()
