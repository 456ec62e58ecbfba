"""`invoke shrink` without an engine: finding the program, its check, the ladder's Dockerfiles
against the workshop's, the reasons a rung broke, and bad input refused before anything runs."""

from __future__ import annotations

import http.server
import os
import re
import shlex
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.support.fakeengine import FakeEngine
from tests.support.loopback import served
from tests.support.paths import PROGRAMS
from tests.support.running import invoke
from workshop.errors import BadInput
from workshop.progress import Progress
from workshop.records.datafile import MAX_BYTES
from workshop.records.sizelog import SizeLog
from workshop.settings import Settings
from workshop.shrink import goapp
from workshop.shrink.appcheck import AppCheck, CheckFlags, Outcome, load_check, probe_once
from workshop.shrink.climb import (
    RungResult,
    _bases,
    _Climb,
    _context_weight,
    _reason,
    discard_unnamed,
    find_target,
)
from workshop.shrink.goapp import find_app
from workshop.shrink.goenv import NO_GO_ENV
from workshop.shrink.ladder import RUNGS, STATIC, dockerfile, roles
from workshop.shrink.needs import CERTS, TMP, TZDATA, Needs, needs_of
from workshop.steps.bases import RECIPE_LABEL, BaseResolver
from workshop.steps.runner import BuildPlan
from workshop.steps.workspace import DOCKERFILES, Workspace


def test_a_single_file_is_built_as_the_workshop_builds_app_go() -> None:
    app = find_app(DOCKERFILES / "app.go")
    assert (app.name, app.files, app.target, app.module, app.uses_cgo) == (
        "app",
        ("app.go",),
        ("app.go",),
        "",
        False,
    )


def test_a_main_package_below_its_module_is_built_from_the_modules_root() -> None:
    app = find_app(PROGRAMS / "greeter" / "cmd" / "greet")
    assert app.root == PROGRAMS / "greeter"
    assert app.target == ("./cmd/greet",)
    assert (app.module, app.go, app.vendored, app.name) == (
        "example.com/greeter",
        "1.19",
        True,
        "greet",
    )
    assert "vendor/example.com/words/words.go" in app.files
    assert "internal/shout/shout.go" in app.files


def test_cgo_is_found_from_the_import_of_c() -> None:
    assert find_app(PROGRAMS / "cgo").cgo_files == ("main.go",)
    assert not find_app(PROGRAMS / "https").uses_cgo


REQUIRES = (
    "module example.com/app\n\ngo 1.21\n\nrequire (\n\tgithub.com/x/y v1.2.3\n"
    "\tgolang.org/x/text v0.14.0 // indirect\n)\n"
)


def test_a_module_that_is_not_vendored_is_fetched_by_the_build(tmp_path: Path) -> None:
    shutil.copytree(PROGRAMS / "https", tmp_path / "app")
    (tmp_path / "app" / "go.mod").write_text(REQUIRES)
    (tmp_path / "app" / "go.sum").write_text("")
    app = find_app(tmp_path / "app")
    assert app.requires == ("github.com/x/y", "golang.org/x/text")
    assert app.downloads and app.go_sum


def test_a_module_that_requires_modules_without_a_go_sum_is_refused_naming_them(
    tmp_path: Path,
) -> None:
    shutil.copytree(PROGRAMS / "https", tmp_path / "app")
    (tmp_path / "app" / "go.mod").write_text(REQUIRES)
    with pytest.raises(BadInput) as refused:
        find_app(tmp_path / "app")
    assert "github.com/x/y, golang.org/x/text" in refused.value.message
    assert "no go.sum" in refused.value.message and "`go mod tidy`" in refused.value.message


def _module(folder: Path, **files: str) -> Path:
    _write(folder / "go.mod", "module example.com/tool\n\ngo 1.19\n")
    for name, text in files.items():
        _write(folder / name.replace("__", "/"), text)
    return folder


MAIN = "package main\n\nfunc main() {}\n"


