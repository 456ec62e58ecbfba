"""The engine on another host: the project's own test host (tests/support/remotehost.py), a
network namespace with its own address and its own dockerd, reached over tcp:// with TLS (with
a company CA bundle in REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE, as behind a proxy) and over
ssh:// through OpenSSH. Checked with that engine's own CLI; nothing it builds is here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.goproxy import GREET, WORDS, publish, serving, write_program
from tests.support.images import TAGS
from tests.support.leftovers import RUN_PREFIX
from tests.support.paths import PROGRAMS
from tests.support.remotehost import PREFIX, RemoteHost, reclaim_abandoned
from tests.support.running import WorkshopRun, folder_settings, invoke, verify_cli
from tests.support.shrinking import Ladder
from workshop.shrink.goapp import find_app
from workshop.shrink.goenv import GO_ENV_NAMES
from workshop.units import docker_size

pytestmark = [pytest.mark.engine, pytest.mark.other_engines]


def remote_run(remote: RemoteHost, folder: Path, name: str, via: dict[str, str]) -> WorkshopRun:
    env = folder_settings(folder, f"{RUN_PREFIX}{name}-", INVOKE_WORKSHOP_BASES="local", **via)
    result = invoke("all", env=env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return WorkshopRun(
        env=env, prefix=env["INVOKE_WORKSHOP_TAG_PREFIX"], log=folder / "sizes.json", result=result
    )


@pytest.fixture(scope="module")
def over_tls(remote_host: RemoteHost, tmp_path_factory: pytest.TempPathFactory) -> WorkshopRun:
    return remote_run(
        remote_host, tmp_path_factory.mktemp("remote-tls"), "rtls", remote_host.tls_environment()
    )


def test_the_workshop_runs_on_another_host_over_tls_behind_a_company_ca_bundle(
    over_tls: WorkshopRun, remote_host: RemoteHost, workshop_run: WorkshopRun
) -> None:
    records, here = over_tls.records(), workshop_run.records()
    assert sorted(records) == list(TAGS)
    for step, record in records.items():
        # Built, measured and tagged there, as that engine's own CLI sees it; not here.
        there = json.loads(remote_host.docker("image", "inspect", record.tag).stdout)[0]
        assert (there["Id"], there["Size"]) == (record.image_id, record.size), step
        ran = remote_host.docker("run", "--rm", record.image_id)
        assert (ran.stdout + ran.stderr).strip() == "Hello world!", step
        local = subprocess.run(["docker", "image", "inspect", record.tag], capture_output=True)
        assert local.returncode != 0, f"{record.tag} was pulled back here"
        # The same stand-ins and Go: the same image as on this machine's engine, to 1%.
        assert abs(record.size - here[step].size) <= 0.01 * here[step].size, step
    stdout = " ".join(over_tls.result.stdout.split())
    assert f"tcp://{remote_host.address}:2376" in stdout


def test_verify_and_the_report_work_on_a_remote_run(over_tls: WorkshopRun) -> None:
    verified = verify_cli("--log", str(over_tls.log))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = invoke("report", env=over_tls.env)
    assert report.returncode == 0, report.stdout + report.stderr
    html = (Path(over_tls.env["INVOKE_WORKSHOP_REPORT_DIR"]) / "report.html").read_text()
    # What that engine measured, shown as `docker image ls` shows it.
    assert f"go-smaller: measured {docker_size(over_tls.records()[9].size)}" in html


def test_invoke_engine_says_where_the_engine_is_and_what_follows(remote_host: RemoteHost) -> None:
    for via in (remote_host.tls_environment(), remote_host.ssh_environment()):
        said = invoke("engine", env=via)
        out = " ".join(said.stdout.split())
        assert said.returncode == 0, out + said.stderr
        host = remote_host.address
        assert f"Runs on: the host {host}" in out
        assert f"A server's port is checked where the engine publishes it: {host}" in out
        # Asked of that engine, whose host has this machine's emulation (one kernel here).
        assert "Emulation: linux/arm64 programs run on the engine." in out


def test_a_server_is_checked_where_the_remote_engine_publishes_its_port(
    remote_host: RemoteHost, tmp_path: Path
) -> None:
    program = tmp_path / "server"
    shutil.copytree(PROGRAMS / "server", program)
    env = folder_settings(
        tmp_path, f"{RUN_PREFIX}rsrv-", INVOKE_WORKSHOP_BASES="local", COLUMNS="200",
        **remote_host.tls_environment(),
    )  # fmt: skip
    result = invoke("shrink", str(program), env=env, timeout=1200)
    ladder = Ladder(
        result, tmp_path / "shrink" / find_app(program).key, env["INVOKE_WORKSHOP_TAG_PREFIX"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert ladder.rung("1") is not None and ladder.rung("6") is not None
    assert "answers GET /healthz on port 8080 with 200" in " ".join(result.stdout.split())


def test_a_module_whose_proxy_is_on_this_machines_loopback_climbs_on_another_host(
    remote_host: RemoteHost, tmp_path: Path
) -> None:
    """The proxy answers on this machine's 127.0.0.1, which the remote host can't reach:
    shrink fetches the modules here and hands them to the builds there."""
    published = tmp_path / "proxy"
    publish(published, [GREET, WORDS])
    program = write_program(tmp_path / "shrinkme")
    with serving(published) as url:
        env = folder_settings(
            tmp_path, f"{RUN_PREFIX}rmod-", INVOKE_WORKSHOP_BASES="local", COLUMNS="200",
            GOENV="off", **dict.fromkeys(GO_ENV_NAMES, ""), **remote_host.tls_environment(),
        )  # fmt: skip
        env["GOPROXY"] = url
        result = invoke("shrink", str(program), "--args", "world", "--output", "Hello world!",
                        env=env, timeout=1200)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    ladder = Ladder(
        result, tmp_path / "shrink" / find_app(program).key, env["INVOKE_WORKSHOP_TAG_PREFIX"]
    )
    assert sorted(ladder.records) == [1, 2, 3, 4, 6, 7]
    for record in ladder.records.values():
        assert record.output == "Hello world!\n" and record.engine_host == remote_host.tcp
        there = json.loads(remote_host.docker("image", "inspect", record.tag).stdout)[0]
        assert there["Id"] == record.image_id


def test_a_key_the_host_refuses_is_one_message_naming_the_host(remote_host: RemoteHost) -> None:
    remote_host.write_ssh_client("stranger")
    started = time.monotonic()
    refused = invoke("step-7", env=remote_host.ssh_environment("stranger"))
    errors = " ".join(refused.stderr.split())
    assert refused.returncode == 3, refused.stdout + errors
    assert f"ssh://root@{remote_host.address} can't be reached over ssh" in errors
    assert "Permission denied (publickey" in errors and "authorized_keys" in errors
    assert "Traceback" not in errors and "Start one" not in errors
    assert time.monotonic() - started < 60


def test_beyond_runs_on_another_host_and_verify_passes_on_the_whole_log(
    over_tls: WorkshopRun, remote_host: RemoteHost
) -> None:
    """Steps 10 to 15 there too: the floor's build fetches its assembler from Debian through
    that host's own network, UPX and the smallest Go image run there."""
    result = invoke("beyond", env=over_tls.env)
    assert result.returncode == 0, result.stdout + result.stderr
    records = over_tls.records()
    assert sorted(records) == [*TAGS, 10, 11, 12, 13, 14, 15]
    for step in range(10, 16):
        record = records[step]
        there = json.loads(remote_host.docker("image", "inspect", record.tag).stdout)[0]
        assert there["Id"] == record.image_id, step
        local = subprocess.run(["docker", "image", "inspect", record.tag], capture_output=True)
        assert local.returncode != 0, f"{record.tag} was pulled back here"
    verified = verify_cli("--log", str(over_tls.log))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_explain_says_the_files_cross_the_network(
    over_tls: WorkshopRun, remote_host: RemoteHost
) -> None:
    tag = over_tls.records()[7].tag
    explained = invoke("explain", tag, env=over_tls.env)
    out = " ".join(explained.stdout.split())
    assert explained.returncode == 0, out + explained.stderr
    assert f"Reading {tag} (" in out and f"from the engine on the host {remote_host.address}" in out
    assert "/app" in out


