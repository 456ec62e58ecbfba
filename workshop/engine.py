"""The Docker Engine, through one Docker SDK client shared by every task of an invoke run.

`Engine.from_env()` honours DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH like the docker
CLI. Every call that talks to the engine turns a lost connection into `EngineUnavailable`, so a
person sees what was tried and how to fix it instead of a traceback.
"""

from __future__ import annotations

import http.client
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from workshop.errors import BadInput, EngineRefused, EngineUnavailable, StepFailed

if TYPE_CHECKING:
    from docker.models.images import Image

__all__ = ["BuildResult", "Engine", "EngineInfo", "RunResult"]

DEFAULT_HOST = "unix:///var/run/docker.sock"
# How many lines of a failed build's output an error shows.
LOG_TAIL = 15


@dataclass(frozen=True)
class EngineInfo:
    version: str
    api_version: str
    storage_driver: str
    architecture: str


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    log: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    output: str
    seconds: float
    # The file asked for with `fetch`, read from the stopped container.
    fetched: bytes | None = None


def _where() -> str:
    host = os.environ.get("DOCKER_HOST")
    return (
        f"{host} (from DOCKER_HOST)"
        if host
        else f"{DEFAULT_HOST} (the default; DOCKER_HOST is not set)"
    )


# What a connection to an engine that went away raises, from a refused connect to a stream cut
# in the middle of a build (urllib3's ProtocolError is not wrapped by requests when streaming).
_LOST_CONNECTION = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
)


def _unreachable(what: str, reason: object) -> EngineUnavailable:
    return EngineUnavailable(
        f"No Docker Engine answered while {what}, at {_where()}: {reason}. "
        "Start one (for example `sudo dockerd &` or `sudo systemctl start docker`), "
        "or point DOCKER_HOST at a running engine, then run the step again."
    )


