"""An engine on another host: the project's own test host, a network namespace with an address
of its own (10.203.0.2, joined to this machine's 10.203.0.1 by a veth pair) and no route to this
machine's loopback. It runs its own dockerd (its own data root, sockets and bridge) on
tcp://10.203.0.2:2376 with TLS (a test CA signs its certificate and the client's), and sshd with
key login for ssh://root@10.203.0.2, whose sessions reach that dockerd.

The harness itself reaches the engine through its unix socket (loading the stand-ins, reading
with the docker CLI); the tasks under test go over tcp:// or ssh:// as a user's would. The
user's own OpenSSH is stood in for by `ssh` on PATH reading a config of the test's (ssh reads
the passwd home's ~/.ssh, not $HOME): key, known host and user, as ~/.ssh/config would hold.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import trustme

from tests.support.spareengine import SpareEngine, end_processes_under

NAMESPACE = "wsremote"
HERE_ADDRESS, THERE_ADDRESS = "10.203.0.1", "10.203.0.2"
LINK_HERE, LINK_THERE = "wsr0", "wsr1"
NETNS = Path("/run/netns") / NAMESPACE
# This machine's rules that let the host's traffic out (table and chain, then the rule): added
# at the start, deleted at the end.
FORWARDING = (
    (("-t", "nat", "-I", "POSTROUTING", "1"),
     ("-s", f"{THERE_ADDRESS}/32", "!", "-o", LINK_HERE, "-j", "MASQUERADE")),
    (("-I", "FORWARD", "1"), ("-i", LINK_HERE, "-j", "ACCEPT")),
    (("-I", "FORWARD", "1"),
     ("-o", LINK_HERE, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")),
)  # fmt: skip


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


def _in_namespace(*command: str) -> list[str]:
    # nsenter, not `ip netns exec`: that remounts /sys and hides the cgroups dockerd needs.
    return ["nsenter", f"--net={NETNS}", *command]


def _end_processes_in_namespace() -> None:
    """SIGKILL whatever still lives in the host's network namespace, whatever it is called."""
    try:
        inode = f"net:[{NETNS.stat().st_ino}]"
    except OSError:
        return
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "ns" / "net") == inode:
                os.kill(int(entry.name), signal.SIGKILL)


class RemoteHost(SpareEngine):
    """dockerd and sshd in a network namespace of their own."""

    name = "the remote host"
    bridge_here = False

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.tls = root / "tls"
        self.ssh = root / "ssh"
        super().__init__(
            root,
            bridge="wsremote0",
            extra=(
                "--host",
                f"tcp://{THERE_ADDRESS}:2376",
                "--tlsverify",
                f"--tlscacert={self.tls / 'ca.pem'}",
                f"--tlscert={self.tls / 'server.pem'}",
                f"--tlskey={self.tls / 'server-key.pem'}",
            ),
        )
        self.sshd: subprocess.Popen[bytes] | None = None
        self.tcp = f"tcp://{THERE_ADDRESS}:2376"
        self.ssh_host = f"ssh://root@{THERE_ADDRESS}"

    def _network(self) -> None:
        _ip("netns", "add", NAMESPACE)
        _ip("link", "add", LINK_HERE, "type", "veth", "peer", "name", LINK_THERE)
        _ip("link", "set", LINK_THERE, "netns", NAMESPACE)
        _ip("addr", "add", f"{HERE_ADDRESS}/24", "dev", LINK_HERE)
        _ip("link", "set", LINK_HERE, "up")
        for args in (
            ("addr", "add", f"{THERE_ADDRESS}/24", "dev", LINK_THERE),
            ("link", "set", LINK_THERE, "up"),
            ("link", "set", "lo", "up"),
            ("link", "add", self.bridge, "type", "bridge"),
            ("link", "set", self.bridge, "up"),
            ("route", "add", "default", "via", HERE_ADDRESS),
        ):
            _ip("-n", NAMESPACE, *args)
        # Its builds fetch Debian's packages (the floor's assembler), as this machine's do:
        # through this machine, masqueraded twice (its containers there, the host here).
        subprocess.run(
            _in_namespace("sysctl", "-qw", "net.ipv4.ip_forward=1"), check=True, capture_output=True
        )
        subprocess.run(
            _in_namespace("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", LINK_THERE,
                          "-j", "MASQUERADE"),
            check=True, capture_output=True,
        )  # fmt: skip
        for rule in FORWARDING:
            subprocess.run(["iptables", *rule[0], *rule[1]], check=True, capture_output=True)

    def _certificates(self) -> None:
        self.tls.mkdir(exist_ok=True)
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.tls / "ca.pem"))
        server = ca.issue_cert(THERE_ADDRESS)
        server.cert_chain_pems[0].write_to_path(str(self.tls / "server.pem"))
        server.private_key_pem.write_to_path(str(self.tls / "server-key.pem"))
        client = self.tls / "client"
        client.mkdir(exist_ok=True)
        ca.cert_pem.write_to_path(str(client / "ca.pem"))
        mine = ca.issue_cert("workshop-client")
        mine.cert_chain_pems[0].write_to_path(str(client / "cert.pem"))
        mine.private_key_pem.write_to_path(str(client / "key.pem"))

    def _ssh(self) -> None:
        """sshd on 10.203.0.2:22, its sessions pointed at this dockerd; a client key it takes
        and one it does not; an `ssh` for PATH that reads the test's config."""
        self.ssh.mkdir(exist_ok=True)
        for name in ("host", "client", "stranger"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.ssh / name)],
                check=True,
            )
        shutil.copy(self.ssh / "client.pub", self.ssh / "authorized_keys")
        (self.ssh / "sshd_config").write_text(
            f"ListenAddress {THERE_ADDRESS}\n"
            f"HostKey {self.ssh / 'host'}\n"
            f"AuthorizedKeysFile {self.ssh / 'authorized_keys'}\n"
            f"PidFile {self.ssh / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\n"
            "StrictModes no\n"
            f"SetEnv DOCKER_HOST={self.host}\n"
        )
        host_key = (self.ssh / "host.pub").read_text().split()
        (self.ssh / "known_hosts").write_text(f"{THERE_ADDRESS} {host_key[0]} {host_key[1]}\n")
        self.write_ssh_client("client")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with open(self.ssh / "sshd.log", "wb") as log:
            self.sshd = subprocess.Popen(
                _in_namespace("/usr/sbin/sshd", "-D", "-e", "-f", str(self.ssh / "sshd_config")),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def write_ssh_client(self, key: str) -> Path:
        """The folder to put first on PATH: an `ssh` that logs in with `key`, as a user's
        ~/.ssh/config would have it."""
        (self.ssh / f"config-{key}").write_text(
            f"Host {THERE_ADDRESS}\n  IdentityFile {self.ssh / key}\n  IdentitiesOnly yes\n"
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
        return _in_namespace(*command)

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
        for table_and_chain, rule in FORWARDING:
            deleting = [part for part in table_and_chain if part not in ("-I", "1")]
            chain = deleting.pop()
            subprocess.run(["iptables", *deleting, "-D", chain, *rule], capture_output=True)
        _ip("link", "delete", LINK_HERE, check=False)
        _ip("netns", "delete", NAMESPACE, check=False)
        deadline = time.monotonic() + 10
        while NETNS.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
