"""The run's settings: one frozen object, made from invoke config and validated once.

This is the only place defaults live. Invoke config under `workshop` (invoke.yaml, then
INVOKE_WORKSHOP_* environment variables) holds only what a person set: every key starts as None,
so invoke hands environment values over as text and never casts them itself (its int() of
"abc" would be a traceback before any task runs). Unknown keys are refused, and runtime objects
(the engine, the base resolver, running builds) are never settings: they live in the session.
Relative paths are taken from the project root (where tasks.py is), not the working directory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from workshop.errors import BadInput, RegistryError
from workshop.paths import PROJECT_ROOT
from workshop.platforms import parse_platforms
from workshop.releases import GO_RELEASES

__all__ = ["BUILDERS", "CONFIG_KEYS", "MODES", "Settings", "check_tag"]

BUILDERS = ("legacy", "buildkit")
MODES = ("auto", "workshop", "local")
# Docker's grammar for one path component of an image name (distribution/reference).
_NAME_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_MIRROR = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]+)?(/[A-Za-z0-9._~/\-]*)?")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Settings:
    """Every setting, with its default. Paths are absolute."""

    # Where the steps write their files, like the workshop's /project.
    workspace: Path = PROJECT_ROOT / "build/workshop"
    size_log: Path = PROJECT_ROOT / "build/sizes.json"
    # Each `invoke all` adds its sizes here; the last `history_keep` runs are kept.
    history: Path = PROJECT_ROOT / "build/history.json"
    history_keep: int = 20
    # Where `invoke sweep` keeps a size log per Go release, and the table of them all.
    sweep_dir: Path = PROJECT_ROOT / "build/sweep"
    # Where `invoke shrink` keeps, per program, its smallest working Dockerfile and size log.
    shrink_dir: Path = PROJECT_ROOT / "build/shrink"
    # Where `invoke report` writes report.html and report.md.
    report_dir: Path = PROJECT_ROOT / "build"
    # auto: the workshop's images where present or pullable, else local stand-ins;
    # workshop: only the workshop's images; local: only the stand-ins.
    bases: str = "auto"
    # The Go release of the local stand-ins (Debian's).
    go: str = "1.19"
    debian_mirror: str = "http://deb.debian.org/debian"
    # Every line of build output instead of the current instruction.
    verbose: bool = False
    no_cache: bool = False
    # legacy: the engine's builder, through the Docker SDK; buildkit: `docker buildx build --load`.
    builder: str = "legacy"
    # The platforms `invoke all`, `beyond` and `shrink` build for (linux/amd64,linux/arm64), and
    # verify checks; empty: the engine's own.
    platform: str = ""
    # Put before every step's tag (tests use one, to leave the workshop's own images alone).
    tag_prefix: str = ""
    # A registry (host:port) to push each step's image to and read its pull size back from;
    # empty: the pull size is not measured.
    registry: str = ""
    # Bounds on waiting, in seconds: one call to the engine; one build, whole (and the longest
    # its output may stay silent); one run of an app, from start to exit.
    engine_timeout: float = 60.0
    build_timeout: float = 1800.0
    run_timeout: float = 60.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Settings from invoke's `workshop` config; BadInput naming the setting otherwise."""
        unknown = sorted(set(config) - set(CONFIG_KEYS))
        if unknown:
            raise BadInput(
                f"Unknown setting workshop.{unknown[0]}: it is not one this project reads. The "
                f"settings are: {', '.join(CONFIG_KEYS)}. Remove it from invoke.yaml or the "
                "environment, then run the task again."
            )
        values: dict[str, Any] = {}
        for field in fields(cls):
            value = config.get(field.name)
            if value is None:
                continue
            values[field.name] = _PARSERS[str(field.type)](field.name, value)
        settings = cls(**values)
        settings._check()
        return settings

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from INVOKE_WORKSHOP_* variables alone, as invoke reads them: for the
        command lines that run without invoke (python -m workshop.checks)."""
        prefix = "INVOKE_WORKSHOP_"
        return cls.from_config(
            {
                key: environ[prefix + key.upper()]
                for key in CONFIG_KEYS
                if prefix + key.upper() in environ
            }
        )

    def _check(self) -> None:
        if self.bases not in MODES:
            raise _bad("bases", self.bases, f"one of {', '.join(MODES)}")
        if self.builder not in BUILDERS:
            raise _bad("builder", self.builder, f"one of {', '.join(BUILDERS)}")
        parse_platforms(self.platform)
        if not _MIRROR.fullmatch(self.debian_mirror):
            raise _bad("debian_mirror", self.debian_mirror, "a plain http(s) URL")
        if self.history_keep < 1:
            raise _bad("history_keep", self.history_keep, "a whole number, 1 or more")
        check_tag(f"{self.tag_prefix}go-multi-stage", setting="tag_prefix")
        if self.registry:
            # Here, not at the top: the registry client brings requests, and tasks.py imports
            # this module at `invoke --list`.
            from workshop.engine.registry import Registry

            try:
                Registry.parse(self.registry)
            except RegistryError as error:
                raise BadInput(error.message) from None
        if self.go not in GO_RELEASES:
            raise _bad("go", self.go, f"a Go release Debian has here ({', '.join(GO_RELEASES)})")

    def tag(self, name: str) -> str:
        return f"{self.tag_prefix}{name}"


def check_tag(tag: str, *, setting: str = "") -> str:
    """`tag` if docker takes it as an image name, else BadInput (naming `setting` if it is one)."""
    components = tag.split("/")
    if len(tag) > 255 or not all(_NAME_COMPONENT.fullmatch(part) for part in components):
        what = f"The setting workshop.{setting} makes the tag {tag!r}" if setting else repr(tag)
        raise BadInput(
            f"{what}, which docker does not take as an image name: an image name may hold only "
            "lower-case letters, digits, and single '.', '_' or '-' between them."
        )
    return tag


def _bad(name: str, value: object, wanted: str) -> BadInput:
    return BadInput(
        f"The setting workshop.{name} is {value!r}, which is not {wanted}. Fix it in "
        f"invoke.yaml or INVOKE_WORKSHOP_{name.upper()}, then run the task again."
    )


def _text(name: str, value: object) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise _bad(name, value, "text")
    return str(value)


def _path(name: str, value: object) -> Path:
    text = _text(name, value)
    if not text.strip() or "\0" in text:
        raise _bad(name, value, "a path")
    return PROJECT_ROOT / Path(text).expanduser()


def _whole(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,9}\s*", value):
        return int(value)
    raise _bad(name, value, "a whole number")


def _seconds(name: str, value: object) -> float:
    try:
        seconds = float(value) if isinstance(value, str | int | float) else math.nan
    except ValueError:
        seconds = math.nan
    if isinstance(value, bool) or not 0 < seconds <= 86_400:
        raise _bad(name, value, "a number of seconds above 0 and at most 86400")
    return seconds


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _bad(name, value, "a bool (true or false, 1 or 0)")


def _setting_text(name: str, value: object) -> str:
    text = _text(name, value)
    if name not in ("tag_prefix", "registry") and not text.strip():
        raise _bad(name, value, "a non-empty string")
    return text


_PARSERS = {
    "Path": _path,
    "int": _whole,
    "float": _seconds,
    "bool": _flag,
    "str": _setting_text,
}

CONFIG_KEYS = tuple(field.name for field in fields(Settings))
