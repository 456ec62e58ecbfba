"""What the adapter makes of Podman's Docker API, from the answers Podman 4.3.1 gave on this
machine (its `/version`, `/info`, `/images/json` and `/images/create?fromSrc=-`), without an
engine; tests/e2e/test_podman_e2e.py runs the workshop on a real one."""

from __future__ import annotations

import io
import json
import os
import shutil
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.support.fakeengine import FakeEngine
from tests.support.rendering import plain_console, render
from tests.support.running import invoke
from workshop.engine import dockerd
from workshop.engine.client import Engine, familiar
from workshop.engine.dockerd import EngineStatus
from workshop.engine.endpoint import DEFAULT_HOST, Endpoint
from workshop.engine.failures import unreachable
from workshop.engine.values import (
    CLASSIC,
    CONTAINERS_STORAGE,
    DOCKER_DESKTOP,
    DOCKER_ENGINE,
    PODMAN,
    EngineInfo,
)
from workshop.errors import BadInput, BaseUnavailable, EngineUnavailable
from workshop.progress import Progress
from workshop.records.measured import MeasuredFiles
from workshop.steps.bases import BaseResolver, load_standins, save_standins
from workshop.steps.reproducible import why_not_reproducible

IMPORTED = "sha256:" + "6d" * 32

PODMAN_VERSION = {
    "Version": "4.3.1",
    "ApiVersion": "1.41",
    "Os": "linux",
    "Arch": "amd64",
    "Components": [{"Name": "Podman Engine"}, {"Name": "Conmon"}, {"Name": "OCI Runtime (runc)"}],
}
PODMAN_INFO = {
    "Driver": "overlay",
    "OperatingSystem": "debian",
    "SecurityOptions": ["name=seccomp,profile=default"],
}


class PodmanAPI:
    """Podman 4.3.1's answers: an import keeps the repository and drops the tag."""

    base_url = "http+docker://localhost"
    api_version = "1.41"

    def __init__(self, *, rootless: bool = False) -> None:
        self.tags: dict[str, str] = {}
        # Rootless or not, its Docker-compatible /info names only seccomp (recorded from a
        # rootless Podman 4.3.1 service); its own /libpod/info says which.
        self.info_answer = dict(PODMAN_INFO)
        self.rootless = rootless

    def version(self) -> dict[str, Any]:
        return PODMAN_VERSION

    def info(self) -> dict[str, Any]:
        return self.info_answer

    def get(self, url: str, timeout: float) -> Any:
        assert url == f"{self.base_url}/v1.41/libpod/info", url
        answer = {"host": {"security": {"rootless": self.rootless, "seccompEnabled": True}}}
        return types.SimpleNamespace(raise_for_status=lambda: None, json=lambda: answer)

    def post(self, url: str, *, params: dict[str, Any], **options: Any) -> Any:
        assert url == f"{self.base_url}/v1.41/images/create", url
        assert params["fromSrc"] == "-", params
        self.tags[f"docker.io/{params['repo']}:latest"] = IMPORTED
        said = f'{{"status":"{IMPORTED}","progress":"","progressDetail":{{}},"id":"{IMPORTED}"}}\n'
        return types.SimpleNamespace(status_code=200, text=said)

    def tag(self, image: str, repository: str, tag: str) -> bool:
        self.tags[f"docker.io/{repository}:{tag}"] = image
        return True

    def remove_image(self, name: str, noprune: bool = False) -> None:
        del self.tags[f"docker.io/{name}"]

    def inspect_image(self, reference: str) -> dict[str, Any]:
        import docker.errors

        full = reference if ":" in reference else f"{reference}:latest"
        for name, image in self.tags.items():
            if name in (full, f"docker.io/{full}", f"localhost/{full}"):
                tags = [each for each, same in self.tags.items() if same == image]
                return {"Id": image, "Size": 1, "RepoTags": tags, "Config": {}}
        raise docker.errors.ImageNotFound(reference)


def podman_engine(*, rootless: bool = False) -> tuple[Engine, PodmanAPI]:
    api = PodmanAPI(rootless=rootless)
    client = types.SimpleNamespace(api=api, version=api.version, info=api.info)
    return Engine(client=client), api  # type: ignore[arg-type]  # a stand-in for docker-py's client


