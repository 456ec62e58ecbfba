"""The workshop on Docker Engine 28, with the classic image store and the containerd image
store, beside the host's engine; and a docker context choosing the engine for every call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import TAGS
from tests.support.leftovers import RUN_PREFIX
from tests.support.paths import ROOT
from tests.support.running import WorkshopRun, folder_settings, invoke, verify_cli
from workshop.records.sizelog import SizeLog, SizeRecord
from workshop.shrink.goapp import find_app
from workshop.units import docker_size

pytestmark = pytest.mark.engine


def run_all(engine: Any, folder: Path, name: str) -> WorkshopRun:
    env = folder_settings(
        folder, f"{RUN_PREFIX}{name}-", DOCKER_HOST=engine.host, INVOKE_WORKSHOP_BASES="local"
    )
    result = invoke("all", env=env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return WorkshopRun(
        env=env, prefix=env["INVOKE_WORKSHOP_TAG_PREFIX"], log=folder / "sizes.json", result=result
    )


@pytest.fixture(scope="module")
def classic_run(docker28_classic: Any, tmp_path_factory: pytest.TempPathFactory) -> WorkshopRun:
    return run_all(docker28_classic, tmp_path_factory.mktemp("d28-classic"), "d28c")


@pytest.fixture(scope="module")
def containerd_run(
    docker28_containerd: Any, tmp_path_factory: pytest.TempPathFactory
) -> WorkshopRun:
    return run_all(docker28_containerd, tmp_path_factory.mktemp("d28-containerd"), "d28s")


def listed_by_the_cli(engine: Any, tag: str) -> str:
    return str(engine.docker("image", "ls", "--format", "{{.Size}}", tag).stdout.strip())


def test_docker_28_classic_measures_what_20_10_measures(
    classic_run: WorkshopRun, workshop_run: WorkshopRun, docker28_classic: Any
) -> None:
    records, before = classic_run.records(), workshop_run.records()
    assert sorted(records) == list(TAGS)
    for step, record in records.items():
        assert record.engine_version.startswith("28."), record.engine_version
        assert record.image_store == "classic" and record.listed == record.size
        # The same bases and Go: the same files, counted the same way.
        assert abs(record.size - before[step].size) <= 0.01 * before[step].size, step
        assert listed_by_the_cli(docker28_classic, record.tag) == docker_size(record.listed)
    assert (
        "Docker 28." in classic_run.result.stdout
        and "classic image store" in classic_run.result.stdout
    )


def test_the_containerd_store_logs_both_sizes_and_says_which_it_compares(
    containerd_run: WorkshopRun, classic_run: WorkshopRun, docker28_containerd: Any
) -> None:
    records, classic = containerd_run.records(), classic_run.records()
    assert sorted(records) == list(TAGS)
    for step, record in records.items():
        assert record.image_store == "containerd"
        # What docker image ls shows there: stored content and the unpacked snapshot.
        assert listed_by_the_cli(docker28_containerd, record.tag) == docker_size(record.listed)
        assert record.listed > record.size
        # The files' bytes: the classic figure, less what a later layer overwrote (go-big: 0.1%).
        assert abs(record.size - classic[step].size) <= 0.005 * classic[step].size, step
    # The binary is the only file in go-scratch: its bytes, exactly.
    assert records[7].size == records[7].binary_size
    assert "containerd image store" in containerd_run.result.stdout
    assert "the image's files, which the workshop measured" in containerd_run.result.stdout


def test_verify_passes_on_the_containerd_store_comparing_like_with_like(
    containerd_run: WorkshopRun,
) -> None:
    result = verify_cli("--log", str(containerd_run.log))
    out = " ".join(result.stdout.split())
    assert result.returncode == 0, out
    assert (
        "On the containerd image store (steps 4, 5, 6, 7, 8, 9) they are read from the image's"
        in out
    )


def records_of(path: Path) -> dict[int, SizeRecord]:
    return SizeLog(path).read()


@pytest.mark.parametrize("builder", ["legacy", pytest.param("buildkit", marks=pytest.mark.buildx)])
def test_a_docker_context_chooses_the_engine_for_every_call(
    docker28_containerd: Any, tmp_path: Path, builder: str
) -> None:
    config = tmp_path / "docker-config"
    cli = {**os.environ, "DOCKER_CONFIG": str(config)}
    cli.pop("DOCKER_HOST", None)
    for command in (
        [
            "docker",
            "context",
            "create",
            "ws-second",
            "--docker",
            f"host={docker28_containerd.host}",
        ],
        ["docker", "context", "use", "ws-second"],
    ):
        subprocess.run(command, env=cli, check=True, capture_output=True)
    settings = folder_settings(
        tmp_path,
        f"{RUN_PREFIX}ctx-{builder}-",
        INVOKE_WORKSHOP_BASES="local",
        INVOKE_WORKSHOP_BUILDER=builder,
    )
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "step-7"],
        cwd=ROOT,
        env={**cli, **settings},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    record = records_of(tmp_path / "sizes.json")[7]
    assert (record.engine_context, record.engine_host) == ("ws-second", docker28_containerd.host)
    assert "context 'ws-second'" in result.stdout
    # Built, run and tagged on the context's engine, and not on the host's.
    assert docker28_containerd.docker("image", "inspect", record.tag, check=False).returncode == 0
    assert (
        subprocess.run(["docker", "image", "inspect", record.tag], capture_output=True).returncode
        != 0
    )


def test_shrink_on_the_containerd_store_measures_what_the_steps_measure(
    containerd_run: WorkshopRun, docker28_containerd: Any, tmp_path: Path
) -> None:
    # A person's program on Docker 28 with the containerd store: rungs 1 to 4 are steps 4 to 7
    # there too, counted as the steps count them (the files' bytes), not as `image ls` lists.
    program = tmp_path / "hello"
    program.mkdir()
    (program / "app.go").write_text((ROOT / "dockerfiles" / "app.go").read_text())
    env = folder_settings(
        tmp_path,
        f"{RUN_PREFIX}d28shrink-",
        DOCKER_HOST=docker28_containerd.host,
        INVOKE_WORKSHOP_BASES="local",
    )
    result = invoke("shrink", str(program), env=env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    rungs, steps = (
        SizeLog(tmp_path / "shrink" / find_app(program).key / "sizes.json").read(),
        containerd_run.records(),
    )
    assert sorted(rungs) == [1, 2, 3, 4, 6, 7]
    for rung, step in ((1, 4), (2, 5), (3, 6), (4, 7)):
        assert rungs[rung].image_store == "containerd"
        assert (rungs[rung].size, rungs[rung].binary_size) == (
            steps[step].size,
            steps[step].binary_size,
        )
    for record in rungs.values():
        assert listed_by_the_cli(docker28_containerd, record.tag) == docker_size(record.listed)
        assert record.listed > record.size


@pytest.mark.buildx
def test_the_same_digest_twice_holds_on_the_containerd_store(containerd_run: WorkshopRun) -> None:
    result = invoke("step-15", env=containerd_run.env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    record = containerd_run.records()[15]
    assert record.rebuilt_image_id == record.image_id
    assert "the same image id both times" in " ".join(result.stdout.split())
    # The image the two builds share is the one the step ran and tagged; its times are the epoch.
    created = containerd_run_engine_created(containerd_run, record.tag)
    assert created.startswith("1970-01-01")
    verdict = verify_cli("--log", str(containerd_run.log), "--json", f"{containerd_run.log}.v.json")
    checks = json.loads(Path(f"{containerd_run.log}.v.json").read_text())["checks"]
    assert {c["id"]: c["verdict"] for c in checks}["same-digest-twice"] == "pass", verdict.stdout


def containerd_run_engine_created(run: WorkshopRun, tag: str) -> str:
    inspected = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Created}}", tag],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DOCKER_HOST": run.env["DOCKER_HOST"]},
    )
    return inspected.stdout.strip()


def test_the_classic_store_says_why_it_builds_once(classic_run: WorkshopRun) -> None:
    result = invoke("step-15", env=classic_run.env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert classic_run.records()[15].rebuilt_image_id == ""
    said = " ".join(result.stdout.split())
    assert "Not built twice: the classic image store keeps each file's time" in said
