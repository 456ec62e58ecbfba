"""Whether an engine runs another platform's programs, asked of the engine itself: a program of
that platform that only exits 0 (a static ELF of 129 or 132 bytes, written here), built `FROM
scratch` for the platform and run once. The client's own /proc says nothing about an engine in a
VM (Docker Desktop, colima), on another host, or behind a socket mounted into a CI container."""

from __future__ import annotations

import io
import struct
import tarfile

__all__ = ["PROBE_DOCKERFILE", "exit_zero_elf", "probe_context"]

# Where the ELF is loaded, as a static executable linked by ld would be.
_BASE = 0x400000
_HEADERS = 64 + 56
# (e_machine, the code of exit(0)) by platform.
_EXIT_ZERO = {
    # mov eax, 60 (exit); xor edi, edi; syscall
    "linux/amd64": (62, bytes.fromhex("b83c00000031ff0f05")),
    # movz x8, #93 (exit); movz x0, #0; svc #0
    "linux/arm64": (183, struct.pack("<3I", 0xD2800BA8, 0xD2800000, 0xD4000001)),
}
PROBE_DOCKERFILE = 'FROM scratch\nCOPY exit0 /exit0\nENTRYPOINT ["/exit0"]\n'


def exit_zero_elf(platform: str) -> bytes:
    """A static ELF for `platform` ("linux/arm64") whose only work is exit(0)."""
    machine, code = _EXIT_ZERO[platform]
    size = _HEADERS + len(code)
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, SysV
    header += struct.pack(
        "<HHIQQQIHHHHHH", 2, machine, 1, _BASE + _HEADERS, 64, 0, 0, 64, 56, 1, 0, 0, 0
    )
    # One loadable segment, readable and executable: the whole file.
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, _BASE, _BASE, size, size, 0x1000)
    return header + program + code


def probe_context(platform: str) -> bytes:
    """The build context of the probe image: its Dockerfile and the program."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, mode in (
            ("Dockerfile", PROBE_DOCKERFILE.encode(), 0o644),
            ("exit0", exit_zero_elf(platform), 0o755),
        ):
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode = len(data), mode
            tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()
