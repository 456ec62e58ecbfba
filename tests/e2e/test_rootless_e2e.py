"""The workshop as a user without root, on rootless Docker and on rootless Podman: the user's
own `invoke engine --start` starts Debian's dockerd-rootless.sh (rootlesskit, a user namespace,
slirp4netns) or Podman's API service, the stand-ins come as one file (`invoke bases --load`),
and every task runs as that user. Checked with each engine's own CLI, run as the user."""

from __future__ import annotations

import json
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from tests.support.images import TAGS, said_by
from tests.support.leftovers import RUN_PREFIX
from tests.support.paths import PROGRAMS
from tests.support.podman import RootlessPodman5
from tests.support.rootless import PREFIX, RootlessUser, reclaim_abandoned
from tests.support.running import WorkshopRun, folder_settings
from tests.support.shrinking import Ladder, check_hello_ladder, hello_program
from tests.support.standins import StandinsFile
from workshop.shrink.goapp import find_app

pytestmark = [pytest.mark.engine, pytest.mark.other_engines]


@pytest.fixture(scope="module")
def rootless_run(rootless_user: RootlessUser, standins_file: StandinsFile) -> WorkshopRun:
    """As the user: start its engine, load the stand-ins' file, run the workshop."""
    folder = rootless_user.home / "workshop"
    env = rootless_user.environment(**folder_settings(folder, f"{RUN_PREFIX}rl-"))
    for command in (
        ("engine", "--start"),
        ("bases", "--load", str(standins_file.path)),
    ):
        done = rootless_user.run("invoke", *command, env=env)
        assert done.returncode == 0, f"invoke {' '.join(command)}: {done.stdout}{done.stderr}"
    result = rootless_user.run("invoke", "all", env=env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return WorkshopRun(env=env, prefix=f"{RUN_PREFIX}rl-", log=folder / "sizes.json", result=result)


def test_invoke_engine_start_started_rootless_docker_as_the_user(
    rootless_user: RootlessUser, rootless_run: WorkshopRun
) -> None:
    uid = (rootless_user.home).stat().st_uid
    daemons = [
        entry
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and _quietly_read(entry / "comm") == "dockerd"
        and entry.stat().st_uid == uid
    ]
    assert daemons, "no dockerd runs as the user"
    said = rootless_user.run("invoke", "engine", env=rootless_run.env)
    out = " ".join(said.stdout.split())
    assert said.returncode == 0, out + said.stderr
    assert f"(rootless, {rootless_user.host}" in out
    assert "A bridge network of its own: a rootless engine's containers" in out
    log = rootless_user.project / "build" / "dockerd-rootless.log"
    assert "rootlesskit" in log.read_text(errors="replace")


def test_the_run_says_rootless_and_its_stand_ins_came_as_a_file(rootless_run: WorkshopRun) -> None:
    assert "by Docker (rootless) " in " ".join(rootless_run.result.stdout.split())
    assert "debootstrap" not in rootless_run.result.stdout
    assert "Building the stand-in" not in rootless_run.result.stdout


def test_each_step_says_hello_and_logs_what_the_engines_cli_lists(
    rootless_user: RootlessUser, rootless_run: WorkshopRun
) -> None:
    records = rootless_run.records()
    assert sorted(records) == list(TAGS)
    for step, record in records.items():
        assert record.engine_rootless, step
        there = json.loads(rootless_user.docker("image", "inspect", record.tag).stdout)[0]
        assert (there["Id"], there["Size"]) == (record.image_id, record.size), step
        ran = rootless_user.docker("run", "--rm", record.image_id)
        assert (ran.stdout + ran.stderr).strip() == "Hello world!", step
    # The same stand-ins and Go as the main engine's run: sizes strictly fall from step 4 on.
    sizes = [records[step].size for step in sorted(records) if step >= 4]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)


def test_verify_explain_and_the_report_run_as_the_user(
    rootless_user: RootlessUser, rootless_run: WorkshopRun
) -> None:
    _verified(rootless_user, rootless_run)
    _explained_and_reported(rootless_user, rootless_run)


