"""Proxies on loopback in front of an engine or a registry, each misbehaving in one way; what
they share is `Proxy`, which passes bytes both ways.

`StallingProxy`: in front of the engine's unix socket, everything passes both ways, except the
answer to `POST .../build`: its first bytes pass (the engine has started), then nothing more,
while both connections stay open, as an engine that stopped answering would leave them.

`EmptyArchiveProxy`: everything passes, except its first `times` requests for a container's
file (`GET .../archive?path=...`), answered by the proxy itself with status 200 and an empty
archive, as Podman 5.8 answered on a busy machine.

`QuietCopyProxy`: everything passes, but once a build's answer says a COPY step began, the
rest of that answer waits `hold` seconds, as an engine copying a toolchain of 500 MB into a
layer says nothing for a minute on a busy machine, in no container.

`LateAnswerProxy`: everything passes, but the answer to `POST .../images/load` (or to the
POST whose path holds `request`, such as an import's `/images/create`) starts `delay` seconds
late, as Podman 4.3 answers a load only once the whole archive is in its store.

(`CuttingProxy`, in front of a registry, is in tests/support/loopback_registry.py.)
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable

ENGINE_SOCKET = "/var/run/docker.sock"


def engine_socket(path: str = ENGINE_SOCKET) -> Callable[[], socket.socket]:
    """A connection to the engine's unix socket at `path`, for each client's."""

    def connect() -> socket.socket:
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(path)
        return upstream

    return connect


class Proxy:
    """TCP on loopback to what `connect` reaches, one thread each way per connection: each
    request's bytes go through `_request`, each answer's through `_answer`, where a proxy
    misbehaves (they pass them on here). `building` is the connection's own flag."""

    def __init__(self, connect: Callable[[], socket.socket]) -> None:
        self.connect = connect
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.host = f"tcp://{self.address}"
        self._sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = self.connect()
            self._sockets += [client, upstream]
            building = threading.Event()
            for source, target, handle in (
                (client, upstream, self._request),
                (upstream, client, self._answer),
            ):
                threading.Thread(
                    target=self._pass, args=(source, target, building, handle), daemon=True
                ).start()

    @staticmethod
    def _pass(
        source: socket.socket,
        target: socket.socket,
        building: threading.Event,
        handle: Callable[[bytes, socket.socket, socket.socket, threading.Event], None],
    ) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                handle(data, source, target, building)

    def _request(
        self, data: bytes, client: socket.socket, upstream: socket.socket, building: threading.Event
    ) -> None:
        upstream.sendall(data)

    def _answer(
        self, data: bytes, upstream: socket.socket, client: socket.socket, building: threading.Event
    ) -> None:
        client.sendall(data)

    def close(self) -> None:
        for each in self._sockets:
            with contextlib.suppress(OSError):
                each.close()


def request_line(data: bytes) -> str:
    """The first line of a request's bytes (a request's head comes in one piece: http.client
    sends it with one sendall)."""
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


class BuildProxy(Proxy):
    """Flags a connection once it asks for a build (`POST .../build?`): its answer is the
    build's, where the proxies below misbehave."""

    def _request(
        self, data: bytes, client: socket.socket, upstream: socket.socket, building: threading.Event
    ) -> None:
        if request_line(data).startswith("POST ") and "/build?" in request_line(data):
            building.set()
        upstream.sendall(data)


class StallingProxy(BuildProxy):
    def __init__(self, path: str = ENGINE_SOCKET) -> None:
        self.stalled = threading.Event()
        super().__init__(engine_socket(path))

    def _answer(
        self, data: bytes, upstream: socket.socket, client: socket.socket, building: threading.Event
    ) -> None:
        if building.is_set() and self.stalled.is_set():
            return  # the engine goes on; the client hears nothing more
        client.sendall(data)
        if building.is_set():
            self.stalled.set()


