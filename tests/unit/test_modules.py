"""A module as Go developers keep it: its Go environment read as `go` reads it, the Dockerfile
they would write, and why a fetch failed, in words."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.goproxy import GREET, WORDS, publish, serving, write_program
from tests.support.loopback_registry import free_port
from workshop.errors import BadInput, StepFailed
from workshop.shrink.climb import (
    RungResult,
    _module_failure,
    _require_modules,
)
from workshop.shrink.goapp import GoApp
from workshop.shrink.goenv import (
    BUILD_GO_ENV_NAMES,
    GO_ENV_NAMES,
    GoEnvironment,
    go_environment,
    mask_proxy,
)
from workshop.shrink.ladder import RUNGS, dockerfile
from workshop.shrink.modfetch import GOPROXY_FOLDER, ModuleNotFetched, fetch_modules

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
    assert go_environment({"GOENV": str(env_file)}).proxy == "https://file.example"
    assert go_environment({"GOENV": "off", "HOME": str(tmp_path)}).values == {}


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
        # The proxy and the checksum database never reach the build: the client fetched.
        given = name in BUILD_GO_ENV_NAMES
        assert (f"ARG {name}\n" in modules[0]) is given, name
        assert all(f"ARG {name}" not in stage for stage in stages if stage is not modules[0])
    assert f"COPY {GOPROXY_FOLDER} /goproxy\n" in modules[0]
    assert "GOPROXY=file:///goproxy,direct GOSUMDB=off go mod download" in modules[0]
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


def test_the_client_fetches_every_module_through_the_proxy_checked_against_go_sum(
    tmp_path: Path,
) -> None:
    """Through a proxy on loopback whose URL carries a password and a token: the file proxy
    holds each module's .mod, .zip, .info and list, and nothing of the proxy's address."""
    published = tmp_path / "proxy"
    publish(published, [GREET, WORDS])
    program = write_program(tmp_path / "shrinkme")
    with serving(published) as url:
        secret = url.replace("http://", "http://ann:hunter2-SECRET@")
        go_env = GoEnvironment({"GOPROXY": secret}, {"GOPROXY": "from the environment"})
        fetched = fetch_modules(program, go_env, timeout=10)
    assert fetched.modules == 2 and fetched.left_to_build == ()
    greet = f"{GOPROXY_FOLDER}/example.com/greet/@v"
    served = published / "example.com" / "greet" / "@v" / "v1.0.0.zip"
    assert fetched.files[f"{greet}/v1.0.0.zip"] == served.read_bytes()
    assert fetched.files[f"{greet}/v1.0.0.mod"] == GREET.go_mod.encode()
    assert fetched.files[f"{greet}/list"] == b"v1.0.0\n"
    everything = b"".join([*map(str.encode, fetched.files), *fetched.files.values()])
    assert b"hunter2" not in everything and url.split("//")[1].encode() not in everything
    assert "ann:xxxxx@127.0.0.1" in go_env.describe() and "hunter2" not in go_env.describe()


@pytest.mark.parametrize("separator", [",", "|"])
def test_a_proxy_list_falls_through_as_go_does(tmp_path: Path, separator: str) -> None:
    """`,` falls through on 404 or 410 only, `|` on any error (here a refused connection)."""
    published, empty = tmp_path / "proxy", tmp_path / "empty"
    publish(published, [GREET, WORDS])
    empty.mkdir()
    program = write_program(tmp_path / "shrinkme")
    with serving(published) as url, serving(empty) as nothing:
        first = nothing if separator == "," else f"http://127.0.0.1:{free_port()}"
        go_env = GoEnvironment({"GOPROXY": f"{first}{separator}{url}"}, {})
        assert fetch_modules(program, go_env, timeout=10).modules == 2
        if separator == "|":
            go_env = GoEnvironment({"GOPROXY": f"{first},{url}"}, {})
            with pytest.raises(ModuleNotFetched, match="Connection refused"):
                fetch_modules(program, go_env, timeout=10)


def test_a_module_that_is_not_what_go_sum_says_is_refused_naming_both(tmp_path: Path) -> None:
    published = tmp_path / "proxy"
    publish(published, [GREET, WORDS])
    lines = [*GREET.go_sum(), *WORDS.go_sum()]
    lines[0] = lines[0][:-10] + "AAAAAAAAA="
    program = write_program(tmp_path / "shrinkme", go_sum=lines)
    with serving(published) as url, pytest.raises(ModuleNotFetched) as refused:
        fetch_modules(program, GoEnvironment({"GOPROXY": url}, {}), timeout=10)
    assert "example.com/greet@v1.0.0 is not what go.sum says it is" in str(refused.value)


def test_private_modules_and_direct_are_left_to_the_build(tmp_path: Path) -> None:
    published = tmp_path / "proxy"
    publish(published, [WORDS])
    program = write_program(tmp_path / "shrinkme")
    with serving(published) as url:
        go_env = GoEnvironment({"GOPROXY": url, "GOPRIVATE": "example.com/gree*"}, {})
        fetched = fetch_modules(program, go_env, timeout=10)
        assert fetched.left_to_build == ("example.com/greet@v1.0.0",) and fetched.modules == 1
        go_env = GoEnvironment({"GOPROXY": f"{url},direct"}, {})
        assert fetch_modules(program, go_env, timeout=10).left_to_build == (
            "example.com/greet@v1.0.0",
        )
        with pytest.raises(ModuleNotFetched, match="GOPROXY=off disallows"):
            fetch_modules(program, GoEnvironment({"GOPROXY": f"{url},off"}, {}), timeout=10)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("http://user:pa55@127.0.0.1:3000", "http://user:xxxxx@127.0.0.1:3000"),
        ("http://127.0.0.1:3000/tok-SECRET", "http://127.0.0.1:3000/xxxxx"),
        ("https://h.example/go/AbCdEf012345", "https://h.example/go/xxxxx"),
        ("https://h.example/go?apikey=abc", "https://h.example/go?apikey=xxxxx"),
        ("https://proxy.golang.org,direct", "https://proxy.golang.org,direct"),
        (
            "https://artifactory.example.com/artifactory/api/go/go-remote|off",
            "https://artifactory.example.com/artifactory/api/go/go-remote|off",
        ),
    ],
)
def test_a_proxys_credentials_are_masked_wherever_it_is_shown(given: str, shown: str) -> None:
    assert mask_proxy(given) == shown
