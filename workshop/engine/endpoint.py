"""Which Docker Engine: the one the docker CLI would use, found by the CLI's own rules.

1. `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`), if set;
2. else the context named by `DOCKER_CONTEXT`;
3. else the current context in the docker config (`$DOCKER_CONFIG/config.json`, or
   `~/.docker/config.json`), as `docker context use` sets it;
4. else the default socket, unix:///var/run/docker.sock.

A context's endpoint and TLS material are read from the CLI's context store beside the config.

Where the engine is (`Endpoint.where`): this machine, a VM on it (Docker Desktop, colima,
OrbStack, Podman machine: its own kernel and loopback, ports forwarded to this machine's), or
another host (`tcp://`, `ssh://`). The layers above ask it where a published port is reached and
whether the engine shares this machine's loopback; they never test which engine it is.

TLS trusts `DOCKER_CERT_PATH`'s CA as the docker CLI does, even where REQUESTS_CA_BUNDLE or
CURL_CA_BUNDLE is set (requests would let either replace it: docker-py #2433, #2598). `ssh://`
goes through the user's own OpenSSH (their ~/.ssh/config, agent and known_hosts), as the CLI
does, after one bounded `ssh` that says in words why a host can't be reached.
docker-py 7.2's `from_env()` follows contexts too, but where it would quietly fall back to the
default socket (a context that does not exist, a config file that is not JSON, TLS files that
are missing), this says so and stops, naming the file or the context, with the engine's exit
code (3).
"""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.tls

from workshop.engine.values import ELSEWHERE, HERE, VM, Where
from workshop.errors import EngineUnavailable, TimedOut
from workshop.files import NotReadable, read_small_text

__all__ = ["DEFAULT_HOST", "Endpoint", "find_endpoint"]

DEFAULT_HOST = "unix:///var/run/docker.sock"
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")
# The most a docker config or a context's meta.json is read for: theirs are a few kilobytes.
CONFIG_LIMIT = 4 * 1024 * 1024


# Socket paths of engines that run in a VM on this machine, by what runs them.
VM_SOCKETS = {
    "/.colima/": "colima",
    "/.lima/": "lima",
    "/.orbstack/": "OrbStack",
    "/.docker/run/docker.sock": "Docker Desktop",
    "/.docker/desktop/docker.sock": "Docker Desktop",
    "/podman/machine/": "Podman machine",
}


