"""Rootless Docker as a user without root has it: a plain user of the test's own (`wsrl` and the
test process's pid, its subordinate ids given by useradd), everything of it in one folder:

- a copy of the project and a virtualenv of Debian's python3 holding it (the tests' own
  interpreter lives under /root, which a plain user can't read), so that the tasks run as that
  user, as a user's own checkout would;
- its home, TMPDIR and $XDG_RUNTIME_DIR, where `invoke engine --start` starts Debian's
  dockerd-rootless.sh (rootlesskit, a user namespace, slirp4netns) and its socket appears.

The harness, root, reads that engine through the socket with the docker CLI, to check by.
Removed whole: the user's processes (its engine's containers run as its subordinate ids, so
they are found by the folder their shims name), the folder, then the user (userdel takes its
subordinate ids too). A run that was killed before its teardown left a user whose test process
is gone: the next run removes it the same way.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.podman import containers_conf
from tests.support.spareengine import (
    HOST_FOOTPRINTS,
    end_processes,
    end_processes_under,
    processes_of,
    unmount_under,
)

__all__ = ["RootlessUser", "reclaim_abandoned"]

PREFIX = "wsrl"
# What the tasks need of the project, copied for the user.
PROJECT_FILES = ("pyproject.toml", "README.md", "tasks.py", "workshop", "dockerfiles")


def _remove_user(name: str, folder: Path | None) -> None:
    with contextlib.suppress(KeyError):
        uid = pwd.getpwnam(name).pw_uid
        end_processes(lambda: processes_of(range(uid, uid + 1)))
    if folder is not None:
        end_processes_under(folder)
        unmount_under(folder)
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)
    subprocess.run(["userdel", name], capture_output=True, check=False)


def reclaim_abandoned() -> list[str]:
    """Remove the test users whose test process is gone; their names."""
    abandoned = [
        entry.pw_name
        for entry in pwd.getpwall()
        if entry.pw_name.startswith(PREFIX)
        and entry.pw_name.removeprefix(PREFIX).isdigit()
        and not Path(f"/proc/{entry.pw_name.removeprefix(PREFIX)}").exists()
    ]
    for name in abandoned:
        home = Path(pwd.getpwnam(name).pw_dir)
        # Its folder is the parent of its home, one of ours under /tmp.
        _remove_user(name, home.parent if home.parent.name.startswith("rootless-") else None)
    return abandoned


class RootlessUser:
    """A user without root, the project in reach, and rootless Docker's socket where it starts."""

    def __init__(self, root: Path) -> None:
        reclaim_abandoned()
        self.root = root
        self.name = f"{PREFIX}{os.getpid()}"
        self.home = root / "home"
        self.runtime = root / "run"
        self.project = root / "project"
        self.venv = root / "venv"
        # Its TMPDIR: rootlesskit makes its state folder there, which would outlive the user.
        self.tmp = root / "tmp"
        self.host = f"unix://{self.runtime}/docker.sock"
        self.podman_host = f"unix://{self.runtime}/podman/podman.sock"
        HOST_FOOTPRINTS.append((root, ""))

    def create(self) -> None:
        self.root.chmod(0o755)
        subprocess.run(
            ["useradd", "--home-dir", str(self.home), "--create-home", "--user-group",
             "--shell", "/bin/sh", self.name],
            check=True, capture_output=True,
        )  # fmt: skip
        user = pwd.getpwnam(self.name)
        for private in (self.runtime, self.tmp):
            private.mkdir(mode=0o700)
            os.chown(private, user.pw_uid, user.pw_gid)
        self.project.mkdir()
        for name in PROJECT_FILES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, self.project / name)
            else:
                shutil.copy2(source, self.project / name)
        # Installed by root from root's cache, then only read by the user.
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(self.venv)], check=True)
        subprocess.run(
            [self.venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check",
             "--editable", str(self.project)],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        subprocess.run(
            ["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(self.project)], check=True
        )

    def configure_podman(self) -> None:
        """The user's ~/.config/containers/: containers.conf gives containers the ulimits this
        machine allows (Podman's defaults are past them), and storage.conf picks overlay, which
        this kernel serves to a user: Debian 12's rootless Podman otherwise stores on vfs, each
        layer a whole copy (a set-up of the tests took 208 s there, 56 s on overlay)."""
        config = self.home / ".config" / "containers"
        config.mkdir(parents=True, exist_ok=True)
        (config / "containers.conf").write_text(containers_conf())
        (config / "storage.conf").write_text('[storage]\ndriver = "overlay"\n')
        subprocess.run(["chown", "-R", f"{self.name}:", str(self.home / ".config")], check=True)

    def environment(self, **settings: str) -> dict[str, str]:
        """What the user's login would give it, DOCKER_HOST at its own rootless socket."""
        return {
            "HOME": str(self.home),
            "USER": self.name,
            "XDG_RUNTIME_DIR": str(self.runtime),
            "TMPDIR": str(self.tmp),
            "PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "DOCKER_HOST": self.host,
            **settings,
        }

    def command(self, *command: str, env: dict[str, str]) -> list[str]:
        """`command` as the user, in its copy of the project, with only `env`."""
        user = pwd.getpwnam(self.name)
        return [
            "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
            "env", "-i", f"--chdir={self.project}",
            *(f"{key}={value}" for key, value in env.items()), *command,
        ]  # fmt: skip

    def run(self, *command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """`command` as the user, in its copy of the project, with only `env` (bounded)."""
        return subprocess.run(
            self.command(*command, env=env),
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )

    def docker(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """The docker CLI on the user's engine, to check by."""
        return subprocess.run(
            ["docker", "--host", self.host, *arguments],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )

    def remove(self) -> None:
        _remove_user(self.name, self.root)
