"""Faults on a real engine: it stops mid-build or stalls, a build fails, an app never exits,
Ctrl-C and SIGTERM, a crash's leftovers, two runs at once."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
from docker import DockerClient

from tests.support.images import containers_of, docker
from tests.support.leftovers import RUN_PREFIX
from tests.support.paths import ROOT
from tests.support.running import WorkshopRun, folder_settings, invoke
from tests.support.spareengine import SpareEngine
from tests.support.stallproxy import (
    EMPTY_ARCHIVE,
    LOST_MOUNT,
    EmptyArchiveProxy,
    LateAnswerProxy,
    QuietCopyProxy,
    StallingProxy,
)
from workshop.engine.client import Engine
from workshop.engine.values import Timeouts
from workshop.labels import LABEL
from workshop.records.sizelog import SizeLog

pytestmark = pytest.mark.engine


SLEEPING_APP = 'package main\n\nimport "time"\n\nfunc main() {\n  time.Sleep(time.Hour)\n}\n'


def settings(spare: SpareEngine, folder: Path, **extra: str) -> dict[str, str]:
    return {
        "DOCKER_HOST": spare.host,
        "INVOKE_WORKSHOP_WORKSPACE": str(folder / "workspace"),
        "INVOKE_WORKSHOP_SIZE_LOG": str(folder / "sizes.json"),
        "INVOKE_WORKSHOP_BASES": "local",
        **extra,
    }


def interrupt(
    env: dict[str, str],
    *,
    when: str,
    after: float,
    signal_or_kill: Callable[[subprocess.Popen[str]], object],
    task: str = "step-7",
) -> subprocess.CompletedProcess[str]:
    """Run `invoke TASK`; once a line holding `when` shows, wait `after` s, then stop it."""
    process = started(env, task)
    assert process.stdout is not None
    seen = ""
    for line in process.stdout:
        seen += line
        if when in line:
            time.sleep(after)
            signal_or_kill(process)
            break
    rest, errors = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, seen + rest, errors)


def test_the_engine_stopping_mid_build_fails_clearly_and_a_rerun_succeeds(
    spare_engine: SpareEngine, tmp_path: Path
) -> None:
    env = settings(spare_engine, tmp_path, INVOKE_WORKSHOP_NO_CACHE="1")
    assert invoke("step-7", env=env).returncode == 0
    log = tmp_path / "sizes.json"
    before = log.read_bytes()

    stopped = interrupt(
        env, when="Step 7: building", after=0.5, signal_or_kill=lambda process: spare_engine.kill()
    )
    assert stopped.returncode == 3, stopped.stderr
    assert "stopped answering while building go-scratch" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert log.read_bytes() == before

    spare_engine.start()
    rerun = invoke("step-7", env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert SizeLog(log).read()[7].output == "Hello world!\n"
    assert log.read_bytes() != before


@pytest.mark.parametrize(("when", "after"), [("Step 7: building", 0.5), ("Step 7: running", 0.05)])
def test_ctrl_c_leaves_no_container_and_no_half_written_log(
    spare_engine: SpareEngine, tmp_path: Path, when: str, after: float
) -> None:
    env = settings(spare_engine, tmp_path, INVOKE_WORKSHOP_NO_CACHE="1")
    assert invoke("step-7", env=env).returncode == 0
    before = (tmp_path / "sizes.json").read_bytes()
    containers_before = spare_engine.docker("ps", "-aq").stdout.split()

    interrupted = interrupt(
        env,
        when=when,
        after=after,
        signal_or_kill=lambda process: process.send_signal(signal.SIGINT),
    )
    assert interrupted.returncode == 130, interrupted.stderr
    assert "Interrupted" in interrupted.stderr and "Traceback" not in interrupted.stderr
    time.sleep(2)  # the engine notices the closed connection and cleans up the build
    assert spare_engine.docker("ps", "-aq").stdout.split() == containers_before
    assert (tmp_path / "sizes.json").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "sizes.json",
        "sizes.json.lock",
        "workspace",
    ]


def test_a_compile_error_shows_the_instruction_and_logs_nothing(
    spare_engine: SpareEngine, tmp_path: Path
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
    for record in records.values():
        tagged = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", record.tag],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert tagged == record.image_id, record.tag


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
    """The dockerd on the default socket, the one .ci/run starts; the tests' own engines (the
    remote test host's listens on tcp:// in its network namespace) are theirs to choose."""
    started = []
    for pid in subprocess.run(
        ["pgrep", "-x", "dockerd"], capture_output=True, text=True
    ).stdout.split():
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        hosts = [value for flag, value in pairwise(arguments) if flag in (b"-H", b"--host")]
        hosts += [
            argument.split(b"=", 1)[1] for argument in arguments if argument.startswith(b"--host=")
        ]
        if b"unix:///var/run/docker.sock" in hosts:
            started.append(hosts)
    assert len(started) == 1, started
    assert all(host.startswith(b"unix://") for host in started[0]), started[0]
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
    assert "dockerd" not in listening


