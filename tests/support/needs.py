"""One rule for a test that needs what a machine may lack: skipped, with the reason and the
command that installs it; under CI=true, failed instead, since .ci/run installs everything.

Tests name a need with a marker (`@pytest.mark.browser`); fixtures that need something name it
in FIXTURE_NEEDS, and every test that uses them gets the marker, so `-m "not root"` selects by
need. The check of each need runs once per session.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["FIXTURE_NEEDS", "NEEDS", "Need", "require"]


@dataclass(frozen=True)
class Need:
    marker: str
    what: str
    # The command, or the step, that gives a machine what it lacks.
    install: str
    # None where the need is met; else why not, in a few words.
    missing: Callable[[], str | None]


def _engine() -> str | None:
    from workshop.engine.client import Engine
    from workshop.errors import EngineUnavailable

    try:
        Engine.from_env().info  # noqa: B018 - asks the engine something
    except EngineUnavailable as error:
        return error.message.split(". Start one")[0]
    return None


def _root() -> str | None:
    if os.geteuid() != 0:
        return "the tests run as a user, and starting a second dockerd takes root"
    if shutil.which("dockerd") is None:
        return "dockerd is not on PATH"
    return None


def _network() -> str | None:
    from workshop.settings import Settings

    mirror = Settings().debian_mirror
    try:
        with urllib.request.urlopen(f"{mirror}/dists/sid/Release", timeout=10):  # noqa: S310 - a setting's http(s) URL
            return None
    except urllib.error.HTTPError as error:
        # An answer, whatever its status: the mirror is reachable.
        error.close()
        return None
    except OSError as error:
        return f"Debian's mirror ({mirror}) did not answer: {error}"


def _on_path(command: str) -> Callable[[], str | None]:
    return lambda: None if shutil.which(command) else f"{command} is not on PATH"


def _rootless() -> str | None:
    script = "/usr/share/docker.io/contrib/dockerd-rootless.sh"
    lacking = [
        name
        for name, present in (
            (script, Path(script).is_file()),
            *((command, shutil.which(command)) for command in
              ("rootlesskit", "newuidmap", "slirp4netns", "useradd", "setpriv")),
        )
        if not present
    ]  # fmt: skip
    return f"missing: {', '.join(lacking)}" if lacking else None


def _buildx() -> str | None:
    try:
        found = subprocess.run(["docker", "buildx", "version"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "the docker CLI is not on PATH"
    return None if found.returncode == 0 else "the docker CLI has no buildx plugin"


NEEDS = {
    need.marker: need
    for need in (
        Need("engine", "a Docker Engine", "Start one: invoke engine --start (as root)", _engine),
        Need("root", "root, to start extra engines", "Run the tests as root: sudo -E nox", _root),
        Need(
            "network",
            "Debian's mirror, for Docker 28 and the registry's packages",
            "Reach it, or set INVOKE_WORKSHOP_DEBIAN_MIRROR to a mirror you can reach",
            _network,
        ),
        Need(
            "browser",
            "chromium, to open the report",
            "apt-get install chromium",
            _on_path("chromium"),
        ),
        Need(
            "sshd",
            "OpenSSH's server, for the remote test host's ssh:// engine",
            "apt-get install openssh-server (bash .ci/run does, its service not started)",
            lambda: None if Path("/usr/sbin/sshd").is_file() else "/usr/sbin/sshd is missing",
        ),
        Need(
            "podman",
            "Podman, to run the workshop on it",
            "apt-get install podman (bash .ci/run does)",
            _on_path("podman"),
        ),
        Need(
            "mmdebstrap",
            "mmdebstrap, to make a Debian sid system for Podman 5",
            "apt-get install mmdebstrap (bash .ci/run does)",
            _on_path("mmdebstrap"),
        ),
        Need(
            "rootless",
            "rootless Docker (dockerd-rootless.sh, rootlesskit, uidmap, slirp4netns) and useradd",
            "apt-get install docker.io rootlesskit uidmap slirp4netns (bash .ci/run does)",
            _rootless,
        ),
        Need(
            "buildx",
            "the docker CLI's buildx plugin (the BuildKit builder)",
            "apt-get install docker-buildx (Debian trixie and later), or bash .ci/run",
            _buildx,
        ),
    )
}

# Fixtures and what a test that uses them needs (pytest counts the fixtures they use in turn).
FIXTURE_NEEDS = {
    "docker_engine": ("engine",),
    "spare_engine": ("root",),
    "mirror_engine": ("root", "network"),
    "docker28_classic": ("root", "network"),
    "docker28_containerd": ("root", "network"),
    "docker28_binaries": ("network",),
    "registry": ("network",),
    "remote_host": ("root", "sshd"),
    "podman_engine": ("root", "podman"),
    "rootless_user": ("root", "rootless"),
    "rootless_podman5": ("root", "rootless", "mmdebstrap", "network"),
}


@functools.cache
def _missing(need: Need) -> str | None:
    return need.missing()


def require(need: Need) -> None:
    """Skip the running test where `need` is not met (fail it under CI=true)."""
    missing = _missing(need)
    if missing is None:
        return
    text = f"needs {need.what}: {missing}. {need.install}."
    if os.environ.get("CI"):
        pytest.fail(f"CI provides everything the tests need, and this test {text}", pytrace=False)
    pytest.skip(f"{text} (With CI=true this is a failure.)")