def test_a_test_host_left_by_a_killed_run_is_taken_down_by_the_next() -> None:
    """A run killed before its teardown leaves its namespace (a process still in it), its veth
    pair and its forwarding rule; the next run's test host takes them down, and only them."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    namespace, here, there = f"{PREFIX}{gone.pid}", f"wsr{gone.pid}h", f"wsr{gone.pid}t"
    rule = ["FORWARD", "-i", here, "-m", "comment", "--comment", namespace, "-j", "ACCEPT"]
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    subprocess.run(["ip", "link", "add", here, "type", "veth", "peer", "name", there], check=True)
    subprocess.run(["ip", "link", "set", there, "netns", namespace], check=True)
    subprocess.run(["iptables", "-I", *rule], check=True)
    lingering = subprocess.Popen(["nsenter", f"--net=/run/netns/{namespace}", "sleep", "600"])
    try:
        # Reclaimed once it lives there (nsenter has joined the namespace and become sleep).
        inside = f"net:[{Path('/run/netns', namespace).stat().st_ino}]"
        deadline = time.monotonic() + 30
        while not _sleeps_in(lingering.pid, inside) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert namespace in reclaim_abandoned()
        assert lingering.wait(timeout=10) == -9
        assert not Path("/run/netns", namespace).exists()
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert f" {here}@" not in links and f" {here}:" not in links
        rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True)
        assert namespace not in rules.stdout
        # A live run's host (this process's name) is not anyone's to take.
        assert reclaim_abandoned() == []
    finally:
        lingering.kill()
        lingering.wait(timeout=30)
        subprocess.run(["iptables", "-D", *rule], capture_output=True)
        subprocess.run(["ip", "link", "delete", here], capture_output=True)
        subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)


def _sleeps_in(pid: int, namespace: str) -> bool:
    try:
        return (
            Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
            and os.readlink(f"/proc/{pid}/ns/net") == namespace
        )
    except OSError:
        return False


# Last: by now the TLS tests have built everything on that engine, so over ssh the same
# steps and rungs come from its cache, as a second transport to one engine would find them.
def test_the_workshop_runs_over_ssh_on_the_same_engine(
    over_tls: WorkshopRun, remote_host: RemoteHost, tmp_path: Path
) -> None:
    """Through the user's own OpenSSH: all, then verify and the report on that log. (Where a
    port is reached and what crosses the wire is the same rule for tcp:// and ssh://, held by
    the TLS tests above; ssh is the slow transport, 4.8 times the unix socket.)"""
    over_ssh = remote_run(remote_host, tmp_path, "rssh", remote_host.ssh_environment())
    records, over_tcp = over_ssh.records(), over_tls.records()
    assert sorted(records) == list(TAGS)
    for step, record in records.items():
        # The same engine: its images there, not here; the same size as by TLS.
        assert record.engine_host == f"ssh://root@{remote_host.address}"
        assert record.size == over_tcp[step].size, step
        there = json.loads(remote_host.docker("image", "inspect", record.tag).stdout)[0]
        assert there["Id"] == record.image_id, step
    verified = verify_cli("--log", str(over_ssh.log))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = invoke("report", env=over_ssh.env)
    assert report.returncode == 0, report.stdout + report.stderr