def test_ctrl_c_during_all_stops_the_builds_running_side_by_side(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    """No container of the run is left: none it made (labelled with its owner), and none a
    build of its made (the legacy builder's, with no owner); what others' runs start meanwhile
    (labelled with their owners) is theirs."""
    env = workshop_run.own("interrupted", tmp_path, INVOKE_WORKSHOP_NO_CACHE="1")
    before = set(_containers())
    process = started(env, "all")
    wait_for_line(process, "Step 4: building")
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 130, errors
    assert "nothing half-done was logged or tagged" in errors
    assert containers_of(process.pid) == []
    # Containers with no owner, new since the start, may be other tests' builds (gone within
    # seconds) or the run's own builds' (never gone): wait, bounded, for them to go.
    deadline = time.monotonic() + 30
    while (left := _ownerless(set(_containers()) - before)) and time.monotonic() < deadline:
        time.sleep(1)
    assert left == set()
    assert not (tmp_path / "sizes.json").exists()


def _containers() -> list[str]:
    return subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True).stdout.split()


def _ownerless(containers: set[str]) -> set[str]:
    """Of `containers`, those still there that no process of this project's owns."""
    left = set()
    for container in containers:
        inspected = subprocess.run(
            ["docker", "inspect", "--format", "{{json .Config.Labels}}", container],
            capture_output=True,
            text=True,
            check=False,
        )
        if inspected.returncode == 0 and f"{LABEL}.owner" not in inspected.stdout:
            left.add(container)
    return left


def sleeping_app_settings(folder: Path, name: str, **extra: str) -> dict[str, str]:
    (folder / "workspace").mkdir(parents=True, exist_ok=True)
    (folder / "workspace" / "app.go").write_text(SLEEPING_APP)
    return folder_settings(folder, f"{RUN_PREFIX}{name}-", **extra)


def started(env: dict[str, str], task: str = "step-7") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *task.split()],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], text: str) -> str:
    assert process.stdout is not None
    seen = ""
    for line in process.stdout:
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}:\n{seen}")


