"""How `invoke all` compares in time with the docker CLI doing the same work.

    python tools/bench.py [--repeat N] [--cold-repeat N] [--tar IMAGE]  (or: nox -s bench -- ...)

Side by side in one run, rounds rotating which goes first:
- `invoke all`;
- the workshop's docker commands for steps 4 to 9 in a shell loop, one after another (docker
  build, docker image ls, docker run --rm), as an attendee types them;
- the floor: the same six builds and runs started all at once by the docker CLI, the least
  time the engine needs for them.
Warm: everything cached. Cold: the bases present, nothing else cached (all build --no-cache).
Everything runs in a scratch folder under its own tag prefix, both removed at the end, Ctrl-C
and SIGTERM included. The last line is the warm median ratio to the floor.

`--shrink` times instead `invoke shrink` on the workshop's hello world, warm, against the same
Dockerfiles built, listed and run by the docker CLI in a shell loop, start-up timing included
(rungs 6 and 5 run five times each, alternating), rounds rotating which goes first.

`--transports` times instead `invoke all`, warm, on one engine on another host reached three
ways: its unix socket, tcp:// with TLS and ssh:// (the tests' remote host, a network namespace
with its own dockerd and sshd: root, and the test extras), rounds rotating; the ratios are to
the unix socket.

`--engines` times instead `invoke all`, warm, on each kind of engine this machine runs: the
Docker Engine in use, rootful Podman 4.3 (its own storage, beside it) and sid's Podman 5 (in a
sid system of its own, made by mmdebstrap), and as a user without root,
rootless Docker and rootless Podman (the tests' support: root, and the test extras); the
stand-ins carried to each as one file; rounds rotating; the ratios are to the Docker Engine.

`--tar IMAGE` times instead what explain reads: IMAGE's export streamed from the engine, drained
as it comes, and read entry by entry as explain does (tarfile's stream mode), rounds alternating.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from rich.table import Table
from rich.text import Text

from workshop.catalogue import WORKSHOP_BUILD_STEPS
from workshop.console import get_console, get_err_console
from workshop.labels import LABEL
from workshop.paths import PROJECT_ROOT
from workshop.records.sizelog import SizeLog
from workshop.signals import command

__all__ = ["main"]

# The stand-ins `invoke all` builds on, copied into the remote test host for --transports.
STANDINS = (
    "workshop-base/golang:1.19-bookworm",
    "workshop-base/golang:1.19-busybox",
    "workshop-base/busybox:bookworm",
)

NAMES = " ".join(
    step.dockerfile.removeprefix("Dockerfile.") for step in WORKSHOP_BUILD_STEPS.values()
)

# The workshop's commands, as an attendee types them; the bases come in as build args from the
# environment (`--build-arg NAME` without a value reads $NAME), so nothing is put into the text.
# The project's label (as invoke's builds carry theirs) marks the images the cold rounds leave
# untagged as the bench's own, for the end to remove: FROM scratch inherits none.
CLI_ONE = r"""
docker build $NO_CACHE -q -t "${PREFIX}cli-go-$1" --label "$BENCH_LABEL" --build-arg GOLANG_IMAGE \
  --build-arg GOLANG_ALPINE_IMAGE --build-arg ALPINE_IMAGE -f "Dockerfile.$1" . >/dev/null
docker image ls "${PREFIX}cli-go-$1" >/dev/null
docker run --rm "${PREFIX}cli-go-$1" >/dev/null 2>&1
"""
CLI_LOOP = f"""
set -e
cd "$WORKSPACE"
one() {{ {CLI_ONE} }}
for name in $NAMES; do one "$name"; done
"""
CLI_FLOOR = f"""
set -e
cd "$WORKSPACE"
one() {{ {CLI_ONE} }}
pids=""
for name in $NAMES; do one "$name" & pids="$pids $!"; done
for pid in $pids; do wait "$pid"; done
"""


def _timed(command: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        command,
        env=env,
        cwd=PROJECT_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=3600,
    )
    return time.perf_counter() - started


def _rounds(
    repeat: int, commands: dict[str, tuple[list[str], dict[str, str]]]
) -> list[dict[str, float]]:
    """`repeat` rounds of every command, the one that goes first rotating round by round."""
    names = list(commands)
    rounds = []
    for number in range(repeat):
        order = names[number % len(names) :] + names[: number % len(names)]
        rounds.append({name: _timed(*commands[name]) for name in order})
    return rounds


def _remove_images(prefix: str) -> None:
    listed = subprocess.run(
        [
            "docker",
            "image",
            "ls",
            "--format",
            "{{.Repository}}",
            "--filter",
            f"reference={prefix}*",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if listed:
        subprocess.run(["docker", "image", "rm", "-f", *listed], capture_output=True, check=False)


def _dangling() -> set[str]:
    listed = subprocess.run(
        ["docker", "image", "ls", "--quiet", "--no-trunc", "--filter", "dangling=true"],
        capture_output=True,
        text=True,
        check=False,
    )
    return set(listed.stdout.split())


def _remove_build_stages(before: set[str]) -> None:
    """The build stages the bench's builds left untagged (its cold rounds make new ones each
    time): dangling images that were not there before it and carry the project's label, which
    a build stage inherits from its stand-in and the CLI's builds are given."""
    new = sorted(_dangling() - before)
    if not new:
        return
    labels = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}} {{json .Config.Labels}}", *new],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    ours = [line.split(" ", 1)[0] for line in labels if LABEL in line]
    if ours:
        subprocess.run(["docker", "image", "rm", *ours], capture_output=True, check=False)


