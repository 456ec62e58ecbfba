"""A second, disposable Docker Engine, for tests that stop an engine in the middle of work.

It has its own socket, data root and bridge, so stopping it leaves the main engine alone (a
dockerd started with --bridge none deletes the host's docker0). Each start gets a fresh exec
root: after a SIGKILL the old one holds containerd state that stops the next start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

# What each extra engine or registry puts on the host: (its folder, its bridge or "").
# The tests' owner (support/leftovers.py) checks that all of it is gone at the end.
HOST_FOOTPRINTS: list[tuple[Path, str]] = []

BRIDGE = "wsspare0"


def processes_under(root: Path) -> list[int]:
    """The processes whose command line names `root` (a dockerd, its containerd, the shims of
    its containers, whose -address is under its exec root) or whose root directory is in it (an
    engine run in a system under `root`, chrooted, and the conmon it spawned), and every process
    below them (a container's processes, `runc init`): what outlives a killed engine."""
    parents: dict[int, int] = {}
    named: set[int] = set()
    needle = str(root).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        if needle in command or _rooted_in(entry, root):
            named.add(pid)
    found, grown = set(named), True
    while grown:
        below = {pid for pid, parent in parents.items() if parent in found} - found
        found |= below
        grown = bool(below)
    found.discard(os.getpid())
    return sorted(found)


def unmount_under(root: Path, *, itself: bool = False) -> None:
    """Unmount (lazily, deepest first) everything mounted under `root`, and `root` itself where
    `itself`: what an engine leaves mounted in its folder when it is gone."""
    mounts = Path("/proc/mounts").read_text().splitlines()
    for point in sorted((line.split()[1] for line in mounts), reverse=True):
        if (itself and point == str(root)) or point.startswith(f"{root}/"):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _rooted_in(process: Path, root: Path) -> bool:
    try:
        return Path(os.readlink(process / "root")).is_relative_to(root)
    except OSError:
        return False


def processes_of(*uids: range) -> list[int]:
    """The live processes with a uid in `uids` among their real, effective, saved and
    file-system uids: /proc/PID's own owner is root while a process is not dumpable (just after
    it changed its uid, or running a setuid helper such as newuidmap). A zombie is dead already:
    only its parent's wait removes it."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            if not entry.name.isdigit():
                continue
            status = (entry / "status").read_text().splitlines()
            fields = dict(line.split(":", 1) for line in status if ":" in line)
            if fields.get("State", "").split()[:1] == ["Z"]:
                continue
            if any(int(uid) in each for uid in fields.get("Uid", "").split() for each in uids):
                found.append(int(entry.name))
    return found


def end_processes(find: Callable[[], list[int]]) -> None:
    """SIGKILL every process `find()` names, again until it names none (bounded)."""
    deadline = time.monotonic() + 30
    while (pids := find()) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def end_processes_under(root: Path) -> None:
    """SIGKILL everything `processes_under(root)`, and wait (bounded) until it is gone."""
    end_processes(lambda: processes_under(root))


class SpareEngine:
    """The host's dockerd, run again with its own socket, roots and bridge; `extra` arguments
    for it (a registry mirror, say). Docker28 runs another dockerd the same way."""

    dockerd = "dockerd"
    name = "the spare engine"
    # Whether its bridge is this machine's (a remote host makes its own, in its namespace).
    bridge_here = True

    def __init__(self, root: Path, *, bridge: str = BRIDGE, extra: tuple[str, ...] = ()) -> None:
        self.root = root
        self.host = f"unix://{root}/docker.sock"
        self.bridge = bridge
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        HOST_FOOTPRINTS.append((root, bridge))

    def environment(self) -> dict[str, str] | None:
        """dockerd's environment; None: this process's."""
        return None

    def popen_dockerd(self, command: list[str]) -> list[str]:
        """How dockerd is started: as it is here; in a namespace for a remote host."""
        return command

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "--host", self.host, *args], capture_output=True, text=True, check=check
        )

    def start(self) -> None:
        if (
            self.bridge_here
            and subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode
        ):
            subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
            subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        self.starts += 1
        (self.root / "docker.pid").unlink(missing_ok=True)
        with open(self.root / f"dockerd-{self.starts}.log", "wb") as log:
            self.process = subprocess.Popen(
                self.popen_dockerd(
                    [
                        self.dockerd,
                        "--host",
                        self.host,
                        "--data-root",
                        str(self.root / "data"),
                        "--exec-root",
                        str(self.root / f"exec-{self.starts}"),
                        "--pidfile",
                        str(self.root / "docker.pid"),
                        "--bridge",
                        self.bridge,
                        "--iptables=false",
                        "--ip-masq=false",
                        *self.extra,
                    ]
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
            )
        deadline = time.monotonic() + 90
        while self.docker("info", check=False).returncode != 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} did not start; see {self.root}")
            time.sleep(0.3)

    def kill(self) -> None:
        """Stop the engine as a crash would: SIGKILL, no chance to finish anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def load_from_main(self, *references: str) -> None:
        """Copy images from the main engine: no registry is needed."""
        with subprocess.Popen(["docker", "save", *references], stdout=subprocess.PIPE) as save:
            subprocess.run(
                ["docker", "--host", self.host, "load", "-q"],
                stdin=save.stdout,
                check=True,
                capture_output=True,
            )
        assert save.returncode == 0

    def remove(self) -> None:
        self.stop()
        # A killed engine's containerd and shims (and their containers) outlive it.
        end_processes_under(self.root)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)
        # dockerd makes its data root a mount of its own, and an engine that was killed leaves
        # container overlays and network namespaces mounted under it.
        unmount_under(self.root, itself=True)
        with contextlib.suppress(OSError):
            shutil.rmtree(self.root)
