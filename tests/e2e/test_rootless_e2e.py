"""The workshop as a user without root, on rootless Docker: the user's own `invoke engine
--start` starts Debian's dockerd-rootless.sh (rootlesskit, a user namespace, slirp4netns), the
stand-ins come as one file (`invoke bases --load`), and every task runs as that user, checked
with the docker CLI run as the user. Rootless Podman's modules are test_rootless_podman_e2e.py
(4.3) and test_rootless_podman5_e2e.py (5)."""

from __future__ import annotations

import json
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.asuser import (
    beyond_as_user,
    explained_and_reported,
    hello_climbed,
    server_climbed,
    verified,
)
from tests.support.images import TAGS
from tests.support.leftovers import RUN_PREFIX
from tests.support.rootless import PREFIX, RootlessUser, reclaim_abandoned
from tests.support.running import WorkshopRun, folder_settings
from tests.support.standins import StandinsFile

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
    verified(rootless_user, rootless_run)
    explained_and_reported(rootless_user, rootless_run)


def test_shrink_climbs_a_server_on_rootless_docker_and_probes_its_port(
    rootless_user: RootlessUser, rootless_run: WorkshopRun
) -> None:
    """The ladder as the user: every rung built and run by rootless Docker, the server probed
    on the port rootlesskit forwards to the host; each logged rung is what the user's own
    `docker image inspect` says, and verify passes on the ladder's log."""
    ladder = server_climbed(rootless_user, rootless_run, "ss-")
    for key in ("1", "2", "3", "4", "4b", "5", "6"):
        record = ladder.rung(key)
        assert record is not None, ladder.row(key)
        assert (record.engine_product, record.engine_rootless) == ("Docker Engine", True), key
        there = json.loads(rootless_user.docker("image", "inspect", record.image_id).stdout)[0]
        assert (there["Id"], there["Size"]) == (record.image_id, record.size), key


def test_shrink_climbs_the_hello_world_on_rootless_docker(
    rootless_user: RootlessUser, rootless_run: WorkshopRun
) -> None:
    hello_climbed(rootless_user, rootless_run, "sh-", _docker_cli(rootless_user))


def test_beyond_runs_on_rootless_docker_as_the_user(
    rootless_user: RootlessUser, rootless_run: WorkshopRun
) -> None:
    beyond_as_user(rootless_user, rootless_run, "Docker Engine", _docker_cli(rootless_user))


def _docker_cli(rootless_user: RootlessUser) -> Callable[..., str]:
    """The docker CLI on the user's engine: what it printed."""

    def docker(*arguments: str) -> str:
        done = rootless_user.docker(*arguments)
        return done.stdout + done.stderr

    return docker


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


def _runs_sleep_as(pid: int, uid: int) -> bool:
    status = _quietly_read(Path(f"/proc/{pid}/status"))
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields.get("Name", "").strip() == "sleep" and str(uid) in fields.get("Uid", "").split()


def _quietly_read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
