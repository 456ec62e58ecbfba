"""`python -m invoke` for the tests, without paying invoke's import at every run.

Importing invoke takes a quarter of a second of CPU here (it imports unittest.mock, asyncio,
importlib.metadata and its vendored yaml), most of what a task that stops at a bad setting
costs. The unit tests run such tasks some fifty times. So each pytest worker starts one server,
a Python that has imported invoke and nothing of this project, and each run is a fork of it: a
process of its own, with its own pid, its own stdin, stdout and stderr, the test's environment
and working directory, which then runs invoke's `__main__` as `python -m invoke` does and ends
as any Python ends (atexit, threads joined, streams flushed). Nothing of the project is
imported before the fork, so what a task imports, and what it reads from the environment when
it does, is as in a fresh process.

What a fork can't give, a run gets from a real child instead: settings read once at start-up
(Python's PYTHON* variables and locale, invoke's INVOKE_DEBUG) that differ from the server's,
and a second run while one is under way (from another thread).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import locale
import os
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["ForkServer"]

# Imported by the server before it forks. Nothing of the project: only libraries that read
# nothing of the environment as they are imported.
PRELOADED = (
    "invoke.main",
    "requests",
    "docker",
    "docker.tls",
    "docker.utils.build",
    "docker.utils.json_stream",
    "rich.bar",
    "rich.console",
    "rich.segment",
    "rich.table",
    "rich.text",
)

# Read once, as Python starts or as invoke is imported (INVOKE_DEBUG), not again: a fork would
# keep the server's.
_STARTUP_PREFIXES = ("PYTHON", "LC_", "LANG", "INVOKE_DEBUG")


def _startup_differs(env: Mapping[str, str], base: Mapping[str, str]) -> bool:
    """Whether `env` changes anything Python reads only at start-up from what `base` has."""
    keys = set(env) | set(base)
    return any(key.startswith(_STARTUP_PREFIXES) and env.get(key) != base.get(key) for key in keys)


class ForkServer:
    """A Python with invoke imported; `run` forks it into `python -m invoke ARGS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._environment: Mapping[str, str] = os.environ

    def run(
        self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """`python -m invoke ARGS` in `cwd` with `env`, as subprocess.run(capture_output=True,
        text=True) runs it."""
        command = [sys.executable, "-m", "invoke", *args]
        if not _startup_differs(env, self._environment) and self._lock.acquire(blocking=False):
            try:
                return self._forked(command, cwd=cwd, env=env, timeout=timeout)
            finally:
                self._lock.release()
        return subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _forked(
        self, command: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        deadline = time.monotonic() + timeout
        connection = self._connection()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        outputs: dict[int, bytes] = {}
        pid = 0
        try:
            with open(os.devnull, "rb") as stdin:
                request = json.dumps({"args": command[3:], "cwd": str(cwd), "env": dict(env)})
                fds = [stdin.fileno(), out_write, err_write]
                socket.send_fds(connection, [request.encode()], fds)
            os.close(out_write)
            os.close(err_write)
            pid = int(_line(connection, deadline))
            readers = [
                threading.Thread(target=_drain, args=(fd, outputs), daemon=True)
                for fd in (out_read, err_read)
            ]
            for reader in readers:
                reader.start()
            status = int(_line(connection, deadline))
            # As subprocess.run: what the child started may hold its output open; within the
            # same bound.
            for reader in readers:
                reader.join(max(0.0, deadline - time.monotonic()))
            if any(reader.is_alive() for reader in readers):
                raise TimeoutError
        except TimeoutError:
            self._abandon(pid)
            raise subprocess.TimeoutExpired(
                command, timeout, outputs.get(out_read), outputs.get(err_read)
            ) from None
        except BaseException:
            self._abandon(pid)
            raise
        return subprocess.CompletedProcess(
            command, status, _text(outputs[out_read]), _text(outputs[err_read])
        )

    def _abandon(self, pid: int) -> None:
        """After a run that did not end as asked (a timeout, Ctrl-C): end it, and the server
        with it, whose answers no longer match the questions; the next run starts another."""
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.close()

    def _connection(self) -> socket.socket:
        if self._socket is None:
            ours, theirs = socket.socketpair()
            self._server = subprocess.Popen(
                [sys.executable, "-m", "tests.support.forkserver", str(theirs.fileno())],
                cwd=Path(__file__).resolve().parents[2],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
            theirs.close()
            self._socket = ours
            self._environment = dict(os.environ)
            atexit.register(self.close)
        return self._socket

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()  # the server ends when it reads the end of its socket
            self._socket = None
        if self._server is not None:
            self._server.wait(timeout=10)
            self._server = None


def _drain(fd: int, outputs: dict[int, bytes]) -> None:
    with open(fd, "rb", closefd=True) as stream:
        outputs[fd] = stream.read()


def _text(data: bytes) -> str:
    """As subprocess.run(text=True) decodes: the locale's encoding, universal newlines."""
    return data.decode(locale.getpreferredencoding(False)).replace("\r\n", "\n").replace("\r", "\n")


def _line(connection: socket.socket, deadline: float) -> str:
    """A line from the server, by `deadline` (TimeoutError past it)."""
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        connection.settimeout(remaining)
        chunk = connection.recv(64)
        if not chunk:
            raise RuntimeError("the tests' fork server ended; its stderr is above")
        data += chunk
    return data.decode()


def _serve(connection: socket.socket) -> list[str] | None:
    """Fork once per request; return, in the child, the arguments it is to run (None in the
    server, once the test process is gone)."""
    while True:
        message, fds, _flags, _address = socket.recv_fds(connection, 1 << 20, 3)
        if not message:
            return None
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            connection.close()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            return list(request["args"])
        for fd in fds:
            os.close(fd)
        try:
            connection.sendall(f"{pid}\n".encode())
            _pid, status = os.waitpid(pid, 0)
            connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
        except OSError:  # the test process went away, or gave this server up
            return None


def _preload() -> None:
    """Import what every task imports and reads nothing of the environment as it is imported:
    invoke, and the libraries under the project. docker-py is imported as the project imports it
    (workshop/engine/__init__.py), without paramiko until an ssh:// engine asks for it."""
    sys.modules.setdefault("paramiko", None)  # type: ignore[arg-type]
    for name in PRELOADED:
        importlib.import_module(name)


def main() -> None:
    _preload()
    connection = socket.socket(fileno=int(sys.argv[1]))
    args = _serve(connection)
    if args is None:
        return
    # As `python -m invoke ARGS` starts: argv[0] becomes invoke's __main__.py.
    sys.argv = ["-m", *args]
    sys.path[0] = os.getcwd()
    runpy.run_module("invoke", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