class Engine:
    """One connection to a Docker Engine. Copies share the client and what it has looked up."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        # Shared by shallow copies (invoke copies config values between tasks).
        self._memo: dict[str, Any] = {}

    @classmethod
    def from_env(cls) -> Engine:
        try:
            client = docker.from_env()
        except docker.errors.DockerException as error:
            raise _unreachable("connecting", _reason(error)) from None
        return cls(client)

    @contextmanager
    def talking(self, what: str) -> Iterator[None]:
        """A lost connection during `what` becomes EngineUnavailable; a refusal, EngineRefused."""
        try:
            yield
        except docker.errors.APIError as error:
            # An answer, not a lost connection (an APIError is a requests HTTPError too).
            raise EngineRefused(
                f"The Docker Engine refused {what}: {error.explanation or error}."
            ) from None
        except _LOST_CONNECTION as error:
            raise EngineUnavailable(
                f"The Docker Engine at {_where()} stopped answering while {what}: "
                f"{_reason(error)}. Nothing was logged for this step. Check that it runs "
                "(docker info), start it again if not, then run the step again."
            ) from None

    @property
    def info(self) -> EngineInfo:
        if "info" not in self._memo:
            with self.talking("reading the engine's version"):
                version = self.client.version()
                info = self.client.info()
            self._memo["info"] = EngineInfo(
                version=version.get("Version", "unknown"),
                api_version=version.get("ApiVersion", "unknown"),
                storage_driver=info.get("Driver", "unknown"),
                architecture=version.get("Arch", "unknown"),
            )
        return self._memo["info"]

    def image(self, reference: str) -> Image | None:
        """The local image called `reference`, or None."""
        with self.talking(f"looking up {reference}"):
            try:
                return self.client.images.get(reference)
            except docker.errors.ImageNotFound:
                return None

    def pull(self, reference: str) -> Image | None:
        """Pull `reference`; None when no registry gives it to us."""
        with self.talking(f"pulling {reference}"):
            try:
                return self.client.images.pull(reference)
            except docker.errors.APIError:
                return None

    def build(
        self,
        *,
        context: bytes,
        dockerfile: str,
        tag: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
        nocache: bool = False,
        on_line: Callable[[str], None] = lambda line: None,
        builder: str = "legacy",
    ) -> BuildResult:
        """Build `dockerfile` from a tar `context`, streaming its output.

        The Docker SDK drives the legacy builder; `builder="buildkit"` builds with BuildKit
        through `docker buildx build --load` instead. `on_line` sees every line of output as it
        comes; the result keeps them all.
        """
        if builder == "buildkit":
            return _build_with_buildkit(
                context=context,
                dockerfile=dockerfile,
                tag=tag,
                buildargs=buildargs,
                labels=labels,
                nocache=nocache,
                on_line=on_line,
            )
        started = time.monotonic()
        log: list[str] = []
        instruction = ""
        image_id = ""
        with self.talking(f"building {tag}"):
            stream = self.client.api.build(
                fileobj=io.BytesIO(context),
                custom_context=True,
                dockerfile=dockerfile,
                tag=tag,
                buildargs=dict(buildargs),
                labels=dict(labels),
                nocache=nocache,
                rm=True,
                forcerm=True,
                decode=True,
            )
            for chunk in stream:
                if "error" in chunk:
                    raise StepFailed(
                        f"Building {tag} from {dockerfile} failed: {chunk['error'].strip()}",
                        instruction=instruction,
                        log_tail=tuple(deque(log, maxlen=LOG_TAIL)),
                    )
                for line in chunk.get("stream", "").splitlines():
                    if line.startswith("Step "):
                        instruction = line.partition(" : ")[2]
                    log.append(line)
                    on_line(line)
                image_id = chunk.get("aux", {}).get("ID", image_id)
        if not image_id:
            raise StepFailed(
                f"Building {tag} ended without an image id.", log_tail=tuple(log[-LOG_TAIL:])
            )
        return BuildResult(image_id=image_id, log=tuple(log), seconds=time.monotonic() - started)

    def run(
        self,
        image: str,
        *,
        labels: Mapping[str, str],
        command: list[str] | None = None,
        timeout: float = 300,
        fetch: str | None = None,
    ) -> RunResult:
        """Run `image` to completion, like `docker run --rm`, and return what it printed.

        stdout and stderr are both kept, as `docker run -ti` shows both (println writes to stderr).
        With `fetch`, that file is read from the stopped container too, saving a second one.
        The container is removed whatever happens, Ctrl-C included.
        """
        fetched = None
        with self.talking(f"running {image}"):
            container = self.client.containers.create(image, command=command, labels=dict(labels))
            try:
                started = time.monotonic()
                container.start()
                status = container.wait(timeout=timeout)
                seconds = time.monotonic() - started
                output = container.logs(stdout=True, stderr=True).decode(errors="replace")
                if fetch is not None:
                    fetched = _read_archive(container, fetch)
            finally:
                _remove_quietly(container)
        return RunResult(
            exit_code=status.get("StatusCode", -1), output=output, seconds=seconds, fetched=fetched
        )

    def import_rootfs(self, tar_stream: IO[bytes], *, reference: str, changes: list[str]) -> str:
        """`docker import`: turn a root filesystem tar stream into the image `reference`."""
        repository, _, tag = reference.rpartition(":")
        with self.talking(f"importing {reference}"):
            self.client.api.import_image_from_stream(
                tar_stream, repository=repository, tag=tag, changes=changes
            )
            image = self.client.images.get(reference)
        return image.id

    def images_labelled(self, label: str) -> list[Image]:
        with self.talking("listing images"):
            return self.client.images.list(filters={"label": label})

    def remove_image(self, image_id: str) -> bool:
        """Remove an image; False when another image is built on it, and so it stays."""
        with self.talking(f"removing {image_id}"):
            try:
                self.client.images.remove(image_id, force=True)
            except docker.errors.ImageNotFound:
                pass
            except docker.errors.APIError as error:
                if error.status_code != 409:
                    raise
                return False
        return True


def _build_with_buildkit(
    *,
    context: bytes,
    dockerfile: str,
    tag: str,
    buildargs: Mapping[str, str],
    labels: Mapping[str, str],
    nocache: bool,
    on_line: Callable[[str], None],
) -> BuildResult:
    """`docker buildx build --load`, the context sent on standard input, never through a shell."""
    if (
        shutil.which("docker") is None
        or subprocess.run(
            ["docker", "buildx", "version"], capture_output=True, check=False
        ).returncode
    ):
        raise BadInput(
            "The BuildKit builder needs the docker CLI with its buildx plugin, which is not "
            "installed here (Debian trixie packages it as docker-buildx). Install it, or set "
            "INVOKE_WORKSHOP_BUILDER=legacy."
        )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="workshop-buildx-") as scratch:
        iidfile = Path(scratch) / "image-id"
        command = ["docker", "buildx", "build", "--load", "--progress=plain"]
        command += ["--iidfile", str(iidfile), "--tag", tag, "--file", dockerfile]
        command += [f"--build-arg={name}={value}" for name, value in buildargs.items()]
        command += [f"--label={name}={value}" for name, value in labels.items()]
        command += ["--no-cache"] if nocache else []
        log: list[str] = []
        with subprocess.Popen(
            [*command, "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        ) as process:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(context)  # a few kilobytes: less than the pipe holds
            process.stdin.close()
            for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip()
                log.append(line)
                on_line(line)
        if process.returncode != 0:
            steps = [line for line in log if re.match(r"#\d+ \[", line)]
            raise StepFailed(
                f"Building {tag} from {dockerfile} with BuildKit failed "
                f"(exit {process.returncode}).",
                instruction=steps[-1].split("] ", 1)[-1] if steps else "",
                log_tail=tuple(log[-LOG_TAIL:]),
            )
        image_id = iidfile.read_text().strip()
    return BuildResult(image_id=image_id, log=tuple(log), seconds=time.monotonic() - started)


def _read_archive(container: Any, path: str) -> bytes:
    """The content of the file at `path` in a container, through the engine's archive API."""
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(tar.getmembers()[0])
        return member.read() if member else b""


def _remove_quietly(container: Any) -> None:
    # If the engine went away, its restart cleans up, and the original error matters more.
    with suppress(docker.errors.DockerException, *_LOST_CONNECTION):
        container.remove(force=True)


def _reason(error: BaseException) -> str:
    """The shortest honest account of a connection error."""
    text = str(error)
    if "Connection broken" in text or "IncompleteRead" in text:
        return "the connection broke off"
    for known in ("No such file or directory", "Connection refused", "Permission denied"):
        if known in text:
            return known
    return text.splitlines()[0][:200] if text else type(error).__name__
