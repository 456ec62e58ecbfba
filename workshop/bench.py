"""How `invoke all` compares in time with the workshop's own docker commands.

    python -m workshop.bench [--repeat N] [--cold-repeat N]   (or: nox -s bench -- ...)

Side by side in one run, alternating which goes first: `invoke all`, and the workshop's docker
commands for steps 4 to 9 in a shell loop (docker build, docker image ls, docker run --rm) on the
same bases. Warm: everything cached. Cold: the bases present, nothing else cached (both build
with --no-cache). The last line is the warm median ratio: `invoke all / docker CLI: R`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from workshop.console import get_console
from workshop.sizelog import SizeLog

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent

# The workshop's commands, as an attendee types them; the bases come in as build args from the
# environment (`--build-arg NAME` without a value reads $NAME), so nothing is put into the text.
CLI_LOOP = r"""
set -e
cd "$WORKSPACE"
for name in big alpine multi-stage scratch stripped smaller; do
  docker build $NO_CACHE -q -t "bench-cli-go-$name" --build-arg GOLANG_IMAGE \
    --build-arg GOLANG_ALPINE_IMAGE --build-arg ALPINE_IMAGE -f "Dockerfile.$name" . >/dev/null
  docker image ls "bench-cli-go-$name" >/dev/null
  docker run --rm "bench-cli-go-$name" >/dev/null 2>&1
done
"""


def _timed(command: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return time.perf_counter() - started


def _side_by_side(
    repeat: int, *, invoke_env: dict[str, str], cli_env: dict[str, str]
) -> list[tuple[float, float]]:
    invoke_all = [sys.executable, "-m", "invoke", "all"]
    cli = ["bash", "-c", CLI_LOOP]
    pairs = []
    for round_number in range(repeat):
        if round_number % 2:
            cli_seconds = _timed(cli, cli_env)
            invoke_seconds = _timed(invoke_all, invoke_env)
        else:
            invoke_seconds = _timed(invoke_all, invoke_env)
            cli_seconds = _timed(cli, cli_env)
        pairs.append((invoke_seconds, cli_seconds))
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s bench --", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="warm rounds (default 5)")
    parser.add_argument(
        "--cold-repeat", type=int, default=2, help="cold rounds (default 2; 0 skips)"
    )
    arguments = parser.parse_args(argv)
    console = get_console()
    scratch = Path(tempfile.mkdtemp(prefix="workshop-bench-"))
    invoke_env = {
        **os.environ,
        "INVOKE_WORKSHOP_WORKSPACE": str(scratch / "workspace"),
        "INVOKE_WORKSHOP_SIZE_LOG": str(scratch / "sizes.json"),
        "INVOKE_WORKSHOP_TAG_PREFIX": "bench-",
    }
    console.print(
        "Warming up: one `invoke all` (it builds the stand-in bases if they are missing)."
    )
    _timed([sys.executable, "-m", "invoke", "all"], invoke_env)
    bases = {
        base.role: base.reference
        for record in SizeLog(scratch / "sizes.json").read().values()
        for base in record.bases
    }
    cli_env = {
        **os.environ,
        "WORKSPACE": str(scratch / "workspace"),
        "DOCKER_BUILDKIT": "0",
        "GOLANG_IMAGE": bases["golang"],
        "GOLANG_ALPINE_IMAGE": bases["golang-alpine"],
        "ALPINE_IMAGE": bases["alpine"],
        "NO_CACHE": "",
    }
    _timed(["bash", "-c", CLI_LOOP], cli_env)

    listing = [_timed([sys.executable, "-m", "invoke", "--list"], invoke_env) for _ in range(10)]
    warm = _side_by_side(arguments.repeat, invoke_env=invoke_env, cli_env=cli_env)
    cold = _side_by_side(
        arguments.cold_repeat,
        invoke_env={**invoke_env, "INVOKE_WORKSHOP_NO_CACHE": "1"},
        cli_env={**cli_env, "NO_CACHE": "--no-cache"},
    )

    table = Table(
        title=f"invoke all against the docker CLI (bases: {', '.join(sorted(set(bases.values())))})"
    )
    for column in (
        "case",
        "rounds",
        "invoke all (median s)",
        "docker CLI (median s)",
        "ratio (median)",
    ):
        table.add_column(column, justify="left" if column == "case" else "right")
    for case, pairs in (("warm", warm), ("cold", cold)):
        if pairs:
            table.add_row(
                case,
                str(len(pairs)),
                f"{statistics.median(p[0] for p in pairs):.2f}",
                f"{statistics.median(p[1] for p in pairs):.2f}",
                f"{statistics.median(p[0] / p[1] for p in pairs):.2f}",
            )
    console.print(table)
    console.print(
        f"invoke --list: median {statistics.median(listing):.3f} s over {len(listing)} runs"
    )
    subprocess.run(
        [
            "docker",
            "image",
            "rm",
            "-f",
            *(f"bench-{tag}" for tag in _TAGS),
            *(f"bench-cli-{tag}" for tag in _TAGS),
        ],
        capture_output=True,
        check=False,
    )
    print(f"invoke all / docker CLI: {statistics.median(p[0] / p[1] for p in warm):.2f}")
    return 0


_TAGS = ("go-big", "go-alpine", "go-multi-stage", "go-scratch", "go-stripped", "go-smaller")

if __name__ == "__main__":
    sys.exit(main())