def test_dockerignore_is_read_with_dockers_rules_and_secrets_stay_out(tmp_path: Path) -> None:
    folder = _module(
        tmp_path / "tool",
        **{
            "main.go": MAIN,
            "id_gen.go": "package main\n",
            ".dockerignore": "*.log\ndocs/**\n!docs/keep.md\n!deploy/public.key\n",
            "debug.log": "x",
            "docs__a.md": "x",
            "docs__keep.md": "x",
            ".env": "TOKEN=1",
            ".env.production": "TOKEN=2",
            "id_ed25519": "key",
            "id_ed25519.pub": "public",
            "deploy__server.pem": "-----BEGIN PRIVATE KEY-----\n",
            "deploy__chain.pem": "-----BEGIN CERTIFICATE-----\n",
            "deploy__public.key": "-----BEGIN RSA PRIVATE KEY-----\n",
            ".aws__credentials": "[default]",
        },
    )
    app = find_app(folder)
    assert set(app.left_out) == {
        ".env",
        ".env.production",
        "id_ed25519",
        "deploy/server.pem",
        ".aws/credentials",
    }
    assert "debug.log" not in app.files and "docs/a.md" not in app.files
    for kept in ("docs/keep.md", "id_gen.go", "id_ed25519.pub", "deploy/chain.pem"):
        assert kept in app.files
    # Kept on purpose: a `!` line names it.
    assert "deploy/public.key" in app.files


def test_a_module_with_several_mains_names_them_and_builds_the_one_pointed_at(
    tmp_path: Path,
) -> None:
    folder = _module(
        tmp_path / "tool",
        **{"cmd__serve__main.go": MAIN, "cmd__migrate__main.go": MAIN, "lib.go": "package tool\n"},
    )
    with pytest.raises(BadInput) as refused:
        find_app(folder)
    assert "./cmd/migrate, ./cmd/serve" in refused.value.message
    app = find_app(folder / "cmd" / "serve")
    assert app.target == ("./cmd/serve",) and app.other_mains == ("cmd/migrate",)


def test_a_replace_inside_the_module_is_built_and_one_outside_is_refused(tmp_path: Path) -> None:
    folder = _module(tmp_path / "tool", **{"main.go": MAIN, "local__go.mod": "module local\n"})
    go_mod = folder / "go.mod"
    go_mod.write_text(go_mod.read_text() + "require local v0.0.0\nreplace local => ./local\n")
    (folder / "go.sum").write_text("")
    assert find_app(folder).replaced == ("local",)
    go_mod.write_text(go_mod.read_text().replace("./local", "../elsewhere"))
    with pytest.raises(BadInput, match="outside the module's folder"):
        find_app(folder)


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda folder: folder / "missing", "does not exist"),
        (lambda folder: _write(folder / "notes.txt", "hello"), "not Go source"),
        (lambda folder: _write(folder / "lib" / "lib.go", "package lib\n"), "no Go main package"),
        (
            lambda folder: _write(folder / "nomain" / "x.go", "package main\n// func main()\n"),
            "no Go main package",
        ),
    ],
)
def test_what_is_not_a_go_program_is_refused(tmp_path: Path, make: object, said: str) -> None:
    assert callable(make)
    path = make(tmp_path)
    target = path.parent if path.name.endswith(".go") else path
    with pytest.raises(BadInput, match=said):
        find_app(target)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_check_comes_from_shrink_toml_with_the_flags_over_it(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "shrink.toml").write_text(
        'args = ["--once"]\noutput = "done"\ntimeout = 5\ntrust = ["ca.pem"]\n'
    )
    check = load_check(tmp_path, tmp_path, CheckFlags.parse(exit_status="3", stdin="in\n"))
    assert (check.args, check.output, check.exit, check.stdin, check.trust) == (
        ("--once",),
        "done",
        3,
        "in\n",
        ("ca.pem",),
    )
    assert check.timeout == 5.0 and not check.serves
    assert "shrink.toml, with the task's flags" in check.source