@pytest.mark.parametrize("rootless", [False, True])
def test_podman_is_named_with_its_version_mode_and_store(rootless: bool) -> None:
    engine, _ = podman_engine(rootless=rootless)
    info = engine.info
    assert (info.product, info.rootless, info.image_store) == (PODMAN, rootless, CONTAINERS_STORAGE)
    mode = "rootless" if rootless else "rootful"
    assert info.describe().startswith(f"Podman 4.3.1 ({mode}, ")
    assert info.describe().endswith("overlay, containers-storage image store)")


def test_docker_engine_keeps_the_words_its_records_have_always_had() -> None:
    info = EngineInfo("20.10.24", "overlay2")
    assert info.describe() == "Docker 20.10.24 (, overlay2, classic image store)"
    assert (info.product, info.image_store, info.lacks()) == (DOCKER_ENGINE, CLASSIC, [])
    rootless = EngineInfo("28.5.2", "overlay2", rootless=True, host="unix:///run/user/1000/d.sock")
    assert rootless.describe().startswith("Docker 28.5.2 (rootless, unix:///run/user/1000/")
    desktop = EngineInfo("28.5.2", "overlayfs", product=DOCKER_DESKTOP)
    assert desktop.describe().startswith("Docker Desktop 28.5.2")


def test_invoke_engine_says_what_podman_and_a_rootless_engine_lack() -> None:
    engine, _ = podman_engine(rootless=True)
    status = EngineStatus(Endpoint(DEFAULT_HOST, "default", "from DOCKER_HOST"), engine.info)
    text = " ".join(render(status, width=200).split())
    assert "Lacks: BuildKit: Podman's Docker API builds with Buildah" in text
    assert "A bridge network of its own: a rootless engine's containers" in text


def test_the_names_podman_lists_are_the_names_the_tasks_gave() -> None:
    assert familiar("localhost/go-big:latest", podman=True) == "go-big:latest"
    assert familiar("docker.io/library/alpine:latest", podman=True) == "alpine:latest"
    assert familiar("docker.io/workshop-base/debian:bookworm", podman=True) == (
        "workshop-base/debian:bookworm"
    )
    # On Docker, a registry called localhost is a registry: its name stays whole.
    assert familiar("localhost/go-big:latest", podman=False) == "localhost/go-big:latest"
    assert familiar("localhost:5000/go-big:latest", podman=True) == "localhost:5000/go-big:latest"


def test_an_import_podman_tagged_latest_gets_the_tag_it_was_given() -> None:
    engine, api = podman_engine()
    image_id = engine.import_rootfs(
        io.BytesIO(b""), reference="workshop-base/debian:bookworm", changes=[]
    )
    assert image_id == IMPORTED
    assert api.tags == {"docker.io/workshop-base/debian:bookworm": IMPORTED}


def test_podman_builds_once_and_says_why() -> None:
    why = why_not_reproducible("4.3.1", CONTAINERS_STORAGE, product=PODMAN)
    assert why.startswith("Podman 4.3.1 builds with Buildah, not BuildKit")


def test_stand_ins_that_are_not_here_are_never_saved(
    fake_engine: FakeEngine, tmp_path: Path
) -> None:
    bases = BaseResolver(engine=fake_engine, progress=Progress(plain_console()))
    archive = tmp_path / "standins.tar"
    with pytest.raises(BaseUnavailable, match=r"are not here, or not of this recipe, so nothing"):
        save_standins([bases], archive)
    assert not archive.exists()


def test_an_archive_that_cant_be_read_loads_nothing(
    fake_engine: FakeEngine, tmp_path: Path
) -> None:
    bases = BaseResolver(engine=fake_engine, progress=Progress(plain_console()))
    with pytest.raises(BadInput, match=r"can't be read: No such file or directory\. Nothing was"):
        load_standins([bases], tmp_path / "missing.tar")


def test_a_podman_socket_with_no_service_says_how_to_start_it(tmp_path: Path) -> None:
    socket_path = tmp_path / "podman" / "podman.sock"
    done = invoke("engine", env={"DOCKER_HOST": f"unix://{socket_path}"}, timeout=60)
    # Without the line breaks: a long folder's path is broken anywhere.
    said = "".join(done.stderr.split())
    assert done.returncode == 3, done.stderr
    assert f"Podman'sAPIserviceisnotrunningat{socket_path}(fromDOCKER_HOST)" in said
    assert "`invokeengine--start`" in said and "podman.socket" in said
    assert "Traceback" not in done.stderr


