"""Podman as the tests run it, serving the Docker API on a socket of its own beside the host's
engine, with its own storage and state in one folder, removed whole: Debian 12's podman 4.3 as
installed, and sid's Podman 5 in a Debian sid system of its own (its packages need a newer C
library than the host's), made with mmdebstrap and run as the root of a mount namespace of its own.

Its containers get `nofile` and `nproc` at 1024 (containers.conf's default_ulimits): this
machine has no CAP_SYS_RESOURCE, and Podman's defaults (1048576) are past its limits.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.support.paths import debian_mirror
from tests.support.spareengine import (
    HOST_FOOTPRINTS,
    end_processes,
    end_processes_under,
    processes_of,
    unmount_under,
)

__all__ = [
    "Podman5Service",
    "PodmanService",
    "RootlessPodman5",
    "SidSystem",
    "containers_conf",
    "service_errors",
]

# The bridge Podman's default network makes on a container's first run.
BRIDGE = "podman0"

# The logs of the Podman services this process started, by what each serves: a failing test's
# report shows their errors (service_errors), which go with their folders at the end.
SERVICE_LOGS: dict[str, Path] = {}


def service_errors(*, most: int = 15) -> str:
    """The last `most` error lines of each Podman service's log that is still there: Podman
    logs what went wrong with a request it had already answered 200 (an archive sent empty)."""
    found = []
    for name, log in SERVICE_LOGS.items():
        with contextlib.suppress(OSError):
            lines = log.read_text(errors="replace").splitlines()
            errors = [line for line in lines if "level=error" in line][-most:]
            if errors:
                found.append(f"{name} ({log}):\n" + "\n".join(errors))
    return "\n\n".join(found)


def containers_conf() -> str:
    """default_ulimits this machine lets a container have: Podman's defaults (1048576) are past
    its limits, and runc may not raise nproc to the hard limit here either; 1024 runs. And runc
    as the runtime: crun (which Podman prefers, and which apt installs with it unless runc is
    already there) refuses this machine's hybrid cgroups, v1 with v2 at /sys/fs/cgroup/unified."""
    return (
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
        '[engine]\nruntime = "runc"\n'
    )


class PodmanService:
    """`podman system service` rootful, every path of its own under `root`."""

    def __init__(self, root: Path, *, socket: str = "podman.sock", bridge: str = BRIDGE) -> None:
        self.root = root
        self.socket = root / socket
        self.host = f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None
        # What its own CLI says, once it is started (`podman --version`).
        self.version = ""
        # Its bridge is this test run's only where the host had none before.
        self._bridge = "" if _link_exists(bridge) else bridge
        HOST_FOOTPRINTS.append((root, self._bridge))

    def podman(self, *arguments: str) -> list[str]:
        """A podman command line on this service's storage (its own CLI, to check by), in the
        service's mount namespace once it runs, where its containers' storage is mounted."""
        process = self.process
        inside = []
        if process is not None and process.poll() is None:
            inside = ["nsenter", f"--target={process.pid}", "--mount"]
        return [
            *inside,
            "podman",
            "--root",
            str(self.root / "storage"),
            "--runroot",
            str(self.root / "run"),
            "--tmpdir",
            str(self.root / "tmp"),
            "--network-config-dir",
            str(self.root / "networks"),
            *arguments,
        ]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": str(self.root / "containers.conf")}

    def service(self) -> list[str]:
        """The command that serves the Docker API on this service's socket, in a mount
        namespace of its own."""
        return [
            "unshare", "--mount", "--propagation", "private", "sh", "-c", _OWN_NAMESPACE,
            "podman", *self.podman("system", "service", "--time=0", self.host),
        ]  # fmt: skip

    def prepare(self) -> None:
        (self.root / "containers.conf").write_text(containers_conf())
        for name in ("networks", "tmp"):
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self.prepare()
        with (self.root / "service.log").open("wb") as log:
            self.process = subprocess.Popen(
                self.service(),
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answered = subprocess.run(
                ["docker", "--host", self.host, "version"], capture_output=True, check=False
            )
            if answered.returncode == 0:
                self.version = subprocess.run(
                    self.podman("--version"),
                    env=self.environment(),
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=60,
                ).stdout.split()[-1]
                SERVICE_LOGS[f"Podman {self.version}, rootful"] = self.root / "service.log"
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"podman's service did not answer: {(self.root / 'service.log')}")

    def _quietly(self, *arguments: str) -> None:
        """A podman command on this storage whose failure changes nothing (bounded)."""
        subprocess.run(
            self.podman(*arguments),
            env=self.environment(),
            capture_output=True,
            check=False,
            timeout=300,
        )

    def remove(self) -> None:
        """The service and its containers (their networks torn down by Podman), its mounts,
        its folder with the images in it, and its bridge."""
        if self.process is not None and self.process.poll() is None:
            self._quietly("rm", "--all", "--force")
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        end_processes_under(self.root)
        # Its images go with its folder, unmounted first: `podman rmi --all` took 48 s after
        # a shrink where unmounting and deleting the folder take 3.
        unmount_under(self.root)
        if self._bridge:
            subprocess.run(["ip", "link", "delete", self._bridge], capture_output=True, check=False)
        self.remove_firewall()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.root)

    def remove_firewall(self) -> None:
        """What its network backend put in the host's firewall and leaves behind (none here:
        Podman 4.3's netavark takes its iptables rules down with each container)."""