def test_without_file_or_flags_the_check_is_the_workshops(tmp_path: Path) -> None:
    check = load_check(tmp_path, tmp_path)
    assert check == AppCheck()
    assert check.describe() == "/app exits 0 within 30 s (the workshop's check)"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("port = 99999\n", "not a TCP port"),
        ("ports = 8080\n", "'ports', which shrink does not know"),
        ('exit = "0"\n', "is not a whole number"),
        ("args = [1]\n", "list of strings"),
        ('trust = ["../../etc/ssl/ca.pem"]\n', "not a file inside"),
        ("timeout = 0\n", "between 0 and 3600"),
        ("[[[", "is not valid TOML"),
    ],
)
def test_a_bad_check_file_is_refused_naming_it(tmp_path: Path, text: str, said: str) -> None:
    (tmp_path / "shrink.toml").write_text(text)
    with pytest.raises(BadInput, match=re.escape(said)):
        load_check(tmp_path, tmp_path)


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ({"port": "eighty"}, "--port 'eighty'"),
        ({"args": "'unclosed"}, "--args"),
        ({"timeout": "x"}, "--timeout"),
    ],
)
def test_bad_flags_are_refused(flags: dict[str, str], said: str) -> None:
    with pytest.raises(BadInput, match=re.escape(said)):
        CheckFlags.parse(**flags)


def _instructions(text: str) -> list[str]:
    """A Dockerfile's instructions, without comments, ARGs and spacing inside CMD's brackets."""
    lines = [line.strip() for line in text.splitlines()]
    kept = [line for line in lines if line and not line.startswith(("#", "ARG "))]
    return [re.sub(r'\[\s*"/app"\s*\]', '["/app"]', line) for line in kept]


@pytest.mark.parametrize(
    ("key", "workshops"),
    [
        ("1", "Dockerfile.big"),
        ("2", "Dockerfile.alpine"),
        ("3", "Dockerfile.multi-stage"),
        ("5", "Dockerfile.ldflags"),
    ],
)
def test_on_the_hello_world_each_rung_is_the_workshops_dockerfile(key: str, workshops: str) -> None:
    app = find_app(DOCKERFILES / "app.go")
    assert _instructions(dockerfile(key, app)) == _instructions(
        (DOCKERFILES / workshops).read_text()
    )


def test_rung_6_is_the_workshops_upx_with_upx_in_a_stage_of_its_own() -> None:
    app = find_app(DOCKERFILES / "app.go")
    ours = _instructions(dockerfile("6", app))
    workshops = _instructions((DOCKERFILES / "Dockerfile.upx").read_text())
    # The same lines, moved: the build stage's install goes to a stage of its own.
    assert sorted(line for line in ours if not line.startswith(("FROM", "COPY --from"))) == sorted(
        line for line in workshops if not line.startswith(("FROM", "COPY --from"))
    )
    assert ours[ours.index("RUN apk update && apk add upx") - 1] == (
        "FROM ${GOLANG_ALPINE_IMAGE} AS compress-stage"
    )
    assert ours[-2:] == ["COPY --from=compress-stage /app /", 'CMD ["/app"]']


