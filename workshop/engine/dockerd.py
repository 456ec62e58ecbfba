"""`invoke engine`: which Docker Engine the tasks would use and how it was chosen, and with
`--start`, a local engine started where none answers.

Starting is for a fresh Debian or Ubuntu machine where the user is root: docker.io (and
debootstrap, which the local stand-in bases need) are installed if missing, and dockerd is
started on its unix socket only, detached, its log in build/dockerd.log; the task returns once
the engine answers (within `engine_timeout`). A user without root whose DOCKER_HOST names their
own engine's socket gets that engine started as them: Podman's API service
($XDG_RUNTIME_DIR/podman/podman.sock) or rootless Docker ($XDG_RUNTIME_DIR/docker.sock), its log
in build/. Anything else (a remote engine chosen, no root, no apt) is a message saying what to
run instead, with the engine's exit code (3).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests.exceptions
from rich.console import Group, RenderableType
from rich.text import Text

from workshop.engine.endpoint import DEFAULT_HOST, Endpoint
from workshop.engine.values import EngineInfo
from workshop.errors import EngineUnavailable, WorkshopError
from workshop.paths import PROJECT_ROOT
from workshop.system import is_root

__all__ = ["EngineStatus", "install", "start_local"]

PACKAGES = {"dockerd": "docker.io", "debootstrap": "debootstrap"}
# Where Debian's docker.io puts the script that starts a rootless dockerd.
ROOTLESS_SCRIPT = "/usr/share/docker.io/contrib/dockerd-rootless.sh"
INSTALL_TIMEOUT = 900.0


@dataclass(frozen=True)
class EngineStatus:
    endpoint: Endpoint
    info: EngineInfo
    started: bool = False
    # What `--start` did about emulating the other platform, in a line ("" where not asked).
    emulation: str = ""

    def __rich__(self) -> RenderableType:
        lines = [Text(f"Engine: {self.endpoint.host}", style="bold")]
        lines.append(Text(f"Chosen by: {self.endpoint.chosen_by}"))
        lines.append(Text(f"Answers: {self.info.describe()}"))
        lines.append(Text(f"Runs on: {self.info.where.said}"))
        lines.extend(Text(f"  {line}") for line in self.info.where.consequences())
        lacking = self.info.lacks()
        if lacking:
            lines.append(Text("Lacks:"))
            lines.extend(Text(f"  {line}") for line in lacking)
        if self.started:
            lines.append(Text(self._started()))
        if self.emulation:
            lines.append(Text(self.emulation))
        return Group(*lines)

    def _started(self) -> str:
        if self.info.is_podman:
            return "Started now: Podman's API service; its log is build/podman.log."
        if self.info.rootless:
            return "Started now: rootless Docker, as you; its log is build/dockerd-rootless.log."
        return "Started now, on its unix socket only; its log is build/dockerd.log."


def start_local(endpoint: Endpoint, *, timeout: float) -> None:
    if endpoint.podman_socket:
        _start_podman(endpoint, timeout=timeout)
        return
    if not is_root() and endpoint.host == rootless_docker_host():
        _start_rootless_docker(endpoint, timeout=timeout)
        return
    if endpoint.host != DEFAULT_HOST:
        raise EngineUnavailable(
            f"No engine answers at {endpoint.describe()}, and --start starts one only on this "
            f"machine's default socket ({DEFAULT_HOST}). Start that engine where it runs, or "
            "unset DOCKER_HOST / `docker context use default` to use a local one."
        )
    if not is_root():
        raise EngineUnavailable(_without_root())
    missing = [package for command, package in PACKAGES.items() if shutil.which(command) is None]
    if missing:
        install(missing)
    _start_detached(["dockerd", f"--host={DEFAULT_HOST}"], "dockerd", DEFAULT_HOST, timeout)


def rootless_docker_host() -> str:
    """Where rootless Docker listens for this user: unix://$XDG_RUNTIME_DIR/docker.sock ("" with
    no XDG_RUNTIME_DIR)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    return f"unix://{runtime.rstrip('/')}/docker.sock" if runtime else ""


def log_of(command: str) -> Path:
    """Where `invoke engine --start` keeps what the engine it started prints."""
    return PROJECT_ROOT / "build" / f"{Path(command).name.removesuffix('.sh')}.log"


def _start_detached(command: list[str], what: str, host: str, timeout: float) -> None:
    """`command` started in a session of its own (the engine outlives this task, and a Ctrl-C
    here does not reach it), its output in build/NAME.log; returns once it answers on `host`,
    else EngineUnavailable with the log's last lines."""
    log = log_of(command[0])
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as output:
        subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    if _answers_within(host, timeout):
        return
    tail = log.read_text(errors="replace").splitlines()[-15:]
    raise EngineUnavailable(
        f"{what} was started but did not answer within {timeout:g} s (workshop.engine_timeout). "
        f"Last lines of {log}:\n" + "\n".join(f"  {line}" for line in tail)
    )


