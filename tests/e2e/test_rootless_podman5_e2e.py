"""The workshop as a user without root on sid's Podman 5, run rootless in a sid system of its
own (Podman 5 is not Debian 12's): DOCKER_HOST at the service's socket, the stand-ins from one
file, every task as the user, checked with that Podman's own CLI."""

from __future__ import annotations

import subprocess
from functools import partial

import pytest

from tests.support.asuser import (
    beyond_as_user,
    explained_and_reported,
    hello_climbed,
    server_climbed,
)
from tests.support.images import TAGS, said_by
from tests.support.leftovers import RUN_PREFIX
from tests.support.podman import RootlessPodman5
from tests.support.rootless import RootlessUser
from tests.support.running import WorkshopRun, folder_settings
from tests.support.standins import StandinsFile

pytestmark = [pytest.mark.engine, pytest.mark.other_engines]


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
    ladder = server_climbed(rootless_user, rootless_podman5_run, "s5-")
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
    explained_and_reported(rootless_user, rootless_podman5_run)


def test_shrink_climbs_the_hello_world_on_rootless_podman_5(
    rootless_user: RootlessUser,
    rootless_podman5: RootlessPodman5,
    rootless_podman5_run: WorkshopRun,
) -> None:
    hello_climbed(
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
    beyond_as_user(
        rootless_user,
        rootless_podman5_run,
        "Podman",
        lambda *arguments: _podman5(rootless_podman5, *arguments),
    )
