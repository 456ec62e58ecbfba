"""A proxy on loopback in front of the engine's unix socket that stalls builds mid-stream.

Everything passes both ways, except the answer to `POST .../build`: its first bytes pass (the
engine has started), then nothing more, while both connections stay open, as an engine that
stopped answering would leave them.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class StallingProxy:
    def __init__(self, engine_socket: str = "/var/run/docker.sock") -> None:
        self.engine_socket = engine_socket
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.host = f"tcp://127.0.0.1:{self.port}"
        self.stalled = threading.Event()
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

    def close(self) -> None:
        for each in self._sockets:
            with contextlib.suppress(OSError):
                each.close()
