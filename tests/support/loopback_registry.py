"""A distribution registry (Debian's docker-registry 2.8) on loopback, its storage in a folder,
run from its binary so that no system service starts; and a proxy that cuts uploads short."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from tests.support.spareengine import HOST_FOOTPRINTS


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


class CuttingProxy:
    """TCP on loopback to a registry, that cuts the connection a push's manifest goes up on: a
    push interrupted half-way, its layers up. (A layer cut off is tried again five times, 5 to
    20 s apart, by the engine; a manifest is sent once.)"""

    def __init__(self, target: str) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.server.getsockname()[1]}"
        self.cut = threading.Event()
        self._sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        host, port = self.target.split(":")
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection((host, int(port)))
            self._sockets += [client, upstream]
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                if data.startswith(b"PUT /v2/") and b"/manifests/" in data.split(b"\r\n", 1)[0]:
                    self.cut.set()
                    source.close()
                    target.close()
                    return
                target.sendall(data)

    def _down(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                target.sendall(data)

    def close(self) -> None:
        for each in self._sockets:
            with contextlib.suppress(OSError):
                each.close()
