"""A real registry on loopback: the workshop's pull path through an engine's Docker Hub mirror,
stand-ins that never pass for the workshop's images, the pull size measured and read back,
images moved between engines, and a registry that fails in every way a registry does."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from rich.console import Console

from tests.support.images import TAGS
from tests.support.leftovers import RUN_PREFIX
from tests.support.loopback import served
from tests.support.loopback_registry import CuttingProxy, free_port
from tests.support.running import WorkshopRun, folder_settings, invoke, verify_cli
from workshop.catalogue import STEPS
from workshop.engine.client import Engine
from workshop.engine.registry import INDEX_TYPES, MANIFEST_TYPES
from workshop.progress import Progress
from workshop.records.sizelog import SizeLog
from workshop.steps.bases import BaseResolver
from workshop.steps.runner import BuildPlan, run_build_step
from workshop.steps.workspace import Workspace

pytestmark = pytest.mark.engine


def on_mirror(engine: Any, folder: Path, name: str, **extra: str) -> dict[str, str]:
    return folder_settings(folder, f"{RUN_PREFIX}{name}-", DOCKER_HOST=engine.host, **extra)


def test_the_pull_path_runs_through_the_mirror_and_stand_ins_stay_stand_ins(
    mirror_engine: Any, tmp_path: Path
) -> None:
    env = on_mirror(mirror_engine, tmp_path, "mirror", INVOKE_WORKSHOP_VERBOSE="1")
    result = invoke("all", env=env)
    assert result.returncode == 0, result.stderr
    # The bases came down the pull path, layer by layer, under the workshop's names.
    assert "Pulling golang:1.10" in result.stdout and "Pull complete" in result.stdout
    assert "neither present nor pullable" not in result.stdout
    records = SizeLog(tmp_path / "sizes.json").read()
    bases = {base.reference: base.standin for r in records.values() for base in r.bases}
    # Pulled as golang:1.10, and still a stand-in: it carries its recipe.
    assert bases == {"golang:1.10": True, "golang:1.10-alpine": True, "alpine": True}
    verdict = verify_cli("--log", str(tmp_path / "sizes.json"))
    out = " ".join(verdict.stdout.split())
    assert verdict.returncode == 0, out
    assert "The figures don't gate" in out and "golang:1.10 (a local stand-in)" in out


def test_workshop_mode_pulls_and_a_name_the_mirror_lacks_fails_at_once(
    mirror_engine: Any, tmp_path: Path
) -> None:
    mirror_engine.docker("image", "rm", "golang:1.10-alpine", check=False)
    env = on_mirror(mirror_engine, tmp_path, "workshop-mode", INVOKE_WORKSHOP_BASES="workshop")
    result = invoke("step-7", env=env)
    assert result.returncode == 0, result.stderr
    assert (
        mirror_engine.docker("image", "inspect", "golang:1.10-alpine", check=False).returncode == 0
    )
    lacking = invoke("step-12", env=env, timeout=120)
    assert lacking.returncode == 1
    assert "debian:bookworm is neither present nor pullable" in " ".join(lacking.stderr.split())


def manifest_bytes(registry: Any, name: str) -> int:
    """A pull's bytes, read here independently of the project: config and layers."""
    accept = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
    answer = requests.get(
        f"{registry.url}/v2/{name}/manifests/latest", headers={"Accept": accept}, timeout=30
    )
    answer.raise_for_status()
    manifest = answer.json()
    return int(manifest["config"]["size"]) + sum(int(layer["size"]) for layer in manifest["layers"])


def with_registry(
    task: str,
    name: str,
    registry: Any,
    workshop_run: WorkshopRun,
    tmp_path_factory: pytest.TempPathFactory,
) -> WorkshopRun:
    """`invoke TASK` on the main engine in a folder of its own, with the registry set."""
    folder = tmp_path_factory.mktemp(name)
    env = workshop_run.own(name, folder, INVOKE_WORKSHOP_REGISTRY=registry.address)
    result = invoke(task, env=env)
    assert result.returncode == 0, result.stderr
    prefix = env["INVOKE_WORKSHOP_TAG_PREFIX"]
    return WorkshopRun(env=env, prefix=prefix, log=folder / "sizes.json", result=result)


@pytest.fixture(scope="module")
def pulled_run(
    registry: Any, workshop_run: WorkshopRun, tmp_path_factory: pytest.TempPathFactory
) -> WorkshopRun:
    """`invoke all` on the main engine with the registry set: every step's pull size measured."""
    return with_registry("all", "pull", registry, workshop_run, tmp_path_factory)