# Warm rounds against the CLI: one run's median of 5 moved by up to a tenth from the next run's
# (1.06, 1.16, 1.06 in a row); of 11, by a few hundredths (docs/developing.md).
REPEAT = 11
# Warm rounds of the other comparisons, whose parts each take seconds to minutes.
OTHER_REPEAT = 5


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s bench --", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat",
        type=int,
        help=f"warm rounds (default {REPEAT} against the CLI, {OTHER_REPEAT} for the others)",
    )
    parser.add_argument(
        "--cold-repeat", type=int, default=2, help="cold rounds (default 2; 0 skips)"
    )
    parser.add_argument("--tar", metavar="IMAGE", help="time reading IMAGE's export instead")
    parser.add_argument(
        "--shrink", action="store_true", help="time invoke shrink on the hello world instead"
    )
    parser.add_argument(
        "--engines",
        action="store_true",
        help="time invoke all on Docker, Podman, rootless Docker and rootless Podman instead",
    )
    parser.add_argument(
        "--transports",
        action="store_true",
        help="time invoke all on another host over its unix socket, tcp:// and ssh:// instead",
    )
    arguments = parser.parse_args(argv)
    if arguments.repeat is None:
        other = arguments.tar or arguments.shrink or arguments.transports or arguments.engines
        arguments.repeat = OTHER_REPEAT if other else REPEAT
    if arguments.tar:
        with command(interrupted="Interrupted.") as ending:
            return _bench_tar(arguments.tar, arguments.repeat)
        get_err_console().print(Text(ending.message))
        return ending.code
    scratch = Path(tempfile.mkdtemp(prefix="workshop-bench-"))
    dangling_before = _dangling()
    prefix = f"bench{uuid.uuid4().hex[:6]}-"
    try:
        with command(
            interrupted="Interrupted: the bench's images and scratch folder were removed."
        ) as ending:
            if arguments.shrink:
                return _bench_shrink(arguments.repeat, scratch, prefix)
            if arguments.transports:
                return _bench_transports(arguments.repeat, scratch, prefix)
            if arguments.engines:
                return _bench_engines(arguments.repeat, scratch, prefix)
            return _bench(arguments.repeat, arguments.cold_repeat, scratch, prefix)
        get_err_console().print(Text(ending.message))
        return ending.code
    except subprocess.CalledProcessError as error:
        get_err_console().print(f"A timed command failed (exit {error.returncode}): {error.stderr}")
        return 1
    finally:
        _remove_images(prefix)
        _remove_build_stages(dangling_before)
        shutil.rmtree(scratch, ignore_errors=True)


