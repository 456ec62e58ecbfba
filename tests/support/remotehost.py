"""An engine on another host: the project's own test host, a network namespace with an address
of its own (10.203.N.2, joined to this machine's 10.203.N.1 by a veth pair, N the first subnet
free) and no route to this machine's loopback. It runs its own dockerd (its own data root,
sockets and bridge) on tcp://10.203.N.2:2376 with TLS (a test CA signs its certificate and the
client's), and sshd with key login for ssh://root@10.203.N.2, whose sessions reach that dockerd.

The harness itself reaches the engine through its unix socket (loading the stand-ins, reading
with the docker CLI); the tasks under test go over tcp:// or ssh:// as a user's would. The
user's own OpenSSH is stood in for by `ssh` on PATH reading a config of the test's (ssh reads
the passwd home's ~/.ssh, not $HOME): key, known host and user, as ~/.ssh/config would hold.

What it puts on this machine (the namespace, the veth pair, the forwarding rules) is named after
the test process (`wsremote-PID`), so two runs side by side do not meet, and a run that was
killed before its teardown is reclaimed by the next one: its namespace's processes ended, its
rules, link and namespace deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import trustme

from tests.support.spareengine import SpareEngine, end_processes_under

PREFIX = "wsremote-"
NAMESPACES = Path("/run/netns")


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


def _links(owner: int) -> tuple[str, str]:
    """The veth pair's ends, here and there (at most 15 characters: a pid has at most 7)."""
    return f"wsr{owner}h", f"wsr{owner}t"


def _free_subnet() -> int:
    """The first N whose 10.203.N.0/24 no address or route of this machine uses."""
    used = subprocess.run(
        ["sh", "-c", "ip -4 -o addr show; ip -4 route show"], capture_output=True, text=True
    ).stdout
    taken = {int(n) for n in re.findall(r"\b10\.203\.(\d+)\.", used)}
    return min(set(range(256)) - taken)


def _end_processes_in(netns: Path) -> None:
    """SIGKILL whatever still lives in the network namespace `netns`, whatever it is called."""
    try:
        inode = f"net:[{netns.stat().st_ino}]"
    except OSError:
        return
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "ns" / "net") == inode:
                os.kill(int(entry.name), signal.SIGKILL)


def _delete_rules(comment: str) -> None:
    """Delete this machine's iptables rules that carry `comment`, in every table they are in."""
    for table in ("filter", "nat"):
        listed = subprocess.run(
            ["iptables", "-t", table, "-S"], capture_output=True, text=True
        ).stdout
        for line in listed.splitlines():
            words = shlex.split(line)
            if words[:1] == ["-A"] and comment in words:
                subprocess.run(["iptables", "-t", table, "-D", *words[1:]], capture_output=True)


def _take_down(namespace: str) -> None:
    """Everything a test host named `namespace` put on this machine, gone."""
    netns = NAMESPACES / namespace
    _end_processes_in(netns)
    _delete_rules(namespace)
    _ip("link", "delete", _links(int(namespace.removeprefix(PREFIX)))[0], check=False)
    _ip("netns", "delete", namespace, check=False)
    deadline = time.monotonic() + 10
    while netns.exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def reclaim_abandoned() -> list[str]:
    """Take down the test hosts whose test process is gone (killed before its teardown); their
    names."""
    abandoned = [
        netns.name
        for netns in NAMESPACES.glob(f"{PREFIX}*")
        if netns.name.removeprefix(PREFIX).isdigit()
        and not Path(f"/proc/{netns.name.removeprefix(PREFIX)}").exists()
    ]
    for namespace in abandoned:
        _take_down(namespace)
    return abandoned


