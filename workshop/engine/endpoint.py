"""Which Docker Engine: the one the docker CLI would use, found by the CLI's own rules.

1. `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`), if set;
2. else the context named by `DOCKER_CONTEXT`;
3. else the current context in the docker config (`$DOCKER_CONFIG/config.json`, or
   `~/.docker/config.json`), as `docker context use` sets it;
4. else the default socket, unix:///var/run/docker.sock.

A context's endpoint and TLS material are read from the CLI's context store beside the config.
docker-py 7.2's `from_env()` follows contexts too, but where it would quietly fall back to the
default socket (a context that does not exist, a config file that is not JSON, TLS files that
are missing), this says so and stops, naming the file or the context, with the engine's exit
code (3).
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.tls

from workshop.errors import EngineUnavailable
from workshop.files import NotReadable, read_small_text

__all__ = ["DEFAULT_HOST", "Endpoint", "find_endpoint"]

DEFAULT_HOST = "unix:///var/run/docker.sock"
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")
# The most a docker config or a context's meta.json is read for: theirs are a few kilobytes.
CONFIG_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class Endpoint:
    """An engine's address, and how it was chosen."""

    host: str
    context: str  # the docker context's name; "default" for DOCKER_HOST and the default socket
    chosen_by: str  # how, in words: "DOCKER_HOST", "DOCKER_CONTEXT", ...
    tls: docker.tls.TLSConfig | bool | None = field(default=None, compare=False)

    def describe(self) -> str:
        return f"{self.host} ({self.chosen_by})"

    def client(self, *, timeout: int) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, tls=self.tls or False, timeout=timeout)

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


def _bad(message: str) -> EngineUnavailable:
    return EngineUnavailable(message)