def _bench(repeat: int, cold_repeat: int, scratch: Path, prefix: str) -> int:
    console = get_console()
    invoke_env = {
        **os.environ,
        "INVOKE_WORKSHOP_WORKSPACE": str(scratch / "workspace"),
        "INVOKE_WORKSHOP_SIZE_LOG": str(scratch / "sizes.json"),
        "INVOKE_WORKSHOP_HISTORY": str(scratch / "history.json"),
        "INVOKE_WORKSHOP_REPORT_DIR": str(scratch / "report"),
        "INVOKE_WORKSHOP_SWEEP_DIR": str(scratch / "sweep"),
        "INVOKE_WORKSHOP_TAG_PREFIX": prefix,
    }
    invoke_all = [sys.executable, "-m", "invoke", "all"]
    console.print(
        "Warming up: one `invoke all` (it builds the stand-in bases if they are missing)."
    )
    _timed(invoke_all, invoke_env)
    bases = {
        base.role: base.reference
        for record in SizeLog(scratch / "sizes.json").read().values()
        for base in record.bases
    }
    cli_env = {
        **os.environ,
        "WORKSPACE": str(scratch / "workspace"),
        "PREFIX": prefix,
        "BENCH_LABEL": f"{LABEL}=bench",
        "NAMES": NAMES,
        "DOCKER_BUILDKIT": "0",
        "GOLANG_IMAGE": bases["golang"],
        "GOLANG_ALPINE_IMAGE": bases["golang-alpine"],
        "ALPINE_IMAGE": bases["alpine"],
        "NO_CACHE": "",
    }
    _timed(["bash", "-c", CLI_LOOP], cli_env)

    listing = [_timed([sys.executable, "-m", "invoke", "--list"], invoke_env) for _ in range(10)]
    warm = _rounds(
        repeat,
        {
            "invoke all": (invoke_all, invoke_env),
            "docker CLI, in turn": (["bash", "-c", CLI_LOOP], cli_env),
            "docker CLI, all at once": (["bash", "-c", CLI_FLOOR], cli_env),
        },
    )
    cold = _rounds(
        cold_repeat,
        {
            "invoke all": (invoke_all, {**invoke_env, "INVOKE_WORKSHOP_NO_CACHE": "1"}),
            "docker CLI, in turn": (
                ["bash", "-c", CLI_LOOP],
                {**cli_env, "NO_CACHE": "--no-cache"},
            ),
            "docker CLI, all at once": (
                ["bash", "-c", CLI_FLOOR],
                {**cli_env, "NO_CACHE": "--no-cache"},
            ),
        },
    )
    table = Table(
        title=f"invoke all against the docker CLI (bases: {', '.join(sorted(set(bases.values())))})"
    )
    for column in (
        "case",
        "rounds",
        "invoke all",
        "CLI in turn",
        "CLI at once",
        "÷ in turn",
        "÷ at once",
    ):
        table.add_column(column, justify="left" if column == "case" else "right")
    for case, rounds in (("warm", warm), ("cold", cold)):
        if rounds:
            table.add_row(case, str(len(rounds)), *_medians(rounds))
    console.print(table)
    console.print(
        f"invoke --list: median {statistics.median(listing):.3f} s over {len(listing)} runs"
    )
    console.print(f"invoke all / docker CLI in turn: {_ratio(warm, 'docker CLI, in turn'):.2f}")
    console.print(
        f"invoke all / docker CLI all at once: {_ratio(warm, 'docker CLI, all at once'):.2f}"
    )
    return 0


# The ladder's Dockerfiles, as a person would run them by hand after reading them.
CLI_SHRINK = r"""
set -e
for key in $RUNGS; do
  docker build -q -t "${PREFIX}cli-$key" -f "$DOCKERFILES/Dockerfile.$key" "$APP" >/dev/null
  docker image ls "${PREFIX}cli-$key" >/dev/null
  docker run --rm "${PREFIX}cli-$key" >/dev/null 2>&1
done
for round in 1 2 3 4 5; do
  docker run --rm "${PREFIX}cli-6" >/dev/null 2>&1
  docker run --rm "${PREFIX}cli-5" >/dev/null 2>&1
done
"""


def _bench_shrink(repeat: int, scratch: Path, prefix: str) -> int:
    """`invoke shrink` on the hello world against its Dockerfiles run by the docker CLI."""
    from workshop.shrink.goapp import find_app
    from workshop.shrink.ladder import dockerfile, roles

    console = get_console()
    app_dir = scratch / "hello"
    app_dir.mkdir()
    shutil.copy(PROJECT_ROOT / "dockerfiles" / "app.go", app_dir / "app.go")
    invoke_env = {
        **os.environ,
        "INVOKE_WORKSHOP_SHRINK_DIR": str(scratch / "shrink"),
        "INVOKE_WORKSHOP_TAG_PREFIX": prefix,
    }
    shrink = [sys.executable, "-m", "invoke", "shrink", str(app_dir)]
    console.print("Warming up: one `invoke shrink` (it builds the stand-in bases if missing).")
    _timed(shrink, invoke_env)
    records = SizeLog(scratch / "shrink" / "hello" / "sizes.json").read().values()
    images = {base.role: base.reference for record in records for base in record.bases}
    app = find_app(app_dir)
    keys = [
        key for key in ("1", "2", "3", "4", "5", "6") if all(r in images for r in roles(key, app))
    ]
    folder = scratch / "dockerfiles"
    folder.mkdir()
    for key in keys:
        (folder / f"Dockerfile.{key}").write_text(dockerfile(key, app, images=images))
    cli_env = {
        **os.environ,
        "PREFIX": prefix,
        "RUNGS": " ".join(keys),
        "DOCKERFILES": str(folder),
        "APP": str(app_dir),
        "DOCKER_BUILDKIT": "0",
    }
    _timed(["bash", "-c", CLI_SHRINK], cli_env)
    rounds = _rounds(
        repeat,
        {
            "invoke shrink": (shrink, invoke_env),
            "docker CLI, in turn": (["bash", "-c", CLI_SHRINK], cli_env),
        },
    )
    table = Table(
        title=f"invoke shrink on the hello world against the docker CLI ({repeat} warm rounds)"
    )
    for column in ("invoke shrink", "docker CLI, in turn", "÷"):
        table.add_column(column, justify="right")
    mine = statistics.median(each["invoke shrink"] for each in rounds)
    theirs = statistics.median(each["docker CLI, in turn"] for each in rounds)
    ratio = statistics.median(
        each["invoke shrink"] / each["docker CLI, in turn"] for each in rounds
    )
    table.add_row(f"{mine:.2f} s", f"{theirs:.2f} s", f"{ratio:.2f}")
    console.print(table)
    console.print(f"invoke shrink / docker CLI in turn: {ratio:.2f}")
    return 0


