"""The two builders, behind one signature each: the engine's legacy builder through docker-py,
and BuildKit through `docker buildx build --load` on the same engine. Engine.build chooses."""

from __future__ import annotations

import io
import math
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import datetime
from functools import cache, partial
from pathlib import Path
from typing import IO

import docker
import docker.errors
import requests

from workshop.engine.endpoint import Endpoint
from workshop.engine.failures import LOST_CONNECTION, TIMEOUTS, translated_errors
from workshop.engine.values import LOG_TAIL, BuildRequest, BuildResult
from workshop.errors import BadInput, StepFailed, TimedOut

__all__ = ["build_with_buildkit", "build_with_sdk", "buildx_installed"]

# The legacy builder's line for a layer it made or took from the cache: " ---> 1a2b3c4d5e6f";
# Podman's (Buildah's): "--> cb5cb325d7f".
_LAYER = re.compile(r" ---> ([0-9a-f]{12,64})|--> ([0-9a-f]{11,64})")
# A step's heading, the instruction after it: the legacy builder's "Step 2/3 : COPY . ." and
# Podman's "[1/2] STEP 2/3: COPY . ." (a stage's number first in a multi-stage build).
_STEP = re.compile(r"Step \d+/\d+ : (.*)|(?:\[\d+/\d+\] )?STEP \d+/\d+: (.*)")
# The builder's own bookkeeping, kept out of a failed build's tail so that its reason shows
# (Podman's layer line is "--> cb5cb325d7f").
_BOOKKEEPING = re.compile(r" ---> |--> [0-9a-f]{6,64}$|Removing intermediate container ")
# The colour the legacy builder gives what a RUN wrote to stderr (SGR sequences only).
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
# The legacy builder's container for a step (" ---> Running in 5e1f..."): it is there while
# the step runs and while its layer is committed, after it exits.
_RUNNING_IN = re.compile(r" ---> Running in ([0-9a-f]{12,64})")
# The steps an engine does by itself, in no container: it copies the files into the layer. Their
# silence counts as work up to this many times the silence bound (then the engine is asked).
_FILE_STEP = re.compile(r"(?i)(COPY|ADD)\s")
FILE_STEP_PATIENCE = 10


# What Podman 4.3 says, now and then, of a RUN whose runtime was killed by a signal that nothing
# of ours sent, while other builds ran beside it (rootful and rootless; docs/engines.md).
RUNTIME_KILLED = "while running runtime: signal: killed"


def build_with_sdk(
    client: docker.DockerClient,
    request: BuildRequest,
    *,
    on_line: Callable[[str], None],
    timeout: float,
    endpoint: Endpoint,
    silence: float | None = None,
    podman: bool = False,
) -> BuildResult:
    """The engine's own (legacy) builder through docker-py, its output streamed line by line.
    Bounded twice: the whole build by `timeout` (build_timeout), and an answer silent past
    `silence` (engine_timeout) while the engine shows no work for it (`_SilenceWatch`; on
    `podman`, its build containers are asked of its own API). On `podman`, a build whose RUN's
    runtime was killed (RUNTIME_KILLED) is built again, once, within the same bound, saying so."""
    started = time.monotonic()
    build = partial(
        _build_once, client, request, on_line=on_line, endpoint=endpoint, silence=silence,
        podman=podman,
    )  # fmt: skip
    try:
        return build(timeout=timeout)
    except StepFailed as failed:
        left = started + timeout - time.monotonic()
        if not (podman and RUNTIME_KILLED in str(failed)) or left <= 0:
            raise
        on_line(
            f"Podman's runtime was killed during {failed.instruction or 'a RUN'} "
            f"({RUNTIME_KILLED}), by nothing this task sent: building {request.what} again, once."
        )
    # Outside the handler: a second failure is reported as itself, not as raised while
    # handling the first.
    return replace(build(timeout=left), seconds=time.monotonic() - started)


