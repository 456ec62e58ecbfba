"""The platforms images are built for (`linux/amd64`, `linux/arm64`), and whether this machine
can run a foreign one: under emulation, through the kernel's binfmt_misc and QEMU's user-mode
emulators (Debian's qemu-user-static), which `invoke engine --start` sets up."""

from __future__ import annotations

import platform as _host
from pathlib import Path

from workshop.errors import BadInput

__all__ = [
    "BINFMT",
    "EMULATORS",
    "PLATFORMS",
    "emulation_problem",
    "engine_platform",
    "parse_platforms",
    "platform_read",
    "slug",
    "suffix",
]

# The platforms the project builds, runs and measures; Go's GOARCH for each.
PLATFORMS = {"linux/amd64": "amd64", "linux/arm64": "arm64"}
# The binfmt_misc entry that runs each on a machine of the other, as qemu-user-static names it.
EMULATORS = {"linux/amd64": "qemu-x86_64", "linux/arm64": "qemu-aarch64"}
BINFMT = Path("/proc/sys/fs/binfmt_misc")
# The kernel's names for what Go and docker call amd64 and arm64.
_MACHINES = {"x86_64": "amd64", "aarch64": "arm64"}


def parse_platforms(text: str, *, what: str = "workshop.platform") -> tuple[str, ...]:
    """`linux/amd64,linux/arm64` as a tuple, in order, once each; BadInput naming the ones
    that work otherwise. Empty: the engine's own platform (an empty tuple)."""
    found: list[str] = []
    for each in (part.strip().lower() for part in text.split(",")):
        if not each:
            continue
        if each not in PLATFORMS:
            raise BadInput(
                f"{what} names the platform {each!r}, which this project does not build: "
                f"choose from {', '.join(PLATFORMS)} (several, separated by commas)."
            )
        if each not in found:
            found.append(each)
    return tuple(found)


def engine_platform(os_name: str, arch: str) -> str:
    """An engine's platform from its version's Os and Arch ("linux", "amd64")."""
    return f"{os_name}/{_MACHINES.get(arch, arch)}"


def platform_read(reference: str, held: tuple[str, ...], *, wanted: str, own: str) -> str:
    """Which platform of `reference` (holding `held`) explain, diff or budgets read: `wanted`
    where given, else the one it holds, else the engine's `own`. BadInput where `wanted` is not
    one it holds, or is one of several that is not the engine's own (the engine reads an image
    of several platforms as its own platform's)."""
    if not wanted:
        return held[0] if len(held) == 1 else own
    if held and wanted not in held:
        kind = "a multi-platform image" if len(held) > 1 else "not a multi-platform image"
        raise BadInput(
            f"{reference} holds {', '.join(held)} here ({kind}), not {wanted}. Leave out "
            f"--platform to read what it holds, or pull the platform you want (docker pull "
            f"--platform {wanted} NAME) and read that."
        )
    if len(held) > 1 and wanted != own:
        raise BadInput(
            f"{reference} holds {', '.join(held)}, and the engine reads an image of several "
            f"platforms as its own ({own}): pull {wanted} into a name of its own (docker pull "
            f"--platform {wanted} NAME, docker tag) and read that."
        )
    return wanted


def slug(platform: str) -> str:
    """`linux-arm64`: a platform in a tag or a folder's name."""
    return platform.replace("/", "-")


def suffix(platform: str) -> str:
    """What the names of a foreign platform's images and logs end in ("-linux-arm64", as
    shrink's); "" for the engine's own platform (""), whose names are the workshop's."""
    return f"-{slug(platform)}" if platform else ""


def emulation_problem(platform: str, *, native: str, binfmt: Path = BINFMT) -> str:
    """Why `platform`'s programs can't run on this machine, whose own platform is `native`;
    "" where they can (it is native, or emulation is registered and enabled)."""
    if platform == native:
        return ""
    entry = binfmt / EMULATORS.get(platform, "")
    try:
        enabled = entry.read_text().splitlines()[:1] == ["enabled"]
    except OSError:
        enabled = False
    if enabled:
        return ""
    machine = _MACHINES.get(_host.machine(), _host.machine())
    return (
        f"{platform} programs can't run here (a linux/{machine} machine, with no "
        f"{entry.name} emulation in {binfmt}), and every image is run and checked. "
        "`invoke engine --start` sets emulation up as root: it installs qemu-user-static "
        "(Debian's package) where missing, "
        f"mounts binfmt_misc and registers {entry.name}. By hand: `apt-get install "
        "qemu-user-static`, `mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc`, then "
        f"write /usr/lib/binfmt.d/{entry.name}.conf into {binfmt}/register."
    )
