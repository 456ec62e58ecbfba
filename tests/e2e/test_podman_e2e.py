"""The workshop and shrink on Podman, rootful, its Docker API on a socket of its own beside the
host's engine: Debian 12's 4.3, and sid's 5 in a sid system of its own. Its stand-ins are carried
over as one file (`invoke bases --save/--load`); everything is checked with that Podman's CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import TAGS, said_by
from tests.support.leftovers import RUN_PREFIX
from tests.support.paths import PROGRAMS
from tests.support.podman import PodmanService
from tests.support.running import WorkshopRun, folder_settings, invoke, verify_cli
from tests.support.shrinking import check_hello_ladder, hello_program, shrink

pytestmark = [pytest.mark.engine, pytest.mark.other_engines]


@pytest.fixture(scope="module")
def podman_run(
    podman_engine: PodmanService, tmp_path_factory: pytest.TempPathFactory
) -> WorkshopRun:
    folder = tmp_path_factory.mktemp("podman")
    env = folder_settings(
        folder, f"{RUN_PREFIX}pm-", DOCKER_HOST=podman_engine.host, INVOKE_WORKSHOP_BASES="local"
    )
    result = invoke("all", env=env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return WorkshopRun(env=env, prefix=f"{RUN_PREFIX}pm-", log=folder / "sizes.json", result=result)


# The engine adapter building the Dockerfile in the folder argv[1] names, in a process of its own
# (so that what it does with its connections ends with it): the image id, or the failure's
# instruction and last line of output, as JSON.
BUILD = """
import json, sys
from pathlib import Path
from workshop.engine.buildcontext import tar_context
from workshop.engine.client import Engine
from workshop.engine.values import BuildRequest, Timeouts
from workshop.errors import StepFailed
engine = Engine.from_env(timeouts=Timeouts(engine=float(sys.argv[2])))
request = BuildRequest(
    context=tar_context(Path(sys.argv[1]), ("Dockerfile",)), dockerfile="Dockerfile",
    buildargs={}, labels={}, nocache=True,
)
try:
    print(json.dumps({"id": engine.build(request).image_id}))
except StepFailed as failed:
    print(json.dumps({"instruction": failed.instruction, "last": failed.log_tail[-1],
                      "message": str(failed)}))