def _bench_transports(repeat: int, scratch: Path, prefix: str) -> int:
    """`invoke all` warm on the remote test host over its unix socket, tcp:// and ssh://."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from tests.support.remotehost import RemoteHost

    console = get_console()
    host = RemoteHost(Path(tempfile.mkdtemp(prefix="remote-host-", dir="/tmp")))
    try:
        console.print("Starting the remote test host and loading the stand-ins into it.")
        host.start()
        host.load_from_main(*STANDINS)
        settings = {
            "INVOKE_WORKSHOP_WORKSPACE": str(scratch / "workspace"),
            "INVOKE_WORKSHOP_SIZE_LOG": str(scratch / "sizes.json"),
            "INVOKE_WORKSHOP_HISTORY": str(scratch / "history.json"),
            "INVOKE_WORKSHOP_TAG_PREFIX": prefix,
            "INVOKE_WORKSHOP_BASES": "local",
        }
        ways = {
            "unix socket": {"DOCKER_HOST": host.host},
            "tcp:// with TLS": host.tls_environment(),
            "ssh://": host.ssh_environment(),
        }
        invoke_all = [sys.executable, "-m", "invoke", "all"]
        commands = {
            name: (invoke_all, {**os.environ, **settings, **way}) for name, way in ways.items()
        }
        for name in commands:  # warm: the first builds, the others find the same cache
            _timed(*commands[name])
        rounds = _rounds(repeat, commands)
    finally:
        host.remove()
    title = f"invoke all, warm, on one engine on another host ({repeat} rounds)"
    console.print(_against(title, "reached over", rounds, "unix socket"))
    for name in ("tcp:// with TLS", "ssh://"):
        ratio = statistics.median(each[name] / each["unix socket"] for each in rounds)
        console.print(f"{name} / unix socket: {ratio:.2f}")
    return 0


def _bench_engines(repeat: int, scratch: Path, prefix: str) -> int:
    """`invoke all` warm on Docker, rootful Podman 4 and 5, rootless Docker and rootless Podman."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from tests.support.podman import Podman5Service, PodmanService, SidSystem
    from tests.support.rootless import RootlessUser

    console = get_console()
    podman = PodmanService(Path(tempfile.mkdtemp(prefix="podman-", dir="/tmp")))
    podman5 = Podman5Service(SidSystem(Path(tempfile.mkdtemp(prefix="podman5-", dir="/tmp"))))
    user = RootlessUser(Path(tempfile.mkdtemp(prefix="rootless-", dir="/tmp")))
    settings = {
        "INVOKE_WORKSHOP_WORKSPACE": str(scratch / "workspace"),
        "INVOKE_WORKSHOP_SIZE_LOG": str(scratch / "sizes.json"),
        "INVOKE_WORKSHOP_HISTORY": str(scratch / "history.json"),
        "INVOKE_WORKSHOP_TAG_PREFIX": prefix,
        "INVOKE_WORKSHOP_BASES": "local",
    }
    invoke_all = [sys.executable, "-m", "invoke", "all"]
    try:
        console.print("Starting Podman and a user without root; carrying the stand-ins over.")
        archive = scratch / "standins.tar"
        scratch.chmod(0o755)
        subprocess.run([*invoke_all[:-1], "bases", "--save", str(archive)], check=True)
        archive.chmod(0o644)
        # Podman 5 first: its mount namespace copies the host's mounts as they are when it
        # starts. Started after 4.3, a round on 4.3 once failed to mount a container's storage
        # ("merged: no such file or directory"); started first, every round ran.
        for service in (podman5, podman):
            service.start()
            subprocess.run(
                [*invoke_all[:-1], "bases", "--load", str(archive)],
                env={**os.environ, "DOCKER_HOST": service.host},
                check=True,
            )
        user.create()
        user.configure_podman()
        theirs = {
            "rootless Docker": {"DOCKER_HOST": user.host},
            "rootless Podman": {"DOCKER_HOST": user.podman_host},
        }
        mine = {  # the user's own files: its home, not this scratch folder
            **settings,
            "INVOKE_WORKSHOP_WORKSPACE": str(user.home / "workspace"),
            "INVOKE_WORKSHOP_SIZE_LOG": str(user.home / "sizes.json"),
            "INVOKE_WORKSHOP_HISTORY": str(user.home / "history.json"),
        }
        for host in theirs.values():
            env = {**user.environment(**mine), **host}
            for step in (("engine", "--start"), ("bases", "--load", str(archive))):
                subprocess.run(user.command("invoke", *step, env=env), check=True)
        commands = {
            "Docker Engine": (invoke_all, {**os.environ, **settings}),
            **{
                f"Podman {service.version}, rootful": (
                    invoke_all,
                    {**os.environ, **settings, "DOCKER_HOST": service.host},
                )
                for service in (podman, podman5)
            },
            **{
                name: (
                    user.command("invoke", "all", env={**user.environment(**mine), **host}),
                    dict(os.environ),
                )
                for name, host in theirs.items()
            },
        }
        for name in commands:  # warm: each engine builds once, then finds its own cache
            _timed(*commands[name])
        rounds = _rounds(repeat, commands)
    finally:
        podman.remove()
        podman5.remove()
        user.remove()
    title = f"invoke all, warm, on each kind of engine ({repeat} rounds)"
    console.print(_against(title, "engine", rounds, "Docker Engine"))
    return 0


