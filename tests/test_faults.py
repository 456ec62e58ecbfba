"""Faults on a real engine: it stops mid-build, a build fails, Ctrl-C, two runs at once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest

from tests.conftest import ROOT, WorkshopRun, invoke
from workshop.sizelog import SizeLog

pytestmark = pytest.mark.docker


def settings(spare: object, folder: Path, **extra: str) -> dict[str, str]:
    return {
        "DOCKER_HOST": spare.host,  # type: ignore[attr-defined]
        "INVOKE_WORKSHOP_WORKSPACE": str(folder / "workspace"),
        "INVOKE_WORKSHOP_SIZE_LOG": str(folder / "sizes.json"),
        "INVOKE_WORKSHOP_BASES": "local",
        **extra,
    }


def interrupt(
    env: dict[str, str], *, when: str, after: float, signal_or_kill: object, task: str = "step-7"
) -> subprocess.CompletedProcess[str]:
    """Run `invoke TASK`; once a line holding `when` shows, wait `after` s, then stop it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", task],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    seen = ""
    for line in process.stdout:
        seen += line
        if when in line:
            time.sleep(after)
            signal_or_kill(process)  # type: ignore[operator]
            break
    rest, errors = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, seen + rest, errors)


def test_the_engine_stopping_mid_build_fails_clearly_and_a_rerun_succeeds(
    spare_engine: object, tmp_path: Path
) -> None:
    env = settings(spare_engine, tmp_path, INVOKE_WORKSHOP_NO_CACHE="1")
    assert invoke("step-7", env=env).returncode == 0
    log = tmp_path / "sizes.json"
    before = log.read_bytes()

    stopped = interrupt(
        env, when="Step 7: building", after=0.5, signal_or_kill=lambda process: spare_engine.kill()
    )  # type: ignore[attr-defined]
    assert stopped.returncode == 3, stopped.stderr
    assert "stopped answering while building go-scratch" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert log.read_bytes() == before

    spare_engine.start()  # type: ignore[attr-defined]
    rerun = invoke("step-7", env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert SizeLog(log).read()[7].output == "Hello world!\n"
    assert log.read_bytes() != before


@pytest.mark.parametrize(("when", "after"), [("Step 7: building", 0.5), ("Step 7: running", 0.05)])
def test_ctrl_c_leaves_no_container_and_no_half_written_log(
    spare_engine: object, tmp_path: Path, when: str, after: float
) -> None:
    env = settings(spare_engine, tmp_path, INVOKE_WORKSHOP_NO_CACHE="1")
    assert invoke("step-7", env=env).returncode == 0
    before = (tmp_path / "sizes.json").read_bytes()
    containers_before = spare_engine.docker("ps", "-aq").stdout.split()  # type: ignore[attr-defined]

    interrupted = interrupt(
        env,
        when=when,
        after=after,
        signal_or_kill=lambda process: process.send_signal(signal.SIGINT),
    )
    assert interrupted.returncode == 130, interrupted.stderr
    assert "Interrupted" in interrupted.stderr and "Traceback" not in interrupted.stderr
    time.sleep(2)  # the engine notices the closed connection and cleans up the build
    assert spare_engine.docker("ps", "-aq").stdout.split() == containers_before  # type: ignore[attr-defined]
    assert (tmp_path / "sizes.json").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "sizes.json",
        "sizes.json.lock",
        "workspace",
    ]


def test_a_compile_error_shows_the_instruction_and_logs_nothing(
    spare_engine: object, tmp_path: Path
) -> None:
    env = settings(spare_engine, tmp_path)
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "app.go").write_text(
        'package main\nimport "fmt"\n\nfunc main() {\n  fmt.Printn("Hello world!")\n}\n'
    )
    result = invoke("step-7", env=env)
    assert result.returncode == 1
    assert "app.go: kept" in result.stdout
    message = " ".join(result.stderr.split())
    assert "Failing instruction: RUN go build -o /app app.go" in message
    assert re.search(r"app\.go:5:\d+: undefined: fmt\.Printn", message), message
    assert not (tmp_path / "sizes.json").exists()


def test_two_runs_at_once_both_succeed_and_the_log_stays_complete(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    env = {**os.environ, **workshop_run.own("twice", tmp_path)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "invoke", "all"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for run in runs:
        _, err = run.communicate(timeout=1200)
        assert run.returncode == 0, err
    records = SizeLog(tmp_path / "sizes.json").read()
    assert sorted(records) == [4, 5, 6, 7, 8, 9]
    assert all(record.output == "Hello world!\n" for record in records.values())


def test_the_build_context_holds_only_what_the_step_needs(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("not for the engine")
    (workspace / "big.bin").write_bytes(os.urandom(1 << 20))
    # An edited Dockerfile (kept by the step) that lists what the engine received.
    dockerfile = (ROOT / "dockerfiles" / "Dockerfile.alpine").read_text()
    (workspace / "Dockerfile.alpine").write_text(
        dockerfile.replace("COPY app.go .", "COPY . /context/\nRUN ls -A /context\nCOPY app.go .")
    )
    # Without the cache, so that the listing runs (with it, COPY hits: the random file never came).
    env = workshop_run.own(
        "context", tmp_path, INVOKE_WORKSHOP_VERBOSE="1", INVOKE_WORKSHOP_NO_CACHE="1"
    )
    result = invoke("step-5", env=env)
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("RUN ls -A /context", 1)[1].split(
        "Removing intermediate container", 1
    )[0]
    names = set(re.findall(r"^\s+([\w.-]+)$", listed, flags=re.MULTILINE)) - {"--->"}
    assert names == {"Dockerfile.alpine", "app.go"}, listed


@pytest.mark.skipif(not os.environ.get("CI"), reason="checks the dockerd that .ci/run starts")
def test_the_engine_ci_starts_listens_only_on_its_unix_socket() -> None:
    pids = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout.split()
    assert pids
    for pid in pids:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        hosts = [value for flag, value in pairwise(arguments) if flag in (b"-H", b"--host")]
        hosts += [
            argument.split(b"=", 1)[1] for argument in arguments if argument.startswith(b"--host=")
        ]
        assert hosts and all(host.startswith(b"unix://") for host in hosts), arguments
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
    assert "dockerd" not in listening


def test_ctrl_c_during_all_stops_the_builds_running_side_by_side(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    env = workshop_run.own("interrupted", tmp_path, INVOKE_WORKSHOP_NO_CACHE="1")
    before = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True).stdout.split()
    interrupted = interrupt(
        env,
        task="all",
        when="Step 4: building",
        after=1,
        signal_or_kill=lambda process: process.send_signal(signal.SIGINT),
    )
    assert interrupted.returncode == 130, interrupted.stderr
    assert "stopped before they logged anything" in interrupted.stderr
    time.sleep(2)
    after = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True).stdout.split()
    assert sorted(after) == sorted(before)
    assert not (tmp_path / "sizes.json").exists()