# sid's Podman 5, what it runs containers with (crun refuses this machine's hybrid cgroups: runc),
# its network backend and firewall (netavark, aardvark-dns, nftables).
# Rootless, newuidmap (uidmap) and pasta (passt), Podman 5's network for a user without root.
SID_PACKAGES = (
    "podman", "runc", "conmon", "netavark", "aardvark-dns", "nftables", "iptables",
    "ca-certificates", "catatonit", "uidmap", "passt",
)  # fmt: skip


class SidSystem:
    """A Debian sid system with Podman 5 installed, made in `folder` by mmdebstrap (about 25 s
    here); removed with its folder (by its service, once one runs in it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "system"
        HOST_FOOTPRINTS.append((folder, ""))
        try:
            subprocess.run(
                [
                    "mmdebstrap", "--quiet", "--variant=minbase",
                    "--aptopt=Acquire::Check-Valid-Until \"false\"",
                    f"--include={','.join(SID_PACKAGES)}",
                    "sid", str(self.path), debian_mirror(),
                ],
                check=True,
                capture_output=True,
                timeout=900,
            )  # fmt: skip
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# Run in a mount namespace of its own: first its copies of the mounts other engines have under
# /tmp and /var/lib/docker let go (a copy would keep a container's storage mounted there after
# its engine unmounts it), then the command. Podman's own overlay mounts then live in its
# namespace alone, where no other engine's namespace (a rootless engine's, a sid system's) can
# copy them: Podman 4.3 run in the host's namespace failed twice in some twenty runs, each time
# beside such namespaces being made, with "mounting storage for container ...: lstat
# .../merged: no such file or directory" (its count of a layer's mounts said mounted, and the
# folder it mounts on was gone).
_LET_GO = """\
for point in $(awk '$2 ~ "^/(tmp|var/lib/docker)/" {print $2}' /proc/self/mounts | sort -r); do
  umount -l "$point" 2>/dev/null || true
done
"""
_OWN_NAMESPACE = "set -e\n" + _LET_GO + 'exec "$@"\n'
# The same for a service in a sid system: its mounts let go, then the system's root made a
# mount point (runc makes `/` a slave mount), the host's /proc, /sys and /dev inside it, a /run
# of its own, and the folder that holds the socket bound where the service serves (`at`); then
# the system made the root by pivot_root (a chrooted process may not make a user namespace,
# clone(2): EPERM, which rootless Podman needs), `/` shared, as rootless Podman expects; then
# the command.
_IN_SYSTEM = (
    """set -e
system=$1 sockets=$2 at=$3; shift 3
"""
    + _LET_GO
    + """mount --bind "$system" "$system"
mount --rbind /proc "$system/proc"
mount --rbind /sys "$system/sys"
mount --rbind /dev "$system/dev"
mount -t tmpfs tmpfs "$system/run"
mkdir -p "$system$at" "$system/.old-root"
mount --bind "$sockets" "$system$at"
cd "$system"
pivot_root . .old-root
umount -l /.old-root
rmdir /.old-root
mount --make-rshared /
exec "$@"
"""
)
# Its default network's bridge and subnet, apart from Podman 4.3's podman0 (10.88.0.0/16).
BRIDGE_5 = "wspodman5"
NETWORK_5 = {
    "name": "podman",
    "id": "2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9",
    "driver": "bridge",
    "network_interface": BRIDGE_5,
    "subnets": [{"subnet": "10.89.250.0/24", "gateway": "10.89.250.1"}],
    "ipv6_enabled": False,
    "internal": False,
    "dns_enabled": False,
    "ipam_options": {"driver": "host-local"},
}


class Podman5Service(PodmanService):
    """sid's Podman 5, rootful, in a sid system of its own made its root (its storage and state are
    the system's), its socket in the system's folder."""

    def __init__(self, system: SidSystem) -> None:
        self.system = system.path
        root = system.folder
        # netavark's nftables table is this run's to remove where the host had none before.
        self._nft_table = "table inet netavark" not in self._nft("list", "tables")
        super().__init__(root, socket="sockets/podman.sock", bridge=BRIDGE_5)

    def _nft(self, *arguments: str) -> str:
        """nft, the system's (the host may have none), on the host's firewall."""
        done = subprocess.run(
            ["chroot", str(self.system), "nft", *arguments], capture_output=True, text=True
        )
        return done.stdout

    def podman(self, *arguments: str) -> list[str]:
        """A podman command in the service's system (its mount namespace and root)."""
        assert self.process is not None, "started first"
        return ["nsenter", f"--target={self.process.pid}", "--mount", "--root", "--wd",
                "podman", *arguments]  # fmt: skip

    def environment(self) -> dict[str, str]:
        # Its containers.conf is the system's; cgroups v1 (this machine) makes Podman 5 warn.
        env = {key: value for key, value in os.environ.items() if key != "CONTAINERS_CONF"}
        return {**env, "PODMAN_IGNORE_CGROUPSV1_WARNING": "1"}

    def service(self) -> list[str]:
        return [
            "unshare", "--mount", "--propagation", "private",
            "sh", "-c", _IN_SYSTEM, "podman5", str(self.system), str(self.socket.parent),
            "/run/sockets",
            "podman", "system", "service", "--time=0", "unix:///run/sockets/podman.sock",
        ]  # fmt: skip

    def prepare(self) -> None:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        etc = self.system / "etc" / "containers"
        (etc / "networks").mkdir(parents=True, exist_ok=True)
        (etc / "containers.conf").write_text(containers_conf())
        (etc / "networks" / "podman.json").write_text(json.dumps(NETWORK_5, indent=1))

    def remove_firewall(self) -> None:
        # netavark 1.x writes nftables (its table inet netavark), and keeps the table.
        if self._nft_table and self.system.is_dir():
            self._nft("delete", "table", "inet", "netavark")


