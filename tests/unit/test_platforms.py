"""Platforms: named as the project builds them, and whether this machine can run a foreign one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.fakeengine import FakeEngine
from tests.support.running import invoke
from tests.unit.test_tasks import settings
from workshop.engine.emulation import emulation_status, require_platforms, set_up_emulation
from workshop.engine.values import ELSEWHERE, Where
from workshop.errors import BadInput
from workshop.platforms import emulation_problem, engine_platform, parse_platforms, platform_read
from workshop.shrink.goapp import GoApp
from workshop.shrink.ladder import RUNGS, dockerfile


def test_platforms_are_read_in_order_once_each() -> None:
    assert parse_platforms(" linux/ARM64, linux/amd64,linux/arm64 ") == (
        "linux/arm64",
        "linux/amd64",
    )
    assert parse_platforms("") == ()


@pytest.mark.parametrize("text", ["linux/s390x", "arm64", "linux/arm64/v8", "windows/amd64"])
def test_a_platform_this_project_does_not_build_is_refused_naming_those_it_does(text: str) -> None:
    with pytest.raises(BadInput, match="choose from linux/amd64, linux/arm64"):
        parse_platforms(text, what="--platform")


def test_the_engines_platform_is_named_as_docker_names_it() -> None:
    assert engine_platform("linux", "amd64") == "linux/amd64"
    assert engine_platform("linux", "aarch64") == "linux/arm64"


def test_a_foreign_platform_runs_only_where_its_emulation_is_enabled(tmp_path: Path) -> None:
    assert emulation_problem("linux/amd64", native="linux/amd64", binfmt=tmp_path) == ""
    problem = emulation_problem("linux/arm64", native="linux/amd64", binfmt=tmp_path)
    assert "no qemu-aarch64 emulation" in problem
    assert "invoke engine --start" in problem and "qemu-user-static" in problem
    (tmp_path / "qemu-aarch64").write_text("disabled\ninterpreter /usr/bin/qemu-aarch64\n")
    assert emulation_problem("linux/arm64", native="linux/amd64", binfmt=tmp_path)
    (tmp_path / "qemu-aarch64").write_text("enabled\ninterpreter /usr/bin/qemu-aarch64\n")
    assert emulation_problem("linux/arm64", native="linux/amd64", binfmt=tmp_path) == ""


@pytest.mark.parametrize("key", ["3", "4", "4b", "5", "6"])
def test_a_cross_compiled_rung_builds_on_the_build_platform_for_the_target(key: str) -> None:
    app = GoApp("hello", Path("/src"), ("app.go",), ("app.go",))
    lines = dockerfile(key, app, cross=True).splitlines()
    assert "FROM --platform=$BUILDPLATFORM ${GOLANG_ALPINE_IMAGE} AS build-stage" in lines
    assert {"ARG TARGETOS", "ARG TARGETARCH"} <= set(lines)
    build = next(line for line in lines if " go build " in line)
    assert "GOOS=$TARGETOS GOARCH=$TARGETARCH" in build
    # Without it, the workshop's own lines.
    assert "$BUILDPLATFORM" not in dockerfile(key, app)
    assert key in RUNGS


def test_an_unknown_platform_flag_exits_64_before_anything_runs(tmp_path: Path) -> None:
    program = tmp_path / "hello.go"
    program.write_text("package main\n\nfunc main() {}\n")
    result = invoke("shrink", str(program), "--platform", "linux/riscv64", env=settings(tmp_path))
    assert result.returncode == 64, result.stderr
    assert "--platform names the platform 'linux/riscv64'" in result.stderr
    bad = settings(tmp_path, INVOKE_WORKSHOP_PLATFORM="arm")
    result = invoke("shrink", str(program), env=bad)
    assert result.returncode == 64 and "workshop.platform names the platform 'arm'" in result.stderr


def test_engine_start_says_when_emulation_is_there_and_registers_what_is_missing(
    tmp_path: Path,
) -> None:
    binfmt, configs = tmp_path / "binfmt", tmp_path / "binfmt.d"
    binfmt.mkdir()
    configs.mkdir()
    (binfmt / "qemu-aarch64").write_text("enabled\n")
    said = set_up_emulation("linux/amd64", binfmt=binfmt, configs=configs)
    assert said == "Emulation: linux/arm64 programs run here."
    (binfmt / "qemu-aarch64").unlink()
    (binfmt / "register").write_text("")
    (configs / "qemu-aarch64.conf").write_text(":qemu-aarch64:M::\\x7fELF:mask:/usr/bin/q:OPF\n")
    said = set_up_emulation("linux/amd64", binfmt=binfmt, configs=configs)
    # The package's line went to the kernel's register file (here a plain file).
    assert (binfmt / "register").read_text() == ":qemu-aarch64:M::\\x7fELF:mask:/usr/bin/q:OPF"
    assert said == f"Emulation of linux/arm64 was registered but is not enabled in {binfmt}."


def test_the_engines_status_says_whether_the_other_platform_runs_on_it() -> None:
    engine = FakeEngine(platform_problems={"linux/arm64": "linux/arm64 programs can't run"})
    assert "can't run here; `invoke engine --start`" in emulation_status(engine)
    elsewhere = Where(ELSEWHERE, "the host 10.0.0.2", published_on="10.0.0.2")
    engine._info = replace(engine.info, where=elsewhere)
    assert emulation_status(engine) == (
        "Emulation: linux/arm64 programs can't run on the engine (the host 10.0.0.2); set it up "
        "there."
    )
    engine.platform_problems.clear()
    assert emulation_status(engine) == "Emulation: linux/arm64 programs run on the engine."


def test_the_engine_is_asked_and_the_clients_binfmt_is_not_read_for_an_engine_elsewhere(
    tmp_path: Path,
) -> None:
    # An engine on another host that can't run arm64: its host is named, not this machine.
    engine = FakeEngine(platform_problems={"linux/arm64": "linux/arm64 programs can't run."})
    engine._info = replace(engine.info, where=Where(ELSEWHERE, "the host 10.0.0.2"))
    with pytest.raises(BadInput, match=r"where the engine runs \(the host 10.0.0.2\)"):
        require_platforms(engine, ("linux/arm64",))
    # One that can: nothing of this machine's is read.
    require_platforms(FakeEngine(), ("linux/amd64", "linux/arm64"))


def test_the_platform_read_is_the_one_asked_for_or_the_one_held() -> None:
    assert platform_read("a", ("linux/arm64",), wanted="", own="linux/amd64") == "linux/arm64"
    assert platform_read("a", ("linux/amd64", "linux/arm64"), wanted="", own="linux/amd64") == (
        "linux/amd64"
    )
    assert platform_read("a", (), wanted="linux/arm64", own="linux/amd64") == "linux/arm64"
    with pytest.raises(BadInput, match=r"holds linux/amd64 here \(not a multi-platform image\)"):
        platform_read("a", ("linux/amd64",), wanted="linux/arm64", own="linux/amd64")
    with pytest.raises(BadInput, match="reads an image of several platforms as its own"):
        platform_read("a", ("linux/amd64", "linux/arm64"), wanted="linux/arm64", own="linux/amd64")