def _build_once(
    client: docker.DockerClient,
    request: BuildRequest,
    *,
    on_line: Callable[[str], None],
    timeout: float,
    endpoint: Endpoint,
    silence: float | None,
    podman: bool,
) -> BuildResult:
    """One build through docker-py, as build_with_sdk says."""
    started = time.monotonic()
    deadline = started + timeout
    log: deque[str] = deque(maxlen=LOG_TAIL)
    instruction = ""
    image_id = ""
    # The layers this build made (not its bases, nor what it took from the cache), newest last.
    created: list[str] = []
    from_cache = False
    what = f"building {request.what}"
    watch = _SilenceWatch(client, silence or timeout, podman=podman)
    with (
        translated_errors(what, endpoint=endpoint, bound=timeout),
        _context_file(request.context) as context,
        _given_up_in_words(watch, request, endpoint),
    ):
        _capture_responses(client)
        _captured.response = None  # this build's answer only, never an earlier one's
        stream = client.api.build(
            fileobj=context,
            custom_context=True,
            dockerfile=request.dockerfile,
            tag=request.tag or None,
            buildargs=dict(request.buildargs),
            labels=dict(request.labels),
            nocache=request.nocache,
            network_mode=request.network or None,
            platform=request.platform or None,
            rm=True,
            forcerm=True,
            decode=True,
            # The longest the output may stay silent; the whole build is bounded below.
            timeout=math.ceil(timeout),
        )
        watch.start(getattr(_captured, "response", None))
        try:
            for chunk in stream:
                watch.heard()
                if "error" in chunk:
                    reason = str(chunk["error"]).strip()
                    # Where the failing instruction printed nothing (a COPY of a file that is
                    # not there), the engine's own reason is the tail's last line.
                    silent = not log or _STEP.match(log[-1]) is not None
                    raise StepFailed(
                        f"Building {request.what} from {request.dockerfile} failed: {reason}",
                        instruction=instruction,
                        log_tail=(*log, reason) if silent and reason else tuple(log),
                    )
                image_id = chunk.get("aux", {}).get("ID", image_id)
                for line in _COLOUR.sub("", str(chunk.get("stream", ""))).splitlines():
                    watch.follow(line)
                    if step := _STEP.match(line):
                        instruction = step.group(1) or step.group(2)
                        # A FROM's id is the base's: the build did not make it.
                        from_cache = instruction.upper().startswith("FROM ")
                    elif line.strip() == "---> Using cache" or line.startswith("--> Using cache"):
                        from_cache = True
                    elif layer := _LAYER.fullmatch(line):
                        if not from_cache:
                            created.append(layer.group(1) or layer.group(2))
                        from_cache = False
                    if not _BOOKKEEPING.match(line):
                        log.append(line)
                    on_line(line)
                if time.monotonic() > deadline:
                    raise TimedOut(_build_too_long(request, timeout))
        except BaseException:
            _remove_unfinished(client, created, image_id, tagged=bool(request.tag))
            raise
        finally:
            watch.stop()
    if not image_id:
        raise StepFailed(
            f"Building {request.dockerfile} ended without an image id.", log_tail=tuple(log)
        )
    return BuildResult(image_id=image_id, seconds=time.monotonic() - started)


# The answer to the POST /build of each thread, caught as it arrives (a requests hook), so that
# the watch can cut a silent one off: docker-py hands back only a generator.
_captured = threading.local()


def _catch_build(response: requests.Response, *args: object, **kwargs: object) -> None:
    if response.request.method == "POST" and "/build" in str(response.request.url):
        _captured.response = response


def _capture_responses(client: docker.DockerClient) -> None:
    hooks = getattr(client.api, "hooks", None)
    if not isinstance(hooks, dict):
        return  # not a requests Session: nothing to catch, the build bound still holds
    caught = hooks.setdefault("response", [])
    if _catch_build not in caught:
        caught.append(_catch_build)