def _verified(rootless_user: RootlessUser, run: WorkshopRun) -> None:
    """`nox -s verify`'s check, as the user, passes on `run`'s log."""
    verified = rootless_user.run(
        "python", "-m", "workshop.checks", "--log", str(run.log), env=run.env
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _explained_and_reported(rootless_user: RootlessUser, run: WorkshopRun) -> None:
    """`invoke explain` reads the scratch image's files from the user's engine, and `invoke
    report` renders the run's log with its images named."""
    explained = rootless_user.run("invoke", "explain", run.tag("go-scratch"), env=run.env)
    assert explained.returncode == 0, explained.stdout + explained.stderr
    assert "/app" in explained.stdout
    reported = rootless_user.run("invoke", "report", env=run.env)
    assert reported.returncode == 0, reported.stdout + reported.stderr
    html = Path(run.env["INVOKE_WORKSHOP_REPORT_DIR"]) / "report.html"
    assert run.tag("go-smaller") in html.read_text()


def _beyond(
    rootless_user: RootlessUser, run: WorkshopRun, product: str, cli: Callable[..., str]
) -> None:
    """`invoke beyond` as the user on `run`'s engine (last of that engine's tests: it adds to
    the run's log): steps 10 to 15 logged as built by `product`, each id what the engine's own
    CLI (`cli`) inspects, the floor says hello run by that CLI, and verify passes on the whole
    log."""
    result = rootless_user.run("invoke", "beyond", env=run.env)
    assert result.returncode == 0, result.stdout + result.stderr
    records = run.records()
    assert sorted(records) == [*TAGS, 10, 11, 12, 13, 14, 15]
    for step in range(10, 16):
        record = records[step]
        assert (record.engine_product, record.engine_rootless) == (product, True), step
        inspected = cli("image", "inspect", "--format", "{{.Id}}", record.tag).strip()
        assert record.image_id.removeprefix("sha256:") == inspected.removeprefix("sha256:"), step
    floor = records[12].image_id.removeprefix("sha256:")
    assert said_by(cli, floor).strip() == "Hello world!"
    assert records[11].startup["runs"] == 15 and records[11].startup["median_ms"] > 0
    _verified(rootless_user, run)


def test_shrink_climbs_a_server_on_rootless_docker_and_probes_its_port(
    rootless_user: RootlessUser, rootless_run: WorkshopRun
) -> None:
    """The ladder as the user: every rung built and run by rootless Docker, the server probed
    on the port rootlesskit forwards to the host; each logged rung is what the user's own
    `docker image inspect` says, and verify passes on the ladder's log."""
    ladder = _server_climbed(rootless_user, rootless_run, "ss-")
    for key in ("1", "2", "3", "4", "4b", "5", "6"):
        record = ladder.rung(key)
        assert record is not None, ladder.row(key)
        assert (record.engine_product, record.engine_rootless) == ("Docker Engine", True), key
        there = json.loads(rootless_user.docker("image", "inspect", record.image_id).stdout)[0]
        assert (there["Id"], there["Size"]) == (record.image_id, record.size), key


def test_shrink_climbs_the_hello_world_on_rootless_docker(
    rootless_user: RootlessUser, rootless_run: WorkshopRun
) -> None:
    _hello_climbed(rootless_user, rootless_run, "sh-", _docker_cli(rootless_user))


def test_beyond_runs_on_rootless_docker_as_the_user(
    rootless_user: RootlessUser, rootless_run: WorkshopRun
) -> None:
    _beyond(rootless_user, rootless_run, "Docker Engine", _docker_cli(rootless_user))


def _docker_cli(rootless_user: RootlessUser) -> Callable[..., str]:
    """The docker CLI on the user's engine: what it printed."""

    def docker(*arguments: str) -> str:
        done = rootless_user.docker(*arguments)
        return done.stdout + done.stderr

    return docker


def _server_climbed(rootless_user: RootlessUser, run: WorkshopRun, name: str) -> Ladder:
    """`invoke shrink` on the server test program, as the user, on `run`'s engine: it passed,
    probed each rung on its port, and verify passes on its log."""
    folder = rootless_user.home / f"shrink-{name}"
    shutil.copytree(PROGRAMS / "server", folder / "server")
    ladder = _climbed(rootless_user, run, name, folder / "server")
    stdout = " ".join(ladder.result.stdout.split())
    assert "It works when /app answers GET /healthz on port 8080 with 200" in stdout
    return ladder


def _hello_climbed(
    rootless_user: RootlessUser, run: WorkshopRun, name: str, cli: Callable[..., str]
) -> None:
    """The hello world's ladder as the user on `run`'s engine, checked with that engine's CLI
    (`cli`) against the workshop's run there; verify passes on its log."""
    program = hello_program(rootless_user.home / f"shrink-{name}")
    ladder = _climbed(rootless_user, run, name, program)
    check_hello_ladder(
        ladder,
        run.records(),
        lambda image: cli("image", "inspect", "--format", "{{.Id}}", image),
    )


def _climbed(rootless_user: RootlessUser, run: WorkshopRun, name: str, program: Path) -> Ladder:
    """`invoke shrink PROGRAM` as the user (the folder above it made the user's) on `run`'s
    engine, under its own tags: it passed, and verify passes on its log."""
    folder = program.parent
    subprocess.run(["chown", "-R", f"{rootless_user.name}:", str(folder)], check=True)
    prefix = f"{run.prefix}{name}"
    env = {
        **run.env,
        "INVOKE_WORKSHOP_SHRINK_DIR": str(folder / "shrink"),
        "INVOKE_WORKSHOP_TAG_PREFIX": prefix,
        "COLUMNS": "200",
    }
    result = rootless_user.run("invoke", "shrink", str(program), env=env)
    ladder = Ladder(result, folder / "shrink" / find_app(program).key, prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    verified = rootless_user.run(
        "python", "-m", "workshop.checks", "--log", str(ladder.folder / "sizes.json"), env=env
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return ladder


def test_a_user_left_by_a_killed_run_is_removed_by_the_next() -> None:
    """A run killed before its teardown leaves its user (a process of it still running, its
    subordinate ids given) and its folder; the next run's set-up removes them, and only them."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    name = f"{PREFIX}{gone.pid}"
    folder = Path(tempfile.mkdtemp(prefix="rootless-", dir="/tmp"))
    subprocess.run(
        ["useradd", "--home-dir", str(folder / "home"), "--create-home", "--user-group", name],
        check=True,
    )
    lingering = subprocess.Popen(["setpriv", f"--reuid={name}", f"--regid={name}",
                                  "--init-groups", "sleep", "600"])  # fmt: skip
    try:
        # Reclaimed once it runs as the user (setpriv has changed its uid and become sleep).
        uid = pwd.getpwnam(name).pw_uid
        deadline = time.monotonic() + 30
        while not _runs_sleep_as(lingering.pid, uid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert name in Path("/etc/subuid").read_text()
        assert name in reclaim_abandoned()
        assert lingering.wait(timeout=30) == -9
        assert name not in {entry.pw_name for entry in pwd.getpwall()}
        assert name not in Path("/etc/subuid").read_text()
        assert not folder.exists()
    finally:
        lingering.kill()
        lingering.wait(timeout=30)
        subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def rootless_podman_run(rootless_user: RootlessUser, standins_file: StandinsFile) -> WorkshopRun:
    """As the user, on its own Podman, configured as RootlessUser.configure_podman says; the
    rest is what a user would type."""
    rootless_user.configure_podman()
    folder = rootless_user.home / "on-podman"
    env = rootless_user.environment(
        **folder_settings(folder, f"{RUN_PREFIX}rlp-"), DOCKER_HOST=rootless_user.podman_host
    )
    started = rootless_user.run("invoke", "engine", "--start", env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    said = " ".join(started.stdout.split())
    assert "Answers: Podman 4.3.1 (rootless, unix://" in said, said
    assert ", overlay, containers-storage image store)" in said, said
    assert "Started now: Podman's API service" in said
    loaded = rootless_user.run("invoke", "bases", "--load", str(standins_file.path), env=env)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    result = rootless_user.run("invoke", "all", env=env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    prefix = f"{RUN_PREFIX}rlp-"
    return WorkshopRun(env=env, prefix=prefix, log=folder / "sizes.json", result=result)


def test_rootless_podman_runs_the_workshop_as_the_user(
    rootless_user: RootlessUser, rootless_podman_run: WorkshopRun
) -> None:
    records = rootless_podman_run.records()
    assert sorted(records) == list(TAGS)
    for step, record in records.items():
        assert (record.engine_product, record.engine_rootless) == ("Podman", True), step
        inspected = rootless_user.run(
            "podman", "image", "inspect", "--format", "{{.Id}} {{.Size}}",
            rootless_podman_run.tag(TAGS[step]), env=rootless_podman_run.env,
        )  # fmt: skip
        assert inspected.returncode == 0, inspected.stderr
        image_id, listed = inspected.stdout.split()
        assert (record.image_id.removeprefix("sha256:"), record.listed) == (image_id, int(listed))
        podman = _podman_cli(rootless_user, rootless_podman_run)
        assert said_by(podman, image_id) == "Hello world!\n", step
    assert "by Podman (rootless) 4.3.1" in " ".join(rootless_podman_run.result.stdout.split())
    verified = rootless_user.run(
        "python", "-m", "workshop.checks", "--log", str(rootless_podman_run.log),
        env=rootless_podman_run.env,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _runs_sleep_as(pid: int, uid: int) -> bool:
    status = _quietly_read(Path(f"/proc/{pid}/status"))
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields.get("Name", "").strip() == "sleep" and str(uid) in fields.get("Uid", "").split()


def _quietly_read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def test_shrink_climbs_a_server_on_rootless_podman_and_probes_its_port(
    rootless_user: RootlessUser, rootless_podman_run: WorkshopRun
) -> None:
    """The same ladder on the user's Podman: each rung's id and listed size what the user's
    `podman image inspect` says, the server probed where rootless Podman publishes it."""
    ladder = _server_climbed(rootless_user, rootless_podman_run, "sp-")
    for key in ("1", "2", "3", "4", "4b", "5", "6"):
        record = ladder.rung(key)
        assert record is not None, ladder.row(key)
        assert (record.engine_product, record.engine_rootless) == ("Podman", True), key
        inspected = rootless_user.run(
            "podman", "image", "inspect", "--format", "{{.Id}} {{.Size}}",
            record.image_id.removeprefix("sha256:"), env=rootless_podman_run.env,
        )  # fmt: skip
        assert inspected.returncode == 0, inspected.stderr
        image_id, listed = inspected.stdout.split()
        assert (record.image_id.removeprefix("sha256:"), record.listed) == (image_id, int(listed))


def test_explain_and_the_report_run_on_rootless_podman(
    rootless_user: RootlessUser, rootless_podman_run: WorkshopRun
) -> None:
    _explained_and_reported(rootless_user, rootless_podman_run)


def test_shrink_climbs_the_hello_world_on_rootless_podman(
    rootless_user: RootlessUser, rootless_podman_run: WorkshopRun
) -> None:
    _hello_climbed(
        rootless_user, rootless_podman_run, "hp-", _podman_cli(rootless_user, rootless_podman_run)
    )


def test_beyond_runs_on_rootless_podman_as_the_user(
    rootless_user: RootlessUser, rootless_podman_run: WorkshopRun
) -> None:
    _beyond(
        rootless_user,
        rootless_podman_run,
        "Podman",
        _podman_cli(rootless_user, rootless_podman_run),
    )


def _podman_cli(rootless_user: RootlessUser, run: WorkshopRun) -> Callable[..., str]:
    """Podman's CLI as the user, on the storage of `run`'s engine: what it printed."""

    def podman(*arguments: str) -> str:
        done = rootless_user.run("podman", *arguments, env=run.env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    return podman


@pytest.fixture(scope="module")
def rootless_podman5_run(
    rootless_user: RootlessUser, rootless_podman5: RootlessPodman5, standins_file: StandinsFile
) -> WorkshopRun:
    """As the user, on sid's Podman 5 run rootless (started for it, as Podman 5 is not
    Debian 12's): what a user would type, DOCKER_HOST at the service's socket."""
    folder = rootless_user.home / "on-podman5"
    prefix = f"{RUN_PREFIX}rl5-"
    env = rootless_user.environment(
        **folder_settings(folder, prefix), DOCKER_HOST=rootless_podman5.host
    )
    engine = rootless_user.run("invoke", "engine", env=env)
    assert engine.returncode == 0, engine.stdout + engine.stderr
    said = " ".join(engine.stdout.split())
    assert f"Answers: Podman {rootless_podman5.version} (rootless, unix://" in said, said
    loaded = rootless_user.run("invoke", "bases", "--load", str(standins_file.path), env=env)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    result = rootless_user.run("invoke", "all", env=env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return WorkshopRun(env=env, prefix=prefix, log=folder / "sizes.json", result=result)


def _podman5(service: RootlessPodman5, *arguments: str) -> str:
    """Podman 5's own CLI, as the user, in the service's system: what it printed (step 9's
    `println` writes to standard error)."""
    done = subprocess.run(
        service.podman(*arguments), capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_rootless_podman_5_runs_the_workshop_as_the_user(
    rootless_user: RootlessUser,
    rootless_podman5: RootlessPodman5,
    rootless_podman5_run: WorkshopRun,
) -> None:
    """Each step's image says hello when the user's Podman 5 runs it; each logged id and size
    is what that Podman's `image inspect` says; verify passes on the log."""
    records = rootless_podman5_run.records()
    assert sorted(records) == list(TAGS)
    for step, record in records.items():
        assert (record.engine_product, record.engine_rootless) == ("Podman", True), step
        assert record.engine_version == rootless_podman5.version, step
        tag = rootless_podman5_run.tag(TAGS[step])
        image_id, listed = _podman5(
            rootless_podman5, "image", "inspect", "--format", "{{.Id}} {{.Size}}", tag
        ).split()
        assert (record.image_id.removeprefix("sha256:"), record.listed) == (image_id, int(listed))
        podman5 = partial(_podman5, rootless_podman5)
        assert said_by(podman5, image_id) == "Hello world!\n", step
    said = " ".join(rootless_podman5_run.result.stdout.split())
    assert f"by Podman (rootless) {rootless_podman5.version}" in said
    verified = rootless_user.run(
        "python", "-m", "workshop.checks", "--log", str(rootless_podman5_run.log),
        env=rootless_podman5_run.env,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_shrink_climbs_a_server_on_rootless_podman_5_and_probes_its_port(
    rootless_user: RootlessUser,
    rootless_podman5: RootlessPodman5,
    rootless_podman5_run: WorkshopRun,
) -> None:
    """The server's ladder as the user on Podman 5 rootless, probed where pasta publishes its
    port: each rung's id and listed size what that Podman's `image inspect` says."""
    ladder = _server_climbed(rootless_user, rootless_podman5_run, "s5-")
    for key in ("1", "2", "3", "4", "4b", "5", "6"):
        record = ladder.rung(key)
        assert record is not None, ladder.row(key)
        assert (record.engine_product, record.engine_rootless) == ("Podman", True), key
        image_id, listed = _podman5(
            rootless_podman5, "image", "inspect", "--format", "{{.Id}} {{.Size}}",
            record.image_id.removeprefix("sha256:"),
        ).split()  # fmt: skip
        assert (record.image_id.removeprefix("sha256:"), record.listed) == (image_id, int(listed))


def test_explain_and_the_report_run_on_rootless_podman_5(
    rootless_user: RootlessUser, rootless_podman5_run: WorkshopRun
) -> None:
    _explained_and_reported(rootless_user, rootless_podman5_run)


def test_shrink_climbs_the_hello_world_on_rootless_podman_5(
    rootless_user: RootlessUser,
    rootless_podman5: RootlessPodman5,
    rootless_podman5_run: WorkshopRun,
) -> None:
    _hello_climbed(
        rootless_user,
        rootless_podman5_run,
        "h5-",
        lambda *arguments: _podman5(rootless_podman5, *arguments),
    )


def test_beyond_runs_on_rootless_podman_5_as_the_user(
    rootless_user: RootlessUser,
    rootless_podman5: RootlessPodman5,
    rootless_podman5_run: WorkshopRun,
) -> None:
    _beyond(
        rootless_user,
        rootless_podman5_run,
        "Podman",
        lambda *arguments: _podman5(rootless_podman5, *arguments),
    )
