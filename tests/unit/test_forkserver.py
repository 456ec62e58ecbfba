"""The tests' fork server (tests/support/forkserver.py) runs `python -m invoke` as a child
process would: the same output, exit code, environment and working directory, and a bound."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.forkserver import ForkServer

TASKS = """
import os
import sys
import time

from invoke import task


@task
def show(c):
    print(os.getcwd(), os.environ.get("FORKSERVER_PROBE"), os.getpid())
    print("to stderr", file=sys.stderr)
    sys.exit(3)


@task
def hang(c):
    time.sleep(60)
"""


@pytest.fixture
def server() -> Iterator[ForkServer]:
    forks = ForkServer()
    yield forks
    forks.close()


def test_a_run_is_a_process_of_its_own_with_the_environment_and_folder_it_is_given(
    tmp_path: Path, server: ForkServer
) -> None:
    (tmp_path / "probe.py").write_text(TASKS)
    env = {**os.environ, "FORKSERVER_PROBE": "seen"}
    forked = [server.run(["-c", "probe", "show"], cwd=tmp_path, env=env, timeout=60) for _ in "ab"]
    spawned = subprocess.run(
        [sys.executable, "-m", "invoke", "-c", "probe", "show"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    for result in forked:
        assert result.returncode == spawned.returncode == 3
        assert result.stderr == spawned.stderr == "to stderr\n"
        folder, probe, _pid = result.stdout.split()
        assert (folder, probe) == (str(tmp_path), "seen") == tuple(spawned.stdout.split()[:2])
    assert len({int(result.stdout.split()[2]) for result in forked} | {os.getpid()}) == 3


def test_a_run_past_its_bound_is_killed_and_the_next_one_runs(
    tmp_path: Path, server: ForkServer
) -> None:
    (tmp_path / "probe.py").write_text(TASKS)
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        server.run(["-c", "probe", "hang"], cwd=tmp_path, env=dict(os.environ), timeout=1)
    assert time.monotonic() - started < 10
    after = server.run(["-c", "probe", "show"], cwd=tmp_path, env=dict(os.environ), timeout=60)
    assert after.returncode == 3


def test_what_python_reads_at_start_up_gets_a_fresh_interpreter(
    tmp_path: Path, server: ForkServer
) -> None:
    (tmp_path / "probe.py").write_text(
        TASKS.replace('os.environ.get("FORKSERVER_PROBE")', "sys.flags.optimize")
    )
    env = dict(os.environ)
    server.run(["-c", "probe", "show"], cwd=tmp_path, env=env, timeout=60)  # the server starts
    optimized = server.run(
        ["-c", "probe", "show"], cwd=tmp_path, env={**env, "PYTHONOPTIMIZE": "1"}, timeout=60
    )
    assert optimized.stdout.split()[1] == "1"