@dataclass(frozen=True)
class Endpoint:
    """An engine's address, and how it was chosen."""

    host: str
    context: str  # the docker context's name; "default" for DOCKER_HOST and the default socket
    chosen_by: str  # how, in words: "DOCKER_HOST", "DOCKER_CONTEXT", ...
    tls: docker.tls.TLSConfig | bool | None = field(default=None, compare=False)

    def describe(self) -> str:
        return f"{self.host} ({self.chosen_by})"

    @property
    def scheme(self) -> str:
        return urllib.parse.urlsplit(self.host).scheme

    @property
    def podman_socket(self) -> str:
        """The path of the Podman API socket on this machine this endpoint names ("" where it
        names another): $XDG_RUNTIME_DIR/podman/podman.sock (rootless), /run/podman/podman.sock
        (rootful), or any unix socket called podman.sock; a Podman machine's runs in its VM."""
        path = self.host.removeprefix("unix://")
        if self.scheme != "unix" or "/podman/machine/" in path:
            return ""
        return path if path.endswith("podman.sock") else ""

    def where(self, operating_system: str = "") -> Where:
        """Where the engine runs; `operating_system` is what the engine says it runs on
        (`docker info`'s OperatingSystem: "Docker Desktop" for Desktop's VM)."""
        if self.scheme in ("tcp", "ssh", "http", "https"):
            name = urllib.parse.urlsplit(self.host).hostname or ""
            if _is_loopback(name):
                return Where(HERE, "this machine")
            return Where(ELSEWHERE, f"the host {name}", published_on=name, bind_to="0.0.0.0")  # noqa: S104 - published on the engine's host, for this machine to reach
        path = self.host.removeprefix("unix://")
        for part, name in VM_SOCKETS.items():
            if part in path:
                return Where(VM, f"a VM on this machine ({name})")
        if operating_system.startswith("Docker Desktop"):
            return Where(VM, "a VM on this machine (Docker Desktop)")
        if sys.platform != "linux":
            return Where(VM, "a VM on this machine")
        return Where(HERE, "this machine")

    def client(self, *, timeout: int) -> docker.DockerClient:
        options: dict[str, Any] = {}
        if self.scheme == "ssh":
            load_ssh_support(self.host)
            options["use_ssh_client"] = _ssh_reaches(self.host, timeout=timeout)
            if options["use_ssh_client"]:
                _share_ssh_connections()
        # docker.DockerClient is its APIClient and nothing more; ours keeps the engine's CA from
        # the first request on (the API version is asked while the client is made).
        client = docker.DockerClient.__new__(docker.DockerClient)
        client.api = _EngineClient(
            base_url=self.host, tls=self.tls or False, timeout=timeout, **options
        )
        return client

    def cli_environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The environment for a docker CLI command (buildx) that must reach this engine."""
        env = {
            key: value
            for key, value in environ.items()
            if key not in ("DOCKER_HOST", "DOCKER_CONTEXT")
        }
        if self.context != "default":
            env["DOCKER_CONTEXT"] = self.context
        else:
            env["DOCKER_HOST"] = self.host
        return env


def config_file(environ: Mapping[str, str]) -> Path:
    folder = environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(folder) / "config.json"


def find_endpoint(environ: Mapping[str, str] | None = None) -> Endpoint:
    """The engine the docker CLI would use; EngineUnavailable naming what is wrong otherwise."""
    environ = os.environ if environ is None else environ
    if host := environ.get("DOCKER_HOST"):
        _check_address(host)
        return Endpoint(host, "default", "from DOCKER_HOST", _tls_from_environment(environ))
    if name := environ.get("DOCKER_CONTEXT"):
        return _from_context(name, "from DOCKER_CONTEXT", environ)
    config = config_file(environ)
    current = _current_context(config)
    if current and current != "default":
        return _from_context(current, f"the current context in {config}", environ)
    return Endpoint(
        DEFAULT_HOST, "default", "the default; DOCKER_HOST is not set and no context is chosen"
    )


def _check_address(host: str) -> None:
    """Refuse a DOCKER_HOST that is no address, before docker-py trips on it."""
    try:
        parts = urllib.parse.urlsplit(host)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as error:
        raise _bad(
            f"DOCKER_HOST={host!r} is not an engine's address ({error}). Give one like "
            "unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://USER@HOST, or unset it."
        ) from None


def _current_context(config: Path) -> str:
    try:
        text = read_small_text(config, limit=CONFIG_LIMIT)
    except FileNotFoundError:
        return ""
    except NotReadable as error:
        raise _bad(f"The docker config {config} can't be read: {error}.") from None
    except OSError as error:
        raise _bad(f"The docker config {config} can't be read: {error.strerror}.") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise _bad(
            f"The docker config {config} is not JSON, so the engine it chooses can't be known. "
            "Fix the file (docker context use NAME writes it), or set DOCKER_HOST or "
            "DOCKER_CONTEXT."
        ) from None
    current = document.get("currentContext", "") if isinstance(document, dict) else ""
    if not isinstance(current, str):
        raise _bad(f"The docker config {config} has a currentContext that is not a name.")
    return current


def _from_context(name: str, chosen_by: str, environ: Mapping[str, str]) -> Endpoint:
    """The endpoint of the context `name`, from the CLI's context store beside the config:
    contexts/meta/SHA256(NAME)/meta.json, and its TLS files in contexts/tls/SHA256(NAME)/docker."""
    if name == "default":
        return Endpoint(DEFAULT_HOST, "default", f"the default context, {chosen_by}")
    store = config_file(environ).parent / "contexts"
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = store / "meta" / digest / "meta.json"
    try:
        document = json.loads(read_small_text(meta, limit=CONFIG_LIMIT))
    except FileNotFoundError:
        raise _bad(
            f"The docker context {name!r} ({chosen_by}) does not exist: there is no {meta}. "
            "`docker context ls` lists the contexts; choose one with `docker context use NAME`, "
            "or unset DOCKER_CONTEXT."
        ) from None
    except (OSError, ValueError, RecursionError) as error:
        raise _bad(f"The docker context {name!r} in {meta} can't be read: {error}.") from None
    endpoints = document.get("Endpoints") if isinstance(document, dict) else None
    endpoint = endpoints.get("docker") if isinstance(endpoints, dict) else None
    host = endpoint.get("Host") if isinstance(endpoint, dict) else None
    if not isinstance(endpoint, dict) or not isinstance(host, str) or not host:
        raise _bad(f"The docker context {name!r} in {meta} names no docker endpoint (Host).")
    tls_dir = store / "tls" / digest / "docker"
    present = [each for each in TLS_FILES if (tls_dir / each).is_file()]
    tls = None
    if present:
        if len(present) < len(TLS_FILES):
            missing = sorted(set(TLS_FILES) - set(present))
            raise _bad(
                f"The docker context {name!r} has TLS material in {tls_dir} but lacks "
                f"{', '.join(missing)}. Put them back, or create the context again."
            )
        tls = docker.tls.TLSConfig(
            client_cert=(str(tls_dir / "cert.pem"), str(tls_dir / "key.pem")),
            ca_cert=str(tls_dir / "ca.pem"),
            verify=not endpoint.get("SkipTLSVerify", False),
        )
    return Endpoint(host, name, f"the context {name!r}, {chosen_by}", tls)


def _tls_from_environment(environ: Mapping[str, str]) -> docker.tls.TLSConfig | None:
    if not environ.get("DOCKER_TLS_VERIFY") and not environ.get("DOCKER_CERT_PATH"):
        return None
    folder = Path(environ.get("DOCKER_CERT_PATH") or Path.home() / ".docker")
    missing = [each for each in TLS_FILES if not (folder / each).is_file()]
    if missing:
        raise _bad(
            f"DOCKER_TLS_VERIFY or DOCKER_CERT_PATH asks for TLS, and {folder} lacks "
            f"{', '.join(missing)}. Point DOCKER_CERT_PATH at the folder that holds them."
        )
    return docker.tls.TLSConfig(
        client_cert=(str(folder / "cert.pem"), str(folder / "key.pem")),
        ca_cert=str(folder / "ca.pem"),
        verify=bool(environ.get("DOCKER_TLS_VERIFY")),
    )


def _is_loopback(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _EngineClient(docker.APIClient):
    """docker-py's client, keeping the CA (or the verify setting) it was given for every
    request: requests otherwise lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, set behind most
    company proxies, replace it, and the engine's certificate no longer verifies (docker-py
    #2433, #2598). Proxies from the environment still apply, as they do for the docker CLI."""

    def __init__(self, base_url: str, **options: Any) -> None:
        super().__init__(base_url=base_url, **options)
        # A unix socket, a named pipe or ssh (docker-py's http+docker:// transports): no proxy,
        # .netrc or CA bundle of the environment applies there, as for the docker CLI, and
        # requests would read them again for every request (0.15 ms of CPU each, 0.73 against
        # 0.58 ms, about 75 requests in a warm `invoke all`).
        self.trust_env = not self.base_url.startswith("http+docker://")

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        given = self.verify
        if (verify is None or verify is True) and (given is False or isinstance(given, str)):
            settings["verify"] = given
        return settings

    # The engine's answer to /version, asked once: docker-py asks for it while the client is
    # made (to choose the API version), and Engine.info reads it then rather than asking again.
    _version_answer: Any = None

    def version(self, api_version: bool = True) -> Any:
        if self._version_answer is None:
            self._version_answer = super().version(api_version=api_version)
        return self._version_answer


