"""The workshop's tasks as the user without root (tests/support/rootless.py), each checked as
the rootless modules check them on every engine the user starts: verify on the log, explain and
the report, `invoke beyond`, and both shrinks."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.images import TAGS, said_by
from tests.support.paths import PROGRAMS
from tests.support.rootless import RootlessUser
from tests.support.running import WorkshopRun
from tests.support.shrinking import Ladder, check_hello_ladder, hello_program
from workshop.shrink.goapp import find_app

__all__ = [
    "beyond_as_user",
    "explained_and_reported",
    "hello_climbed",
    "server_climbed",
    "verified",
]


def verified(rootless_user: RootlessUser, run: WorkshopRun) -> None:
    """`nox -s verify`'s check, as the user, passes on `run`'s log."""
    verified = rootless_user.run(
        "python", "-m", "workshop.checks", "--log", str(run.log), env=run.env
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def explained_and_reported(rootless_user: RootlessUser, run: WorkshopRun) -> None:
    """`invoke explain` reads the scratch image's files from the user's engine, and `invoke
    report` renders the run's log with its images named."""
    explained = rootless_user.run("invoke", "explain", run.tag("go-scratch"), env=run.env)
    assert explained.returncode == 0, explained.stdout + explained.stderr
    assert "/app" in explained.stdout
    reported = rootless_user.run("invoke", "report", env=run.env)
    assert reported.returncode == 0, reported.stdout + reported.stderr
    html = Path(run.env["INVOKE_WORKSHOP_REPORT_DIR"]) / "report.html"
    assert run.tag("go-smaller") in html.read_text()


def beyond_as_user(
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
    verified(rootless_user, run)


def server_climbed(rootless_user: RootlessUser, run: WorkshopRun, name: str) -> Ladder:
    """`invoke shrink` on the server test program, as the user, on `run`'s engine: it passed,
    probed each rung on its port, and verify passes on its log."""
    folder = rootless_user.home / f"shrink-{name}"
    shutil.copytree(PROGRAMS / "server", folder / "server")
    ladder = _climbed(rootless_user, run, name, folder / "server")
    stdout = " ".join(ladder.result.stdout.split())
    assert "It works when /app answers GET /healthz on port 8080 with 200" in stdout
    return ladder


def hello_climbed(
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
