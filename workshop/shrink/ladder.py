"""The workshop's techniques as a ladder of Dockerfiles for any Go program (`invoke shrink`).

Each rung is one technique, in the workshop's order, written in the workshop's words: the same
build args (GOLANG_IMAGE, GOLANG_ALPINE_IMAGE, ALPINE_IMAGE, defaulting to the workshop's
images), `build-stage`, `/app`. For a program without a go.mod the Dockerfiles are the
workshop's own, line for line, with its file names in place of app.go, but for rung 6: its UPX
is in a stage of its own, so that rung 6 compiles nothing rung 5 has not (the workshop's
Dockerfile.upx installs upx before copying the source, so its compile is never cached).
Rung 3's build stage is rung 2's: built after it, rung 3 compiles nothing either.

    1   one stage on golang                                 (the workshop's step 4, go-big)
    2   one stage on golang-alpine                          (step 5, go-alpine)
    3   multi-stage: golang-alpine builds, alpine ships     (step 6, go-multi-stage)
    4   FROM scratch, a static binary (CGO_ENABLED=0)       (step 7, go-scratch)
    4b  4 with what the program needs on scratch            (only where it needs something)
    5   stripped by the linker: -trimpath -ldflags="-s -w"  (step 10, go-ldflags; step 8 strips)
    6   compressed with UPX                                 (step 11, go-upx)

A program that uses cgo (`import "C"`) builds on golang from rung 4 on, as golang-alpine has
no C compiler; rung 4 links it as cgo does (dynamically), and 4b statically.

A module is built as a Go developer writes its Dockerfile: go.mod and go.sum (and vendor/)
first, the sources after, so a changed line does not fetch the modules again. Where it fetches
them, a stage of its own (`modules`) does, with the user's Go environment as build args of that
stage only; the build stage takes the module cache from it (with BuildKit, bind-mounted, and the
build cache in a cache mount) and builds with GOPROXY=off. GOTOOLCHAIN=local: the base's Go
builds it, never a toolchain fetched in the build. The image runs `ENTRYPOINT ["/app"]`, with
the check's args as its CMD, so that `docker run IMAGE ARGS` passes arguments to the program.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from workshop.shrink.goapp import GoApp
from workshop.shrink.goenv import BUILD_GO_ENV_NAMES
from workshop.shrink.modfetch import FILE_PROXY, GOPROXY_FOLDER
from workshop.shrink.needs import CERTS, TMP, TZDATA, USERS
from workshop.steps.bases import ROLES

__all__ = ["EXTRAS", "MODULES", "RUNGS", "STATIC", "Rung", "dockerfile", "runs_as_built"]

# Where the modules stage puts the module cache, and where the build stage finds it.
MODULES = "/modules"
# The build cache's cache mount (BuildKit).
GO_CACHE = "/root/.cache/go-build"

# Beyond the needs read from the binary: link statically (a cgo program, or a dynamic binary).
STATIC = "static"
# What 4b adds for each, in words.
EXTRAS = {
    CERTS: "the CA bundle, /etc/ssl/certs/ca-certificates.crt",
    TZDATA: "Go's time-zone archive, /zoneinfo.zip, with ZONEINFO pointing at it",
    USERS: "an /etc/passwd naming nobody, and USER 65534",
    TMP: "an empty, writable /tmp (mode 1777)",
    STATIC: "a statically linked binary",
}


@dataclass(frozen=True)
class Rung:
    key: str
    title: str
    # The workshop's step whose Dockerfile this one follows.
    workshop_step: int

    def title_for(self, app: GoApp) -> str:
        if self.key == "4" and app.uses_cgo:
            return "FROM scratch, built on golang as cgo links it (dynamically)"
        return self.title

    @property
    def number(self) -> int:
        """Its place in the ladder, 1 to 7: the step number in the size log."""
        return list(RUNGS).index(self.key) + 1


RUNGS = {
    rung.key: rung
    for rung in (
        Rung("1", "one stage on the golang base", 4),
        Rung("2", "one stage on the golang-alpine base", 5),
        Rung("3", "multi-stage: built on golang-alpine, shipped on alpine", 6),
        Rung("4", "FROM scratch with a static binary (CGO_ENABLED=0)", 7),
        Rung("4b", "FROM scratch with what the program needs", 7),
        Rung("5", 'stripped by the linker: -trimpath -ldflags="-s -w"', 10),
        Rung("6", "compressed with UPX (start-up cost measured)", 11),
    )
}


def roles(key: str, app: GoApp) -> tuple[str, ...]:
    """The base roles rung `key` builds on, in its Dockerfile's order."""
    if key == "1":
        return ("golang",)
    if key == "2":
        return ("golang-alpine",)
    if key == "3":
        return ("golang-alpine", "alpine")
    build = "golang" if app.uses_cgo else "golang-alpine"
    return (build, "golang-alpine") if key == "6" and app.uses_cgo else (build,)