def _share_ssh_connections() -> None:
    """Make docker-py's OpenSSH connections share one connection per host (OpenSSH's
    ControlMaster, lasting 10 s past its last use): docker-py starts a new `ssh` (and a `docker
    system dial-stdio` there) for every request, 0.3 s of handshake each; shared, 0.15 s (a warm
    `invoke all` 10.3 s against 16.1 s). Otherwise as docker-py runs it: `ssh [-l USER] [-p
    PORT] -- HOST docker system dial-stdio`, with the user's config and agent, and Ctrl-C left to
    this process. (Imported here: docker-py's ssh module needs paramiko.)"""
    from docker.transport import sshconn

    if getattr(sshconn.SSHSocket, "shares_connections", False):
        return

    class SharedSSHSocket(sshconn.SSHSocket):  # type: ignore[misc,name-defined,unused-ignore]
        shares_connections = True

        def connect(self, *args: Any, **kwargs: Any) -> None:
            folder = Path(tempfile.gettempdir()) / f"workshop-ssh-{_uid()}"
            folder.mkdir(mode=0o700, exist_ok=True)
            command = ["ssh", "-o", "ControlMaster=auto", "-o", f"ControlPath={folder}/%C"]
            command += ["-o", "ControlPersist=10"]
            if self.user:
                command += ["-l", self.user]
            if self.port:
                command += ["-p", self.port]
            command += ["--", self.host, "docker system dial-stdio"]
            env = {
                key: value
                for key, value in os.environ.items()
                if key not in ("LD_LIBRARY_PATH", "SSL_CERT_FILE")
            }
            self.proc = subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.PIPE,
                stdin=subprocess.PIPE,
                preexec_fn=_ignore_interrupts if os.name == "posix" else None,
            )

    # docker-py's SSH connections make their sockets by this module-level name.
    sshconn.SSHSocket = SharedSSHSocket  # type: ignore[misc]  # docker-py reads the name at each connection


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _uid() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid is not None else "user"


