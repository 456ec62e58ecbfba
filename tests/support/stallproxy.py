"""Proxies on loopback in front of the engine's unix socket, each misbehaving in one way.

`StallingProxy`: everything passes both ways, except the answer to `POST .../build`: its first
bytes pass (the engine has started), then nothing more, while both connections stay open, as an
engine that stopped answering would leave them.

`EmptyArchiveProxy`: everything passes, except its first `times` requests for a container's
file (`GET .../archive?path=...`), answered by the proxy itself with status 200 and an empty
archive, as Podman 5.8 answered on a busy machine.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading


class _Proxy:
    """Bytes passed both ways, one thread each way per connection; `_requests` and `_answers`
    are where a proxy misbehaves."""

    def __init__(self, engine_socket: str = "/var/run/docker.sock") -> None:
        self.engine_socket = engine_socket
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.host = f"tcp://127.0.0.1:{self.port}"
        self._sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.engine_socket)
            self._sockets += [client, upstream]
            building = threading.Event()
            threading.Thread(
                target=self._requests, args=(client, upstream, building), daemon=True
            ).start()
            threading.Thread(
                target=self._answers, args=(upstream, client, building), daemon=True
            ).start()

    def _requests(
        self, source: socket.socket, target: socket.socket, building: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                target.sendall(data)

    def _answers(
        self, source: socket.socket, target: socket.socket, building: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                target.sendall(data)

    def close(self) -> None:
        for each in self._sockets:
            with contextlib.suppress(OSError):
                each.close()


class StallingProxy(_Proxy):
    def __init__(self, engine_socket: str = "/var/run/docker.sock") -> None:
        self.stalled = threading.Event()
        super().__init__(engine_socket)

    def _requests(
        self, source: socket.socket, target: socket.socket, building: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                if data.startswith(b"POST ") and b"/build?" in data.split(b"\r\n", 1)[0]:
                    building.set()
                target.sendall(data)

    def _answers(
        self, source: socket.socket, target: socket.socket, building: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                if building.is_set() and self.stalled.is_set():
                    continue  # the engine goes on; the client hears nothing more
                target.sendall(data)
                if building.is_set():
                    self.stalled.set()


# The path's stat, as Podman sends it before the (empty) archive.
_STAT = base64.b64encode(json.dumps({"name": "app", "size": 0, "mode": 493}).encode())
EMPTY_ARCHIVE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n"
    b"X-Docker-Container-Path-Stat: " + _STAT + b"\r\nContent-Length: 0\r\n\r\n"
)


class EmptyArchiveProxy(_Proxy):
    def __init__(self, *, times: int, engine_socket: str = "/var/run/docker.sock") -> None:
        self.times = times
        # The archives it answered empty, by the path asked for.
        self.emptied: list[str] = []
        super().__init__(engine_socket)

    def _requests(
        self, source: socket.socket, target: socket.socket, building: threading.Event
    ) -> None:
        # A GET's head comes in one piece (http.client sends it with one sendall), and the
        # client waits for its answer before the next request on this connection.
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                line = data.split(b"\r\n", 1)[0].decode(errors="replace")
                if (
                    line.startswith("GET ")
                    and "/archive?" in line
                    and len(self.emptied) < self.times
                ):
                    self.emptied.append(line.split("path=", 1)[1].split()[0])
                    source.sendall(EMPTY_ARCHIVE)
                    continue
                target.sendall(data)