def test_a_podman_socket_that_is_roots_says_to_use_your_own() -> None:
    endpoint = Endpoint("unix:///run/podman/podman.sock", "default", "from DOCKER_HOST")
    said = unreachable(endpoint, "connecting", "[Errno 13] Permission denied").message
    assert said.startswith("Podman's socket /run/podman/podman.sock (from DOCKER_HOST) is not")
    assert "$XDG_RUNTIME_DIR/podman/podman.sock" in said


def test_only_a_podman_socket_on_this_machine_is_taken_for_one() -> None:
    def socket_of(host: str) -> str:
        return Endpoint(host, "default", "given").podman_socket

    assert socket_of("unix:///run/user/1000/podman/podman.sock") == (
        "/run/user/1000/podman/podman.sock"
    )
    assert socket_of("unix:///var/run/docker.sock") == ""
    assert socket_of("ssh://me@host/run/podman/podman.sock") == ""
    machine = "unix:///home/me/.local/share/containers/podman/machine/qemu/podman.sock"
    assert socket_of(machine) == ""


@pytest.mark.parametrize(
    ("installed", "named"),
    [
        ({"podman"}, "Podman is installed, and runs without it"),
        ({"dockerd-rootless.sh"}, "rootless Docker is installed"),
        (set(), r"neither Podman nor rootless Docker is installed\. As root: `sudo invoke engine"),
    ],
)
def test_without_root_engine_start_names_what_runs_without_it(
    installed: set[str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(shutil, "which", lambda name: name if name in installed else None)
    monkeypatch.setattr(dockerd, "ROOTLESS_SCRIPT", "/nonexistent/dockerd-rootless.sh")
    with pytest.raises(EngineUnavailable, match=named):
        dockerd.start_local(Endpoint(DEFAULT_HOST, "default", "default"), timeout=1)


def test_a_user_pointing_at_rootless_dockers_socket_hears_which_packages_it_lacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000/")
    monkeypatch.setattr(shutil, "which", lambda name: name if name == "newuidmap" else None)
    monkeypatch.setattr(dockerd, "ROOTLESS_SCRIPT", "/nonexistent/dockerd-rootless.sh")
    endpoint = Endpoint("unix:///run/user/1000/docker.sock", "default", "DOCKER_HOST")
    with pytest.raises(EngineUnavailable) as raised:
        dockerd.start_local(endpoint, timeout=1)
    said = str(raised.value)
    assert said.startswith("unix:///run/user/1000/docker.sock (DOCKER_HOST) is rootless Docker")
    assert "(missing: docker.io, rootlesskit)" in said and "apt-get install" in said


def test_an_images_files_are_read_once_and_then_known_by_its_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Podman's store a size is the bytes of the image's files, read from its export: a
    second run (a new process, a new Engine) finds them by the image's id instead."""
    image = "sha256:" + "b" * 64
    reads: list[str] = []

    def exported_bytes(self: Engine, reference: str) -> int:
        reads.append(reference)
        return 849_000_000

    monkeypatch.setattr(Engine, "file_bytes", exported_bytes)
    cache = tmp_path / "measured-images.json"
    for _ in range(2):
        engine, api = podman_engine()
        api.tags["localhost/go-big:latest"] = image
        engine.known_file_bytes = MeasuredFiles(cache)
        measured = engine.measured("go-big")
        assert measured is not None and (measured.size, measured.listed_size) == (849_000_000, 1)
    assert reads == [image]
    # Another platform's files under the same (index) id are its own, read once too.
    engine.known_file_bytes = MeasuredFiles(cache)
    engine._info = replace(engine.info, platform="linux/arm64")
    engine.measured("go-big")
    assert reads == [image, image]


def test_a_measured_images_cache_that_cant_be_read_is_written_anew(tmp_path: Path) -> None:
    cache = tmp_path / "measured-images.json"
    cache.write_text('{"schema": 1, "images": {"sha256:a linux/amd64": "many"}}')
    known = MeasuredFiles(cache)
    assert known.get("sha256:a linux/amd64") is None
    known.put("sha256:a linux/amd64", 7)
    assert MeasuredFiles(cache).get("sha256:a linux/amd64") == 7
    assert json.loads(cache.read_text())["images"] == {"sha256:a linux/amd64": 7}
