"""Emulation of the other platform (`invoke engine --start`): QEMU's user-mode emulators from
Debian's qemu-user-static, registered with the kernel's binfmt_misc, so that a linux/arm64
program runs on a linux/amd64 machine (and the other way round) in any container.

The registration is the package's own line (/usr/lib/binfmt.d/qemu-aarch64.conf, flags OPF:
the emulator is opened when registered, so it works inside containers too). It lasts until
the machine restarts. Root only; where it can't be done, the reason, in words.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from workshop.engine.dockerd import install
from workshop.engine.values import EngineAPI
from workshop.errors import BadInput, WorkshopError
from workshop.platforms import BINFMT, EMULATORS, PLATFORMS, emulation_problem
from workshop.system import is_root

__all__ = ["emulation_status", "require_platforms", "set_up_emulation"]

CONFIGS = Path("/usr/lib/binfmt.d")


def emulation_status(engine: EngineAPI) -> str:
    """Which other platforms' programs run on the engine, in a line (asked of the engine), and
    how to set up the others."""
    native, where = engine.info.platform, engine.info.where
    missing = [p for p in PLATFORMS if p != native and engine.platform_problem(p)]
    if missing and where.shares_kernel:
        return (
            f"Emulation: {', '.join(missing)} programs can't run here; `invoke engine --start` "
            "(as root) sets it up."
        )
    if missing:
        return (
            f"Emulation: {', '.join(missing)} programs can't run on the engine ({where.said}); "
            "set it up there."
        )
    others = ", ".join(p for p in PLATFORMS if p != native)
    return f"Emulation: {others} programs run on the engine." if others else ""


def set_up_emulation(native: str, *, binfmt: Path = BINFMT, configs: Path = CONFIGS) -> str:
    """Emulation for every platform but `native`, where it is missing; what was done, or why
    it could not be, in one line."""
    foreign = [
        p for p in PLATFORMS if p != native and emulation_problem(p, native=native, binfmt=binfmt)
    ]
    if not foreign:
        others = ", ".join(p for p in PLATFORMS if p != native)
        return f"Emulation: {others} programs run here." if others else ""
    if not is_root():
        return (
            f"Emulation of {', '.join(foreign)} is not set up: that needs root (`sudo invoke "
            "engine --start`)."
        )
    names = [EMULATORS[platform] for platform in foreign]
    try:
        if any(not (configs / f"{name}.conf").is_file() for name in names):
            install(["qemu-user-static"])
        if not (binfmt / "register").exists():
            subprocess.run(
                ["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)],
                capture_output=True,
                check=True,
                timeout=30,
            )
        for name in names:
            if not (binfmt / name).exists():
                line = (configs / f"{name}.conf").read_text().strip()
                (binfmt / "register").write_text(line)
    except (OSError, subprocess.SubprocessError, WorkshopError) as error:
        reason = getattr(error, "message", None) or str(error)
        return f"Emulation of {', '.join(foreign)} could not be set up: {reason}"
    still = [p for p in foreign if emulation_problem(p, native=native, binfmt=binfmt)]
    if still:
        return f"Emulation of {', '.join(still)} was registered but is not enabled in {binfmt}."
    return f"Emulation set up: {', '.join(foreign)} programs run here (qemu-user-static)."


def require_platforms(engine: EngineAPI, platforms: tuple[str, ...]) -> None:
    """Before the first build: every platform's programs run on the engine, asked of the
    engine itself (workshop.engine.probe); BadInput saying how otherwise. For an engine on this
    machine, the how is this machine's emulation (binfmt_misc); elsewhere, that host's."""
    info = engine.info
    for platform in platforms:
        if not (problem := engine.platform_problem(platform)):
            continue
        local = emulation_problem(platform, native=info.platform)
        if info.where.shares_kernel and local:
            raise BadInput(local)
        raise BadInput(
            f"{problem} Set up emulation where the engine runs ({info.where.said}): there, as "
            "root, install qemu-user-static (Debian's package) and register it with binfmt_misc "
            "(`invoke engine --start` does it on a Debian host); Docker Desktop has it built in."
        )