def _against(title: str, kind: str, rounds: list[dict[str, float]], base: str) -> Table:
    """Each command's median seconds, and its median ratio to `base`'s in the same round."""
    table = Table(title=title)
    table.add_column(kind)
    table.add_column("median", justify="right")
    table.add_column(f"÷ {base}", justify="right")
    for name in rounds[0]:
        ratio = statistics.median(each[name] / each[base] for each in rounds)
        median = statistics.median(each[name] for each in rounds)
        table.add_row(name, f"{median:.2f} s", f"{ratio:.2f}")
    return table


def _bench_tar(image: str, repeat: int) -> int:
    """Seconds to read `image`'s export: the stream alone, and as explain reads it (median)."""
    from workshop.engine.client import Engine
    from workshop.engine.tarstream import read_tar

    engine = Engine.from_env()

    def drain(stream: Iterator[bytes]) -> int:
        return sum(len(chunk) for chunk in stream)

    def as_explain_reads_it(stream: Iterator[bytes]) -> int:
        return sum(entry.size for entry in read_tar(stream) if entry.kind == "file")

    readers = {"the stream alone": drain, "as explain reads it": as_explain_reads_it}
    seconds: dict[str, list[float]] = {name: [] for name in readers}
    results: dict[str, int] = {}
    for number in range(repeat):
        names = list(readers)
        for name in names[number % 2 :] + names[: number % 2]:
            started = time.perf_counter()
            with engine.exported(image) as stream:
                results[name] = readers[name](stream)
            seconds[name].append(time.perf_counter() - started)
    table = Table(title=f"Reading {image}'s export ({repeat} rounds, median)")
    for column in ("reader", "seconds", "bytes"):
        table.add_column(column, justify="left" if column == "reader" else "right")
    for name in readers:
        table.add_row(name, f"{statistics.median(seconds[name]):.2f}", f"{results[name]:,}")
    get_console().print(table)
    alone, read = (statistics.median(seconds[name]) for name in readers)
    get_console().print(f"explain's reading / the stream alone: {read / alone:.2f}")
    return 0


def _ratio(rounds: list[dict[str, float]], against: str) -> float:
    return statistics.median(each["invoke all"] / each[against] for each in rounds)


def _medians(rounds: list[dict[str, float]]) -> tuple[str, ...]:
    seconds = [
        f"{statistics.median(each[name] for each in rounds):.2f} s"
        for name in ("invoke all", "docker CLI, in turn", "docker CLI, all at once")
    ]
    ratios = [
        f"{_ratio(rounds, name):.2f}" for name in ("docker CLI, in turn", "docker CLI, all at once")
    ]
    return (*seconds, *ratios)


if __name__ == "__main__":
    sys.exit(main())