class RemoteHost(SpareEngine):
    """dockerd and sshd in a network namespace of their own."""

    name = "the remote host"
    bridge_here = False

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        reclaim_abandoned()
        owner = os.getpid()
        self.namespace = f"{PREFIX}{owner}"
        self.netns = NAMESPACES / self.namespace
        self.link_here, self.link_there = _links(owner)
        subnet = _free_subnet()
        self.here_address, self.address = f"10.203.{subnet}.1", f"10.203.{subnet}.2"
        self.tls = root / "tls"
        self.ssh = root / "ssh"
        super().__init__(
            root,
            bridge="wsremote0",
            extra=(
                "--host",
                f"tcp://{self.address}:2376",
                "--tlsverify",
                f"--tlscacert={self.tls / 'ca.pem'}",
                f"--tlscert={self.tls / 'server.pem'}",
                f"--tlskey={self.tls / 'server-key.pem'}",
            ),
        )
        self.sshd: subprocess.Popen[bytes] | None = None
        self.tcp = f"tcp://{self.address}:2376"
        self.ssh_host = f"ssh://root@{self.address}"

    def _in_namespace(self, *command: str) -> list[str]:
        # nsenter, not `ip netns exec`: that remounts /sys and hides the cgroups dockerd needs.
        return ["nsenter", f"--net={self.netns}", *command]

    def _network(self) -> None:
        _ip("netns", "add", self.namespace)
        _ip("link", "add", self.link_here, "type", "veth", "peer", "name", self.link_there)
        _ip("link", "set", self.link_there, "netns", self.namespace)
        _ip("addr", "add", f"{self.here_address}/24", "dev", self.link_here)
        _ip("link", "set", self.link_here, "up")
        for args in (
            ("addr", "add", f"{self.address}/24", "dev", self.link_there),
            ("link", "set", self.link_there, "up"),
            ("link", "set", "lo", "up"),
            ("link", "add", self.bridge, "type", "bridge"),
            ("link", "set", self.bridge, "up"),
            ("route", "add", "default", "via", self.here_address),
        ):
            _ip("-n", self.namespace, *args)
        # Its builds fetch Debian's packages (the floor's assembler), as this machine's do:
        # through this machine, masqueraded twice (its containers there, the host here).
        subprocess.run(
            self._in_namespace("sysctl", "-qw", "net.ipv4.ip_forward=1"),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            self._in_namespace("iptables", "-t", "nat", "-A", "POSTROUTING",
                               "-o", self.link_there, "-j", "MASQUERADE"),
            check=True, capture_output=True,
        )  # fmt: skip
        # This machine's rules that let the host's traffic out, first in their chains, marked
        # with the namespace's name for whoever deletes them.
        mark = ("-m", "comment", "--comment", self.namespace)
        for rule in (
            ("-t", "nat", "-I", "POSTROUTING", "1", "-s", f"{self.address}/32",
             "!", "-o", self.link_here, *mark, "-j", "MASQUERADE"),
            ("-I", "FORWARD", "1", "-i", self.link_here, *mark, "-j", "ACCEPT"),
            ("-I", "FORWARD", "1", "-o", self.link_here, "-m", "conntrack",
             "--ctstate", "RELATED,ESTABLISHED", *mark, "-j", "ACCEPT"),
        ):  # fmt: skip
            subprocess.run(["iptables", *rule], check=True, capture_output=True)

    def _certificates(self) -> None:
        self.tls.mkdir(exist_ok=True)
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.tls / "ca.pem"))
        server = ca.issue_cert(self.address)
        server.cert_chain_pems[0].write_to_path(str(self.tls / "server.pem"))
        server.private_key_pem.write_to_path(str(self.tls / "server-key.pem"))
        client = self.tls / "client"
        client.mkdir(exist_ok=True)
        ca.cert_pem.write_to_path(str(client / "ca.pem"))
        mine = ca.issue_cert("workshop-client")
        mine.cert_chain_pems[0].write_to_path(str(client / "cert.pem"))
        mine.private_key_pem.write_to_path(str(client / "key.pem"))

    def _ssh(self) -> None:
        """sshd on 10.203.N.2:22, its sessions pointed at this dockerd; a client key it takes
        and one it does not; an `ssh` for PATH that reads the test's config."""
        self.ssh.mkdir(exist_ok=True)
        for name in ("host", "client", "stranger"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.ssh / name)],
                check=True,
            )
        shutil.copy(self.ssh / "client.pub", self.ssh / "authorized_keys")
        (self.ssh / "sshd_config").write_text(
            f"ListenAddress {self.address}\n"
            f"HostKey {self.ssh / 'host'}\n"
            f"AuthorizedKeysFile {self.ssh / 'authorized_keys'}\n"
            f"PidFile {self.ssh / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\n"
            "StrictModes no\n"
            f"SetEnv DOCKER_HOST={self.host}\n"
        )
        host_key = (self.ssh / "host.pub").read_text().split()
        (self.ssh / "known_hosts").write_text(f"{self.address} {host_key[0]} {host_key[1]}\n")
        self.write_ssh_client("client")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        config = str(self.ssh / "sshd_config")
        with open(self.ssh / "sshd.log", "wb") as log:
            self.sshd = subprocess.Popen(
                self._in_namespace("/usr/sbin/sshd", "-D", "-e", "-f", config),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def write_ssh_client(self, key: str) -> Path:
        """The folder to put first on PATH: an `ssh` that logs in with `key`, as a user's
        ~/.ssh/config would have it."""
        (self.ssh / f"config-{key}").write_text(
            f"Host {self.address}\n  IdentityFile {self.ssh / key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.ssh / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
        )
        folder = self.ssh / f"bin-{key}"
        folder.mkdir(exist_ok=True)
        wrapper = folder / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {self.ssh / f"config-{key}"} "$@"\n')
        wrapper.chmod(0o755)
        return folder

    def start(self) -> None:
        self._network()
        self._certificates()
        self._ssh()
        super().start()

    def popen_dockerd(self, command: list[str]) -> list[str]:
        return self._in_namespace(*command)

    def tls_environment(self) -> dict[str, str]:
        """DOCKER_HOST and friends for tcp:// with TLS, behind a company proxy's CA bundle."""
        return {
            "DOCKER_HOST": self.tcp,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(self.tls / "client"),
            "REQUESTS_CA_BUNDLE": str(self.tls / "server.pem"),
            "CURL_CA_BUNDLE": str(self.tls / "server.pem"),
        }

    def ssh_environment(self, key: str = "client") -> dict[str, str]:
        folder = self.ssh / f"bin-{key}"
        return {"DOCKER_HOST": self.ssh_host, "PATH": f"{folder}:{os.environ['PATH']}"}

    def remove(self) -> None:
        # sshd and its sessions together, while they are still its children: a session (a
        # shared connection's, retitled `sshd: root@notty`) names no folder of ours, and once
        # sshd is gone it would hang on in a namespace that no longer exists.
        end_processes_under(self.ssh)
        if self.sshd is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.sshd.wait(timeout=30)
        super().remove()
        _take_down(self.namespace)