def _compiling_stage(text: str) -> list[str]:
    """A Dockerfile's lines from the FROM of its stage that runs `go build` to that RUN."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    build = next(at for at, line in enumerate(lines) if " go build " in f" {line}")
    start = max(at for at, line in enumerate(lines[:build]) if line.startswith("FROM "))
    return [lines[start].removesuffix(" AS build-stage"), *lines[start + 1 : build + 1]]


@pytest.mark.parametrize("buildkit", [False, True], ids=["classic", "buildkit"])
@pytest.mark.parametrize(
    "program",
    [DOCKERFILES / "app.go", PROGRAMS / "greeter" / "cmd" / "greet", PROGRAMS / "cgo"],
    ids=["hello", "module", "cgo"],
)
def test_rungs_3_and_6_compile_what_rungs_2_and_5_compiled_so_the_layer_cache_serves_them(
    program: Path, buildkit: bool
) -> None:
    # The engine's layer cache serves a RUN whose parent and command match: the stage that
    # compiles must be the same lines, for every kind of program, with BuildKit or without.
    app = find_app(program)
    extras = (CERTS, TZDATA, STATIC) if app.uses_cgo else (CERTS,)

    def text(key: str, extras: tuple[str, ...] = ()) -> str:
        return dockerfile(key, app, extras=extras, buildkit=buildkit)

    assert _compiling_stage(text("3")) == _compiling_stage(text("2"))
    assert _compiling_stage(text("6", extras)) == _compiling_stage(text("5", extras))


def test_rung_4_is_the_workshops_scratch_with_cgo_turned_off_as_it_says() -> None:
    app = find_app(DOCKERFILES / "app.go")
    ours = _instructions(dockerfile("4", app))
    workshops = _instructions((DOCKERFILES / "Dockerfile.scratch").read_text())
    assert [line.replace("CGO_ENABLED=0 ", "") for line in ours] == workshops
    assert "RUN CGO_ENABLED=0 go build -o /app app.go" in ours


def test_the_written_dockerfile_defaults_to_the_bases_that_were_used() -> None:
    app = find_app(DOCKERFILES / "app.go")
    text = dockerfile("3", app, images={"golang-alpine": "workshop-base/golang:1.19-busybox"})
    assert "ARG GOLANG_ALPINE_IMAGE=workshop-base/golang:1.19-busybox" in text
    assert "ARG ALPINE_IMAGE=alpine" in text


def test_4b_adds_each_need_and_5_and_6_keep_them() -> None:
    app = find_app(PROGRAMS / "cgo")
    for key in ("4b", "5", "6"):
        text = dockerfile(key, app, extras=(CERTS, TZDATA, STATIC), trust=("ca.pem",))
        assert "COPY --from=build-stage /ca-certificates.crt /etc/ssl/certs/" in text
        assert "ENV ZONEINFO=/zoneinfo.zip" in text
        assert '-extldflags "-static"' in text
    assert "FROM ${GOLANG_ALPINE_IMAGE} AS compress-stage" in dockerfile("6", app, extras=(STATIC,))
    assert "-static" not in dockerfile("4", app, extras=(STATIC,))


def _broke(key: str, output: str, code: int = 1) -> RungResult:
    return RungResult(
        rung=RUNGS[key],
        dockerfile="",
        size=1,
        outcome=Outcome(False, code, output, 0.1, failure=f"it exited {code}, not 0"),
    )


def test_a_broken_rung_says_why_from_what_the_program_said() -> None:
    app = find_app(PROGRAMS / "https")
    tls = _broke("4", 'Get "https://127.0.0.1:1/": x509: certificate signed by unknown authority\n')
    said = _reason(tls, app, Needs(), {CERTS: 216_591})
    assert said.endswith("scratch has no CA bundle; rung 4b adds /etc/ssl/certs (+217kB)")
    zone = _reason(_broke("3", "unknown time zone Europe/Paris\n"), app, Needs(), {})
    assert zone == (
        "unknown time zone Europe/Paris: alpine has no time-zone data; "
        "rung 4b adds Go's zoneinfo.zip"
    )
    dynamic = Needs(interpreter="/lib64/ld-linux-x86-64.so.2")
    gone = _broke("4", "docker: exec /app: no such file or directory\n", 127)
    assert "the binary links libc" in _reason(gone, app, dynamic, {})
    assert "CGO_ENABLED=0 fixes it" in _reason(gone, app, dynamic, {})
    other = _reason(_broke("5", "panic: boom\n", 2), app, Needs(), {})
    assert other == "it exited 2, not 0: panic: boom"


def test_a_failed_build_says_why() -> None:
    cgo = find_app(PROGRAMS / "cgo")
    failed = RungResult(
        rung=RUNGS["2"],
        dockerfile="",
        build_failure=("# example.com/cgo", "build constraints exclude all Go files"),
    )
    assert 'it uses cgo (import "C" in main.go)' in _reason(failed, cgo, Needs(), {})
    plain = find_app(PROGRAMS / "https")
    assert (
        _reason(failed, plain, Needs(), {})
        == "the build failed: build constraints exclude all Go files"
    )


def test_what_is_not_an_elf_binary_has_no_needs_to_read() -> None:
    assert needs_of(b"#!/bin/sh\necho hello\n") == Needs(readable=False)


def test_a_path_that_is_not_a_program_exits_64_before_any_engine_is_asked(tmp_path: Path) -> None:
    result = invoke(
        "shrink", str(tmp_path / "nowhere"), env={"DOCKER_HOST": "unix:///nonexistent.sock"}
    )
    assert result.returncode == 64, result.stderr
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_a_4400_digit_integer_in_shrink_toml_is_a_message(tmp_path: Path) -> None:
    (tmp_path / "shrink.toml").write_text("exit = " + "9" * 4400 + "\n")
    with pytest.raises(BadInput, match=r"shrink\.toml is not valid TOML"):
        load_check(tmp_path, tmp_path)


def test_a_server_check_with_no_network_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="network none"):
        load_check(tmp_path, tmp_path, CheckFlags.parse(network="none", port="8080"))


HELLO = 'package main\n\nfunc main() { println("Hello world!") }\n'


@pytest.mark.parametrize("name", ["my file.go", "z;echo INJECTED-$(id -u);.go"])
def test_a_file_name_goes_into_run_go_build_quoted(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(HELLO)
    if "$" in name:
        with pytest.raises(BadInput, match=r"\$"):
            find_app(tmp_path / name)
        return
    app = find_app(tmp_path / name)
    run = next(line for line in dockerfile("5", app).splitlines() if "go build" in line)
    assert run.endswith(f"-o /app {shlex.quote(name)}"), run


def test_a_file_name_with_a_semicolon_cannot_run_a_command(tmp_path: Path) -> None:
    (tmp_path / "z;echo INJECTED;.go").write_text(HELLO)
    app = find_app(tmp_path)
    run = next(line for line in dockerfile("1", app).splitlines() if "go build" in line)
    assert shlex.split(run.split(" ", 1)[1])[-1] == "z;echo INJECTED;.go", run


def test_a_broken_rungs_image_is_removed_only_where_no_name_holds_it(
    fake_engine: FakeEngine,
) -> None:
    # The build cache gives a rung of a rerun the image of the last run's rung, which its tag
    # holds: removing it by id would take the last run's image with it.
    named = fake_engine.add("shrink-hello-5")
    discard_unnamed(fake_engine, named.id)
    assert fake_engine.image(named.id) is not None
    unnamed = fake_engine.add()
    discard_unnamed(fake_engine, unnamed.id)
    assert fake_engine.image(unnamed.id) is None


def test_two_programs_of_one_name_never_share_a_folder_or_tags(tmp_path: Path) -> None:
    keys = set()
    for folder in ("colA/app", "colB/app", "日本語", "app"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "main.go").write_text(HELLO)
        app = find_app(tmp_path / folder)
        assert app.key.startswith(f"{app.name}-")
        keys.add(app.key)
    assert len(keys) == 4
    # And the same program, however it is pointed at, is the same one.
    assert (
        find_app(tmp_path / "colA" / ".." / "colA" / "app").key
        == find_app(tmp_path / "colA/app").key
    )


class SlowAnswer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(3)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_that_answers_after_3_s_is_heard_within_its_timeout() -> None:
    with served(http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowAnswer)) as port:
        assert probe_once(("127.0.0.1", port), "/", timeout=10) == 204


def test_a_host_network_check_on_a_port_already_taken_is_refused_before_building(
    tmp_path: Path,
) -> None:
    (tmp_path / "main.go").write_text(HELLO)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        flags = CheckFlags.parse(network="host", port=str(port))
        with pytest.raises(BadInput, match=f"port {port} is taken"):
            find_target(tmp_path, flags, shrink_dir=tmp_path / "out")


def test_a_go_file_given_by_a_symlink_is_built_from_where_it_is(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "hello.go").write_text(HELLO)
    (tmp_path / "link.go").symlink_to(tmp_path / "real" / "hello.go")
    app = find_app(tmp_path / "link.go")
    # The context holds the file itself, not a link that points out of it.
    assert (app.root, app.files) == (tmp_path / "real", ("hello.go",))


def test_a_long_import_block_is_read_in_linear_time(tmp_path: Path) -> None:
    # A real module's vendored file with a long import block and no "C" made the old pattern
    # backtrack for ever (skipjira's vendor/: 15 minutes at 100% CPU). Bounded by an alarm.
    imports = "".join(f'\t"example.com/p{n}" // p{n} (x)\n' for n in range(40))
    source = f"package main\n\nimport (\n{imports})\n\nfunc main() {{}}\n"
    _write(tmp_path / "main.go", source)
    _write(tmp_path / "c.go", 'package main\n\n// #include <stdio.h>\nimport "C"\n')
    _write(tmp_path / "d.go", 'package main\n\nimport (\n\t"fmt"\n\t"C"\n)\n')

    def too_long(signum: int, frame: object) -> None:
        raise TimeoutError("classifying the imports took more than 5 s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(5)
    try:
        app = find_app(tmp_path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert app.cgo_files == ("c.go", "d.go")


@pytest.mark.parametrize(
    ("name", "header", "built"),
    [
        ("x_windows.go", "", False),
        ("x_aix_ppc64.go", "", False),
        ("x_linux_arm64.go", "", True),
        ("x_hurd.go", "", False),
        ("x.go", "//go:build aix && ppc64\n\n", False),
        ("x.go", "//go:build (darwin || linux) && cgo\n\n", True),
        ("x.go", "//go:build gccgo\n\n", False),
        ("x.go", "//go:build !windows\n\n", True),
    ],
)
def test_only_files_built_on_linux_make_a_program_cgo(
    tmp_path: Path, name: str, header: str, built: bool
) -> None:
    # Vendored golang.org/x/sys holds cgo files for aix and hurd: not this program's.
    _write(tmp_path / "main.go", MAIN)
    _write(tmp_path / name, f'{header}package main\n\nimport "C"\n')
    assert find_app(tmp_path).uses_cgo is built


def foreign_climb(tmp_path: Path, *, mode: str, arm64_built: bool) -> tuple[_Climb, BaseResolver]:
    """A climb for linux/arm64 on an amd64 engine holding amd64 stand-ins (and, where said,
    arm64 ones), with the bases mode `mode`."""
    engine = FakeEngine()
    progress = Progress(Console(file=None))
    bases = BaseResolver(engine=engine, progress=progress, mode=mode)
    arm64 = bases.for_platform("linux/arm64")
    for resolver in (bases, arm64) if arm64_built else (bases,):
        recipes = resolver.recipes()
        for reference in resolver.standins.all():
            engine.add(reference, labels={RECIPE_LABEL: recipes[reference]})
    shutil.copy(DOCKERFILES / "app.go", tmp_path / "app.go")
    app = find_app(tmp_path / "app.go")
    plan = BuildPlan(
        engine=engine,
        bases=bases,
        workspace=Workspace(tmp_path / "workspace"),
        size_log=SizeLog(tmp_path / "sizes.json"),
        progress=progress,
        platform="linux/arm64",
    )
    check = load_check(tmp_path, tmp_path)
    return _Climb(plan, app, check, NO_GO_ENV, ship_bases=arm64), bases


def test_rungs_1_to_3_for_a_foreign_platform_ship_on_its_own_stand_in(tmp_path: Path) -> None:
    climb, bases = foreign_climb(tmp_path, mode="local", arm64_built=True)
    for key, shipped in (("1", "golang"), ("3", "alpine")):
        resolved = [bases.resolve(role) for role in roles(key, climb.app)]
        used, skipped = climb._shipped_on_platform(key, resolved)
        assert skipped == ""
        assert used[-1].reference.endswith("-linux-arm64") and used[-1].role == shipped
        # The build stage stays on the build platform's image: it cross-compiles.
        assert used[:-1] == resolved[:-1]
    # Rung 4 and on compile on the build platform and ship FROM scratch.
    resolved = [bases.resolve(role) for role in roles("4", climb.app)]
    assert climb._shipped_on_platform("4", resolved) == (resolved, "")


def test_where_a_foreign_platforms_stand_in_cant_be_had_the_rung_says_why(
    tmp_path: Path,
) -> None:
    climb, bases = foreign_climb(tmp_path, mode="auto", arm64_built=False)
    assert climb.ship_bases is not None
    climb.ship_bases.mode = "workshop"  # no stand-ins: as where nothing is pullable
    resolved = [bases.resolve("golang")]
    used, skipped = climb._shipped_on_platform("1", resolved)
    assert used == resolved
    assert skipped.startswith("not built: it ships on workshop-base/golang:1.19-bookworm,")
    assert "linux/arm64's could not be had: golang:1.10 is neither present nor pullable" in skipped


def test_only_go_files_are_read_as_go_sources(tmp_path: Path) -> None:
    """A PNG, a file past the readers' limit and an unreadable file beside main.go are the
    program's files, not its sources: the module is found and they are in its context."""
    program = tmp_path / "server"
    shutil.copytree(PROGRAMS / "server", program)
    (program / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" * 100)
    with open(program / "data.bin", "wb") as large:
        large.truncate(MAX_BYTES + 1)
    (program / "secret-ish.dat").write_text("x")
    (program / "secret-ish.dat").chmod(0)
    app = find_app(program)
    assert app.target == (".",)
    assert {"logo.png", "data.bin", "main.go"} <= set(app.files)


def test_a_go_line_newer_than_every_stand_in_is_refused_before_any_build(tmp_path: Path) -> None:
    climb, _ = foreign_climb(tmp_path, mode="auto", arm64_built=False)
    (tmp_path / "go.mod").write_text("module example.com/future\n\ngo 1.99\n")
    app = find_app(tmp_path)
    engine = climb.plan.engine
    assert isinstance(engine, FakeEngine)
    with pytest.raises(BadInput) as refused:
        _bases(climb.plan, Settings(), app)
    message = " ".join(refused.value.message.split())
    assert "go.mod asks for Go 1.99, newer than any Go the stand-ins have" in message
    assert engine.builds == [] and engine.pulls == ["golang:1.99"]
    # With golang:1.99 on the engine, it is built on.
    engine.add("golang:1.99")
    _bases(climb.plan, Settings(), app)


def test_4b_gives_a_program_that_writes_temporary_files_an_empty_writable_tmp() -> None:
    app = find_app(DOCKERFILES / "app.go")
    text = dockerfile("4b", app, extras=(TMP,))
    assert "RUN mkdir -p /rootfs/tmp && chmod 1777 /rootfs/tmp" in text
    assert text.splitlines().index("COPY --from=build-stage /rootfs/ /") > text.splitlines().index(
        "FROM scratch"
    )
    assert "/rootfs/" not in dockerfile("4b", app, extras=(CERTS,))


def test_a_folder_this_user_may_not_read_is_one_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a user without root's override of modes: a folder of mode 000 (the error Python
    raises then), and a file among the program's that can't be read."""
    program = tmp_path / "server"
    shutil.copytree(PROGRAMS / "server", program)

    def denied(folder: Path) -> None:
        raise PermissionError(13, "Permission denied", str(folder))

    with monkeypatch.context() as patched:
        patched.setattr(goapp, "_find_go_mod", denied)
        with pytest.raises(BadInput, match=r"server can't be read \(Permission denied\)"):
            find_app(program)
    (program / "notes.txt").write_text("x")
    readable = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: readable(path, mode) and "notes" not in str(path)
    )
    with pytest.raises(BadInput, match=r"notes.txt in .* can't be read"):
        find_app(program)


def test_a_heavy_context_is_weighed_and_what_dockerignore_would_drop_named(
    tmp_path: Path,
) -> None:
    program = tmp_path / "server"
    shutil.copytree(PROGRAMS / "server", program)
    assert _context_weight(find_app(program)) == ""
    with open(program / "dataset.bin", "wb") as large:
        large.truncate(500_000_000)
    said = _context_weight(find_app(program))
    assert said.startswith("The build context weighs 500MB: every rung sends it to the engine")
    assert "dataset.bin (500MB)" in said and "would drop 500MB" in said
    assert "main.go" not in said
