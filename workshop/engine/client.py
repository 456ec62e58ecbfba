"""The Docker Engine, through one Docker SDK client shared by every task of an invoke run.

The adapter speaks the project's language: it returns small frozen values of its own
(`ImageInfo`, `RunResult`, ...), never docker-py's models, and it owns every container it makes
(runs and probes carry the label `LABEL.owner`, and are removed whatever happens). Every call is
bounded (`Timeouts`); a lost connection becomes `EngineUnavailable`, a refusal `EngineRefused`,
and a wait past its bound `TimedOut`, so a person sees what happened instead of a traceback.
`Engine.from_env()` finds the engine the docker CLI would use (engine/endpoint.py: DOCKER_HOST,
DOCKER_CONTEXT, the current context, the default socket). The builder (the engine's legacy
builder through the SDK, or BuildKit through `docker buildx`, pointed at the same engine) is
chosen once, when the engine is made.

Sizes: see workshop.engine.values; `measured()` applies the store's rule.
"""

from __future__ import annotations

import io
import math
import os
import re
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import IO, Any
from urllib.parse import quote

import docker
import docker.errors
import requests.exceptions
from docker.utils import parse_repository_tag
from docker.utils.json_stream import json_stream

from workshop.engine.builders import build_with_buildkit, build_with_sdk
from workshop.engine.endpoint import DEFAULT_HOST, Endpoint, find_endpoint
from workshop.engine.failures import (
    LOST_CONNECTION,
    TIMEOUTS,
    connecting_failed,
    is_timeout,
    translated_errors,
)
from workshop.engine.probe import probe_context
from workshop.engine.tarstream import read_tar
from workshop.engine.values import (
    CLASSIC,
    CONTAINERD,
    CONTAINERS_STORAGE,
    DOCKER_DESKTOP,
    DOCKER_ENGINE,
    FILES_MEASURED,
    OWNER_LABEL,
    PODMAN,
    BuildRequest,
    BuildResult,
    ContainerInfo,
    EngineInfo,
    HistoryEntry,
    ImageFile,
    ImageInfo,
    KnownFileBytes,
    RunResult,
    Serving,
    Timeouts,
    owner,
)
from workshop.errors import (
    BadInput,
    EngineRefused,
    EngineUnavailable,
    RegistryError,
    TimedOut,
)
from workshop.labels import LABEL
from workshop.platforms import engine_platform
from workshop.signals import deferred_interrupts

__all__ = ["Engine"]

# Seconds between asks for a file's archive that came back empty (see Engine._read_file).
ARCHIVE_RETRY_PAUSES = (0.5, 1.0, 2.0)
# Podman's refusal of an archive whose container's storage was unmounted as it was mounted.
_LOST_MOUNT = "mounting storage for container"


def write_stdin(attached: Any, data: bytes, *, bound: float) -> threading.Thread:
    """Write `data` to a container's attached standard input, then close it (end of input), in
    a thread of its own: a program that exits without reading it (or reads none of 20 MiB)
    must not hold up the wait for its exit, nor Ctrl-C. The writer gives up after `bound`."""
    raw = getattr(attached, "_sock", attached)

    def write() -> None:
        with suppress(OSError):
            raw.settimeout(bound)
            raw.sendall(data)
            raw.shutdown(socket.SHUT_WR)

    writer = threading.Thread(target=write, name="workshop-stdin", daemon=True)
    writer.start()
    return writer


