"""The engine adapter's own logic, without an engine: reading tar streams, names, timeouts,
refusals. (What it does on a real engine is in the e2e and fault tests.)"""

from __future__ import annotations

import io
import os
import signal
import socket
import tarfile
import time
import types
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import requests.exceptions
import urllib3.exceptions

from workshop.engine.buildcontext import tar_context, tar_context_file
from workshop.engine.builders import _created, build_with_sdk
from workshop.engine.client import Engine, _split_reference, write_stdin
from workshop.engine.endpoint import DEFAULT_HOST, Endpoint
from workshop.engine.failures import is_timeout
from workshop.engine.tarstream import read_tar
from workshop.engine.values import BuildRequest, EngineInfo
from workshop.errors import BadInput, EngineRefused, RegistryError, StepFailed, TimedOut
from workshop.signals import terminate_as_interrupt

# What the stand-in clients below answer for the engine: one on this machine.
LOCAL = EngineInfo("20.10.24", "overlay2")

ENDPOINT = Endpoint(DEFAULT_HOST, "default", "given")

MEMBERS = [("a" * 150 + "/file", 10), ("ünïcode/ß", 3), ("dir", None), ("x/" + "b" * 120, 70_000)]


def archive(fmt: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, size in MEMBERS:
            info = tarfile.TarInfo(name)
            if size is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = size
            tar.addfile(info, io.BytesIO(b"z" * size) if size else None)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
@pytest.mark.parametrize("chunk", [1, 7, 512, 1000, 1 << 20])
def test_a_tar_stream_reads_the_same_whatever_its_chunks(fmt: int, chunk: int) -> None:
    data = archive(fmt)
    read = [
        (entry.path, entry.size, entry.kind)
        for entry in read_tar(iter([data[i : i + chunk] for i in range(0, len(data), chunk)]))
    ]
    assert read == [(name, size or 0, "dir" if size is None else "file") for name, size in MEMBERS]


@pytest.mark.parametrize(
    ("reference", "split"),
    [
        ("golang:1.10", ("golang", "1.10")),
        ("go-big", ("go-big", "latest")),
        ("localhost:5000/go-big", ("localhost:5000/go-big", "latest")),
        ("localhost:5000/go-big:v2", ("localhost:5000/go-big", "v2")),
        # Pinned by digest, and by tag and digest: the digest goes where the tag goes.
        (f"alpine@sha256:{'a' * 64}", ("alpine", f"sha256:{'a' * 64}")),
        (
            f"localhost:5000/alpine@sha256:{'b' * 64}",
            ("localhost:5000/alpine", f"sha256:{'b' * 64}"),
        ),
        (f"alpine:3.19@sha256:{'c' * 64}", ("alpine:3.19", f"sha256:{'c' * 64}")),
    ],
)
def test_a_reference_splits_at_its_tag_not_at_a_port(
    reference: str, split: tuple[str, str]
) -> None:
    assert _split_reference(reference) == split


def test_a_digest_is_never_given_to_an_image_as_its_name() -> None:
    with pytest.raises(BadInput, match="a digest names an image's content"):
        offline_engine().tag("sha256:" + "1" * 64, f"alpine@sha256:{'a' * 64}")


def test_timeouts_are_found_however_they_were_wrapped() -> None:
    read = urllib3.exceptions.ReadTimeoutError(None, "/build", "Read timed out.")  # type: ignore[arg-type]  # urllib3 takes no pool in a message-only error
    assert is_timeout(requests.exceptions.ConnectionError(read))
    assert is_timeout(TimeoutError("timed out"))
    assert not is_timeout(requests.exceptions.ConnectionError("refused"))


def offline_engine() -> Engine:
    return Engine(client=docker.DockerClient(base_url="unix:///nonexistent", version="1.41"))


def test_an_engine_refusal_is_not_taken_for_a_lost_connection() -> None:
    with (
        pytest.raises(EngineRefused, match="refused removing x: conflict: unable to delete"),
        offline_engine().translated_errors("removing x"),
    ):
        raise docker.errors.APIError("409 Client Error", explanation="conflict: unable to delete")


def test_a_timeout_says_what_timed_out_and_its_bound() -> None:
    with (
        pytest.raises(TimedOut, match="did not answer within 60 s while listing images"),
        offline_engine().translated_errors("listing images"),
    ):
        raise requests.exceptions.ReadTimeout("Read timed out.")


class StreamingBuilds:
    """docker-py's APIClient as a build sees it: the chunks a failing legacy build streams."""

    def __init__(self, chunks: list[dict[str, object]]) -> None:
        self.chunks = chunks
        self.removed: list[str] = []

    def build(self, **options: object) -> Iterator[dict[str, object]]:
        return iter(self.chunks)

    def remove_image(self, image: str, noprune: bool = False) -> None:
        self.removed.append(image)


def failed_build(api: StreamingBuilds) -> StepFailed:
    """What the SDK builder raises for the build `api` streams, which fails."""
    client: Any = types.SimpleNamespace(api=api)  # a stand-in for docker-py's client
    request = BuildRequest(context=b"", dockerfile="Dockerfile", buildargs={}, labels={})
    with pytest.raises(StepFailed) as failed:
        build_with_sdk(client, request, on_line=lambda line: None, timeout=60, endpoint=ENDPOINT)
    return failed.value


def test_a_failed_builds_reason_is_the_compilers_not_the_builders_bookkeeping() -> None:
    api = StreamingBuilds(
        [
            {"stream": "Step 1/3 : FROM golang\n"},
            {"stream": " ---> 1a2b3c4d5e6f\n"},
            {"stream": "Step 2/3 : COPY . .\n"},
            {"stream": " ---> 2b3c4d5e6f70\n"},
            {"stream": "Step 3/3 : RUN go build -o /app .\n"},
            {"stream": " ---> Running in 0123456789ab\n"},
            {"stream": "\x1b[91m./main.go:3:1: syntax error: unexpected }\n\x1b[0m"},
            {"stream": "Removing intermediate container 0123456789ab\n"},
            {"error": "The command '/bin/sh -c go build -o /app .' returned a non-zero code: 1"},
        ]
    )
    failed = failed_build(api)
    # The builder colours what a RUN wrote to stderr: the colour goes, the words stay.
    assert failed.log_tail[-1] == "./main.go:3:1: syntax error: unexpected }"
    assert failed.instruction == "RUN go build -o /app ."
    # What the failed build made goes (the layer of step 2), newest first; the base stays.
    assert api.removed == ["2b3c4d5e6f70"]


def test_a_tagged_build_stopped_after_its_image_keeps_the_image_by_its_short_id_too() -> None:
    """The layers a stopped build made go, but a tagged build's image is the tag's: the builder
    names its last layer by the image's short id, which is the image itself."""
    image = "sha256:2b3c4d5e6f70" + "ab" * 26
    api = StreamingBuilds(
        [
            {"stream": "Step 1/3 : FROM golang\n"},
            {"stream": " ---> 1a2b3c4d5e6f\n"},
            {"stream": "Step 2/3 : RUN go build -o /app .\n"},
            {"stream": " ---> 0a1b2c3d4e5f\n"},
            {"stream": 'Step 3/3 : CMD ["/app"]\n'},
            {"stream": " ---> 2b3c4d5e6f70\n"},
            {"aux": {"ID": image}},
            {"stream": "Successfully built 2b3c4d5e6f70\n"},
            {"stream": "Successfully tagged stand-in:tag\n"},
        ]
    )

    def interrupted(line: str) -> None:
        if line.startswith("Successfully tagged"):
            raise KeyboardInterrupt

    client: Any = types.SimpleNamespace(api=api)  # a stand-in for docker-py's client
    request = BuildRequest(
        context=b"", dockerfile="Dockerfile", buildargs={}, labels={}, tag="stand-in:tag"
    )
    with pytest.raises(KeyboardInterrupt):
        build_with_sdk(client, request, on_line=interrupted, timeout=60, endpoint=ENDPOINT)
    assert api.removed == ["0a1b2c3d4e5f"]


class SilentBuild(StreamingBuilds):
    """A build whose answer goes silent and then ends as if whole (a cut answer can), on an
    engine that lists no container working for it."""

    def build(self, **options: object) -> Iterator[dict[str, object]]:
        yield {"stream": "[1/2] STEP 3/3: RUN go build -o /app app.go\n"}
        time.sleep(1.0)

    def containers(self, **options: object) -> list[dict[str, object]]:
        return []


def test_a_build_given_up_for_its_silence_says_so_though_its_answer_ended_quietly() -> None:
    """The watch gave the build up; a cut answer can end as if it were whole, and the build is
    then reported as given up, not as a build that failed (CI's Podman run said "the build
    failed" with only the RUN's heading for a reason)."""
    client: Any = types.SimpleNamespace(api=SilentBuild([]))  # a stand-in for docker-py's
    request = BuildRequest(context=b"", dockerfile="Dockerfile", buildargs={}, labels={})
    with pytest.raises(TimedOut, match=r"said nothing for 0.2 s \(workshop.engine_timeout\)"):
        build_with_sdk(
            client, request, on_line=lambda line: None, timeout=60, endpoint=ENDPOINT, silence=0.2
        )


@pytest.mark.parametrize(
    ("created", "seconds"),
    [
        (1796524547, 1796524547.0),  # Docker's API
        ("2026-12-06T02:35:47.803902237Z", 1796524547.803902),  # Podman's own
        ("2026-12-06T03:35:47+01:00", 1796524547.0),
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_a_containers_creation_time_is_read_from_either_api(
    created: object, seconds: float
) -> None:
    assert _created(created) == pytest.approx(seconds)


def test_input_a_program_never_reads_does_not_hold_anything_up() -> None:
    unread, other_end = socket.socketpair()
    with unread, other_end:
        started = time.monotonic()
        writer = write_stdin(unread, b"x" * 20 * 1024 * 1024, bound=1.0)
        assert time.monotonic() - started < 0.5
        writer.join(timeout=10)
        assert not writer.is_alive()


class SilentPush:
    """docker-py's APIClient for a push to a registry that stops answering mid-way."""

    def tag(self, image: str, repository: str, tag: str, force: bool) -> None:
        pass

    def push(self, repository: str, **options: object) -> Iterator[dict[str, object]]:
        yield {"status": "Preparing"}
        raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=6)")


def test_a_push_that_goes_silent_is_the_registrys_failure_not_the_engines() -> None:
    engine = Engine(client=types.SimpleNamespace(api=SilentPush()))  # type: ignore[arg-type]  # a stand-in for docker-py's client
    with pytest.raises(RegistryError, match="did not take the push"):
        engine.push("sha256:" + "1" * 64, "127.0.0.1:5000/go-big:latest")


class NoBridge:
    """docker-py's APIClient on an engine with no bridge network: it publishes no port."""

    def __init__(self) -> None:
        self.removed: list[str] = []

    def create_host_config(self, **options: object) -> dict[str, object]:
        return dict(options)

    def create_container_config(
        self, image: str, command: object, **options: object
    ) -> dict[str, object]:
        return {"Image": image, **options}

    def create_container_from_config(
        self, config: object, platform: str | None = None
    ) -> dict[str, str]:
        return {"Id": "c0ffee"}

    def start(self, container: str) -> None:
        pass

    def inspect_container(self, container: str) -> dict[str, object]:
        return {"NetworkSettings": {"Ports": {}}, "State": {"Running": True}}

    def remove_container(self, container: str, force: bool) -> None:
        self.removed.append(container)


def test_a_server_on_an_engine_that_publishes_no_port_fails_in_words() -> None:
    api = NoBridge()
    engine = Engine(client=types.SimpleNamespace(api=api), _info=LOCAL)  # type: ignore[arg-type]  # a stand-in for docker-py's client
    with engine.serving("sha256:" + "1" * 64, port=8080) as up:
        assert up.exited() == 127
        assert "published no host port for 8080/tcp" in up.output()
    assert api.removed == ["c0ffee"]


class InterruptedCreate(NoBridge):
    """A Ctrl-C that lands while the engine is creating the container: the engine makes it,
    the answer is still on its way."""

    def create_container_from_config(
        self, config: object, platform: str | None = None
    ) -> dict[str, str]:
        os.kill(os.getpid(), signal.SIGINT)
        return {"Id": "c0ffee"}


def test_a_ctrl_c_during_a_containers_creation_still_removes_it() -> None:
    api = InterruptedCreate()
    engine = Engine(client=types.SimpleNamespace(api=api), _info=LOCAL)  # type: ignore[arg-type]  # a stand-in for docker-py's client
    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
        engine.run("sha256:" + "1" * 64)
    assert api.removed == ["c0ffee"]


class ReadsItsContext(StreamingBuilds):
    def build(self, **options: object) -> Iterator[dict[str, object]]:
        self.fileobj = options["fileobj"]
        self.sent = self.fileobj.read()  # type: ignore[attr-defined]  # a file docker-py streams
        return iter([{"aux": {"ID": "sha256:" + "2" * 64}}])


def test_a_context_on_disk_is_streamed_from_its_file_not_held_in_memory(tmp_path: Path) -> None:
    (tmp_path / "app.go").write_bytes(b"package main\n" * 1000)
    in_memory = tar_context(tmp_path, ["app.go"], written={"Dockerfile": b"FROM scratch\n"})
    on_disk = tar_context_file(
        tmp_path, ["app.go"], written={"Dockerfile": b"FROM scratch\n"}, path=tmp_path / "c.tar"
    )
    assert on_disk.read_bytes() == in_memory
    api = ReadsItsContext([])
    client = types.SimpleNamespace(api=api)
    request = BuildRequest(context=on_disk, dockerfile="Dockerfile", buildargs={}, labels={})
    build_with_sdk(client, request, on_line=lambda line: None, timeout=60, endpoint=ENDPOINT)  # type: ignore[arg-type]  # a stand-in for docker-py's client
    assert not isinstance(api.fileobj, io.BytesIO) and api.sent == in_memory
    assert api.fileobj.closed  # type: ignore[attr-defined]  # the file, closed after the build


def test_an_instruction_that_failed_saying_nothing_has_the_engines_reason_last() -> None:
    """A COPY of a file that is not there (a symlink to outside the folder) prints nothing:
    the engine's reason is the tail's last line, so that no reason is ever empty."""
    api = StreamingBuilds(
        [
            {"stream": "Step 1/3 : FROM golang\n"},
            {"stream": " ---> 1a2b3c4d5e6f\n"},
            {"stream": "Step 2/3 : COPY main.go .\n"},
            {"error": "COPY failed: file not found in build context or excluded by .dockerignore: "
                      "stat main.go: file does not exist"},
        ]
    )  # fmt: skip
    failed = failed_build(api)
    assert failed.log_tail[-1].endswith("stat main.go: file does not exist")


def test_a_podman_step_that_failed_saying_nothing_has_the_engines_reason_last() -> None:
    """Podman's builder heads a step "[1/2] STEP 3/3: RUN ..." (or "STEP 2/2: ..."): a RUN that
    printed nothing still leaves the engine's reason last, and the instruction is known."""
    api = StreamingBuilds(
        [
            {"stream": "[1/2] STEP 1/3: FROM golang AS build\n"},
            {"stream": "[1/2] STEP 2/3: COPY . .\n"},
            {"stream": "--> cb5cb325d7f\n"},
            {"stream": "[1/2] STEP 3/3: RUN CGO_ENABLED=0 go build -o /app app.go\n"},
            {"error": 'building at STEP "RUN CGO_ENABLED=0 go build -o /app app.go": '
                      "while running runtime: exit status 1\n"},
        ]
    )  # fmt: skip
    failed = failed_build(api)
    assert failed.log_tail[-1].endswith("while running runtime: exit status 1")
    assert failed.instruction == "RUN CGO_ENABLED=0 go build -o /app app.go"
    # The layer the failed build made (its "--> id") goes, as on Docker's builder.
    assert api.removed == ["cb5cb325d7f"]


def archive_of(*members: tarfile.TarInfo) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return buffer.getvalue()


class Archives:
    """docker-py's APIClient as `get_archive` sees it: the archives it answers, in turn."""

    def __init__(self, *answers: bytes | Exception) -> None:
        self.answers = list(answers)
        self.asked = 0

    def get_archive(self, container: str, path: str) -> tuple[Iterator[bytes], dict[str, object]]:
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return iter([answer]), {}


def _member(name: str, kind: bytes, *, size: int = 0, target: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.size, member.linkname = kind, size, target
    return member


@pytest.mark.parametrize(
    ("first", "content"),
    [
        (_member("app", tarfile.REGTYPE, size=5), b"xxxxx"),
        (_member("app", tarfile.DIRTYPE), b""),
        (_member("app", tarfile.SYMTYPE, target="/nowhere"), b""),
    ],
)
def test_a_whole_archive_is_read_once_whatever_its_first_entry_is(
    first: tarfile.TarInfo, content: bytes
) -> None:
    """Only an empty or unreadable archive is asked for again: a folder or a link that points
    out of it came whole, with nothing to read (it was b"" before the retries came, and stays)."""
    api = Archives(archive_of(first))
    engine = Engine(types.SimpleNamespace(api=api))  # type: ignore[arg-type]  # a stand-in for docker-py's client
    assert engine._read_file("c0ffee", "/app") == content
    assert api.asked == 1


def refusal(explanation: str) -> docker.errors.APIError:
    return docker.errors.APIError("500 Server Error", explanation=explanation)


# What Podman 4.3 answered once in a CI run, asked for /app of a container that had just exited.
LOST_MOUNT = (
    "mounting storage for container fbc49354a9bd: lstat /tmp/podman-sm4fv971/storage/overlay/"
    "d8adfcef679e/merged: no such file or directory"
)


def test_an_archive_asked_for_while_podman_unmounts_the_exited_container_is_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Podman unmounts a container's storage as it exits (`podman container cleanup`, a process
    of its own); an archive asked for then can find the mount half gone. It is asked again."""
    monkeypatch.setattr("workshop.engine.client.ARCHIVE_RETRY_PAUSES", (0.0, 0.0, 0.0))
    api = Archives(refusal(LOST_MOUNT), archive_of(_member("app", tarfile.REGTYPE, size=3)))
    engine = Engine(types.SimpleNamespace(api=api))  # type: ignore[arg-type]  # a stand-in for docker-py's client
    assert engine._read_file("c0ffee", "/app") == b"xxx"
    assert api.asked == 2


def test_an_archive_refused_for_another_reason_is_not_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("workshop.engine.client.ARCHIVE_RETRY_PAUSES", (0.0, 0.0, 0.0))
    api = Archives(refusal("Could not find the file /app in container c0ffee"))
    engine = Engine(types.SimpleNamespace(api=api))  # type: ignore[arg-type]  # a stand-in for docker-py's client
    with pytest.raises(docker.errors.APIError, match="Could not find the file"):
        engine._read_file("c0ffee", "/app")
    assert api.asked == 1


class KilledOnce(StreamingBuilds):
    """Podman's answers to builds whose first RUN's runtime is killed `kills` times (what
    Podman 4.3 said twice in CI, beside other builds), then a build that succeeds."""

    def __init__(self, kills: int) -> None:
        super().__init__([])
        self.kills = kills
        self.builds = 0

    def build(self, **options: object) -> Iterator[dict[str, object]]:
        self.builds += 1
        yield {"stream": "STEP 1/2: FROM golang\n"}
        yield {"stream": "STEP 2/2: RUN CGO_ENABLED=0 go build -o /app app.go\n"}
        if self.builds <= self.kills:
            yield {
                "error": 'building at STEP "RUN CGO_ENABLED=0 go build -o /app app.go": '
                "while running runtime: signal: killed"
            }
            return
        yield {"stream": "COMMIT\n"}
        yield {"stream": "--> 2b3c4d5e6f7\n"}
        yield {"aux": {"ID": "sha256:" + "2b" * 32}}


@pytest.mark.parametrize(
    ("kills", "podman", "builds", "built"),
    [
        (1, True, 2, True),  # Podman: built again, once, and it passed
        (2, True, 2, False),  # killed again: that failure is the answer
        (1, False, 1, False),  # Docker never says so; nothing is built again there
    ],
)
def test_a_build_whose_runtime_podman_says_was_killed_is_built_again_once(
    kills: int, podman: bool, builds: int, built: bool
) -> None:
    api = KilledOnce(kills)
    client: Any = types.SimpleNamespace(api=api)  # a stand-in for docker-py's client
    request = BuildRequest(context=b"", dockerfile="Dockerfile", buildargs={}, labels={})
    lines: list[str] = []
    build = partial(
        build_with_sdk, client, request, on_line=lines.append, timeout=60, endpoint=ENDPOINT,
        podman=podman,
    )  # fmt: skip
    if built:
        assert build().image_id == "sha256:" + "2b" * 32
    else:
        with pytest.raises(StepFailed, match="while running runtime: signal: killed") as failed:
            build()
        assert failed.value.__context__ is None  # reported as itself
    assert api.builds == builds
    again = [line for line in lines if "again, once" in line]
    assert again == (
        [
            "Podman's runtime was killed during RUN CGO_ENABLED=0 go build -o /app app.go "
            "(while running runtime: signal: killed), by nothing this task sent: building "
            "Dockerfile again, once."
        ]
        if podman
        else []
    )
