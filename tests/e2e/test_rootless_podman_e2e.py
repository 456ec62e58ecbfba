"""The workshop as a user without root on rootless Podman, Debian 12's 4.3: the user's own
`invoke engine --start` starts Podman's API service, the stand-ins come as one file (`invoke
bases --load`), and every task runs as that user, checked with Podman's CLI run as the user.
(Rootless Docker's module is test_rootless_e2e.py; sid's Podman 5, test_rootless_podman5_e2e.py.
Each may run on a worker of its own, which makes its own user.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.asuser import (
    beyond_as_user,
    explained_and_reported,
    hello_climbed,
    server_climbed,
)
from tests.support.images import TAGS, said_by
from tests.support.leftovers import RUN_PREFIX
from tests.support.rootless import RootlessUser
from tests.support.running import WorkshopRun, folder_settings
from tests.support.standins import StandinsFile

pytestmark = [pytest.mark.engine, pytest.mark.other_engines]


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


def test_shrink_climbs_a_server_on_rootless_podman_and_probes_its_port(
    rootless_user: RootlessUser, rootless_podman_run: WorkshopRun
) -> None:
    """The same ladder on the user's Podman: each rung's id and listed size what the user's
    `podman image inspect` says, the server probed where rootless Podman publishes it."""
    ladder = server_climbed(rootless_user, rootless_podman_run, "sp-")
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
    explained_and_reported(rootless_user, rootless_podman_run)


def test_shrink_climbs_the_hello_world_on_rootless_podman(
    rootless_user: RootlessUser, rootless_podman_run: WorkshopRun
) -> None:
    hello_climbed(
        rootless_user, rootless_podman_run, "hp-", _podman_cli(rootless_user, rootless_podman_run)
    )


def test_beyond_runs_on_rootless_podman_as_the_user(
    rootless_user: RootlessUser, rootless_podman_run: WorkshopRun
) -> None:
    beyond_as_user(
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