def load_ssh_support(host: str) -> None:
    """Give docker-py its ssh transport, held back until an `ssh://` engine is asked for
    (workshop/engine/__init__.py): paramiko imported, then docker-py's ssh module, whose adapter
    its client looks up by name as it is made. EngineUnavailable if paramiko is not installed."""
    held_back: object = sys.modules.get("paramiko", False)
    if held_back is None:
        del sys.modules["paramiko"]
    if importlib.util.find_spec("paramiko") is None:
        # docker-py imports it for any ssh:// engine, OpenSSH or not.
        raise _bad(
            f"DOCKER_HOST={host} reaches the engine over ssh, and the Docker SDK's ssh support "
            "is not installed here (the paramiko package). Install it: `pip install "
            "'docker[ssh]'` (this project's own install brings it), then run again."
        )
    import docker.api.client
    import docker.transport
    from docker.transport import sshconn

    for module in (docker.transport, docker.api.client):
        module.SSHHTTPAdapter = sshconn.SSHHTTPAdapter  # type: ignore[attr-defined]


def _ssh_reaches(host: str, *, timeout: float) -> bool:
    """Whether to go through OpenSSH (True) or paramiko (False), having checked in one bounded
    `ssh` that the host lets us in and runs docker; EngineUnavailable or TimedOut saying why not.
    """
    ssh = shutil.which("ssh")
    if ssh is None:
        return False  # paramiko itself, which reads ~/.ssh/config too
    parts = urllib.parse.urlsplit(host)
    command = [ssh, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(timeout))}"]
    if parts.username:
        command += ["-l", parts.username]
    if parts.port:
        command += ["-p", str(parts.port)]
    command += ["--", parts.hostname or "", "docker version --format {{.Server.Version}}"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        done = None
    if done is None or (done.returncode == 255 and "timed out" in done.stderr):
        raise TimedOut(
            f"The engine's host {host} did not answer over ssh within {timeout:g} s "
            "(workshop.engine_timeout): it took the connection and said nothing. Check that "
            "host's sshd (ssh HOST docker info), or raise INVOKE_WORKSHOP_ENGINE_TIMEOUT if it "
            "is only slow."
        )
    if done.returncode == 0:
        return True
    said = [line for line in done.stderr.splitlines() if line.strip()][-3:]
    why = "; ".join(line.strip().rstrip(".") for line in said) or f"ssh exited {done.returncode}"
    if done.returncode == 255:
        fix = (
            "ssh could not log in: check the user and host, that your key is in that host's "
            "authorized_keys and loaded (ssh-add), and its host key in your known_hosts "
            f"(`ssh {parts.netloc} true` tells)"
        )
    else:
        fix = "logged in, but `docker version` failed there: install docker on that host, or "
        fix += "give the user access to its engine (the docker group)"
    raise _bad(f"The engine's host {host} can't be reached over ssh: {why}. {fix}.")


def _bad(message: str) -> EngineUnavailable:
    return EngineUnavailable(message)