def dockerfile(
    key: str,
    app: GoApp,
    *,
    extras: tuple[str, ...] = (),
    trust: tuple[str, ...] = (),
    trimpath: bool = True,
    images: Mapping[str, str] | None = None,
    args: tuple[str, ...] = (),
    buildkit: bool = False,
    cross: bool = False,
) -> str:
    """Rung `key`'s Dockerfile for `app`; `extras` (4b on) from EXTRAS; `trust`, CA files to
    add to the bundle; `trimpath`, whether the toolchain knows -trimpath (Go 1.13 on);
    `images`, the base images by role that the build args default to (the workshop's where
    not given), so that the file builds with `docker build` alone where they are; `args`,
    the check's arguments, the image's CMD; `buildkit`, cache mounts for the builder that
    has them; `cross`, multi-stage rungs compiled by the build platform's Go for the target's
    ($BUILDPLATFORM, $TARGETOS, $TARGETARCH), so that one file builds every platform."""
    images = images or {}
    header = _header(key, app)
    run = _run_lines(app, args, workshop='CMD [ "/app" ]')
    if key in ("1", "2"):
        role = "golang" if key == "1" else "golang-alpine"
        return _lines(
            *header,
            _arg(role, images),
            *_modules_stage(app, role),
            f"FROM ${{{_build_arg(role)}}}",
            *_sources(app, buildkit=buildkit),
            _go_build(app, buildkit=buildkit),
            *_trusted(trust),
            *_run_lines(app, args, workshop='CMD ["/app"]'),
        )
    if key == "3":
        return _lines(
            *header,
            _arg("golang-alpine", images),
            _arg("alpine", images),
            *_modules_stage(app, "golang-alpine", cross=cross),
            *_build_stage("golang-alpine", cross=cross),
            *_sources(app, buildkit=buildkit),
            _go_build(app, buildkit=buildkit, cross=cross),
            "",
            "FROM ${ALPINE_IMAGE}",
            "COPY --from=build-stage /app /",
            *_trusted(trust),
            *run,
        )
    return _scratch(
        key,
        app,
        extras=extras if key != "4" else (),
        trust=trust,
        trimpath=trimpath,
        images=images,
        run=run,
        buildkit=buildkit,
        cross=cross,
    )


def _build_stage(role: str, *, cross: bool, name: str = "build-stage") -> list[str]:
    """The FROM of a stage that compiles: on the build platform, for the target, when `cross`."""
    if not cross:
        return [f"FROM ${{{_build_arg(role)}}} AS {name}"]
    return [
        "# Compiled by the build platform's Go for the target platform: no emulation needed.",
        f"FROM --platform=$BUILDPLATFORM ${{{_build_arg(role)}}} AS {name}",
        "ARG TARGETOS",
        "ARG TARGETARCH",
    ]


def runs_as_built(app: GoApp, args: tuple[str, ...]) -> bool:
    """Whether the images run `ENTRYPOINT ["/app"]` with the args as CMD (a module, or a
    program checked with args), rather than the workshop's `CMD ["/app"]`."""
    return bool(app.module or args)


def _run_lines(app: GoApp, args: tuple[str, ...], *, workshop: str) -> list[str]:
    if not runs_as_built(app, args):
        return [workshop]
    lines = [
        "# The program is the entrypoint: `docker run IMAGE ARGS` passes ARGS to it.",
        'ENTRYPOINT ["/app"]',
    ]
    return lines + ([f"CMD {json.dumps(list(args))}"] if args else [])


def _modules_stage(app: GoApp, role: str, *, cross: bool = False) -> list[str]:
    """The stage that fetches the modules, where the build fetches any: the user's Go
    environment is given to it alone."""
    if not app.downloads:
        return []
    platform = "--platform=$BUILDPLATFORM " if cross else ""
    return [
        "# The modules: fetched by `invoke shrink` through your GOPROXY, checked against go.sum",
        f"# and handed over in {GOPROXY_FOLDER}/, read here as a file proxy, so no proxy address",
        "# or credential is in this build. Private modules (GOPRIVATE) come from their source.",
        f"# By hand: GOMODCACHE=$PWD/.m go mod download && mv .m/cache/download {GOPROXY_FOLDER}",
        f"FROM {platform}${{{_build_arg(role)}}} AS modules",
        *(f"ARG {name}" for name in BUILD_GO_ENV_NAMES),
        "WORKDIR /src",
        f"COPY {GOPROXY_FOLDER} {FILE_PROXY}",
        *_module_files(app),
        f"RUN GOMODCACHE={MODULES} GOTOOLCHAIN=local GOPROXY=file://{FILE_PROXY},direct "
        "GOSUMDB=off go mod download",
        "",
    ]


