"""`invoke shrink` on a real engine, with programs that need what the hello world did not: the
ladder agrees with the workshop's own steps on the hello world, an HTTPS client breaks on
scratch until 4b brings its CA bundle, a server is probed on its port, a time zone, cgo, a
vendored module of several packages; and what can't work says so with its exit code."""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.support.images import container_events, containers_of, running_containers_of
from tests.support.loopback import served
from tests.support.paths import PROGRAMS
from tests.support.running import WorkshopRun, invoke, verify_cli
from tests.support.shrinking import Ladder, hello_program, shrink, started_shrink
from workshop.labels import PREFIX_LABEL
from workshop.records.sizelog import SizeLog
from workshop.shrink.goapp import find_app

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def hello(workshop_run: WorkshopRun, tmp_path_factory: pytest.TempPathFactory) -> Ladder:
    folder = tmp_path_factory.mktemp("hello")
    ladder = shrink(workshop_run, folder, "hello", hello_program(folder))
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    return ladder


def test_on_the_hello_world_the_ladder_is_the_workshop_byte_for_byte(
    hello: Ladder, workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    steps = workshop_run.records()
    # Rungs 1 to 4 are steps 4 to 7's Dockerfiles: the same images, to the byte.
    for key, step in (("1", 4), ("2", 5), ("3", 6), ("4", 7)):
        rung = hello.rung(key)
        assert rung is not None, key
        assert (rung.size, rung.binary_size) == (steps[step].size, steps[step].binary_size), key
    # Rungs 5 and 6 are go-ldflags and go-upx (steps 10 and 11): the same /app.
    beyond = workshop_run.own("shello-beyond", tmp_path)
    done = invoke("step-10", "step-11", env=beyond)
    assert done.returncode == 0, done.stderr
    beyond_steps = SizeLog(tmp_path / "sizes.json").read()
    for key, step in (("5", 10), ("6", 11)):
        rung = hello.rung(key)
        assert rung is not None and rung.binary_size == beyond_steps[step].binary_size, key
    assert hello.rung("4b") is None  # the hello world needs nothing on scratch
    assert all(record.output == "Hello world!\n" for record in hello.records.values())


def test_the_smallest_dockerfile_is_kept_and_builds_with_docker_alone(hello: Ladder) -> None:
    kept = hello.folder / "Dockerfile"
    assert kept.read_text().startswith("# Rung 6 of `invoke shrink` for hello")
    context = Path(hello.result.stdout.split(" -t hello ")[1].split()[0])
    tag = f"{hello.prefix}kept"
    built = subprocess.run(
        ["docker", "build", "-q", "-f", str(kept), "-t", tag, str(context)],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        assert built.returncode == 0, built.stderr
        ran = subprocess.run(["docker", "run", "--rm", tag], capture_output=True, text=True)
        assert (ran.returncode, ran.stderr + ran.stdout) == (0, "Hello world!\n")
    finally:
        subprocess.run(["docker", "image", "rm", tag], capture_output=True, check=False)


def test_the_ladders_log_is_read_by_verify_and_report(hello: Ladder, tmp_path: Path) -> None:
    verified = verify_cli("--log", str(hello.folder / "sizes.json"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "multi-stage-smaller" in verified.stdout and "upx-smaller" in verified.stdout
    env = {
        "INVOKE_WORKSHOP_SIZE_LOG": str(hello.folder / "sizes.json"),
        "INVOKE_WORKSHOP_REPORT_DIR": str(tmp_path),
        "INVOKE_WORKSHOP_HISTORY": str(tmp_path / "history.json"),
    }
    reported = invoke("report", env=env)
    assert reported.returncode == 0, reported.stderr
    assert f"{hello.prefix}shrink-{hello.folder.name}-6" in (tmp_path / "report.md").read_text()


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[str, trustme.CA]]:
    """An HTTPS server on loopback, its certificate signed by a test CA no image trusts."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"secure hello\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with served(server) as port:
        yield f"https://127.0.0.1:{port}/", ca


def test_an_https_client_breaks_on_scratch_until_4b_brings_the_ca_bundle(
    workshop_run: WorkshopRun, tmp_path: Path, tls_server: tuple[str, trustme.CA]
) -> None:
    url, ca = tls_server
    program = tmp_path / "https"
    shutil.copytree(PROGRAMS / "https", program)
    ca.cert_pem.write_to_path(str(program / "ca.pem"))
    # The check through the task's own flags.
    flags = ("--args", url, "--output", "secure hello", "--network", "host", "--trust", "ca.pem")
    ladder = shrink(workshop_run, tmp_path, "https", program, *flags)
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    for key in ("1", "2", "3", "4b", "5", "6"):
        assert ladder.rung(key) is not None, ladder.row(key)
    assert ladder.rung("4") is None
    broke = ladder.row("4")
    assert "| no |" in broke
    assert "x509: certificate signed by unknown authority" in broke
    assert "scratch has no CA bundle; rung 4b adds /etc/ssl/certs (+" in broke
    four_b, four = ladder.rung("4b"), ladder.rung("5")
    assert four_b is not None and four is not None
    stdout = " ".join(ladder.result.stdout.split())
    assert "Needs the CA bundle, /etc/ssl/certs/ca-certificates.crt" in stdout
    bundle = int(
        stdout.split("crypto/x509.")[1].split(": +")[1].split(" bytes")[0].replace(",", "")
    )
    assert 100_000 < bundle < 1_000_000
    assert (
        "COPY --from=build-stage /ca-certificates.crt /etc/ssl/certs/"
        in (ladder.folder / "Dockerfile").read_text()
    )


def test_a_server_is_probed_on_its_port(workshop_run: WorkshopRun, tmp_path: Path) -> None:
    program = tmp_path / "server"
    shutil.copytree(PROGRAMS / "server", program)
    (program / "shrink.toml").unlink()
    flags = ("--port", "8080", "--path", "/healthz", "--status", "200", "--timeout", "20")
    ladder = shrink(workshop_run, tmp_path, "server", program, *flags)
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    stdout = " ".join(ladder.result.stdout.split())
    assert (
        "/app answers GET /healthz on port 8080 with 200 within 20 s (the task's flags)" in stdout
    )
    assert ladder.rung("6") is not None and ladder.rung("1") is not None
    assert "Start-up, median of 5 checks each: rung 6" in stdout
    # `COPY . .` copied the program's files and nothing of the rung's own: so every rung's copy
    # is the same layer, and rungs 3, 4b and 6 take their compile from the layer cache.
    rung_2 = ladder.rung("2")
    assert rung_2 is not None
    listed = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "ls", rung_2.image_id, "-A", "/src"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (listed.returncode, listed.stdout.split()) == (0, ["go.mod", "main.go"]), listed.stderr


def test_a_program_that_writes_temporary_files_gets_a_writable_tmp(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    ladder = shrink(
        workshop_run,
        tmp_path,
        "tmp",
        PROGRAMS / "scratchpad",
        "--output",
        "noted in a temporary file",
    )
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    assert ladder.rung("4") is None
    assert "scratch has no /tmp; rung 4b adds an empty, writable one" in ladder.row("4")
    # The program's own words: Go's error names the file it could not create.
    assert "scratchpad-" in ladder.row("4") and "no such file or directory" in ladder.row("4")
    for key in ("4b", "5", "6"):
        assert ladder.rung(key) is not None, ladder.row(key)
    # os.TempDir, or os.CreateTemp where the linker inlined TempDir into it.
    assert "Needs an empty, writable /tmp (mode 1777) (os." in " ".join(
        ladder.result.stdout.split()
    )


def test_a_program_that_loads_a_time_zone_gets_the_zone_data(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    ladder = shrink(workshop_run, tmp_path, "tz", PROGRAMS / "tz", "--output", "13:00 CET")
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    for key in ("3", "4"):
        assert ladder.rung(key) is None
        assert "unknown time zone Europe/Paris" in ladder.row(key)
    assert "alpine has no time-zone data" in ladder.row("3")
    assert "scratch has no time-zone data; rung 4b adds Go's zoneinfo.zip (+" in ladder.row("4")
    record = ladder.rung("4b")
    assert record is not None and record.output == "13:00 CET\n"
    assert "time.LoadLocation is linked" in " ".join(ladder.result.stdout.split())


def test_cgo_breaks_on_scratch_until_it_is_linked_statically(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    ladder = shrink(workshop_run, tmp_path, "cgo", PROGRAMS / "cgo", "--output", "C says 42")
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    for key in ("2", "3"):
        assert 'it uses cgo (import "C" in main.go)' in ladder.row(key)
    assert "no such file: the binary links libc" in ladder.row("4")
    assert "rung 4b links it statically" in ladder.row("4")
    for key in ("1", "4b", "5", "6"):
        record = ladder.rung(key)
        assert record is not None and record.output == "C says 42\n", key


def test_a_vendored_module_of_several_packages_climbs_the_whole_ladder(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    ladder = shrink(workshop_run, tmp_path, "greet", PROGRAMS / "greeter" / "cmd" / "greet")
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    records = ladder.records
    assert sorted(records) == [1, 2, 3, 4, 6, 7]
    assert {record.output for record in records.values()} == {"HELLO, WORKSHOP\n"}
    assert all(record.go_version == "go1.19.8" for record in records.values())


def test_a_program_that_does_not_build_logs_nothing(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    ladder = shrink(workshop_run, tmp_path, "broken", PROGRAMS / "broken")
    assert ladder.result.returncode == 1
    assert "No rung of the ladder works for broken" in ladder.result.stderr
    assert "the build failed" in ladder.row("1")
    assert ladder.records == {}
    assert not (ladder.folder / "Dockerfile").exists()


@pytest.mark.parametrize("serves", [False, True])
def test_a_program_that_never_exits_or_answers_is_bounded_by_its_check(
    workshop_run: WorkshopRun, tmp_path: Path, serves: bool
) -> None:
    program = tmp_path / "never"
    shutil.copytree(PROGRAMS / "never", program)
    (program / "shrink.toml").write_text("port = 8080\n" if serves else "")
    ladder = shrink(workshop_run, tmp_path, "never", program, "--timeout", "3")
    assert ladder.result.returncode == 4, ladder.result.stdout + ladder.result.stderr
    assert "did not finish its check on rung 1" in ladder.result.stderr
    assert "Traceback" not in ladder.result.stderr
    assert ladder.records == {}


def never_ending_shrink(
    workshop_run: WorkshopRun, tmp_path: Path, name: str, check: str, *, running: int
) -> subprocess.Popen[str]:
    """`invoke shrink` started on a program that never ends, checked as `check` says, once
    `running` of its containers are running (within five minutes)."""
    program = tmp_path / "never"
    shutil.copytree(PROGRAMS / "never", program)
    (program / "shrink.toml").write_text(check)
    process = started_shrink(program, workshop_run.own(name, tmp_path))
    deadline = time.monotonic() + 300
    while len(running_containers_of(process.pid)) < running and time.monotonic() < deadline:
        time.sleep(0.2)
    if len(running_containers_of(process.pid)) < running:
        # Ended as a user would, so that it leaves nothing for the run's leftover check.
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=90)
        pytest.fail(f"{running} of its containers were never seen running at once:\n{errors}")
    return process


def test_sigterm_while_rungs_run_side_by_side_leaves_nothing(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    # Rungs 1, 2 and 4 are checked in threads that Ctrl-C does not reach, each waiting on a
    # program that sleeps for an hour (rung 3 waits for rung 2, whose compile it reuses): the
    # interrupt must end them, not wait the check's 600 s.
    env = workshop_run.own("sterm", tmp_path)
    process = never_ending_shrink(workshop_run, tmp_path, "sterm", "timeout = 600\n", running=3)
    assert len(containers_of(process.pid)) == 3, "the three lanes' rungs were never seen running"
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=90)
    assert process.returncode == 130, errors
    assert "Interrupted" in errors and "Traceback" not in errors
    assert containers_of(process.pid) == []
    left = subprocess.run(
        [
            "docker",
            "image",
            "ls",
            "--quiet",
            "--filter",
            f"label={PREFIX_LABEL}={env['INVOKE_WORKSHOP_TAG_PREFIX']}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert left == [], "an interrupted rung's image was left behind"


def test_what_a_shrink_killed_outright_left_the_next_shrink_removes(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    """kill -9 during a server's check: its containers keep running, publishing their ports,
    and its context tars stay in their scratch folders; the next shrink removes both."""
    check = "port = 8080\ntimeout = 600\n"
    # Killed once its three lanes' servers run: then none of its requests to make or start a
    # container is still on its way, for a busy engine to serve after the next shrink has
    # swept (killed with one running, it once had another started after that sweep).
    process = never_ending_shrink(workshop_run, tmp_path, "kill9", check, running=3)
    left = containers_of(process.pid)
    assert left, "no server container was seen running"
    process.kill()
    process.communicate(timeout=60)
    assert containers_of(process.pid), "the killed run's containers went by themselves"
    scratch = list(Path(tempfile.gettempdir()).glob(f"workshop-rung-{process.pid}-*"))
    again = shrink(workshop_run, tmp_path, "after", PROGRAMS / "broken")
    assert "Traceback" not in again.result.stderr
    assert containers_of(process.pid) == []
    assert not [folder for folder in scratch if folder.exists()]


STRIPPED_SLEEPS = """\
// Says hello, unless its symbol table was stripped (rungs 5 and 6): then it waits for ever.
package main

import (
	"debug/elf"
	"fmt"
	"time"
)

func main() {
	if binary, err := elf.Open("/proc/self/exe"); err == nil && binary.Section(".symtab") == nil {
		time.Sleep(time.Hour)
	}
	fmt.Println("Hello world!")
}
"""


@pytest.mark.parametrize("where", ["side by side", "alone"])
def test_ctrl_c_to_the_process_group_ends_shrink_at_once_and_leaves_nothing(
    workshop_run: WorkshopRun, tmp_path: Path, where: str
) -> None:
    # A terminal's Ctrl-C goes to the whole process group. Rungs 1, 2 and 4 are checked side
    # by side (3 waits for 2); rung 5 alone, on scratch, where this program waits for ever.
    program = tmp_path / "sleeper"
    program.mkdir()
    if where == "side by side":
        shutil.copy(PROGRAMS / "never" / "main.go", program / "main.go")
    else:
        (program / "main.go").write_text(STRIPPED_SLEEPS)
    (program / "shrink.toml").write_text("timeout = 600\n")
    env = workshop_run.own("sgrp", tmp_path)
    process = started_shrink(program, env, own_group=True)
    log = tmp_path / "shrink" / find_app(program).key / "sizes.json"
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            running = containers_of(process.pid)
            if where == "side by side" and len(running) == 3:
                break
            if where == "alone" and running and log.exists() and len(SizeLog(log).read()) >= 4:
                break
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        else:
            pytest.fail(f"the rungs were never seen running ({where})")
        time.sleep(1)
        os.killpg(process.pid, signal.SIGINT)
        interrupted, interrupted_at = time.monotonic(), time.time()
        _, errors = process.communicate(timeout=90)
        took = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.communicate(timeout=90)
    assert process.returncode == 130, errors
    assert "Interrupted" in errors and "Traceback" not in errors
    assert containers_of(process.pid) == []
    # Each container is killed (signal 9), not stopped: a stop's grace is 10 s, and a program
    # run as PID 1 ignores SIGTERM.
    events = container_events(process.pid, interrupted_at, time.time())
    killed = {event.container for event in events if event.action == "kill"}
    assert set(running) <= {full[:12] for full in killed}, events
    assert all(event.signal == "9" for event in events if event.action == "kill"), events
    destroyed = [event for event in events if event.action == "destroy"]
    assert {event.container for event in destroyed} == killed, events
    # The rest of the time to end is the engine's removals (0.3 s on a quiet machine, 1.7 to
    # 3.1 s with the CPUs and the disk busy): this process's own share, asking and exiting,
    # is bounded. Against the whole, 5 s, a busy machine once took 5.01 s.
    engine_took = max(event.at for event in destroyed) - interrupted_at
    assert took - engine_took < 3, (
        f"Ctrl-C took {took:.1f} s to end shrink, the engine's removals {engine_took:.1f} s"
    )


def test_a_program_that_looks_users_up_gets_a_passwd_and_runs_as_nobody(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    ladder = shrink(workshop_run, tmp_path, "whoami", PROGRAMS / "whoami")
    assert ladder.result.returncode == 0, ladder.result.stdout + ladder.result.stderr
    assert "user: Current requires cgo" in ladder.row("4")
    assert "scratch has no /etc/passwd; rung 4b adds one, and USER 65534 (+44B)" in ladder.row("4")
    root, nobody = ladder.rung("1"), ladder.rung("4b")
    assert root is not None and root.output == "root\n"
    assert nobody is not None and nobody.output == "nobody\n"
    kept = (ladder.folder / "Dockerfile").read_text()
    assert "USER 65534" in kept and "COPY --from=build-stage /passwd /etc/passwd" in kept