@dataclass
class Engine:
    """One connection to a Docker Engine, with its bounds and its builder."""

    client: docker.DockerClient
    timeouts: Timeouts = field(default_factory=Timeouts)
    builder: str = "legacy"
    endpoint: Endpoint = field(default_factory=lambda: Endpoint(DEFAULT_HOST, "default", "given"))
    # The bytes of images' files measured before (None: every measure reads the export).
    known_file_bytes: KnownFileBytes | None = field(default=None, repr=False)
    _info: EngineInfo | None = field(default=None, repr=False)
    # What the engine answered about each other platform, asked once a process.
    _platform_problems: dict[str, str] = field(default_factory=dict, repr=False)
    _probe_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_env(
        cls,
        *,
        timeouts: Timeouts | None = None,
        builder: str = "legacy",
        known_file_bytes: KnownFileBytes | None = None,
    ) -> Engine:
        """The engine the docker CLI would use (see workshop.endpoint)."""
        timeouts = timeouts or Timeouts()
        endpoint = find_endpoint()
        try:
            client = endpoint.client(timeout=math.ceil(timeouts.engine))
        except docker.errors.DockerException as error:
            raise connecting_failed(endpoint, error, bound=timeouts.engine) from None
        return cls(
            client,
            timeouts=timeouts,
            builder=builder,
            endpoint=endpoint,
            known_file_bytes=known_file_bytes,
        )

    def translated_errors(
        self, what: str, *, bound: float | None = None
    ) -> AbstractContextManager[None]:
        """Errors while `what` in the project's words (see workshop.engine.failures)."""
        return translated_errors(what, endpoint=self.endpoint, bound=bound or self.timeouts.engine)

    @property
    def info(self) -> EngineInfo:
        if self._info is None:
            with self.translated_errors("reading the engine's version"):
                version = self.client.version()
                info = self.client.info()
            driver_status = {str(pair[0]): str(pair[1]) for pair in info.get("DriverStatus") or []}
            containerd = driver_status.get("driver-type", "").startswith(
                "io.containerd.snapshotter"
            )
            operating_system = str(info.get("OperatingSystem") or "")
            product = _product(version, operating_system)
            self._info = EngineInfo(
                version=str(version.get("Version", "unknown")),
                storage_driver=str(info.get("Driver", "unknown")),
                image_store=CONTAINERS_STORAGE
                if product == PODMAN
                else CONTAINERD
                if containerd
                else CLASSIC,
                context=self.endpoint.context,
                host=self.endpoint.host,
                platform=engine_platform(
                    str(version.get("Os", "linux")), str(version.get("Arch", "amd64"))
                ),
                where=self.endpoint.where(operating_system),
                operating_system=operating_system,
                product=product,
                rootless=_rootless(info) or (product == PODMAN and self._podman_rootless()),
            )
        return self._info

    def _podman_rootless(self) -> bool:
        """Whether Podman runs rootless, asked of its own API: Podman 4.3's Docker-compatible
        /info leaves "name=rootless" out of its security options; its /libpod/info says it
        (host.security.rootless). False where that answer can't be had."""
        api = self.client.api  # a requests session: docker-py has no call for Podman's routes
        try:
            answered = api.get(
                f"{api.base_url}/v{api.api_version}/libpod/info", timeout=self.timeouts.engine
            )
            answered.raise_for_status()
            answer = answered.json()
        except (requests.exceptions.RequestException, ValueError):
            return False
        security = ((answer or {}).get("host") or {}).get("security") or {}
        return security.get("rootless") is True

    def platform_problem(self, platform: str) -> str:
        """Why `platform`'s programs can't run on this engine, in words; "" where they can. The
        engine is asked, not this machine (see workshop.engine.probe): once a process, by
        building and running a program of that platform that exits 0."""
        if not platform or platform == self.info.platform:
            return ""
        with self._probe_lock:
            if platform not in self._platform_problems:
                self._platform_problems[platform] = self._probe(platform)
        return self._platform_problems[platform]

    def _probe(self, platform: str) -> str:
        built = build_with_sdk(
            self.client,
            BuildRequest(
                context=probe_context(platform),
                dockerfile="Dockerfile",
                buildargs={},
                labels={LABEL: "probe"},
                name=f"a {platform} probe",
                platform=platform,
            ),
            on_line=lambda line: None,
            timeout=self.timeouts.engine,
            endpoint=self.endpoint,
        )
        try:
            ran = self.run(built.image_id, platform=platform, bound=self.timeouts.engine)
        finally:
            self.remove_image(built.image_id)
        if ran.exit_code == 0:
            return ""
        said = " ".join(ran.output.split())[:200] or f"it exited {ran.exit_code}"
        return (
            f"{platform} programs can't run on the engine ({self.info.where.said}, "
            f"{self.info.platform}): a {platform} program that only exits 0 failed there "
            f"({said}), and every image is run and checked."
        )

    def image(self, reference: str) -> ImageInfo | None:
        """The local image called `reference` (a name or an id), or None."""
        containerd = self.info.image_store == CONTAINERD
        api = self.client.api
        with self.translated_errors(f"looking up {reference}"):
            if not containerd:
                try:
                    return _image_info(api.inspect_image(reference), podman=self.info.is_podman)
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
        self,
        reference: str,
        *,
        on_line: Callable[[str], None] = lambda line: None,
        platform: str = "",
    ) -> ImageInfo | None:
        """Pull `reference` (its `platform`, where given), each layer's progress to `on_line`;
        None when no registry gives it to us."""
        repository, tag = _split_reference(reference)
        with self.translated_errors(f"pulling {reference}", bound=self.timeouts.build):
            try:
                events = self.client.api.pull(
                    repository, tag=tag, stream=True, decode=True, platform=platform or None
                )
                for event in events:
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
        repository, tag = _named(remote, "push as")
        registry = repository.split("/")[0]
        self.tag(image_id, remote)
        try:
            with self.translated_errors(f"pushing {remote}"):
                for event in self.client.api.push(repository, tag=tag, stream=True, decode=True):
                    if "error" in event:
                        raise RegistryError(
                            f"The registry {registry} (the setting workshop.registry) refused "
                            f"the push of {remote}: {str(event['error']).strip()[:300]}. "
                            "Nothing was logged as measured."
                        )
        except TimedOut:
            # The engine answered; the push it runs went silent: the registry stopped taking it.
            raise RegistryError(
                f"The registry {registry} (the setting workshop.registry) did not take the push "
                f"of {remote}: the engine's push said nothing for {self.timeouts.engine:g} s "
                "(engine_timeout). Nothing was logged as measured. Check the registry, or raise "
                "INVOKE_WORKSHOP_ENGINE_TIMEOUT if it is only slow."
            ) from None

    def tag(self, image_id: str, reference: str) -> None:
        repository, tag = _named(reference, "tag an image as")
        with self.translated_errors(f"tagging {image_id[:19]} as {reference}"):
            self.client.api.tag(image_id, repository, tag=tag, force=True)

    def build(
        self, request: BuildRequest, *, on_line: Callable[[str], None] = lambda line: None
    ) -> BuildResult:
        """Build `request`, streaming its output to `on_line`, within the build bound."""
        if self.builder == "buildkit" or request.reproducible:
            return build_with_buildkit(
                request,
                on_line=on_line,
                timeout=self.timeouts.build,
                environment=self.endpoint.cli_environment(os.environ),
            )
        return build_with_sdk(
            self.client,
            request,
            on_line=on_line,
            timeout=self.timeouts.build,
            endpoint=self.endpoint,
            silence=self.timeouts.engine,
            podman=self.info.is_podman,
        )

    def run(
        self,
        image: str,
        *,
        command: list[str] | None = None,
        fetch: str | None = None,
        stdin: bytes | None = None,
        network: str | None = None,
        bound: float | None = None,
        platform: str = "",
    ) -> RunResult:
        """Run `image` to completion, like `docker run --rm`, and return what it printed.

        stdout and stderr are both kept, as `docker run -ti` shows both (println writes to stderr).
        With `fetch`, that file is read from the stopped container too, saving a second one;
        `stdin` is written to the program's standard input, then closed; `network` is the
        container's (`host`, say). A container that can't start ends like `docker run` does:
        126 where its program can't be executed, 127 where it is not found, with the engine's
        reason as its output. An app that does not exit within `bound` (the run bound by
        default) is TimedOut. The container is removed whatever happens, Ctrl-C and SIGTERM
        included. `platform`: the image's, where it is not the engine's own (run emulated).
        """
        if bound is None:
            bound, bound_is = self.timeouts.run, "the setting workshop.run_timeout"
            raise_it = "INVOKE_WORKSHOP_RUN_TIMEOUT"
        else:
            bound_is, raise_it = "the caller's bound", "that bound"
        fetched = None
        api = self.client.api
        with (
            self.translated_errors(f"running {image[:19]}"),
            self._container(
                image, command, stdin=stdin is not None, network=network, platform=platform
            ) as container,
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
                    write_stdin(attached, stdin, bound=bound)
                try:
                    status = api.wait(container, timeout=math.ceil(bound))
                except (*LOST_CONNECTION, *TIMEOUTS) as error:
                    if not is_timeout(error):
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
        self,
        image: str,
        *,
        port: int,
        command: list[str] | None = None,
        network: str | None = None,
        platform: str = "",
    ) -> Iterator[Serving]:
        """Start `image` with its `port` published (a port docker picks) where this machine
        reaches it (`Where`: loopback for an engine here or in a VM, the engine's host name for
        another host), and stop and remove it when the block ends; with `network` `host`, the
        port is the engine host's."""
        api = self.client.api
        reached_on = self.info.where.published_on
        with (
            self.translated_errors(f"serving {image[:19]}"),
            self._container(
                image, command, network=network, port=port, platform=platform
            ) as container,
        ):
            try:
                api.start(container)
            except docker.errors.APIError as error:
                reason = f"docker: {error.explanation or error}\n"
                yield Serving((reached_on, port), lambda: 127, lambda: reason)
                return
            published = port
            if network != "host":
                ports = api.inspect_container(container)["NetworkSettings"]["Ports"] or {}
                bound_to = ports.get(f"{port}/tcp") or []
                if not bound_to:
                    # An engine with no bridge network publishes nothing: say so, as a run does.
                    reason = f"docker: the engine published no host port for {port}/tcp\n"
                    yield Serving((reached_on, port), lambda: 127, lambda: reason)
                    return
                published = int(bound_to[0]["HostPort"])

            def exited() -> int | None:
                state = api.inspect_container(container)["State"]
                return None if state.get("Running") else int(state.get("ExitCode", -1))

            def output() -> str:
                return str(api.logs(container, stdout=True, stderr=True).decode(errors="replace"))

            yield Serving((reached_on, published), exited, output)

    @contextmanager
    def _container(
        self,
        image: str,
        command: list[str] | None,
        *,
        stdin: bool = False,
        network: str | None = None,
        port: int | None = None,
        platform: str = "",
    ) -> Iterator[str]:
        """A container of `image`, labelled as this process's, removed when the block ends; its
        id. (The API directly: docker-py's model would inspect each container it creates.)"""
        api = self.client.api
        bindings: dict[int | str, Any] | None = (
            {port: (self.info.where.bind_to, None)}
            if port is not None and network != "host"
            else None
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
        container: str | None = None
        try:
            # A Ctrl-C while the engine creates it waits for its id: without the id, nothing
            # could remove the container the engine went on to make.
            with deferred_interrupts():
                container = str(
                    api.create_container_from_config(config, platform=platform or None)["Id"]
                )
            yield container
        finally:
            # If the engine went away, its restart cleans up; the original error matters more.
            if container is not None:
                with suppress(docker.errors.DockerException, *LOST_CONNECTION, *TIMEOUTS):
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
            self.translated_errors(f"reading {reference}'s files", bound=self.timeouts.build),
            self._container(reference, ["/workshop-probe-never-runs"]) as container,
        ):
            yield self.client.api.export(container, chunk_size=1 << 20)

    def _read_file(self, container: str, path: str) -> bytes:
        """The content of the file at `path` in a container, through the engine's archive API.

        An archive that comes back empty (or unreadable) is asked for again, after 0.5, 1 and
        2 s: Podman 5.8 answered twice in one CI run with an empty one and status 200, each
        time for a container that had just exited, on a machine busy with three engines' tests.
        A fourth is an EngineUnavailable, in words. A refusal because the container's storage
        went as it was mounted counts as an empty answer: Podman unmounts an exited container's
        storage in a process of its own (`podman container cleanup`), and 4.3 answered once,
        in a CI run, "mounting storage for container ...: lstat .../merged: no such file or
        directory". A fourth such refusal is the engine's, in its words."""
        for pause in (*ARCHIVE_RETRY_PAUSES, None):
            try:
                stream, _ = self.client.api.get_archive(container, path)
                archive = b"".join(stream)
            except docker.errors.APIError as error:
                if pause is None or _LOST_MOUNT not in str(error.explanation or ""):
                    raise
                archive = b""
            if archive:
                with suppress(tarfile.TarError), tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                    if members := tar.getmembers():
                        return _content(tar, members[0])
            if pause is not None:
                time.sleep(pause)
        raise EngineUnavailable(
            f"The Docker Engine at {self.endpoint.describe()} sent no file where {path} was "
            f"asked for from container {container[:12]} (an empty or unreadable archive, "
            f"{len(ARCHIVE_RETRY_PAUSES) + 1} times in "
            f"{sum(ARCHIVE_RETRY_PAUSES):g} s). Nothing was logged for this step. Check the "
            "engine (docker info, its own log), then run the step again."
        )

    def read_file(self, reference: str, path: str) -> bytes:
        """The file at `path` in `reference`, from a container that is never started."""
        with (
            self.translated_errors(f"reading {path} from {reference}"),
            self._container(reference, ["/workshop-probe-never-runs"]) as container,
        ):
            return self._read_file(container, path)

    @contextmanager
    def saved(self, *references: str) -> Iterator[Iterator[bytes]]:
        """`docker save` of `references`: their layers one by one (each once), as a tar stream
        with their names, which `load` takes on any engine."""
        api = self.client.api
        with self.translated_errors(f"saving {', '.join(references)}", bound=self.timeouts.build):
            if len(references) == 1:
                yield api.get_image(references[0], chunk_size=1 << 20)
                return
            answer = api.get(
                f"{api.base_url}/v{api.api_version}/images/get",
                params={"names": list(references)},
                stream=True,
                timeout=self.timeouts.engine,
            )
            _refused_unless_ok(answer, f"saving {', '.join(references)}")
            yield answer.iter_content(chunk_size=1 << 20)

    def _stored(
        self, path: str, what: str, data: IO[bytes], *, tar: bool = False, **params: str | list[str]
    ) -> str:
        """POST `data` to the API's `path` and the answer's text, bounded as a build is: not
        docker-py's load_image or import_image_from_stream, which wait only as long as any
        request (engine_timeout), while an engine answers once all of it is stored (Podman 4.3's
        load after 225 s on a busy machine). `tar`: the data is a file system's tar (an import)."""
        api = self.client.api
        answer = api.post(
            f"{api.base_url}/v{api.api_version}{path}",
            params=params,
            data=data,
            headers={"Content-Type": "application/tar"} if tar else None,
            timeout=self.timeouts.build,
        )
        _refused_unless_ok(answer, what)
        return str(answer.text)

    def load(self, archive: IO[bytes]) -> list[str]:
        """`docker load`: the images of a saved archive, by the names they were saved with
        (Podman answers "localhost/NAME:TAG"; the names here are as they were given)."""
        with self.translated_errors("loading images", bound=self.timeouts.build):
            said_all = self._stored("/images/load", "loading images", archive, quiet="1")
            answers = [each for each in json_stream(iter([said_all])) if isinstance(each, dict)]
        said = " ".join(str(answer.get("stream", "")) for answer in answers)
        errors = [str(answer["error"]) for answer in answers if answer.get("error")]
        if errors:
            raise EngineRefused(f"The Docker Engine refused loading images: {errors[0]}")
        names = re.findall(r"Loaded image(?:\(s\))?: ([^\s,]+)", said)
        return [familiar(name, podman=self.info.is_podman) for name in names]

    def measured(self, reference: str) -> ImageInfo | None:
        """`reference` with `size` what the workshop compares on every store: the image's
        layers on the classic store, the bytes of its files on containerd's and Podman's."""
        image = self.image(reference)
        if image is None or self.info.image_store not in FILES_MEASURED:
            return image
        # An image id names its content: what was measured under it holds (per platform: an
        # index's id names every platform's files, and the export is this engine's own).
        key = f"{image.id} {self.info.platform}"
        known = self.known_file_bytes.get(key) if self.known_file_bytes is not None else None
        if known is None:
            known = self.file_bytes(image.id)
            if self.known_file_bytes is not None:
                self.known_file_bytes.put(key, known)
        return replace(image, size=known, listed_size=image.listed)

    def file_bytes(self, reference: str) -> int:
        """The bytes of the files in `reference`'s filesystem (hard links counted once)."""
        with self.files(reference) as entries:
            return sum(entry.size for entry in entries if entry.kind == "file")

    def history(self, reference: str) -> list[HistoryEntry]:
        with self.translated_errors(f"reading {reference}'s history"):
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
        repository, tag = _named(reference, "import as")
        what = f"importing {reference}"
        with self.translated_errors(what, bound=self.timeouts.build):
            answer = self._stored(
                "/images/create", what, tar_stream, tar=True, fromSrc="-", repo=repository,
                tag=tag, changes=changes,
            )  # fmt: skip
            if self.info.is_podman:
                # Podman's import takes the repository but drops the tag (it stores NAME:latest):
                # the image it answers with is tagged as asked, and its NAME:latest goes again.
                imported = _imported_id(answer)
                if imported and self.image(reference) is None:
                    self.client.api.tag(imported, repository, tag)
                    latest = self.image(f"{repository}:latest")
                    if tag != "latest" and latest is not None and latest.id == imported:
                        self.client.api.remove_image(f"{repository}:latest", noprune=True)
        image = self.image(reference)
        if image is None:
            raise EngineRefused(f"The Docker Engine imported {reference} but does not list it.")
        return image.id

    def image_names(self) -> list[str]:
        """Every name (repository:tag) of every image on the engine."""
        with self.translated_errors("listing images"):
            listed = self.client.api.images()
        return sorted(
            familiar(str(tag), podman=self.info.is_podman)
            for image in listed
            for tag in image.get("RepoTags") or ()
            if tag != "<none>:<none>"
        )

    def images_labelled(self, label: str) -> list[ImageInfo]:
        with self.translated_errors("listing images"):
            return [
                _image_info(attrs, podman=self.info.is_podman)
                for attrs in self.client.api.images(filters={"label": label}, all=False)
            ]

    def containers_labelled(self, label: str) -> list[ContainerInfo]:
        with self.translated_errors("listing containers"):
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
        with self.translated_errors("listing containers"):
            return {str(each.get("ImageID")) for each in self.client.api.containers(all=True)}

    def remove_image(self, image_id: str) -> bool:
        """Remove an image (not forced); False when it is in use or another image is built on
        it, and so it stays."""
        with self.translated_errors(f"removing {image_id[:19]}"):
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
        with (
            self.translated_errors(f"removing the tag {reference}"),
            suppress(docker.errors.ImageNotFound),
        ):
            self.client.api.remove_image(reference, force=False, noprune=True)

    def remove_container(self, container_id: str) -> None:
        with (
            self.translated_errors(f"removing the container {container_id[:12]}"),
            suppress(docker.errors.NotFound),
        ):
            self.client.api.remove_container(container_id, force=True)


