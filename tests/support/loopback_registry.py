"""A distribution registry (Debian's docker-registry 2.8) on loopback, its storage in a folder,
run from its binary so that no system service starts; and a proxy that cuts uploads short."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from tests.support.spareengine import HOST_FOOTPRINTS
from tests.support.stallproxy import Proxy, request_line


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Registry:
    def __init__(self, binary: Path, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self.process: subprocess.Popen[bytes] | None = None
        HOST_FOOTPRINTS.append((folder, ""))

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.folder / 'storage'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n"
        )
        with open(self.folder / "registry.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/v2/", timeout=2):  # noqa: S310 - loopback
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"the registry did not start; see {self.folder}") from None
                time.sleep(0.2)

    def push_from_main(self, local: str, name: str) -> str:
        """Push the main engine's image `local` to this registry as `name`; the pushed name."""
        remote = f"{self.address}/{name}"
        subprocess.run(["docker", "tag", local, remote], check=True, capture_output=True)
        try:
            subprocess.run(["docker", "push", "-q", remote], check=True, capture_output=True)
        finally:
            subprocess.run(["docker", "image", "rm", remote], capture_output=True, check=False)
        return remote

    def remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


class CuttingProxy(Proxy):
    """TCP on loopback to a registry, that cuts the connection a push's manifest goes up on: a
    push interrupted half-way, its layers up. (A layer cut off is tried again five times, 5 to
    20 s apart, by the engine; a manifest is sent once.)"""

    def __init__(self, target: str) -> None:
        self.target = target
        self.cut = threading.Event()
        host, port = target.split(":")
        super().__init__(lambda: socket.create_connection((host, int(port))))

    def _request(
        self, data: bytes, client: socket.socket, upstream: socket.socket, building: threading.Event
    ) -> None:
        line = request_line(data)
        if line.startswith("PUT /v2/") and "/manifests/" in line:
            self.cut.set()
            client.close()
            upstream.close()
            return
        upstream.sendall(data)
