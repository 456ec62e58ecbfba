"""`invoke shrink --platform linux/amd64,linux/arm64` on a real engine: one Dockerfile per
rung builds both (cross-compiled on the build platform), each platform's images are run and
checked (arm64 under QEMU's emulation, which `invoke engine --start` set up), measured and
logged apart, and shown side by side."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from tests.support.images import app_of, docker
from tests.support.leftovers import RUN_PREFIX
from tests.support.platforms import emulation_off, index_pull_sizes
from tests.support.running import WorkshopRun, invoke, verify_cli
from tests.support.shrinking import Ladder, shrink
from workshop.engine.client import Engine
from workshop.engine.values import BuildRequest
from workshop.labels import PREFIX_LABEL
from workshop.records.sizelog import SizeLog
from workshop.steps.workspace import DOCKERFILES, Workspace

pytestmark = [pytest.mark.engine, pytest.mark.buildx]


@pytest.fixture(scope="module")
def both(
    workshop_run: WorkshopRun,
    arm64_standins: str,
    registry: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Ladder:
    """Both platforms, each rung pushed to the registry, and an index for each rung."""
    folder = tmp_path_factory.mktemp("platforms")
    program = folder / "hello"
    program.mkdir()
    shutil.copy(DOCKERFILES / "app.go", program / "app.go")
    ladder = shrink(
        workshop_run,
        folder,
        "plat",
        program,
        "--platform",
        "linux/amd64,linux/arm64",
        INVOKE_WORKSHOP_REGISTRY=registry.address,
    )
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    return ladder


def test_each_platform_has_its_own_log_and_its_images_are_its_own(both: Ladder) -> None:
    arm = SizeLog(both.folder / "linux-arm64" / "sizes.json").read()
    amd = SizeLog(both.folder / "linux-amd64" / "sizes.json").read()
    # Every rung on both: rungs 1 to 3 ship on each platform's own stand-in.
    assert sorted(amd) == sorted(arm) == [1, 2, 3, 4, 6, 7]
    for key in (1, 2, 3):
        assert arm[key].bases[-1].reference.endswith("-linux-arm64"), arm[key].bases
        assert not amd[key].bases[-1].reference.endswith("-linux-arm64"), amd[key].bases
    for records, machine in ((amd, "EM_X86_64"), (arm, "EM_AARCH64")):
        for record in records.values():
            assert record.output == "Hello world!\n"
            assert record.platform == ("linux/arm64" if machine == "EM_AARCH64" else "linux/amd64")
            architecture = docker("image", "inspect", "--format", "{{.Architecture}}", record.tag)
            assert architecture.strip() == record.platform.split("/")[1]
        binary = ELFFile(io.BytesIO(app_of(records[4].tag)))
        assert binary["e_machine"] == machine


def test_one_dockerfile_builds_every_platform(both: Ladder) -> None:
    arm = (both.folder / "linux-arm64" / "Dockerfile").read_text()
    amd = (both.folder / "linux-amd64" / "Dockerfile").read_text()
    assert arm == amd
    assert "FROM --platform=$BUILDPLATFORM" in arm and "GOARCH=$TARGETARCH" in arm


def test_the_ladders_are_shown_side_by_side(both: Ladder) -> None:
    stdout = " ".join(both.result.stdout.split())
    assert "The ladder on each platform" in stdout
    assert "Shrinking hello" in stdout and "for linux/arm64" in stdout
    assert "not built" not in stdout
    assert "docker buildx build --platform linux/amd64,linux/arm64 -f" in stdout


@pytest.mark.root
def test_without_emulation_shrink_stops_before_the_first_build_saying_how(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    program = tmp_path / "hello"
    program.mkdir()
    shutil.copy(DOCKERFILES / "app.go", program / "app.go")
    with emulation_off():
        ladder = shrink(workshop_run, tmp_path, "noemu", program, "--platform", "linux/arm64")
    errors = " ".join(ladder.result.stderr.split())
    assert ladder.result.returncode == 64, ladder.result.stdout + errors
    assert "linux/arm64 programs can't run here" in errors and "qemu-user-static" in errors
    assert "Rung" not in ladder.result.stdout
    assert not list(ladder.folder.rglob("*.json")) and not list(ladder.folder.rglob("Dockerfile"))


def test_the_floor_on_arm64_is_an_aarch64_elf_that_says_hello_under_emulation(
    docker_engine: Engine, workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    # As on an arm64 machine: Dockerfile.floor assembles for the build's architecture (here
    # named, as the legacy builder on amd64 builds for amd64), and QEMU runs the result.
    workspace = Workspace(tmp_path)
    names = ("Dockerfile.floor", "hello.asm", "hello-arm64.s")
    for name in names:
        workspace.write(name)
    built = docker_engine.build(
        BuildRequest(
            context=workspace.context(names),
            dockerfile="Dockerfile.floor",
            buildargs={"DEBIAN_IMAGE": "workshop-base/debian:bookworm", "TARGETARCH": "arm64"},
            labels={PREFIX_LABEL: f"{RUN_PREFIX}floor-arm64-"},
        )
    )
    try:
        ran = docker_engine.run(built.image_id, fetch="/app")
        assert (ran.exit_code, ran.output) == (0, "Hello world!\n")
        assert ran.fetched is not None and len(ran.fetched) == 145
        assert ELFFile(io.BytesIO(ran.fetched))["e_machine"] == "EM_AARCH64"
    finally:
        docker_engine.remove_image(built.image_id)


def test_each_rung_built_on_both_is_pushed_as_an_index_and_each_platform_pulls_its_own(
    both: Ladder, registry: Any
) -> None:
    arm = SizeLog(both.folder / "linux-arm64" / "sizes.json").read()
    amd = SizeLog(both.folder / "linux-amd64" / "sizes.json").read()
    assert "Pulled as a multi-platform index" in both.result.stdout
    for rung in sorted(set(arm) & set(amd)):
        name = amd[rung].tag.removesuffix("-linux-amd64")
        sizes = index_pull_sizes(registry.url, name)
        assert sizes == {"amd64": amd[rung].pull_size, "arm64": arm[rung].pull_size}
        assert min(sizes.values()) > 0
    # A client on arm64 pulls the index and gets the arm64 image, which runs (emulated here).
    smallest = f"{registry.address}/{amd[7].tag.removesuffix('-linux-amd64')}"
    docker("pull", "--platform", "linux/arm64", smallest)
    try:
        architecture = docker("image", "inspect", "--format", "{{.Architecture}}", smallest)
        assert architecture.strip() == "arm64"
        ran = subprocess.run(
            ["docker", "run", "--rm", "--platform", "linux/arm64", smallest],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (ran.returncode, ran.stdout + ran.stderr) == (0, "Hello world!\n")
    finally:
        subprocess.run(["docker", "image", "rm", smallest], capture_output=True)


def test_explain_and_diff_say_which_platform_they_read_and_refuse_one_an_image_lacks(
    both: Ladder,
) -> None:
    arm = SizeLog(both.folder / "linux-arm64" / "sizes.json").read()
    amd = SizeLog(both.folder / "linux-amd64" / "sizes.json").read()
    env = {"COLUMNS": "200"}
    explained = invoke("explain", arm[7].tag, env=env)
    assert explained.returncode == 0, explained.stderr
    assert f"{arm[7].tag} (" in explained.stdout and ", linux/arm64) is" in explained.stdout
    lacking = invoke("explain", amd[7].tag, "--platform", "linux/arm64", env=env)
    said = " ".join(lacking.stderr.split())
    assert lacking.returncode == 64, lacking.stderr
    assert "holds linux/amd64 here (not a multi-platform image), not linux/arm64" in said
    two = invoke("explain", amd[7].tag, "--platform", "linux/amd64,linux/arm64", env=env)
    assert two.returncode == 64 and "read one platform at a time" in two.stderr
    diffed = invoke("diff", arm[6].tag, arm[7].tag, "--platform", "linux/arm64", env=env)
    assert diffed.returncode == 0, diffed.stderr
    assert "of files, linux/arm64) →" in " ".join(diffed.stdout.split())


def test_a_budget_for_arm64_holds_the_arm64_images_and_skips_the_others(
    both: Ladder, tmp_path: Path
) -> None:
    arm = SizeLog(both.folder / "linux-arm64" / "sizes.json").read()
    amd = SizeLog(both.folder / "linux-amd64" / "sizes.json").read()
    budgets = tmp_path / "budgets.toml"
    budgets.write_text(
        f'[[budget]]\nimages = ["{amd[7].tag}", "{arm[7].tag}"]\nplatform = "linux/arm64"\n'
        f"size = {max(arm[7].size, amd[7].size)}\n"
    )
    report = tmp_path / "budgets.json"
    checked = verify_cli("--budgets", str(budgets), "--json", str(report))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    results = {(r["image"], r["rule"]): r for r in json.loads(report.read_text())["results"]}
    assert results[(f"{arm[7].tag}:latest", "size")]["platform"] == "linux/arm64"
    assert results[(f"{arm[7].tag}:latest", "size")]["verdict"] == "pass"
    skipped = results[(f"{amd[7].tag}:latest", "platform")]
    assert (skipped["verdict"], skipped["platform"]) == ("skipped", "linux/amd64")
    # --platform holds every budget to one platform: amd64's image is checked this time.
    again = verify_cli(
        "--budgets", str(budgets), "--platform", "linux/amd64", "--json", str(report)
    )
    assert again.returncode == 0, again.stdout
    rules = {(r["image"], r["rule"]) for r in json.loads(report.read_text())["results"]}
    assert (f"{amd[7].tag}:latest", "size") in rules