def _module_files(app: GoApp) -> list[str]:
    """go.mod and go.sum, and the go.mod of each folder a replace line points at."""
    lines = [_copy(("go.mod", "go.sum") if app.go_sum else ("go.mod",), "./")]
    for folder in app.replaced:
        lines.append(_copy((f"{folder}/go.mod",), f"{folder}/"))
    return lines


def _go_flags(
    key: str, app: GoApp, *, extras: tuple[str, ...], trimpath: bool
) -> tuple[str, list[str]]:
    """The environment and flags of rung `key`'s `go build`."""
    flags: list[str] = []
    ldflags: list[str] = []
    if key in ("5", "6"):
        if trimpath:
            flags.append("-trimpath")
        ldflags += ["-s", "-w"]
    env = "" if app.uses_cgo else "CGO_ENABLED=0 "
    if STATIC in extras:
        # cgo's C parts linked into the binary, as scratch has no C library to load them from.
        env = "CGO_ENABLED=1 " if app.uses_cgo else "CGO_ENABLED=0 "
        if app.uses_cgo:
            ldflags += ["-linkmode", "external", "-extldflags", '"-static"']
    if ldflags:
        joined = " ".join(ldflags)
        flags.append(f"-ldflags='{joined}'" if '"' in joined else f'-ldflags="{joined}"')
    return env, flags