class _SilenceWatch:
    """Gives a build up when its answer has been silent past `silence` seconds and the engine
    shows no work for it: its step is not a COPY or ADD (the engine copies those files itself,
    in no container), the step's container is gone (a RUN's is there while it runs and while
    its layer is committed), no container running started since, or the engine did not answer
    that question within `silence`. A COPY's silence is work for FILE_STEP_PATIENCE times
    `silence` at most: nothing shows it, and an answer cut right after its heading would
    otherwise wait for the whole build bound. Silence alone is no proof: a `RUN go build`
    prints nothing for minutes, more under emulation, and committing or copying a toolchain
    of 500 MB took over a minute on a busy 2-core machine.

    Podman's builds (buildah's) run in containers its Docker API never lists: on `podman`, they
    are asked of its own API, which lists them as "external" containers."""

    def __init__(
        self, client: docker.DockerClient, silence: float, *, podman: bool = False
    ) -> None:
        self.client = client
        self.silence = silence
        self.podman = podman
        self.since = time.time()
        self.last = time.monotonic()
        self.gave_up = threading.Event()
        self.done = threading.Event()
        self.response: requests.Response | None = None
        self.thread: threading.Thread | None = None
        # The step the engine last said it began, and its container where it said one.
        self.instruction = ""
        self.container = ""

    def start(self, response: requests.Response | None) -> None:
        self.response = response
        self.thread = threading.Thread(target=self._watch, name="workshop-build-watch", daemon=True)
        self.thread.start()

    def heard(self) -> None:
        self.last = time.monotonic()

    def follow(self, line: str) -> None:
        """Keep the step `line` begins, or the container it says the step runs in; forget
        both once it says the step's layer (made, or taken from the cache)."""
        if step := _STEP.match(line):
            self.instruction = step.group(1) or step.group(2)
            self.container = ""
        elif running := _RUNNING_IN.match(line):
            self.container = running.group(1)
        elif _LAYER.fullmatch(line) or "Using cache" in line:
            self.instruction = self.container = ""

    def stop(self) -> None:
        self.done.set()

    def _watch(self) -> None:
        asked = self.last
        while not self.done.wait(min(self.silence, 5.0)):
            now = time.monotonic()
            if now - max(self.last, asked) < self.silence:
                continue
            if self._engine_works(silent_for=now - self.last):
                asked = now  # asked again after another silence
                continue
            self.gave_up.set()
            self._cut()
            return

    def _engine_works(self, *, silent_for: float) -> bool:
        if _FILE_STEP.match(self.instruction) and silent_for < FILE_STEP_PATIENCE * self.silence:
            return True
        try:
            if self.container and self.client.api.containers(
                all=True, filters={"id": self.container}
            ):
                return True
            if self.podman:
                api = self.client.api  # a requests session: docker-py has no call for Podman's
                answer = api.get(
                    f"{api.base_url}/v{api.api_version}/libpod/containers/json",
                    params={"external": "true"},
                    timeout=self.silence,
                )
                answer.raise_for_status()
                containers = answer.json() or []
            else:
                containers = self.client.api.containers(filters={"status": "running"})
            return any(_created(each.get("Created")) >= self.since - 2 for each in containers)
        except Exception:
            return False

    def _cut(self) -> None:
        """End the wait on the answer: its socket shut, so the reading thread wakes."""
        response = self.response
        connection = getattr(getattr(response, "raw", None), "connection", None)
        with suppress(OSError, AttributeError):
            connection.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
        with suppress(Exception):
            if response is not None:
                response.close()


# An RFC 3339 time as Podman's own API gives it, nanoseconds and all.
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")


def _created(value: object) -> float:
    """A container's creation time in seconds since the epoch: Docker's API gives a number,
    Podman's own an RFC 3339 string (0.0 where it is neither)."""
    if isinstance(value, (int, float)):
        return float(value)
    matched = _RFC3339.match(str(value or ""))
    if not matched:
        return 0.0
    whole, fraction, zone = matched.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    stamp = datetime.fromisoformat(f"{whole}.{(fraction or '0')[:6].ljust(6, '0')}{zone}")
    return stamp.timestamp()


@contextmanager
def _given_up_in_words(
    watch: _SilenceWatch, request: BuildRequest, endpoint: Endpoint
) -> Iterator[None]:
    """What the cut-off read raises, as the project says it: TimedOut, naming the bound."""
    try:
        yield
    except BaseException:
        if not watch.gave_up.is_set():
            raise
        raise _silent(watch, request, endpoint) from None
    if watch.gave_up.is_set():
        raise _silent(watch, request, endpoint)  # the cut answer ended as if it were whole


def _silent(watch: _SilenceWatch, request: BuildRequest, endpoint: Endpoint) -> TimedOut:
    return TimedOut(
        f"Building {request.what}: the Docker Engine at {endpoint.describe()} accepted the "
        f"build and then said nothing for {watch.silence:g} s (workshop.engine_timeout), "
        "while it showed no work for it (no build container running). It was given up and "
        "nothing was logged. Check the engine (docker info); raise "
        "INVOKE_WORKSHOP_ENGINE_TIMEOUT if it is only slow."
    )


def _build_too_long(request: BuildRequest, seconds: float) -> str:
    return (
        f"Building {request.what} took longer than {seconds:g} s (the "
        "setting workshop.build_timeout); it was stopped and nothing was logged. Raise "
        "INVOKE_WORKSHOP_BUILD_TIMEOUT if the build is only slow."
    )