def _imported_id(answer: object) -> str:
    """The image id an import's answer names (its last status line that is an id)."""
    found = re.findall(r"sha256:[0-9a-f]{64}", str(answer))
    return found[-1] if found else ""


def _product(version: Mapping[str, Any], operating_system: str) -> str:
    """Which product answers: Podman names itself among the version's components ("Podman
    Engine"); Docker Desktop in its operating system; anything else is Docker Engine."""
    names = {str(part.get("Name", "")) for part in version.get("Components") or ()}
    if "Podman Engine" in names:
        return PODMAN
    if operating_system.startswith("Docker Desktop"):
        return DOCKER_DESKTOP
    return DOCKER_ENGINE


def _rootless(info: Mapping[str, Any]) -> bool:
    """Whether the daemon runs in a user namespace, where its /info says so: Docker says
    "name=rootless" among the security options (Podman 4.3 does not: see _podman_rootless)."""
    return "name=rootless" in {str(option) for option in info.get("SecurityOptions") or ()}


def _content(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """What a regular file holds; b"" for a folder, a device or a link whose target the archive
    does not hold: the archive came whole, there is just no content to read."""
    try:
        file = tar.extractfile(member)
    except KeyError:
        return b""
    return file.read() if file is not None else b""


def familiar(name: str, *, podman: bool) -> str:
    """`name` as the docker CLI shows it and as the tasks gave it: Podman lists
    "docker.io/library/alpine:latest" and "localhost/go-big:latest" for a name given as
    "alpine" or "go-big"; Docker drops docker.io itself (a registry named localhost is Docker's,
    and stays)."""
    for prefix in ("docker.io/library/", "docker.io/", *(("localhost/",) if podman else ())):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _image_info(
    attrs: Mapping[str, Any], *, manifests: bool = False, podman: bool = False
) -> ImageInfo:
    config = attrs.get("Config") or {}
    size = listed = int(attrs.get("Size") or 0)
    present: list[Mapping[str, Any]] = []
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
    held = [manifest.get("ImageData", {}).get("Platform") or {} for manifest in present]
    if not held:
        held = [{"os": attrs.get("Os"), "architecture": attrs.get("Architecture")}]
    platforms = tuple(
        dict.fromkeys(
            f"{each.get('os')}/{each.get('architecture')}"
            for each in held
            if each.get("os") and each.get("architecture")
        )
    )
    return ImageInfo(
        id=str(attrs["Id"]),
        size=size,
        tags=tuple(
            familiar(str(tag), podman=podman)
            for tag in attrs.get("RepoTags") or ()
            if tag != "<none>:<none>"
        ),
        labels=dict(config.get("Labels") or attrs.get("Labels") or {}),
        created=str(attrs.get("Created") or ""),
        listed_size=listed,
        platforms=platforms,
    )


def _split_reference(reference: str) -> tuple[str, str]:
    """`reference` as docker-py's parser splits it: ('golang', '1.10'); ('registry:5000/go-big',
    'latest'), the last colon a host's; ('alpine', 'sha256:…') for a digest, which the engine
    takes where a tag goes (with a tag and a digest, the engine keeps the digest)."""
    repository, tag = parse_repository_tag(reference)
    return repository, tag or "latest"


def _named(reference: str, what: str) -> tuple[str, str]:
    """The repository and tag to give an image: a digest is what an image is, not a name."""
    repository, tag = _split_reference(reference)
    if tag.startswith("sha256:"):
        raise BadInput(
            f"Can't {what} {reference}: a digest names an image's content, not a name to give "
            "it. Give a name and a tag instead."
        )
    return repository, tag


def _refused_unless_ok(answer: requests.Response, what: str) -> None:
    """A request made past docker-py (with a bound of its own): anything but 200 refused."""
    if answer.status_code != 200:
        raise EngineRefused(
            f"The Docker Engine refused {what}: {answer.status_code} {answer.text[:200]}"
        )