def _extra_files(extras: tuple[str, ...], trust: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The build stage's and the final image's lines for what scratch lacks and /app needs."""
    build: list[str] = []
    final: list[str] = []
    if CERTS in extras:
        final.append("# The CA bundle: the program verifies TLS certificates (crypto/x509).")
        if trust:
            build += [
                _copy(trust, "/trust/"),
                "RUN cat /etc/ssl/certs/ca-certificates.crt /trust/* > /ca-certificates.crt",
            ]
            final.append("COPY --from=build-stage /ca-certificates.crt /etc/ssl/certs/")
        else:
            final.append(
                "COPY --from=build-stage /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/"
            )
    if TZDATA in extras:
        final.append("# Go's time-zone archive: the program loads time zones (time.LoadLocation).")
        build.append('RUN cp "$(go env GOROOT)/lib/time/zoneinfo.zip" /zoneinfo.zip')
        final += ["COPY --from=build-stage /zoneinfo.zip /", "ENV ZONEINFO=/zoneinfo.zip"]
    if USERS in extras:
        final.append("# A user to run as: the program looks users up (os/user).")
        build.append("RUN echo 'nobody:x:65534:65534:nobody:/:/sbin/nologin' > /passwd")
        final.append("COPY --from=build-stage /passwd /etc/passwd")
    if TMP in extras:
        final.append("# An empty /tmp anyone may write: the program writes temporary files.")
        # Copied as the child of a folder, so that its mode (1777) comes along.
        build.append("RUN mkdir -p /rootfs/tmp && chmod 1777 /rootfs/tmp")
        final.append("COPY --from=build-stage /rootfs/ /")
    return build, final


def _scratch(
    key: str,
    app: GoApp,
    *,
    extras: tuple[str, ...],
    trust: tuple[str, ...],
    trimpath: bool,
    images: Mapping[str, str],
    run: list[str],
    buildkit: bool,
    cross: bool,
) -> str:
    build_role = "golang" if app.uses_cgo else "golang-alpine"
    env, flags = _go_flags(key, app, extras=extras, trimpath=trimpath)
    build = [
        _arg(build_role, images),
        *([_arg("golang-alpine", images)] if key == "6" and app.uses_cgo else []),
        *_modules_stage(app, build_role, cross=cross),
        *_build_stage(build_role, cross=cross),
    ]
    build += _sources(app, buildkit=buildkit)
    if key in ("5", "6"):
        build.append("# The linker leaves out the symbol table (-s) and DWARF (-w).")
    build.append(_go_build(app, env=env, flags=flags, buildkit=buildkit, cross=cross))
    final = [
        "# scratch: the zero-files image; /app and what it needs are all it holds.",
        "FROM scratch",
    ]
    if STATIC in extras and app.uses_cgo:
        build.insert(
            len(build) - 1,
            "# cgo's C parts linked into /app: scratch has no C library to load them from.",
        )
    extra_build, extra_final = _extra_files(extras, trust)
    build += extra_build
    final += extra_final
    source = "build-stage"
    if key == "6":
        # UPX in a stage of its own, on golang-alpine (golang has no upx to offer): the build
        # stage above is rung 5's, line for line, so its compile comes from the layer cache.
        build += [
            "",
            (
                "FROM --platform=$BUILDPLATFORM ${GOLANG_ALPINE_IMAGE} AS compress-stage"
                if cross
                else "FROM ${GOLANG_ALPINE_IMAGE} AS compress-stage"
            ),
            "RUN apk update && apk add upx",
            "COPY --from=build-stage /app /app",
            "# UPX: /app compressed; it unpacks itself in memory at every start.",
            "RUN upx --best --lzma /app",
        ]
        source = "compress-stage"
    final.append(f"COPY --from={source} /app /")
    if USERS in extras:
        final.append("USER 65534")
    final += run
    return _lines(*_header(key, app), *build, "", *final)


def _header(key: str, app: GoApp) -> list[str]:
    rung = RUNGS[key]
    lines = [
        f"# Rung {key} of `invoke shrink` for {app.name}: {rung.title_for(app)}.",
        f"# The workshop's step {rung.workshop_step}, applied to this program. Build it from the "
        "program's folder:",
        f"#   docker build -f THIS_FILE -t {app.name} {app.root}",
    ]
    if app.downloads:
        given = " ".join(f"--build-arg {name}" for name in ("GOPROXY", "GOPRIVATE", "GOFLAGS"))
        lines += [
            "# With your Go settings, each taken from your environment (and --network host for",
            "# a proxy on this machine's localhost):",
            f"#   docker build {given} -f THIS_FILE -t {app.name} {app.root}",
        ]
    return lines


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def _build_arg(role: str) -> str:

    return ROLES[role].build_arg


def _arg(role: str, images: Mapping[str, str]) -> str:

    image = images.get(role, ROLES[role].workshop_image)
    return f"ARG {ROLES[role].build_arg}={image}"


def _sources(app: GoApp, *, buildkit: bool) -> list[str]:
    if not app.module:
        return [_copy(app.files, "." if len(app.files) == 1 else "./")]
    lines = ["WORKDIR /src"]
    if app.downloads or app.vendored:
        lines.append("# go.mod and go.sum first, then the sources: a changed line fetches nothing.")
        lines += _module_files(app)
    if app.vendored:
        lines.append("COPY vendor/ vendor/")
    if app.downloads and not buildkit:
        lines.append(f"COPY --from=modules {MODULES} {MODULES}")
    return [*lines, "COPY . ."]


def _copy(names: tuple[str, ...], destination: str) -> str:
    """COPY `names` to `destination`, in the JSON form where a name needs quoting."""
    if all(shlex.quote(name) == name for name in names):
        return f"COPY {' '.join(names)} {destination}"
    return f"COPY {json.dumps([*names, destination])}"


def _go_build(
    app: GoApp,
    *,
    env: str = "",
    flags: list[str] | None = None,
    buildkit: bool = False,
    cross: bool = False,
) -> str:
    options = [*(["-mod=vendor"] if app.vendored else []), *(flags or [])]
    # Quoted: a file's name is the user's, and this line runs in a shell.
    targets = [shlex.quote(target) for target in app.target]
    mounts: list[str] = []
    if app.module:
        if app.downloads:
            env = f"GOMODCACHE={MODULES} GOPROXY=off {env}"
        env = f"GOTOOLCHAIN=local {env}"
        if buildkit:
            if app.downloads:
                mounts.append(
                    f"--mount=type=bind,from=modules,source={MODULES},target={MODULES},rw"
                )
            mounts.append(f"--mount=type=cache,target={GO_CACHE}")
    if cross:
        env = f"{env}GOOS=$TARGETOS GOARCH=$TARGETARCH "
    return " ".join(["RUN", *mounts, f"{env}go", "build", *options, "-o", "/app", *targets])


def _trusted(trust: tuple[str, ...]) -> list[str]:
    """Lines adding `trust` to the image's own CA bundle (rungs 1 to 3 ship one)."""
    if not trust:
        return []
    return [
        _copy(trust, "/trust/"),
        "RUN cat /trust/* >> /etc/ssl/certs/ca-certificates.crt && rm -r /trust",
    ]
