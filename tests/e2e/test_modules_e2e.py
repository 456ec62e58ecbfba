"""`invoke shrink` on a module as Go developers keep it, on a real engine: its dependencies come
through a GOPROXY on loopback (a chain of two modules, and a third replaced by a folder), checked
against go.sum; a planted secret reaches no layer of any image the run made; the user's folder
is never written to; and what can't be fetched says why, once."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.goproxy import GREET, WORDS, publish, serving, write_program
from tests.support.images import MadeImage, all_image_ids, docker, images_made_since
from tests.support.loopback_registry import free_port
from tests.support.running import WorkshopRun
from tests.support.shrinking import Ladder, shrink
from workshop.records.sizelog import SizeLog
from workshop.shrink.goenv import GO_ENV_NAMES

pytestmark = pytest.mark.engine

SECRET = b"WORKSHOP-PLANTED-TOKEN-7f3a9c"
PRIVATE_KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA" + SECRET


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("goproxy")
    publish(folder, [GREET, WORDS])
    with serving(folder) as url:
        yield url


def go_env(**values: str) -> dict[str, str]:
    """The Go environment of a test's run: only what it sets (no go env file is read)."""
    return {"GOENV": "off", **dict.fromkeys(GO_ENV_NAMES, ""), **values}


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        path.relative_to(folder).as_posix(): (
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@dataclass(frozen=True)
class Run:
    ladder: Ladder
    program: Path
    # Every image the run made, intermediate ones included, read as it ended; the folder's
    # files before it.
    made: list[MadeImage]
    before: dict[str, tuple[int, str]]


@pytest.fixture(scope="module")
def module_ladder(
    workshop_run: WorkshopRun, tmp_path_factory: pytest.TempPathFactory, proxy: str
) -> Run:
    folder = tmp_path_factory.mktemp("module")
    program = write_program(folder / "shrinkme")
    (program / ".env").write_bytes(b"API_TOKEN=" + SECRET + b"\n")
    (program / "deploy").mkdir()
    (program / "deploy" / "id_ed25519").write_bytes(PRIVATE_KEY)
    (program / ".dockerignore").write_text("*.md\n")
    (program / "NOTES.md").write_bytes(SECRET)
    before_files = snapshot(program)
    before = all_image_ids()
    ladder = shrink(
        workshop_run,
        folder,
        "mod",
        program,
        "--args",
        "world",
        "--output",
        "Hello world!",
        **go_env(GOPROXY=proxy),
    )
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    return Run(ladder, program, images_made_since(before), before_files)


def test_a_module_climbs_the_ladder_with_its_dependencies_from_the_proxy(
    module_ladder: Run, proxy: str
) -> None:
    ladder = module_ladder.ladder
    assert sorted(ladder.records) == [1, 2, 3, 4, 6, 7]
    assert all(record.output == "Hello world!\n" for record in ladder.records.values())
    said = " ".join(ladder.result.stdout.split())
    assert f"Modules fetched here through GOPROXY={proxy} (from the environment)" in said
    assert "handed to the build as a file proxy (2 modules," in said
    assert "Left out of the build as they look like secrets: .env, deploy/id_ed25519" in said


def test_no_layer_of_any_image_the_run_made_holds_a_secret_or_the_proxy(
    module_ladder: Run, proxy: str
) -> None:
    assert len(module_ladder.made) >= 10, "the run's build stages were not found"
    for image in module_ladder.made:
        for path, content in image.files.items():
            assert SECRET not in content, f"{image.id}: {path}"
            assert not path.endswith((".env", "id_ed25519", "NOTES.md")), f"{image.id}: {path}"
    # The client fetched the modules: the proxy's address is in no image's history, the
    # modules stage's (dangling) included.
    for image in module_ladder.made:
        assert proxy.split("//")[1] not in image.history, image.id


def test_the_users_folder_is_never_written_to(module_ladder: Run) -> None:
    assert snapshot(module_ladder.program) == module_ladder.before


def test_the_image_runs_its_program_as_the_entrypoint_with_the_checks_args(
    module_ladder: Run,
) -> None:
    smallest = module_ladder.ladder.records[7]
    # What was checked (--args world) is the image's CMD; other arguments reach the program.
    assert docker("run", "--rm", smallest.image_id) == "Hello world!\n"
    assert docker("run", "--rm", smallest.image_id, "there") == "Hello there!\n"
    config = docker(
        "image",
        "inspect",
        "--format",
        "{{json .Config.Entrypoint}} {{json .Config.Cmd}}",
        smallest.tag,
    )
    assert config.strip() == '["/app"] ["world"]'
    written = (module_ladder.ladder.folder / "Dockerfile").read_text()
    lines = written.splitlines()
    assert lines.index("COPY go.mod go.sum ./") < lines.index("COPY . .")


@pytest.mark.parametrize("case", ["proxy down", "wrong go.sum", "private module"])
def test_what_cant_be_fetched_says_why_once_and_logs_nothing(
    workshop_run: WorkshopRun, tmp_path: Path, proxy: str, case: str
) -> None:
    go_sum = [*GREET.go_sum(), *WORDS.go_sum()]
    settings = go_env(GOPROXY=proxy)
    if case == "proxy down":
        settings["GOPROXY"] = f"http://127.0.0.1:{free_port()}"
    elif case == "wrong go.sum":
        go_sum[0] = go_sum[0][:-10] + "AAAAAAAAA="
    else:
        # Private: fetched from its source, not the proxy; nothing here serves it.
        settings.update(GOPRIVATE="example.com/greet", GOPROXY=f"{proxy},off")
    program = write_program(tmp_path / "shrinkme", go_sum=go_sum)
    ladder = shrink(workshop_run, tmp_path, "fail", program, **settings)
    errors = " ".join(ladder.result.stderr.split())
    assert ladder.result.returncode == 1, ladder.result.stdout + errors
    assert "Traceback" not in errors and ladder.records == {}
    expected = {
        "proxy down": f"could not be fetched through GOPROXY={settings['GOPROXY']}",
        "wrong go.sum": "example.com/greet@v1.0.0 is not what go.sum says it is",
        "private module": "example.com/greet is private (GOPRIVATE/GONOPROXY example.com/greet)",
    }[case]
    assert expected in errors
    assert errors.count("could not be built") == 1


def test_a_changed_line_rebuilds_the_sources_not_the_modules(
    workshop_run: WorkshopRun, module_ladder: Run, proxy: str
) -> None:
    program = module_ladder.program
    changed = program.parent / "changed"
    subprocess.run(["cp", "-a", str(program), str(changed)], check=True)
    main = changed / "main.go"
    main.write_text(main.read_text().replace('"world"', '"world" /* changed */'))
    env = {**go_env(GOPROXY=proxy), "INVOKE_WORKSHOP_VERBOSE": "true"}
    ladder = shrink(workshop_run, program.parent, "again", changed, **env)
    assert ladder.result.returncode == 0, ladder.result.stderr
    log = ladder.result.stdout
    download = log.index("go mod download")
    # The modules stage came from the cache: its download did not run again.
    assert "Using cache" in log[download : download + 200], log[download - 400 : download + 400]
    assert os.path.exists(ladder.folder / "Dockerfile")


@pytest.mark.buildx
def test_with_buildkit_the_modules_are_mounted_and_the_build_cache_kept(
    workshop_run: WorkshopRun, tmp_path: Path, proxy: str
) -> None:
    program = write_program(tmp_path / "shrinkme")
    env = {**go_env(GOPROXY=proxy), "INVOKE_WORKSHOP_BUILDER": "buildkit"}
    flags = ("--args", "you", "--stdin", "again", "--exit", "3", "--output", "Hello you!again")
    ladder = shrink(workshop_run, tmp_path, "bk", program, *flags, **env)
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    assert sorted(ladder.records) == [1, 2, 3, 4, 6, 7]
    assert {record.output for record in ladder.records.values()} == {"Hello you!again\n"}
    assert all(record.builder == "buildkit" for record in ladder.records.values())
    build = next(
        line
        for line in (ladder.folder / "Dockerfile").read_text().splitlines()
        if "go build" in line
    )
    assert "--mount=type=bind,from=modules" in build and "--mount=type=cache" in build


@pytest.mark.buildx
def test_a_module_for_arm64_is_fetched_and_compiled_on_the_build_platform(
    workshop_run: WorkshopRun, arm64_standins: str, tmp_path: Path, proxy: str
) -> None:
    program = write_program(tmp_path / "shrinkme")
    flags = ("--platform", arm64_standins, "--args", "arm", "--output", "Hello arm!")
    ladder = shrink(workshop_run, tmp_path, "arm", program, *flags, **go_env(GOPROXY=proxy))
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    records = SizeLog(ladder.folder / "linux-arm64" / "sizes.json").read()
    assert sorted(records) == [1, 2, 3, 4, 6, 7]
    assert {record.platform for record in records.values()} == {"linux/arm64"}
    assert {record.output for record in records.values()} == {"Hello arm!\n"}


def test_no_credential_of_the_go_environment_reaches_any_image_or_output(
    workshop_run: WorkshopRun, tmp_path: Path, proxy: str
) -> None:
    """A token in a proxy's path and a password in another's URL (the first answers 404, so
    Go's `,` falls through to the second): in no image the run made, tagged or not, its
    history, its Dockerfile, its log or its output; the output masks them as Go does."""
    address = proxy.split("//")[1]
    secret_proxy = f"http://{address}/tok-{SECRET.decode()},http://ann:{SECRET.decode()}@{address}"
    program = write_program(tmp_path / "shrinkme")
    before = all_image_ids()
    ladder = shrink(workshop_run, tmp_path, "cred", program, **go_env(GOPROXY=secret_proxy))
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    made = images_made_since(before)
    assert len(made) >= 10
    for image in made:
        assert SECRET.decode() not in image.history + image.inspected, image.id
        for path, content in image.files.items():
            assert SECRET not in content, f"{image.id}: {path}"
    said = ladder.result.stdout + ladder.result.stderr
    assert SECRET.decode() not in said
    assert f"http://{address}/xxxxx,http://ann:xxxxx@{address}" in " ".join(said.split())
    for written in ladder.folder.rglob("*"):
        if written.is_file():
            assert SECRET not in written.read_bytes(), written
