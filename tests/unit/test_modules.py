"""A module as Go developers keep it: its Go environment read as `go` reads it, the Dockerfile
they would write, and why a fetch failed, in words."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from workshop.engine.values import ELSEWHERE, HERE, Where
from workshop.errors import BadInput, StepFailed
from workshop.shrink.climb import (
    RungResult,
    _module_failure,
    _require_modules,
    _require_proxy_in_reach,
)
from workshop.shrink.goapp import GoApp
from workshop.shrink.goenv import GO_ENV_NAMES, GoEnvironment, go_environment
from workshop.shrink.ladder import RUNGS, dockerfile

APP = GoApp(
    "tool",
    Path("/src/tool"),
    ("go.mod", "go.sum", "main.go", "local/go.mod", "local/l.go"),
    (".",),
    module="example.com/tool",
    go="1.19",
    requires=("example.com/greet", "example.com/words"),
    go_sum=True,
    replaced=("local",),
)


def test_the_environment_wins_over_gos_env_file_and_the_file_over_the_default(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "go" / "env"
    env_file.parent.mkdir()
    env_file.write_text("GOPROXY=https://file.example\nGOPRIVATE=corp.example/*\nGOOS=plan9\n")
    found = go_environment(
        {"XDG_CONFIG_HOME": str(tmp_path), "GOPROXY": "http://127.0.0.1:3000", "HOME": "/nowhere"}
    )
    assert found.values == {"GOPROXY": "http://127.0.0.1:3000", "GOPRIVATE": "corp.example/*"}
    assert found.sources["GOPRIVATE"] == f"from {env_file}"
    assert found.on_loopback
    assert go_environment({"GOENV": str(env_file)}).proxy == "https://file.example"
    assert go_environment({"GOENV": "off", "HOME": str(tmp_path)}).values == {}


@pytest.mark.parametrize(
    ("proxy", "loopback"),
    [
        ("http://localhost:8080", True),
        ("http://[::1]:3000,direct", True),
        ("https://goproxy.corp.example|https://proxy.golang.org", False),
        ("", False),
        ("off", False),
    ],
)
def test_a_proxy_on_loopback_is_seen_in_any_of_gos_list_forms(proxy: str, loopback: bool) -> None:
    assert GoEnvironment({"GOPROXY": proxy} if proxy else {}, {}).on_loopback is loopback


def test_a_control_character_in_a_go_setting_is_refused() -> None:
    with pytest.raises(BadInput, match="GOFLAGS"):
        go_environment({"GOFLAGS": "-mod=mod\nRUN id", "GOENV": "off"})


@pytest.mark.parametrize("key", list(RUNGS))
@pytest.mark.parametrize("buildkit", [False, True])
def test_the_go_environment_reaches_only_the_modules_stage(key: str, buildkit: bool) -> None:
    text = dockerfile(key, APP, args=("--once",), buildkit=buildkit, extras=("certs",))
    stages = text.split("\nFROM ")
    modules = [stage for stage in stages if " AS modules" in stage.splitlines()[0]]
    assert len(modules) == 1
    for name in GO_ENV_NAMES:
        assert f"ARG {name}\n" in modules[0]
        assert all(f"ARG {name}" not in stage for stage in stages if stage is not modules[0])
    lines = text.splitlines()
    # go.mod and go.sum first, fetched, then the sources.
    assert lines.index("COPY go.mod go.sum ./") < lines.index("COPY . .")
    assert "COPY local/go.mod local/" in lines
    build = next(line for line in lines if " go build " in line)
    assert "GOPROXY=off" in build and "GOTOOLCHAIN=local" in build
    mounted = "--mount=type=bind,from=modules" in build and "--mount=type=cache" in build
    assert mounted is buildkit
    assert ("COPY --from=modules /modules /modules" in lines) is not buildkit
    assert lines[-2:] == ['ENTRYPOINT ["/app"]', 'CMD ["--once"]']


def test_a_program_without_a_module_keeps_the_workshops_cmd() -> None:
    app = GoApp("hello", Path("/src"), ("app.go",), ("app.go",))
    assert dockerfile("4", app).splitlines()[-1] == 'CMD [ "/app" ]'
    assert "modules" not in dockerfile("4", app)


def _failed(*lines: str) -> RungResult:
    return RungResult(rung=RUNGS["1"], dockerfile="", build_failure=lines)


PROXY = GoEnvironment({"GOPROXY": "http://127.0.0.1:9"}, {"GOPROXY": "from the environment"})


@pytest.mark.parametrize(
    ("log", "said"),
    [
        (
            'go: example.com/greet@v1.0.0: Get "http://127.0.0.1:9/example.com/greet/@v/v1.0.0'
            '.mod": dial tcp 127.0.0.1:9: connect: connection refused',
            "could not be fetched through GOPROXY=http://127.0.0.1:9 (from the environment)",
        ),
        (
            "verifying example.com/greet@v1.0.0: checksum mismatch\n\tdownloaded: h1:a=\n"
            "SECURITY ERROR",
            "example.com/greet@v1.0.0 is not what go.sum says it is",
        ),
        (
            "main.go:3:8: missing go.sum entry for module providing package example.com/greet",
            "go.sum has no entry for example.com/greet",
        ),
        (
            "go: example.com/gone@v1.0.0: reading http://127.0.0.1:9/example.com/gone/@v/v1.0.0"
            ".info: 404 Not Found",
            "the proxy does not have example.com/gone@v1.0.0",
        ),
        (
            "go: go.mod requires go >= 1.25 (running go 1.19.8; GOTOOLCHAIN=local)",
            "go.mod asks for Go 1.25 and this base has Go 1.19.8; no toolchain is fetched",
        ),
    ],
)
def test_why_the_modules_could_not_be_had_is_said_in_words(log: str, said: str) -> None:
    assert said in _module_failure(log, APP, PROXY)


def test_a_private_pattern_is_named_where_a_module_could_not_be_fetched() -> None:
    private = replace(PROXY, values={**PROXY.values, "GOPRIVATE": "example.com/greet"})
    log = (
        'go: example.com/greet@v1.0.0: unrecognized import path "example.com/greet": https '
        "fetch: dial tcp: lookup example.com: no such host"
    )
    said = _module_failure(log, APP, private)
    assert said.startswith("example.com/greet is private (GOPRIVATE/GONOPROXY example.com/greet)")
    assert "lookup example.com: no such host" in said and "`go mod vendor`" in said
    everything = replace(PROXY, values={"GOPRIVATE": "example.com/*"})
    assert _module_failure(log, APP, everything).startswith("example.com/greet is private")
    assert "is private" not in _module_failure(log, APP, PROXY)


def test_four_rungs_that_could_not_fetch_are_one_message() -> None:
    refused = "dial tcp 127.0.0.1:9: connect: connection refused"
    with pytest.raises(StepFailed) as failed:
        _require_modules([_failed(refused)] * 4, APP, PROXY)
    assert failed.value.message.count("could not be fetched") == 1
    _require_modules([_failed(refused), _failed("main.go:3: undefined: x")], APP, PROXY)


@pytest.mark.parametrize("key", ["3", "4", "5", "6"])
def test_a_cross_compiled_module_fetches_and_builds_on_the_build_platform(key: str) -> None:
    lines = dockerfile(key, APP, cross=True, buildkit=True).splitlines()
    assert "FROM --platform=$BUILDPLATFORM ${GOLANG_ALPINE_IMAGE} AS modules" in lines
    assert "FROM --platform=$BUILDPLATFORM ${GOLANG_ALPINE_IMAGE} AS build-stage" in lines
    build = next(line for line in lines if " go build " in line)
    assert "GOOS=$TARGETOS GOARCH=$TARGETARCH" in build and "GOPROXY=off" in build


def test_a_proxy_on_loopback_with_the_engine_elsewhere_is_refused_before_any_build() -> None:
    go_env = GoEnvironment(
        {"GOPROXY": "http://127.0.0.1:3000"}, {"GOPROXY": "from the environment"}
    )
    elsewhere = Where(ELSEWHERE, "the host 10.0.0.2", published_on="10.0.0.2")
    with pytest.raises(BadInput) as refused:
        _require_proxy_in_reach(elsewhere, go_env)
    assert "the engine runs on the host 10.0.0.2" in refused.value.message
    assert "GOPROXY=http://127.0.0.1:3000 (from the environment)" in refused.value.message
    # The engine on this machine, or a proxy it reaches: nothing to say.
    _require_proxy_in_reach(Where(HERE, "this machine"), go_env)
    _require_proxy_in_reach(elsewhere, GoEnvironment({"GOPROXY": "http://10.0.0.1:3000"}, {}))
