"""The Docker Engine, through one Docker SDK client shared by every task of an invoke run.

The adapter speaks the project's language: it returns small frozen values of its own
(`ImageInfo`, `RunResult`, ...), never docker-py's models, and it owns every container it makes
(runs and probes carry the label `LABEL.owner`, and are removed whatever happens). Every call is
bounded (`Timeouts`); a lost connection becomes `EngineUnavailable`, a refusal `EngineRefused`,
and a wait past its bound `TimedOut`, so a person sees what happened instead of a traceback.
`Engine.from_env()` finds the engine the docker CLI would use (workshop.endpoint: DOCKER_HOST,
DOCKER_CONTEXT, the current context, the default socket). The builder (the engine's legacy
builder through the SDK, or BuildKit through `docker buildx`, pointed at the same engine) is
chosen once, when the engine is made.

Sizes. `ImageInfo.listed_size` is what `docker image ls` shows: `.Size` on the classic store;
on the containerd store (Docker 29's default) the stored content plus the unpacked snapshot,
about twice as much. `ImageInfo.size` is `.Size` on the classic store, the bytes of the image's
layers, which the workshop's figures are; on the containerd store it is the unpacked snapshot
(`ImageData.Size.Unpacked`), which counts disk blocks (+8% for go-big's 21,000 files), so a
step measures the bytes of the image's files there instead (`file_bytes`).
"""

from __future__ import annotations

import http.client
import io
import math
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import quote

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from workshop.engine.endpoint import DEFAULT_HOST, Endpoint, find_endpoint
from workshop.errors import (
    BadInput,
    EngineRefused,
    EngineUnavailable,
    RegistryError,
    StepFailed,
    TimedOut,
)
from workshop.labels import LABEL

__all__ = [
    "CLASSIC",
    "CONTAINERD",
    "OWNER_LABEL",
    "BuildRequest",
    "BuildResult",
    "ContainerInfo",
    "Engine",
    "EngineAPI",
    "EngineInfo",
    "HistoryEntry",
    "ImageFile",
    "ImageInfo",
    "RunResult",
    "Serving",
    "Timeouts",
    "end_own_containers",
    "owner",
]

# Which process made a container: a container whose process is gone is a leftover.
OWNER_LABEL = f"{LABEL}.owner"
# How many lines of a failed build's output an error shows.
LOG_TAIL = 15


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Timeouts:
    """Seconds: one call to the engine; one build; one run of an app from start to exit."""

    engine: float = 60.0
    build: float = 1800.0
    run: float = 60.0


CLASSIC, CONTAINERD = "classic", "containerd"


@dataclass(frozen=True)
class EngineInfo:
    version: str
    storage_driver: str
    # "classic" (a graph driver such as overlay2) or "containerd" (the containerd image store).
    image_store: str = CLASSIC
    context: str = "default"
    host: str = ""

    def describe(self) -> str:
        where = f"context {self.context!r}, " if self.context != "default" else ""
        return (
            f"Docker {self.version} ({where}{self.host}, {self.storage_driver}, "
            f"{self.image_store} image store)"
        )


@dataclass(frozen=True)
class ImageInfo:
    id: str
    # The unpacked filesystem: comparable across stores and with the workshop's figures.
    size: int
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    created: str
    # What `docker image ls` shows: `size` on the classic store, content + unpacked on containerd.
    listed_size: int = -1

    @property
    def listed(self) -> int:
        return self.size if self.listed_size < 0 else self.listed_size


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    status: str  # created, running, exited, dead, ...
    exit_code: int
    labels: Mapping[str, str]
    created: float  # seconds since the epoch


@dataclass(frozen=True)
class ImageFile:
    """One entry of an image's filesystem: its path (no leading /), size and kind."""

    path: str
    size: int
    kind: str  # "file", "dir", "link", "symlink" or "other"


@dataclass(frozen=True)
class HistoryEntry:
    """One line of `docker history`: the instruction that made a layer, and its size."""

    image_id: str
    created_by: str
    size: int
    tags: tuple[str, ...]
    comment: str