class RootlessPodman5:
    """sid's Podman 5 rootless, as a user without root runs it: the host user's name, uid and
    gid given to a user of a sid system of its own (useradd gives it subordinate ids there), its
    API service run as that user in the system, its socket in a folder the host user owns
    ($XDG_RUNTIME_DIR in the system), so that the user's tasks on the host reach it."""

    def __init__(self, system: SidSystem, name: str, uid: int, gid: int) -> None:
        self.system = system.path
        self.folder = system.folder
        self.name, self.uid, self.gid = name, uid, gid
        self.runtime = self.folder / "runtime"
        self.host = f"unix://{self.runtime}/podman.sock"
        self.process: subprocess.Popen[bytes] | None = None
        self.version = ""

    def _as_user(self, *command: str) -> list[str]:
        return [
            "setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups",
            "env", "-i", f"HOME=/home/{self.name}", f"USER={self.name}",
            "XDG_RUNTIME_DIR=/run/user", "PATH=/usr/bin:/bin", "PODMAN_IGNORE_CGROUPSV1_WARNING=1",
            *command,
        ]  # fmt: skip

    def podman(self, *arguments: str) -> list[str]:
        """A podman command as the user, in the service's system (its own CLI, to check by)."""
        assert self.process is not None, "started first"
        return ["nsenter", f"--target={self.process.pid}", "--mount", "--root", "--wd",
                *self._as_user("podman", *arguments)]  # fmt: skip

    def start(self) -> None:
        in_system = ["chroot", str(self.system)]
        subprocess.run([*in_system, "groupadd", "--gid", str(self.gid), self.name], check=True)
        subprocess.run(
            [*in_system, "useradd", "--uid", str(self.uid), "--gid", str(self.gid),
             "--create-home", "--shell", "/bin/sh", self.name],
            check=True, capture_output=True,
        )  # fmt: skip
        # The subordinate ids the host gave the user, not others that sid's useradd picked.
        for ids in ("subuid", "subgid"):
            mine = [
                line
                for line in Path("/etc", ids).read_text().splitlines()
                if line.startswith(f"{self.name}:")
            ]
            (self.system / "etc" / ids).write_text("".join(f"{line}\n" for line in mine))
        config = self.system / "home" / self.name / ".config" / "containers"
        config.mkdir(parents=True)
        (config / "containers.conf").write_text(containers_conf())
        subprocess.run(
            [*in_system, "chown", "-R", f"{self.name}:", f"/home/{self.name}"], check=True
        )
        self.folder.chmod(0o755)
        self.runtime.mkdir(mode=0o700)
        os.chown(self.runtime, self.uid, self.gid)
        with (self.folder / "service.log").open("wb") as log:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private",
                 "sh", "-c", _IN_SYSTEM, "podman5-rootless", str(self.system), str(self.runtime),
                 "/run/user",
                 *self._as_user("podman", "system", "service", "--time=0",
                                "unix:///run/user/podman.sock")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answered = subprocess.run(
                ["docker", "--host", self.host, "version", "--format", "{{.Server.Version}}"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if answered.returncode == 0:
                self.version = answered.stdout.strip()
                SERVICE_LOGS[f"Podman {self.version}, rootless"] = self.folder / "service.log"
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"rootless podman 5 did not answer: {self.folder / 'service.log'}")

    def remove(self) -> None:
        """Its containers, the service, every process of the user and of its subordinate ids
        (the pause process and conmon leave the service's tree), then the system's folder."""
        if self.process is not None and self.process.poll() is None:
            subprocess.run(
                self.podman("rm", "--all", "--force"), capture_output=True, check=False, timeout=300
            )
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        end_processes(lambda: processes_of(range(self.uid, self.uid + 1), *self._subordinate_ids()))
        with contextlib.suppress(OSError):
            shutil.rmtree(self.folder)

    def _subordinate_ids(self) -> list[range]:
        with contextlib.suppress(OSError, ValueError):
            for line in (self.system / "etc" / "subuid").read_text().splitlines():
                name, start, count = line.split(":")
                if name == self.name:
                    return [range(int(start), int(start) + int(count))]
        return []


def _link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()