def test_every_pull_size_is_what_the_registry_stores(
    pulled_run: WorkshopRun, registry: Any
) -> None:
    records = pulled_run.records()
    for step, record in records.items():
        assert record.registry == registry.address
        assert record.pull_size == manifest_bytes(registry, record.tag), step
        # Compressed: a pull downloads less than the image takes on disk.
        assert 0 < record.pull_size < record.size, step
    assert "A pull of" in pulled_run.result.stdout and "pull" in pulled_run.result.stdout
    verdict = verify_cli("--log", str(pulled_run.log), "--json", str(pulled_run.log) + ".v.json")
    assert verdict.returncode == 0, verdict.stdout
    checks = json.loads(Path(str(pulled_run.log) + ".v.json").read_text())["checks"]
    assert {c["id"]: c["verdict"] for c in checks}["each-pulls-less"] == "pass"
    # The pushed names were dropped again on the engine: tags stay the project's own.
    assert (
        subprocess.run(
            ["docker", "image", "inspect", f"{registry.address}/{records[7].tag}"],
            capture_output=True,
        ).returncode
        != 0
    )


def test_an_image_built_here_runs_the_same_on_another_engine(
    pulled_run: WorkshopRun, registry: Any, mirror_engine: Any
) -> None:
    record = pulled_run.records()[7]
    remote = f"{registry.address}/{record.tag}"
    mirror_engine.docker("pull", "-q", remote)
    try:
        inspected = mirror_engine.docker(
            "image", "inspect", "--format", "{{.Id}} {{.Size}}", remote
        )
        assert inspected.stdout.split() == [record.image_id, str(record.size)]
        ran = mirror_engine.docker("run", "--rm", remote)
        assert ran.stdout + ran.stderr == "Hello world!\n"
    finally:
        mirror_engine.docker("image", "rm", remote, check=False)


def step_7(
    tmp_path: Path, workshop_run: WorkshopRun, registry_setting: str
) -> subprocess.CompletedProcess[str]:
    env = workshop_run.own("bad-registry", tmp_path, INVOKE_WORKSHOP_REGISTRY=registry_setting)
    return invoke("step-7", env=env, timeout=300)


def assert_nothing_measured(
    result: subprocess.CompletedProcess[str], tmp_path: Path, code: int, said: str
) -> None:
    message = " ".join(result.stderr.split())
    assert result.returncode == code, result.stderr
    assert said in message
    assert "Traceback" not in message
    assert (
        not (tmp_path / "sizes.json").exists() or 7 not in SizeLog(tmp_path / "sizes.json").read()
    )


def test_an_unreachable_registry_is_refused_before_anything_is_built(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{free_port()}"
    result = step_7(tmp_path, workshop_run, address)
    assert_nothing_measured(result, tmp_path, 5, f"The registry http://{address}")
    assert "can't be reached" in result.stderr
    assert "Step 7: building" not in result.stdout


def test_the_wrong_scheme_is_said(workshop_run: WorkshopRun, registry: Any, tmp_path: Path) -> None:
    result = step_7(tmp_path, workshop_run, f"https://{registry.address}")
    assert_nothing_measured(result, tmp_path, 5, "TLS failed")
    malformed = step_7(tmp_path, workshop_run, f"ftp://{registry.address}")
    assert_nothing_measured(malformed, tmp_path, 64, "is not host:port")


class _Answers(http.server.BaseHTTPRequestHandler):
    """/v2/ answers `self.server.code`; everything else 404."""

    def do_GET(self) -> None:
        code = self.server.code if self.path == "/v2/" else 404  # type: ignore[attr-defined]  # set below
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET
    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Answers)
    with served(server):
        yield server


@pytest.mark.parametrize(
    ("code", "said", "exit_code"),
    [
        (401, "it asks for a login (401)", 5),
        (500, "GET /v2/ answered 500", 5),
        (200, "refused the push", 5),
    ],
)
def test_a_registry_that_says_no_is_named_with_what_it_said(
    workshop_run: WorkshopRun,
    tmp_path: Path,
    answering: http.server.HTTPServer,
    code: int,
    said: str,
    exit_code: int,
) -> None:
    answering.code = code  # type: ignore[attr-defined]  # read by _Answers
    address = f"127.0.0.1:{answering.server_address[1]}"
    result = step_7(tmp_path, workshop_run, address)
    assert_nothing_measured(result, tmp_path, exit_code, said)
    assert address in result.stderr


def test_a_push_cut_half_way_logs_nothing_and_tags_nothing(
    workshop_run: WorkshopRun, registry: Any, tmp_path: Path
) -> None:
    proxy = CuttingProxy(registry.address)
    try:
        result = step_7(tmp_path, workshop_run, proxy.address)
    finally:
        proxy.close()
    assert proxy.cut.is_set(), "the proxy never cut a push"
    assert_nothing_measured(result, tmp_path, 5, "refused the push")
    tag = f"{RUN_PREFIX}bad-registry-go-scratch"
    assert subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0
    assert TAGS[7] == "go-scratch"