@dataclass(frozen=True)
class BuildRequest:
    """One build: a tar context and what to build from it. Untagged unless `tag` is given: a
    step tags its image only once it has passed."""

    context: bytes
    dockerfile: str
    buildargs: Mapping[str, str]
    labels: Mapping[str, str]
    nocache: bool = False
    tag: str = ""
    # What the build makes, for messages ("go-scratch"): a step's image gets its tag later.
    name: str = ""

    @property
    def what(self) -> str:
        return self.name or self.tag or self.dockerfile


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    seconds: float


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    output: str
    seconds: float
    # The file asked for with `fetch`, read from the stopped container.
    fetched: bytes | None = None


@dataclass(frozen=True)
class Serving:
    """A container that serves on a port until the block that started it ends."""

    # Where this machine reaches the port: 127.0.0.1 and the port docker published it on.
    address: tuple[str, int]
    # Whether it has stopped, and what it printed so far.
    exited: Callable[[], int | None]
    output: Callable[[], str]


class EngineAPI(Protocol):
    """What the project asks of an engine. `Engine` is the real one; the tests' fake engine is
    held to this by mypy, so the two can't drift apart."""

    timeouts: Timeouts
    builder: str

    @property
    def info(self) -> EngineInfo: ...
    def image(self, reference: str) -> ImageInfo | None: ...
    def pull(self, reference: str, *, on_line: Callable[[str], None] = ...) -> ImageInfo | None: ...
    def push(self, image_id: str, remote: str) -> None: ...
    def tag(self, image_id: str, reference: str) -> None: ...
    def untag(self, reference: str) -> None: ...
    def build(
        self, request: BuildRequest, *, on_line: Callable[[str], None] = ...
    ) -> BuildResult: ...
    def run(
        self,
        image: str,
        *,
        command: list[str] | None = None,
        fetch: str | None = None,
        stdin: bytes | None = None,
        network: str | None = None,
        bound: float | None = None,
    ) -> RunResult: ...
    def serving(
        self, image: str, *, port: int, command: list[str] | None = None, network: str | None = None
    ) -> AbstractContextManager[Serving]: ...
    def files(self, reference: str) -> AbstractContextManager[Iterator[ImageFile]]: ...
    def file_bytes(self, reference: str) -> int: ...
    def saved(self, reference: str) -> AbstractContextManager[Iterator[bytes]]: ...
    def read_file(self, reference: str, path: str) -> bytes: ...
    def history(self, reference: str) -> list[HistoryEntry]: ...
    def import_rootfs(
        self, tar_stream: IO[bytes], *, reference: str, changes: list[str]
    ) -> str: ...
    def image_names(self) -> list[str]: ...
    def images_labelled(self, label: str) -> list[ImageInfo]: ...
    def containers_labelled(self, label: str) -> list[ContainerInfo]: ...
    def images_in_use(self) -> set[str]: ...
    def remove_image(self, image_id: str) -> bool: ...
    def remove_container(self, container_id: str) -> None: ...


# What a connection to an engine that went away raises, from a refused connect to a stream cut
# in the middle of a build (urllib3's ProtocolError is not wrapped by requests when streaming).
_LOST_CONNECTION = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
)
_TIMEOUTS = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)


def _is_timeout(error: BaseException) -> bool:
    """Whether `error` is a read or connect timeout, however requests and urllib3 wrapped it."""
    seen: list[BaseException] = [error]
    while seen:
        each = seen.pop()
        if isinstance(each, _TIMEOUTS):
            return True
        seen += [arg for arg in each.args if isinstance(arg, BaseException)]
        seen += [link for link in (each.__cause__, each.__context__) if link is not None][:1]
        if len(seen) > 20:
            break
    return False


def end_own_containers(engine: EngineAPI) -> None:
    """Remove the containers this process runs: what ends the waits of threads that Ctrl-C
    does not reach (a step or a rung checked in the background, its program still running)."""
    mine = owner()
    for container in engine.containers_labelled(OWNER_LABEL):
        if container.labels.get(OWNER_LABEL) == mine:
            engine.remove_container(container.id)