def _without_root() -> str:
    """What a user without root can start instead of Docker's root daemon, by what is
    installed: Podman, rootless Docker, or the packages for either."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or "/run/user/$(id -u)"
    if shutil.which("podman"):
        return (
            "Starting Docker's engine on its default socket needs root; Podman is installed, "
            "and runs without it. Start its Docker API as yourself and use it: "
            f"`export DOCKER_HOST=unix://{runtime}/podman/podman.sock` then `invoke engine "
            "--start` (the stand-ins need root to build: `invoke bases --load FILE` takes the "
            "file `invoke bases --save FILE` wrote on a machine that has them)."
        )
    if _rootless_script():
        return (
            "Starting Docker's engine on its default socket needs root; rootless Docker is "
            f"installed, and runs without it. Use it: `export DOCKER_HOST=unix://{runtime}/"
            "docker.sock` then `invoke engine --start` starts it as you (the stand-ins need root "
            "to build: `invoke bases --load FILE` takes the file `invoke bases --save FILE` "
            "wrote on a machine that has them)."
        )
    return (
        "Starting a Docker Engine needs root, and neither Podman nor rootless Docker is "
        "installed. As root: `sudo invoke engine --start`. Without root, have someone install "
        "`podman` (Debian, Ubuntu, Fedora), or rootless Docker (Debian's `docker.io "
        "rootlesskit slirp4netns uidmap`), then run this again."
    )


# What rootless Docker runs besides its script: (command, the package that has it).
_ROOTLESS_COMMANDS = (("rootlesskit", "rootlesskit"), ("newuidmap", "uidmap"))


def _rootless_script() -> str:
    """dockerd-rootless.sh, on PATH or where Debian's docker.io puts it; "" where neither."""
    return shutil.which("dockerd-rootless.sh") or (
        ROOTLESS_SCRIPT if Path(ROOTLESS_SCRIPT).is_file() else ""
    )


def _start_rootless_docker(endpoint: Endpoint, *, timeout: float) -> None:
    """Rootless Docker as this user, detached, on its default socket (the one `endpoint`
    names): Docker's own script, which runs dockerd in a user namespace through rootlesskit."""
    script = _rootless_script()
    present = {"docker.io": script, **{p: shutil.which(c) for c, p in _ROOTLESS_COMMANDS}}
    if missing := [package for package, found in present.items() if not found]:
        raise EngineUnavailable(
            f"{endpoint.describe()} is rootless Docker's socket, and rootless Docker is not "
            "installed here: it needs Docker's dockerd-rootless.sh (Debian's docker.io), "
            f"rootlesskit, uidmap and slirp4netns (missing: {', '.join(missing)}). Have them "
            "installed (apt-get install docker.io rootlesskit uidmap slirp4netns), then run "
            "this again."
        )
    _start_detached([script], "Rootless Docker", endpoint.host, timeout)


def _start_podman(endpoint: Endpoint, *, timeout: float) -> None:
    """Podman's Docker API service on the socket `endpoint` names, detached, as this user."""
    if shutil.which("podman") is None:
        raise EngineUnavailable(
            f"{endpoint.describe()} is Podman's socket, and podman is not installed: install it "
            "(apt-get install podman, dnf install podman), then run this again."
        )
    path = Path(endpoint.podman_socket)
    path.parent.mkdir(parents=True, exist_ok=True)
    command = ["podman", "system", "service", "--time=0", f"unix://{path}"]
    _start_detached(command, "Podman's service", endpoint.host, timeout)


def _answers_within(host: str, timeout: float) -> bool:
    """Whether an engine answers on the unix socket `host` before `timeout` seconds pass."""
    path = host.removeprefix("unix://")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Not yet: no socket, or a socket file nothing listens on (what a killed dockerd
        # leaves). Probed with a socket of our own: docker-py's leaks when connect fails.
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(5)
                probe.connect(path)
        except OSError:
            time.sleep(0.5)
            continue
        client = docker.DockerClient(base_url=host, version="1.24", timeout=5)
        try:
            client.ping()
            return True
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            time.sleep(0.5)
        finally:
            client.close()
    return False


def install(packages: list[str]) -> None:
    """Debian's `packages`, through apt-get; EngineUnavailable saying why not."""
    if shutil.which("apt-get") is None:
        raise EngineUnavailable(
            f"{', '.join(packages)} must be installed, and this machine has no apt-get: install "
            "Docker Engine as its system does (https://docs.docker.com/engine/install/), then "
            "run the task again."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        try:
            done = subprocess.run(
                command,
                env=env,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise WorkshopError(
                f"`{' '.join(command)}` took longer than {INSTALL_TIMEOUT:g} s."
            ) from None
        if done.returncode != 0:
            raise EngineUnavailable(
                f"`{' '.join(command)}` failed (exit {done.returncode}):\n"
                + "\n".join(f"  {line}" for line in done.stderr.splitlines()[-10:])
            )