@contextmanager
def _context_file(context: bytes | Path) -> Iterator[IO[bytes]]:
    """The build context as a file docker-py streams: the tar on disk, or the bytes."""
    if isinstance(context, Path):
        with open(context, "rb") as file:
            yield file
    else:
        yield io.BytesIO(context)


def _feed(stdin: IO[bytes], context: bytes | Path) -> None:
    """Write the build context to buildx's standard input, then close it. (A buildx that ended
    early closes the pipe under it: nothing more to write.)"""
    with suppress(OSError, ValueError), stdin:
        if isinstance(context, Path):
            with open(context, "rb") as file:
                shutil.copyfileobj(file, stdin, 1 << 20)
        else:
            stdin.write(context)


def _remove_unfinished(
    client: docker.DockerClient, created: list[str], image_id: str, *, tagged: bool
) -> None:
    """A build stopped or failed: what it made was never handed over, so it goes: the image
    (where its id came before the last lines; a tagged build's image is someone's), and the
    layers it made on the way, which would stay as dangling images. Layers it took from the
    cache are other builds' and stay, and so do their parents (noprune)."""
    mine = dict.fromkeys([*reversed(created), image_id]) if image_id else dict.fromkeys(created)
    for layer_id in mine:
        # The builder names its last layer by the image's short id: that layer is the image.
        is_image = image_id.removeprefix("sha256:").startswith(layer_id.removeprefix("sha256:"))
        if not (tagged and image_id and is_image):
            with suppress(docker.errors.DockerException, *LOST_CONNECTION, *TIMEOUTS):
                client.api.remove_image(layer_id, noprune=True)


@cache
def buildx_installed() -> bool:
    """Whether the docker CLI and its buildx plugin, which BuildKit builds go through, are here."""
    if shutil.which("docker") is None:
        return False
    try:
        found = subprocess.run(
            ["docker", "buildx", "version"], capture_output=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 0


def build_with_buildkit(
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
        exported = Path(scratch) / "image.tar"
        command = ["docker", "buildx", "build", "--progress=plain"]
        if request.reproducible:
            # The docker exporter (--load) keeps each file's time; the OCI one rewrites it.
            output = f"type=oci,dest={exported},rewrite-timestamp=true"
            command += ["--provenance=false", f"--output={output}"]
            command += ["--build-arg=SOURCE_DATE_EPOCH"]
            env["SOURCE_DATE_EPOCH"] = "0"
        else:
            command += ["--load"]
        command += ["--iidfile", str(iidfile), "--file", request.dockerfile]
        command += ["--tag", request.tag] if request.tag else []
        # Values through the environment, not the command line that `ps` shows: a proxy's
        # address may carry a token.
        command += [f"--build-arg={name}" for name in request.buildargs]
        env = {**env, **request.buildargs}
        command += [f"--network={request.network}"] if request.network else []
        command += [f"--platform={request.platform}"] if request.platform else []
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
            # Fed by a thread: a large context must not wait on output nobody reads yet.
            feeder = threading.Thread(
                target=_feed, args=(process.stdin, request.context), daemon=True
            )
            feeder.start()
            try:
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
        if request.reproducible:
            image_id = _loaded(exported, env=env, timeout=timeout, what=request.what)
        else:
            image_id = iidfile.read_text().strip()
    return BuildResult(image_id=image_id, seconds=time.monotonic() - started)


def _loaded(archive: Path, *, env: Mapping[str, str], timeout: float, what: str) -> str:
    """`docker load` the OCI archive `archive`; the id of the image it loaded."""
    try:
        loaded = subprocess.run(
            ["docker", "load", "--input", str(archive)],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env=dict(env),
        )
    except subprocess.TimeoutExpired:
        raise TimedOut(f"Loading {what}, built by BuildKit, took over {timeout:g} s.") from None
    found = re.search(r"Loaded image ID: (sha256:[0-9a-f]{64})", loaded.stdout)
    if loaded.returncode != 0 or found is None:
        said = (loaded.stderr or loaded.stdout).strip()[:300]
        raise StepFailed(
            f"The engine did not load {what}, which BuildKit built and exported as OCI "
            f"(docker load exited {loaded.returncode}: {said})."
        )
    return found.group(1)