"""


def build_apart(service: PodmanService, folder: Path, *, engine_timeout: float = 60.0) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", BUILD, str(folder), str(engine_timeout)],
        env={**os.environ, "DOCKER_HOST": service.host},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def podman(service: PodmanService, *arguments: str) -> str:
    done = subprocess.run(
        service.podman(*arguments),
        env=service.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def test_the_stand_ins_came_as_a_file_and_are_found_by_the_names_given(
    podman_engine: PodmanService, podman_run: WorkshopRun
) -> None:
    # `podman load` names them localhost/NAME:TAG; the run found them as NAME:TAG, built none.
    names = podman(podman_engine, "images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert "localhost/workshop-base/golang:1.19-busybox" in names
    assert "debootstrap" not in podman_run.result.stdout
    assert "Building the stand-in" not in podman_run.result.stdout


def test_each_step_says_hello_and_logs_what_podmans_cli_lists(
    podman_engine: PodmanService, podman_run: WorkshopRun
) -> None:
    records = podman_run.records()
    assert sorted(records) == list(TAGS)
    for step, record in records.items():
        tag = podman_run.tag(TAGS[step])
        assert (record.engine_product, record.engine_rootless) == ("Podman", False)
        assert record.image_store == "containers-storage"
        inspected = podman(podman_engine, "image", "inspect", "--format", "{{.Id}} {{.Size}}", tag)
        image_id, listed = inspected.split()
        assert record.image_id.removeprefix("sha256:") == image_id
        # Podman lists a layer as its tar: each file's header and padding on top of its bytes.
        assert record.listed == int(listed) > record.size
        # go-smaller's println writes to standard error: both streams, as a terminal shows them.
        assert said_by(partial(podman, podman_engine), image_id) == "Hello world!\n"
    assert "Built on workshop-base/golang:1.19-busybox (stand-in) with go1.19" in (
        " ".join(podman_run.result.stdout.split())
    )
    assert f"by Podman {podman_engine.version}" in " ".join(podman_run.result.stdout.split())


def test_verify_passes_on_podmans_log_comparing_the_files(podman_run: WorkshopRun) -> None:
    checked = verify_cli("--log", str(podman_run.log))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    said = " ".join(checked.stdout.split())
    assert "the bytes of each image's files" in said and "On Podman's store" in said


def test_invoke_engine_names_podman_and_what_it_lacks(
    podman_engine: PodmanService, podman_run: WorkshopRun
) -> None:
    said = invoke("engine", env=podman_run.env)
    assert said.returncode == 0, said.stderr
    text = " ".join(said.stdout.split())
    assert f"Answers: Podman {podman_engine.version} (rootful, unix://" in text
    assert "Lacks: BuildKit: Podman's Docker API builds with Buildah" in text


def test_explain_and_the_report_work_on_podman(podman_run: WorkshopRun, tmp_path: Path) -> None:
    explained = invoke("explain", podman_run.tag("go-scratch"), env=podman_run.env)
    assert explained.returncode == 0, explained.stdout + explained.stderr
    assert "app" in explained.stdout
    reported = invoke("report", env=podman_run.env)
    assert reported.returncode == 0, reported.stdout + reported.stderr
    report = Path(podman_run.env["INVOKE_WORKSHOP_REPORT_DIR"], "report.md").read_text()
    assert podman_run.tag("go-smaller") in report


def test_shrink_climbs_a_server_on_podman_and_probes_its_port(
    podman_engine: PodmanService, podman_run: WorkshopRun, tmp_path: Path
) -> None:
    """The ladder on Podman: every rung built by Buildah through the compatible API, run and
    probed on its port where Podman publishes it; each logged rung is what `podman image
    inspect` lists, and verify passes on the ladder's log."""
    program = tmp_path / "server"
    shutil.copytree(PROGRAMS / "server", program)
    ladder = shrink(podman_run, tmp_path, "server", program)
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    stdout = " ".join(ladder.result.stdout.split())
    assert "It works when /app answers GET /healthz on port 8080 with 200" in stdout
    assert "built with go1.19" in stdout
    for key in ("1", "2", "3", "4", "4b", "5", "6"):
        record = ladder.rung(key)
        assert record is not None, ladder.row(key)
        assert record.engine_product == "Podman", key
        listed = podman(podman_engine, "image", "inspect", "--format", "{{.Size}}", record.image_id)
        assert record.listed == int(listed), key
    checked = verify_cli("--log", str(ladder.folder / "sizes.json"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_build_silent_past_the_engine_bound_goes_on_while_its_run_works(
    podman_engine: PodmanService, podman_run: WorkshopRun, tmp_path: Path
) -> None:
    """A RUN that prints nothing for longer than workshop.engine_timeout (a `go build` on a busy
    machine) is waited for: Podman's builds run in containers its Docker API does not list, so
    the watch asks its own API for them. Before, such a build was cut, and the step failed."""
    (tmp_path / "Dockerfile").write_text(
        "FROM workshop-base/busybox:bookworm\nRUN sleep 12 && echo awake > /awake\n"
    )
    built = build_apart(podman_engine, tmp_path, engine_timeout=3.0)
    assert "id" in built, built
    try:
        assert said_by(partial(podman, podman_engine), built["id"], "cat", "/awake") == "awake\n"
    finally:
        podman(podman_engine, "rmi", built["id"])


def test_a_failed_build_leaves_none_of_the_layers_it_made(
    podman_engine: PodmanService, podman_run: WorkshopRun, tmp_path: Path
) -> None:
    """A build that fails at its third step takes the two layers it made with it, as on
    Docker's builder: Podman names them in lines of its own ("--> cb5cb325d7f")."""
    (tmp_path / "Dockerfile").write_text(
        "FROM workshop-base/busybox:bookworm\n"
        "RUN echo one > /one\nRUN echo two > /two\nRUN echo failing && exit 3\n"
    )
    before = podman(podman_engine, "images", "--all", "--quiet", "--no-trunc").split()
    failed = build_apart(podman_engine, tmp_path)
    assert failed.get("instruction") == "RUN echo failing && exit 3", failed
    assert failed["last"] == "failing" and "exit status 3" in failed["message"]
    after = podman(podman_engine, "images", "--all", "--quiet", "--no-trunc").split()
    assert sorted(after) == sorted(before)


def test_shrink_climbs_the_hello_world_on_podman(
    podman_engine: PodmanService, podman_run: WorkshopRun, tmp_path: Path
) -> None:
    """The hello world's ladder on Podman: each rung says hello, rungs 1 to 4 hold what steps
    4 to 7 built there, each id what `podman image inspect` says; verify passes on its log."""
    ladder = shrink(podman_run, tmp_path, "hello", hello_program(tmp_path))
    check_hello_ladder(
        ladder,
        podman_run.records(),
        lambda image: podman(podman_engine, "image", "inspect", "--format", "{{.Id}}", image),
    )
    checked = verify_cli("--log", str(ladder.folder / "sizes.json"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_beyond_runs_on_podman_and_verify_passes_on_the_whole_log(
    podman_engine: PodmanService, podman_run: WorkshopRun
) -> None:
    """Steps 10 to 15 on Podman (last in this module: they add to the run's log): the floor's
    build fetches its assembler from Debian through Podman's network, UPX and the smallest Go
    image run there, start-ups are timed there; each record is what `podman image inspect`
    says, the floor says hello, and verify passes on the whole log."""
    result = invoke("beyond", env=podman_run.env)
    assert result.returncode == 0, result.stdout + result.stderr
    records = podman_run.records()
    assert sorted(records) == [*TAGS, 10, 11, 12, 13, 14, 15]
    for step in range(10, 16):
        record = records[step]
        assert record.engine_product == "Podman", step
        inspected = podman(podman_engine, "image", "inspect", "--format", "{{.Id}}", record.tag)
        assert record.image_id.removeprefix("sha256:") == inspected.strip(), step
    floor = records[12]
    floor_id = floor.image_id.removeprefix("sha256:")
    assert said_by(partial(podman, podman_engine), floor_id) == "Hello world!\n"
    assert records[11].startup["runs"] == 15 and records[11].startup["median_ms"] > 0
    verified = verify_cli("--log", str(podman_run.log))
    assert verified.returncode == 0, verified.stdout + verified.stderr