@pytest.mark.parametrize("pin", ["digest", "tag-and-digest"])
def test_a_base_pinned_by_digest_is_pulled_built_on_and_logged(
    docker_engine: Engine, registry: Any, tmp_path: Path, console: Console, pin: str
) -> None:
    answer = requests.head(
        f"{registry.url}/v2/library/alpine/manifests/latest",
        headers={"Accept": ", ".join(MANIFEST_TYPES)},
        timeout=10,
    )
    digest = answer.headers["Docker-Content-Digest"]
    name = f"{registry.address}/library/alpine"
    pinned = f"{name}@{digest}" if pin == "digest" else f"{name}:latest@{digest}"
    # Not here yet: the base must come down the pull path, by its digest.
    subprocess.run(["docker", "image", "rm", f"{name}@{digest}"], capture_output=True, check=False)
    progress = Progress(console)
    bases = BaseResolver(engine=docker_engine, progress=progress, images={"alpine": pinned})
    plan = BuildPlan(
        engine=docker_engine,
        bases=bases,
        workspace=Workspace(tmp_path / "workshop"),
        size_log=SizeLog(tmp_path / "sizes.json"),
        progress=progress,
        tag_prefix=f"{RUN_PREFIX}pinned-{pin}-",
    )
    try:
        for written in (*STEPS[1].writes, *STEPS[6].writes):
            plan.workspace.write(written)
        run_build_step(plan, STEPS[6])
        record = plan.size_log.read()[6]
        used = {base.role: base for base in record.bases}
        assert used["alpine"].reference == pinned
        pulled = docker_engine.image(f"{name}@{digest}")
        assert pulled is not None and used["alpine"].image_id == pulled.id
        assert record.output.strip() == "Hello world!"
    finally:
        subprocess.run(
            ["docker", "image", "rm", f"{name}@{digest}"], capture_output=True, check=False
        )


@pytest.fixture(scope="module")
def floor_pulled(
    registry: Any, workshop_run: WorkshopRun, tmp_path_factory: pytest.TempPathFactory
) -> WorkshopRun:
    """Step 12 with the registry set: the smallest image around the floor pushed by hand."""
    return with_registry("step-12", "floor-pull", registry, workshop_run, tmp_path_factory)


def smallest_manifest(registry: Any, run: WorkshopRun) -> tuple[bytes, dict[str, Any]]:
    repository = f"{run.tag('go-floor')}-smallest"
    answer = requests.get(
        f"{registry.url}/v2/{repository}/manifests/latest",
        headers={"Accept": ", ".join(MANIFEST_TYPES)},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.content, answer.json()


def test_the_floors_smallest_image_is_measured_part_by_part_as_the_registry_serves_it(
    floor_pulled: WorkshopRun, registry: Any
) -> None:
    record = floor_pulled.records()[12]
    raw, manifest = smallest_manifest(registry, floor_pulled)
    (layer,) = manifest["layers"]
    assert record.smallest_pull == {
        "manifest": len(raw),
        "config": manifest["config"]["size"],
        "layer": layer["size"],
    }
    # The engine's own push of the same one file: its layer is padded and ends in zero blocks.
    engine_layer = (
        record.pull_size
        - json.loads(
            requests.get(
                f"{registry.url}/v2/{record.tag}/manifests/latest",
                headers={"Accept": ", ".join(MANIFEST_TYPES)},
                timeout=30,
            ).content
        )["config"]["size"]
    )
    assert layer["size"] < engine_layer
    # Bytes a pull downloads: all three together still under a kilobyte, the manifest largest.
    assert sum(record.smallest_pull.values()) < 1000
    assert max(record.smallest_pull, key=record.smallest_pull.__getitem__) == "manifest"
    said = " ".join(floor_pulled.result.stdout.split())
    assert f"a pull downloads {sum(record.smallest_pull.values()):,} bytes" in said
    assert "the manifest is now the largest part" in said
    # Pulled, run and removed: no image on the engine holds the registry's name for it.
    names = subprocess.run(
        ["docker", "image", "ls", "--digests", "--format", "{{.Repository}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert f"{registry.address}/{floor_pulled.tag('go-floor')}-smallest" not in names


@pytest.mark.parametrize("engine_name", ["docker28_classic", "docker28_containerd"])
def test_the_floor_and_its_smallest_image_run_on_docker_28_with_each_store(
    floor_pulled: WorkshopRun,
    registry: Any,
    engine_name: str,
    docker28_classic: Any,
    docker28_containerd: Any,
) -> None:
    # Both asked for by name, so that neither is retired before this test (conftest.RETIRED).
    engine = {"docker28_classic": docker28_classic, "docker28_containerd": docker28_containerd}[
        engine_name
    ]
    raw, _ = smallest_manifest(registry, floor_pulled)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    pulled = f"{registry.address}/{floor_pulled.tag('go-floor')}-smallest@{digest}"
    built = floor_pulled.tag("go-floor")
    engine.load_from_main(built)
    engine.docker("pull", "-q", pulled)
    try:
        for reference in (built, pulled):
            image_id = engine.docker("image", "inspect", "--format", "{{.Id}}", reference)
            ran = engine.docker("run", "--rm", image_id.stdout.strip(), check=False)
            assert (ran.returncode, ran.stdout, ran.stderr) == (0, "Hello world!\n", ""), reference
    finally:
        engine.docker("image", "rm", built, pulled, check=False)