def test_an_app_that_never_exits_is_bounded_by_the_run_timeout(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    env = sleeping_app_settings(tmp_path, "never-exits", INVOKE_WORKSHOP_RUN_TIMEOUT="3")
    process = started(env)
    _, errors = process.communicate(timeout=300)
    message = " ".join(errors.split())
    assert process.returncode == 4, errors
    assert "did not exit within 3 s (the setting workshop.run_timeout)" in message
    assert "Docker Engine stopped answering" not in message
    assert containers_of(process.pid) == []
    assert not (tmp_path / "sizes.json").exists()
    tagged = subprocess.run(
        ["docker", "image", "inspect", f"{RUN_PREFIX}never-exits-go-scratch"], capture_output=True
    )
    assert tagged.returncode != 0, "an image that never passed was tagged"


def test_sigterm_during_a_run_is_taken_as_ctrl_c(workshop_run: WorkshopRun, tmp_path: Path) -> None:
    # `timeout`, a CI cancel and `docker stop` send SIGTERM, not SIGINT.
    env = sleeping_app_settings(tmp_path, "sigterm", INVOKE_WORKSHOP_RUN_TIMEOUT="600")
    process = started(env)
    wait_for_line(process, "Step 7: running")
    time.sleep(1)
    assert containers_of(process.pid), "the app's container was never seen running"
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 130, errors
    assert "Interrupted" in errors and "Traceback" not in errors
    assert containers_of(process.pid) == []


def test_sigterm_during_explain_leaves_no_probe_container(workshop_run: WorkshopRun) -> None:
    process = started(workshop_run.env, task=f"explain {workshop_run.tag('go-big')}")
    deadline = time.monotonic() + 30
    while not containers_of(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert containers_of(process.pid), "the probe container was never seen"
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 130, errors
    assert containers_of(process.pid) == []


def stalled_step_7(
    workshop_run: WorkshopRun, tmp_path: Path, name: str, **settings: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """`invoke step-7`, built afresh through a proxy that stalls the build's answer; its result
    and its errors on one line. The proxy must have stalled it."""
    proxy = StallingProxy()
    try:
        env = workshop_run.own(
            name, tmp_path, DOCKER_HOST=proxy.host, INVOKE_WORKSHOP_NO_CACHE="1", **settings
        )
        result = invoke("step-7", env=env, timeout=300)
    finally:
        proxy.close()
    assert proxy.stalled.is_set(), "the proxy never stalled a build"
    assert not (tmp_path / "sizes.json").exists()
    return result, " ".join(result.stderr.split())


def test_a_build_whose_engine_stalls_is_bounded_and_says_so(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    result, message = stalled_step_7(
        workshop_run, tmp_path, "stalled", INVOKE_WORKSHOP_BUILD_TIMEOUT="5"
    )
    assert result.returncode == 4, result.stderr
    assert "did not answer within 5 s while building" in message


def test_a_build_the_engine_accepted_and_answers_nothing_to_is_given_up_naming_the_bound(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    """Silent past engine_timeout, and the engine shows no work for it (its RUN container
    ended): given up, exit 4, in words, long before build_timeout (the default, 1800 s). While
    the RUN works it is waited for: silence alone is no proof."""
    started = time.monotonic()
    result, message = stalled_step_7(
        workshop_run, tmp_path, "silent", INVOKE_WORKSHOP_ENGINE_TIMEOUT="3"
    )
    assert result.returncode == 4, result.stdout + result.stderr
    assert "accepted the build and then said nothing for 3 s (workshop.engine_timeout)" in message
    assert "Traceback" not in message
    assert time.monotonic() - started < 120


def test_a_load_the_engine_answers_past_its_bound_is_waited_for_as_long_as_a_build(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    """Podman 4.3 answers `invoke bases --load` only once the whole archive is stored: on a
    busy machine, past engine_timeout. A load is bounded as a build is (build_timeout), as
    its message says: a load answered 6 s late with engine_timeout at 2 s passes."""
    archive = tmp_path / "scratch.tar"
    saved = subprocess.run(
        ["docker", "image", "save", "--output", str(archive), workshop_run.tag("go-scratch")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    proxy = LateAnswerProxy(delay=6)
    try:
        env = workshop_run.own(
            "late-load", tmp_path, DOCKER_HOST=proxy.host, INVOKE_WORKSHOP_ENGINE_TIMEOUT="2"
        )
        loaded = invoke("bases", "--load", str(archive), env=env, timeout=300)
    finally:
        proxy.close()
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert len(proxy.delayed) == 1, proxy.delayed


def test_an_import_the_engine_answers_past_its_bound_is_waited_for_as_long_as_a_build(
    workshop_run: WorkshopRun,
) -> None:
    """`invoke bases` imports the Debian it debootstraps, 120 MB, and the engine answers once
    the whole file system is stored: on a busy machine, past engine_timeout. An import is
    bounded as a build is: one answered 6 s late with engine_timeout at 2 s passes."""
    rootfs = io.BytesIO()
    with tarfile.open(fileobj=rootfs, mode="w") as tar:
        said = tarfile.TarInfo("said")
        said.size = 6
        tar.addfile(said, io.BytesIO(b"hello\n"))
    rootfs.seek(0)
    reference = workshop_run.tag("late-import:rootfs")
    proxy = LateAnswerProxy(delay=6, request="/images/create")
    try:
        engine = Engine(DockerClient(base_url=proxy.host, timeout=2), Timeouts(engine=2))
        image_id = engine.import_rootfs(rootfs, reference=reference, changes=['CMD ["/said"]'])
    finally:
        proxy.close()
    try:
        assert len(proxy.delayed) == 1, proxy.delayed
        listed = docker("image", "inspect", "--format", "{{.Id}} {{json .Config.Cmd}}", reference)
        assert listed.split() == [image_id, '["/said"]']
    finally:
        docker("image", "rm", reference)


def step_7_through(
    proxy: QuietCopyProxy, workshop_run: WorkshopRun, tmp_path: Path, name: str
) -> subprocess.CompletedProcess[str]:
    """`invoke step-7` under its own tags through `proxy`, engine_timeout at 2 s."""
    try:
        env = workshop_run.own(
            name, tmp_path, DOCKER_HOST=proxy.host, INVOKE_WORKSHOP_ENGINE_TIMEOUT="2"
        )
        return invoke("step-7", env=env, timeout=300)
    finally:
        proxy.close()


def test_a_build_silent_through_a_copy_past_the_engine_bound_is_waited_for(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    """The engine copies a COPY's files itself, in no container: on a busy machine the
    toolchain's 500 MB took the arm64 stand-in's build past engine_timeout (60 s) in silence,
    and the build was given up as stalled. A COPY step's silence is work: step 7's answer held
    back 6 s after its COPY began, engine_timeout at 2 s, and the step passes."""
    proxy = QuietCopyProxy(hold=6)
    result = step_7_through(proxy, workshop_run, tmp_path, "quiet-copy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert proxy.held and proxy.held[0].startswith("COPY "), proxy.held
    assert sorted(SizeLog(tmp_path / "sizes.json").read()) == [7]


def test_an_answer_that_stops_after_a_copy_heading_is_given_up_within_its_patience(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    """A COPY's silence is work only for FILE_STEP_PATIENCE times engine_timeout: an answer
    that stops right after a COPY's heading (the engine done, the connection dead) is given
    up then, not at build_timeout (the default, 1800 s)."""
    proxy = QuietCopyProxy(hold=900)
    started = time.monotonic()
    result = step_7_through(proxy, workshop_run, tmp_path, "dead-after-copy")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "said nothing for 2 s (workshop.engine_timeout)" in " ".join(result.stderr.split())
    assert proxy.held, "the proxy never held an answer back"
    assert time.monotonic() - started < 120
    assert not (tmp_path / "sizes.json").exists()


def step_7_with_empty_archives(
    workshop_run: WorkshopRun,
    tmp_path: Path,
    name: str,
    *,
    times: int,
    answer: bytes = EMPTY_ARCHIVE,
) -> tuple[subprocess.CompletedProcess[str], EmptyArchiveProxy]:
    """`invoke step-7` through a proxy that answers its first `times` asks for a container's
    file with an empty archive, as Podman 5.8 did on a busy machine (or with `answer`)."""
    proxy = EmptyArchiveProxy(times=times, answer=answer)
    try:
        env = workshop_run.own(name, tmp_path, DOCKER_HOST=proxy.host)
        result = invoke("step-7", env=env, timeout=300)
    finally:
        proxy.close()
    return result, proxy


def test_an_empty_archive_of_the_built_program_is_asked_for_again(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    result, proxy = step_7_with_empty_archives(workshop_run, tmp_path, "empty-once", times=1)
    assert result.returncode == 0, result.stdout + result.stderr
    assert proxy.emptied == ["%2Fapp"]
    record = SizeLog(tmp_path / "sizes.json").read()[7]
    # The program's bytes came with the second ask: its size is what the step logs.
    assert record.binary_size > 100_000


def test_an_archive_refused_as_podmans_cleanup_unmounted_the_container_is_asked_again(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    """Podman 4.3 refused the ask for /app once in CI ("mounting storage for container ...:
    lstat .../merged"), the container having just exited: the step asks again and passes."""
    result, proxy = step_7_with_empty_archives(
        workshop_run, tmp_path, "lost-mount", times=1, answer=LOST_MOUNT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert proxy.emptied == ["%2Fapp"]
    assert SizeLog(tmp_path / "sizes.json").read()[7].binary_size > 100_000


def test_an_engine_that_sends_only_empty_archives_fails_the_step_in_words(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    started = time.monotonic()
    result, proxy = step_7_with_empty_archives(workshop_run, tmp_path, "empty-always", times=99)
    message = " ".join(result.stderr.split())
    assert result.returncode == 3, result.stdout + result.stderr
    assert "sent no file where /app was asked for from container" in message
    assert "(an empty or unreadable archive, 4 times in 3.5 s)" in message
    assert "Traceback" not in result.stdout + result.stderr
    assert proxy.emptied == ["%2Fapp"] * 4
    assert not (tmp_path / "sizes.json").exists()
    assert time.monotonic() - started < 120


def test_a_killed_run_and_a_crashed_engine_leave_nothing_after_clean(
    spare_engine: SpareEngine, tmp_path: Path
) -> None:
    # What other tests' crashes left on this shared engine (tests run in any order; a build
    # container of a crash a minute ago is rightly kept by clean for its grace period).
    ours = ["ps", "--all", "--quiet", "--no-trunc", "--filter", f"label={LABEL}"]
    before = set(spare_engine.docker(*ours).stdout.split())
    # A build container that lives long enough to be caught by the crash.
    env = settings(spare_engine, tmp_path, INVOKE_WORKSHOP_NO_CACHE="1")
    (tmp_path / "workspace").mkdir()
    dockerfile = (ROOT / "dockerfiles" / "Dockerfile.scratch").read_text()
    (tmp_path / "workspace" / "Dockerfile.scratch").write_text(
        dockerfile.replace("COPY app.go .", "COPY app.go .\nRUN sleep 60")
    )
    process = started(env)
    wait_for_line(process, "Step 7: building")
    # Killed once the build's `RUN sleep 60` container runs, not at a guessed moment.
    running = ["ps", "--quiet", "--filter", f"label={LABEL}", "--filter", "status=running"]
    deadline = time.monotonic() + 120
    while not spare_engine.docker(*running).stdout.split():
        assert time.monotonic() < deadline, "no build container ever ran"
        time.sleep(0.2)
    spare_engine.kill()
    process.communicate(timeout=60)
    spare_engine.start()
    crashed = set(spare_engine.docker(*ours).stdout.split()) - before
    assert crashed, "the crash left no build container to find"

    # And a run whose invoke was killed outright, its app still running.
    (tmp_path / "workspace" / "Dockerfile.scratch").unlink()
    (tmp_path / "workspace" / "app.go").write_text(SLEEPING_APP)
    env["INVOKE_WORKSHOP_NO_CACHE"] = "0"
    killed = started(env)
    wait_for_line(killed, "Step 7: running")
    time.sleep(1)
    killed.kill()
    killed.communicate(timeout=60)
    assert containers_of(killed.pid, spare_engine.host), "the killed run left no container"

    cleaned = invoke("clean", env=env)
    assert cleaned.returncode == 0, cleaned.stderr
    assert "leftover containers" in cleaned.stdout
    left = set(spare_engine.docker(*ours).stdout.split()) - before
    shown = spare_engine.docker("ps", "--all", "--format", "{{.ID}} {{.Status}} {{.Labels}}")
    assert not left, shown.stdout


def test_clean_on_a_real_engine_takes_only_its_own_prefix(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    mine = workshop_run.own("clean-mine", tmp_path / "mine")
    theirs = workshop_run.own("clean-theirs", tmp_path / "theirs")
    for env in (mine, theirs):
        result = invoke("step-7", env=env)
        assert result.returncode == 0, result.stderr
    my_tag = f"{mine['INVOKE_WORKSHOP_TAG_PREFIX']}go-scratch"
    their_tag = f"{theirs['INVOKE_WORKSHOP_TAG_PREFIX']}go-scratch"
    # Someone else's name for my image.
    someone_elses = f"{RUN_PREFIX}someone-kept-this"
    subprocess.run(["docker", "tag", my_tag, someone_elses], check=True)
    user = subprocess.run(
        ["docker", "create", my_tag], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        kept = invoke("clean", env=mine)
        assert kept.returncode == 0, kept.stderr
        assert f"Kept {my_tag}:latest: a container uses it" in kept.stdout
        assert exists(my_tag)
    finally:
        subprocess.run(["docker", "rm", "--force", user], capture_output=True, check=False)
    cleaned = invoke("clean", env=mine)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not exists(my_tag)
    assert exists(their_tag) and exists(someone_elses)
    assert exists(workshop_run.tag("go-scratch"))


def exists(image: str) -> bool:
    inspected = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
    return inspected.returncode == 0


def test_sigterm_during_all_ends_the_apps_running_side_by_side(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    # Steps 4 to 9 run in threads that the signal does not reach, each waiting on an app that
    # sleeps: the interrupt must end them, not wait out the 600 s run bound.
    env = sleeping_app_settings(tmp_path, "all-sleeps", INVOKE_WORKSHOP_RUN_TIMEOUT="600")
    process = started(env, task="all")
    deadline = time.monotonic() + 300
    while len(containers_of(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(containers_of(process.pid)) >= 2, "the steps' apps were never seen running"
    process.send_signal(signal.SIGTERM)
    try:
        _, errors = process.communicate(timeout=90)
    finally:
        process.kill()
    assert process.returncode == 130, errors
    assert "Traceback" not in errors
    assert containers_of(process.pid) == []