def _write_stdin(attached: Any, data: bytes) -> None:
    """Write `data` to a container's attached standard input, then close it (end of input)."""
    raw = getattr(attached, "_sock", attached)
    raw.sendall(data)
    with suppress(OSError):
        raw.shutdown(socket.SHUT_WR)


def _unreachable(endpoint: Endpoint, what: str, reason: object) -> EngineUnavailable:
    return EngineUnavailable(
        f"No Docker Engine answered while {what}, at {endpoint.describe()}: {reason}. "
        "Start one (`invoke engine --start` as root on Debian or Ubuntu, or `sudo systemctl "
        "start docker`), or choose a running one (DOCKER_HOST, or `docker context use NAME`), "
        "then run the task again."
    )


@dataclass
class Engine:
    """One connection to a Docker Engine, with its bounds and its builder."""

    client: docker.DockerClient
    timeouts: Timeouts = field(default_factory=Timeouts)
    builder: str = "legacy"
    endpoint: Endpoint = field(default_factory=lambda: Endpoint(DEFAULT_HOST, "default", "given"))
    _info: EngineInfo | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, *, timeouts: Timeouts | None = None, builder: str = "legacy") -> Engine:
        """The engine the docker CLI would use (see workshop.endpoint)."""
        timeouts = timeouts or Timeouts()
        endpoint = find_endpoint()
        try:
            client = endpoint.client(timeout=math.ceil(timeouts.engine))
        except docker.errors.DockerException as error:
            raise _unreachable(endpoint, "connecting", _reason(error)) from None
        return cls(client, timeouts=timeouts, builder=builder, endpoint=endpoint)

    @contextmanager
    def talking(self, what: str, *, bound: float | None = None) -> Iterator[None]:
        """A timeout during `what` becomes TimedOut; a lost connection, EngineUnavailable; a
        refusal, EngineRefused."""
        try:
            yield
        except docker.errors.APIError as error:
            # An answer, not a lost connection (an APIError is a requests HTTPError too).
            raise EngineRefused(
                f"The Docker Engine refused {what}: {error.explanation or error}."
            ) from None
        except (*_LOST_CONNECTION, *_TIMEOUTS) as error:
            if _is_timeout(error):
                seconds = bound or self.timeouts.engine
                raise TimedOut(
                    f"The Docker Engine at {self.endpoint.describe()} did not answer within "
                    f"{seconds:g} s while "
                    f"{what}. What this step started was removed and nothing was logged. Check "
                    "the engine (docker info); raise the bound with INVOKE_WORKSHOP_ENGINE_TIMEOUT"
                    " or INVOKE_WORKSHOP_BUILD_TIMEOUT if it is only slow."
                ) from None
            raise EngineUnavailable(
                f"The Docker Engine at {self.endpoint.describe()} stopped answering while {what}: "
                f"{_reason(error)}. Nothing was logged for this step. Check that it runs "
                "(docker info), start it again if not, then run the step again."
            ) from None

    @property
    def info(self) -> EngineInfo:
        if self._info is None:
            with self.talking("reading the engine's version"):
                version = self.client.version()
                info = self.client.info()
            driver_status = {str(pair[0]): str(pair[1]) for pair in info.get("DriverStatus") or []}
            containerd = driver_status.get("driver-type", "").startswith(
                "io.containerd.snapshotter"
            )
            self._info = EngineInfo(
                version=str(version.get("Version", "unknown")),
                storage_driver=str(info.get("Driver", "unknown")),
                image_store=CONTAINERD if containerd else CLASSIC,
                context=self.endpoint.context,
                host=self.endpoint.host,
            )
        return self._info

    def image(self, reference: str) -> ImageInfo | None:
        """The local image called `reference` (a name or an id), or None."""
        containerd = self.info.image_store == CONTAINERD
        api = self.client.api
        with self.talking(f"looking up {reference}"):
            if not containerd:
                try:
                    return _image_info(api.inspect_image(reference))
                except docker.errors.ImageNotFound:
                    return None
            # The per-manifest sizes (API 1.48 on): docker-py's inspect_image takes no query,
            # and its client is a requests Session.
            answer = api.get(
                f"{api.base_url}/v{api.api_version}/images/{quote(reference, safe='/:@')}/json",
                params={"manifests": "1"},
                timeout=self.timeouts.engine,
            )
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise EngineRefused(
                f"The Docker Engine refused looking up {reference}: {answer.status_code} "
                f"{answer.text[:200]}"
            )
        return _image_info(answer.json(), manifests=True)

    def pull(
        self, reference: str, *, on_line: Callable[[str], None] = lambda line: None
    ) -> ImageInfo | None:
        """Pull `reference`, each layer's progress to `on_line`; None when no registry gives
        it to us."""
        repository, tag = _split_reference(reference)
        with self.talking(f"pulling {reference}", bound=self.timeouts.build):
            try:
                for event in self.client.api.pull(repository, tag=tag, stream=True, decode=True):
                    if "error" in event:
                        return None
                    layer, status = event.get("id", ""), event.get("status", "")
                    on_line(f"{layer}: {status} {event.get('progress', '')}".strip(": "))
            except docker.errors.APIError:
                return None
        return self.image(reference)

    def push(self, image_id: str, remote: str) -> None:
        """Push the image `image_id` as `remote` (REGISTRY/NAME). The name `remote` stays: on
        an image with no other name, dropping it would delete the image (`untag` it once the
        image has its own)."""
        repository, tag = _split_reference(remote)
        registry = repository.split("/")[0]
        self.tag(image_id, remote)
        with self.talking(f"pushing {remote}", bound=self.timeouts.build):
            for event in self.client.api.push(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise RegistryError(
                        f"The registry {registry} (the setting workshop.registry) refused the "
                        f"push of {remote}: {str(event['error']).strip()[:300]}. Nothing was "
                        "logged as measured."
                    )

    def tag(self, image_id: str, reference: str) -> None:
        repository, tag = _split_reference(reference)
        with self.talking(f"tagging {image_id[:19]} as {reference}"):
            self.client.api.tag(image_id, repository, tag=tag, force=True)

    def build(
        self, request: BuildRequest, *, on_line: Callable[[str], None] = lambda line: None
    ) -> BuildResult:
        """Build `request`, streaming its output to `on_line`, within the build bound."""
        if self.builder == "buildkit":
            return _build_with_buildkit(
                request,
                on_line=on_line,
                timeout=self.timeouts.build,
                environment=self.endpoint.cli_environment(os.environ),
            )
        return self._build_with_sdk(request, on_line=on_line)

    def _build_with_sdk(
        self, request: BuildRequest, *, on_line: Callable[[str], None]
    ) -> BuildResult:
        started = time.monotonic()
        deadline = started + self.timeouts.build
        log: deque[str] = deque(maxlen=LOG_TAIL)
        instruction = ""
        image_id = ""
        what = f"building {request.what}"
        with self.talking(what, bound=self.timeouts.build):
            stream = self.client.api.build(
                fileobj=io.BytesIO(request.context),
                custom_context=True,
                dockerfile=request.dockerfile,
                tag=request.tag or None,
                buildargs=dict(request.buildargs),
                labels=dict(request.labels),
                nocache=request.nocache,
                rm=True,
                forcerm=True,
                decode=True,
                # The longest the output may stay silent; the whole build is bounded below.
                timeout=math.ceil(self.timeouts.build),
            )
            try:
                for chunk in stream:
                    if "error" in chunk:
                        raise StepFailed(
                            f"Building {request.what} from {request.dockerfile} failed: "
                            f"{str(chunk['error']).strip()}",
                            instruction=instruction,
                            log_tail=tuple(log),
                        )
                    image_id = chunk.get("aux", {}).get("ID", image_id)
                    for line in str(chunk.get("stream", "")).splitlines():
                        if line.startswith("Step "):
                            instruction = line.partition(" : ")[2]
                        log.append(line)
                        on_line(line)
                    if time.monotonic() > deadline:
                        raise TimedOut(_build_too_long(request, self.timeouts.build))
            except BaseException:
                # Stopped after the image was made (its id comes before the last lines): it
                # was never handed over, so it goes. A tagged build's image is someone's.
                if image_id and not request.tag:
                    with suppress(docker.errors.DockerException, *_LOST_CONNECTION, *_TIMEOUTS):
                        self.client.api.remove_image(image_id)
                raise
        if not image_id:
            raise StepFailed(
                f"Building {request.dockerfile} ended without an image id.", log_tail=tuple(log)
            )
        return BuildResult(image_id=image_id, seconds=time.monotonic() - started)

    def run(
        self,
        image: str,
        *,
        command: list[str] | None = None,
        fetch: str | None = None,
        stdin: bytes | None = None,
        network: str | None = None,
        bound: float | None = None,
    ) -> RunResult:
        """Run `image` to completion, like `docker run --rm`, and return what it printed.

        stdout and stderr are both kept, as `docker run -ti` shows both (println writes to stderr).
        With `fetch`, that file is read from the stopped container too, saving a second one;
        `stdin` is written to the program's standard input, then closed; `network` is the
        container's (`host`, say). A container that can't start ends like `docker run` does:
        126 where its program can't be executed, 127 where it is not found, with the engine's
        reason as its output. An app that does not exit within `bound` (the run bound by
        default) is TimedOut. The container is removed whatever happens, Ctrl-C and SIGTERM
        included.
        """
        if bound is None:
            bound, bound_is = self.timeouts.run, "the setting workshop.run_timeout"
            raise_it = "INVOKE_WORKSHOP_RUN_TIMEOUT"
        else:
            bound_is, raise_it = "the caller's bound", "that bound"
        fetched = None
        api = self.client.api
        with (
            self.talking(f"running {image[:19]}"),
            self._container(image, command, stdin=stdin is not None, network=network) as container,
        ):
            started = time.monotonic()
            attached = (
                api.attach_socket(container, params={"stdin": 1, "stream": 1})
                if stdin is not None
                else None
            )
            try:
                try:
                    api.start(container)
                except docker.errors.APIError as error:
                    reason = str(error.explanation or error)
                    code = 126 if re.search(r"exec format|permission denied", reason) else 127
                    return RunResult(code, f"docker: {reason}\n", time.monotonic() - started)
                if attached is not None and stdin is not None:
                    _write_stdin(attached, stdin)
                try:
                    status = api.wait(container, timeout=math.ceil(bound))
                except (*_LOST_CONNECTION, *_TIMEOUTS) as error:
                    if not _is_timeout(error):
                        raise
                    raise TimedOut(
                        f"The container of {image[:19]} did not exit within {bound:g} s "
                        f"({bound_is}); it was stopped and removed, and nothing was logged. An "
                        "app that serves or waits for input never exits: give it a command that "
                        f"does, or raise {raise_it}."
                    ) from None
            finally:
                if attached is not None:
                    attached.close()
            seconds = time.monotonic() - started
            output = api.logs(container, stdout=True, stderr=True).decode(errors="replace")
            if fetch is not None:
                fetched = self._read_file(container, fetch)
        return RunResult(
            exit_code=int(status.get("StatusCode", -1)),
            output=output,
            seconds=seconds,
            fetched=fetched,
        )

    @contextmanager
    def serving(
        self, image: str, *, port: int, command: list[str] | None = None, network: str | None = None
    ) -> Iterator[Serving]:
        """Start `image` with its `port` published on 127.0.0.1 (a port docker picks), and
        stop and remove it when the block ends; with `network` `host`, the port is the host's."""
        api = self.client.api
        with (
            self.talking(f"serving {image[:19]}"),
            self._container(image, command, network=network, port=port) as container,
        ):
            try:
                api.start(container)
            except docker.errors.APIError as error:
                reason = f"docker: {error.explanation or error}\n"
                yield Serving(("127.0.0.1", port), lambda: 127, lambda: reason)
                return
            published = port
            if network != "host":
                ports = api.inspect_container(container)["NetworkSettings"]["Ports"] or {}
                published = int(ports[f"{port}/tcp"][0]["HostPort"])

            def exited() -> int | None:
                state = api.inspect_container(container)["State"]
                return None if state.get("Running") else int(state.get("ExitCode", -1))

            def output() -> str:
                return str(api.logs(container, stdout=True, stderr=True).decode(errors="replace"))

            yield Serving(("127.0.0.1", published), exited, output)

    @contextmanager
    def _container(
        self,
        image: str,
        command: list[str] | None,
        *,
        stdin: bool = False,
        network: str | None = None,
        port: int | None = None,
    ) -> Iterator[str]:
        """A container of `image`, labelled as this process's, removed when the block ends; its
        id. (The API directly: docker-py's model would inspect each container it creates.)"""
        api = self.client.api
        bindings: dict[int | str, Any] | None = (
            {port: ("127.0.0.1", None)} if port is not None and network != "host" else None
        )
        config = api.create_container_config(
            image,
            command,  # type: ignore[arg-type]  # None: the image's CMD, as create_container
            labels={LABEL: "run", OWNER_LABEL: owner()},
            stdin_open=stdin,
            ports=[port] if bindings else None,
            host_config=api.create_host_config(network_mode=network, port_bindings=bindings),
        )
        # The input ends when the attached stream closes (docker-py has no argument for it).
        config["StdinOnce"] = stdin
        created = api.create_container_from_config(config)
        container = str(created["Id"])
        try:
            yield container
        finally:
            # If the engine went away, its restart cleans up; the original error matters more.
            with suppress(docker.errors.DockerException, *_LOST_CONNECTION, *_TIMEOUTS):
                api.remove_container(container, force=True)

    @contextmanager
    def files(self, reference: str) -> Iterator[Iterator[ImageFile]]:
        """The files of `reference`'s filesystem, read from its export as it streams."""
        with self.exported(reference) as stream:
            yield read_tar(stream)

    @contextmanager
    def exported(self, reference: str) -> Iterator[Iterator[bytes]]:
        """`reference`'s filesystem as a tar stream, from a container's export, never unpacked.
        The container is never started (it needs no command to run, so an image with no CMD is
        read too) and is removed when the block ends."""
        with (
            self.talking(f"reading {reference}'s files", bound=self.timeouts.build),
            self._container(reference, ["/workshop-probe-never-runs"]) as container,
        ):
            yield self.client.api.export(container, chunk_size=1 << 20)

    def _read_file(self, container: str, path: str) -> bytes:
        """The content of the file at `path` in a container, through the engine's archive API."""
        stream, _ = self.client.api.get_archive(container, path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(tar.getmembers()[0])
            return member.read() if member else b""

    def read_file(self, reference: str, path: str) -> bytes:
        """The file at `path` in `reference`, from a container that is never started."""
        with (
            self.talking(f"reading {path} from {reference}"),
            self._container(reference, ["/workshop-probe-never-runs"]) as container,
        ):
            return self._read_file(container, path)

    @contextmanager
    def saved(self, reference: str) -> Iterator[Iterator[bytes]]:
        """`docker save` of `reference`: its layers one by one, as a tar stream."""
        with self.talking(f"saving {reference}", bound=self.timeouts.build):
            yield self.client.api.get_image(reference, chunk_size=1 << 20)

    def file_bytes(self, reference: str) -> int:
        """The bytes of the files in `reference`'s filesystem (hard links counted once)."""
        with self.files(reference) as entries:
            return sum(entry.size for entry in entries if entry.kind == "file")

    def history(self, reference: str) -> list[HistoryEntry]:
        with self.talking(f"reading {reference}'s history"):
            entries = self.client.api.history(reference)
        return [
            HistoryEntry(
                image_id=str(entry.get("Id") or ""),
                created_by=str(entry.get("CreatedBy") or ""),
                size=int(entry.get("Size") or 0),
                tags=tuple(str(tag) for tag in entry.get("Tags") or ()),
                comment=str(entry.get("Comment") or ""),
            )
            for entry in entries
        ]

    def import_rootfs(self, tar_stream: IO[bytes], *, reference: str, changes: list[str]) -> str:
        """`docker import`: turn a root filesystem tar stream into the image `reference`."""
        repository, tag = _split_reference(reference)
        with self.talking(f"importing {reference}", bound=self.timeouts.build):
            self.client.api.import_image_from_stream(
                tar_stream, repository=repository, tag=tag, changes=changes
            )
        image = self.image(reference)
        if image is None:
            raise EngineRefused(f"The Docker Engine imported {reference} but does not list it.")
        return image.id

    def image_names(self) -> list[str]:
        """Every name (repository:tag) of every image on the engine."""
        with self.talking("listing images"):
            listed = self.client.api.images()
        return sorted(
            str(tag)
            for image in listed
            for tag in image.get("RepoTags") or ()
            if tag != "<none>:<none>"
        )

    def images_labelled(self, label: str) -> list[ImageInfo]:
        with self.talking("listing images"):
            return [
                _image_info(attrs)
                for attrs in self.client.api.images(filters={"label": label}, all=False)
            ]

    def containers_labelled(self, label: str) -> list[ContainerInfo]:
        with self.talking("listing containers"):
            found = self.client.api.containers(all=True, filters={"label": label})
        infos = []
        for summary in found:
            exited = re.match(r"Exited \((-?\d+)\)", str(summary.get("Status", "")))
            infos.append(
                ContainerInfo(
                    id=str(summary["Id"]),
                    status=str(summary.get("State", "")),
                    exit_code=int(exited.group(1)) if exited else 0,
                    labels=dict(summary.get("Labels") or {}),
                    created=float(summary.get("Created") or 0),
                )
            )
        return infos

    def images_in_use(self) -> set[str]:
        """The ids of the images any container, running or not, is made from."""
        with self.talking("listing containers"):
            return {str(each.get("ImageID")) for each in self.client.api.containers(all=True)}

    def remove_image(self, image_id: str) -> bool:
        """Remove an image (not forced); False when it is in use or another image is built on
        it, and so it stays."""
        with self.talking(f"removing {image_id[:19]}"):
            try:
                self.client.api.remove_image(image_id, force=False, noprune=False)
            except docker.errors.ImageNotFound:
                pass
            except docker.errors.APIError as error:
                if error.status_code != 409:
                    raise
                return False
        return True

    def untag(self, reference: str) -> None:
        """Remove the name `reference`, leaving the image it named to its other names."""
        with self.talking(f"removing the tag {reference}"), suppress(docker.errors.ImageNotFound):
            self.client.api.remove_image(reference, force=False, noprune=True)

    def remove_container(self, container_id: str) -> None:
        with (
            self.talking(f"removing the container {container_id[:12]}"),
            suppress(docker.errors.NotFound),
        ):
            self.client.api.remove_container(container_id, force=True)


def _image_info(attrs: Mapping[str, Any], *, manifests: bool = False) -> ImageInfo:
    config = attrs.get("Config") or {}
    size = listed = int(attrs.get("Size") or 0)
    if manifests:
        # The containerd store: the image manifests present here (one per platform pulled).
        present = [
            manifest
            for manifest in attrs.get("Manifests") or ()
            if manifest.get("Kind") == "image" and manifest.get("Available")
        ]
        if present:
            size = sum(int(m["ImageData"]["Size"]["Unpacked"]) for m in present)
            listed = sum(int(m["Size"]["Total"]) for m in present)
    return ImageInfo(
        id=str(attrs["Id"]),
        size=size,
        tags=tuple(str(tag) for tag in attrs.get("RepoTags") or () if tag != "<none>:<none>"),
        labels=dict(config.get("Labels") or attrs.get("Labels") or {}),
        created=str(attrs.get("Created") or ""),
        listed_size=listed,
    )


def _split_reference(reference: str) -> tuple[str, str]:
    """('golang', '1.10') from 'golang:1.10'; ('registry:5000/go-big', 'latest') from a name
    whose last colon belongs to a host."""
    repository, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:
        return reference, "latest"
    return repository, tag


def _build_too_long(request: BuildRequest, seconds: float) -> str:
    return (
        f"Building {request.what} took longer than {seconds:g} s (the "
        "setting workshop.build_timeout); it was stopped and nothing was logged. Raise "
        "INVOKE_WORKSHOP_BUILD_TIMEOUT if the build is only slow."
    )


def _build_with_buildkit(
    request: BuildRequest,
    *,
    on_line: Callable[[str], None],
    timeout: float,
    environment: Mapping[str, str],
) -> BuildResult:
    """`docker buildx build --load` on the same engine as every other call (its DOCKER_HOST or
    DOCKER_CONTEXT), the context sent on standard input, never through a shell."""
    env = dict(environment)
    if (
        shutil.which("docker") is None
        or subprocess.run(
            ["docker", "buildx", "version"],
            capture_output=True,
            check=False,
            timeout=timeout,
            env=env,
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
        command += ["--iidfile", str(iidfile), "--file", request.dockerfile]
        command += ["--tag", request.tag] if request.tag else []
        command += [f"--build-arg={name}={value}" for name, value in request.buildargs.items()]
        command += [f"--label={name}={value}" for name, value in request.labels.items()]
        command += ["--no-cache"] if request.nocache else []
        log: deque[str] = deque(maxlen=LOG_TAIL)
        steps: list[str] = []
        with subprocess.Popen(
            [*command, "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        ) as process:
            assert process.stdin is not None and process.stdout is not None
            watchdog = threading.Timer(timeout, process.kill)
            watchdog.start()
            try:
                process.stdin.write(request.context)  # a few kilobytes: less than the pipe holds
                process.stdin.close()
                for raw in process.stdout:
                    line = raw.decode(errors="replace").rstrip()
                    log.append(line)
                    if re.match(r"#\d+ \[", line):
                        steps.append(line)
                    on_line(line)
            except BaseException:
                process.kill()
                raise
            finally:
                watchdog.cancel()
        if time.monotonic() - started >= timeout:
            raise TimedOut(_build_too_long(request, timeout))
        if process.returncode != 0:
            raise StepFailed(
                f"Building {request.what} with BuildKit failed (exit {process.returncode}).",
                instruction=steps[-1].split("] ", 1)[-1] if steps else "",
                log_tail=tuple(log),
            )
        image_id = iidfile.read_text().strip()
    return BuildResult(image_id=image_id, seconds=time.monotonic() - started)


def read_tar(chunks: Iterator[bytes]) -> Iterator[ImageFile]:
    """The entries of a tar stream as they arrive, their contents skipped, never unpacked."""
    raw = _ChunkStream(iter(chunks))
    with tarfile.open(fileobj=io.BufferedReader(raw, 1 << 20), mode="r|") as archive:
        yield from entries_of(archive)


def entries_of(archive: tarfile.TarFile) -> Iterator[ImageFile]:
    for member in archive:
        yield ImageFile(
            path=member.name.removeprefix("./").rstrip("/"),
            size=member.size,
            kind=_KINDS.get(member.type, "other"),
        )


def chunk_stream(chunks: Iterator[bytes]) -> io.BufferedReader:
    """A buffered file over a streamed HTTP answer's chunks."""
    return io.BufferedReader(_ChunkStream(iter(chunks)), 1 << 20)


_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.LNKTYPE: "link",
    tarfile.SYMTYPE: "symlink",
}


class _ChunkStream(io.RawIOBase):
    """A raw stream over an iterator of byte chunks (a streamed HTTP answer)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._left:
            self._left = next(self._chunks, b"")
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


def _reason(error: BaseException) -> str:
    """The shortest honest account of a connection error."""
    text = str(error)
    if "Connection broken" in text or "IncompleteRead" in text:
        return "the connection broke off"
    for known in ("No such file or directory", "Connection refused", "Permission denied"):
        if known in text:
            return known
    return text.splitlines()[0][:200] if text else type(error).__name__