# The path's stat, as Podman sends it before the (empty) archive.
_STAT = base64.b64encode(json.dumps({"name": "app", "size": 0, "mode": 493}).encode())
EMPTY_ARCHIVE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n"
    b"X-Docker-Container-Path-Stat: " + _STAT + b"\r\nContent-Length: 0\r\n\r\n"
)


# Podman 4.3's refusal of an archive of a container whose storage its cleanup was unmounting.
_LOST_MOUNT = json.dumps(
    {
        "cause": "no such file or directory",
        "message": "mounting storage for container 9ace74a2019a: lstat /var/lib/containers/"
        "storage/overlay/d626b9278fc5/merged: no such file or directory",
        "response": 500,
    }
).encode()
LOST_MOUNT = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(_LOST_MOUNT)).encode() + b"\r\n\r\n" + _LOST_MOUNT
)


class EmptyArchiveProxy(Proxy):
    """Answers the first `times` asks for a container's file itself: with an empty archive, or
    with `answer` (LOST_MOUNT)."""

    def __init__(
        self, *, times: int, path: str = ENGINE_SOCKET, answer: bytes = EMPTY_ARCHIVE
    ) -> None:
        self.times = times
        self.answer = answer
        # The asks it answered itself (empty, or `answer`), by the path asked for.
        self.emptied: list[str] = []
        super().__init__(engine_socket(path))

    def _request(
        self, data: bytes, client: socket.socket, upstream: socket.socket, building: threading.Event
    ) -> None:
        # The client waits for this answer before its next request on the connection.
        line = request_line(data)
        if line.startswith("GET ") and "/archive?" in line and len(self.emptied) < self.times:
            self.emptied.append(line.split("path=", 1)[1].split()[0])
            client.sendall(self.answer)
            return
        upstream.sendall(data)


class LateAnswerProxy(Proxy):
    def __init__(
        self, *, delay: float, request: str = "/images/load", path: str = ENGINE_SOCKET
    ) -> None:
        self.delay = delay
        self.request = request
        # The requests whose answer it held back, by their request line.
        self.delayed: list[str] = []
        super().__init__(engine_socket(path))

    def _request(
        self, data: bytes, client: socket.socket, upstream: socket.socket, loading: threading.Event
    ) -> None:
        line = request_line(data)
        if line.startswith("POST ") and self.request in line:
            self.delayed.append(line)
            loading.set()
        upstream.sendall(data)

    def _answer(
        self, data: bytes, upstream: socket.socket, client: socket.socket, loading: threading.Event
    ) -> None:
        if loading.is_set():
            loading.clear()
            time.sleep(self.delay)
        client.sendall(data)


class QuietCopyProxy(BuildProxy):
    def __init__(self, *, hold: float, path: str = ENGINE_SOCKET) -> None:
        self.hold = hold
        # The COPY steps after which it held the answer back.
        self.held: list[str] = []
        # The COPY heading seen so far, while its message has not ended.
        self._heading: bytes | None = None
        super().__init__(engine_socket(path))

    def _answer(
        self, data: bytes, upstream: socket.socket, client: socket.socket, building: threading.Event
    ) -> None:
        """Hold right after the message that heads the first COPY step: on a busy machine one
        piece of the answer can end inside that message, or go on to the steps after it (a
        cached COPY's layer line, the next heading), and holding after those is not a silent
        COPY. A message ends at its newline (JSON escapes those in its strings)."""
        if not building.is_set() or self.held:
            client.sendall(data)
            return
        start = 0
        if self._heading is None:
            step = data.find(b" : COPY ")
            if step < 0:
                client.sendall(data)
                return
            self._heading, start = b"", step + 3
        end = data.find(b"\n", start)
        if end < 0:  # the heading's message goes on in the next piece
            self._heading += data[start:]
            client.sendall(data)
            return
        self._heading += data[start:end]
        client.sendall(data[: end + 1])
        self.held.append(self._heading.split(b"\\n", 1)[0].decode(errors="replace"))
        time.sleep(self.hold)
        client.sendall(data[end + 1 :])
