"""What a Go binary says about itself."""

from __future__ import annotations

__all__ = ["go_build_version"]

# The build info section's header (Go 1.13 and later).
_BUILDINFO_MAGIC = b"\xff Go buildinf:"
# Go 1.18 and later inline the version after the 32-byte header, with this flag set.
_INLINE_STRINGS = 0x2


def go_build_version(binary: bytes) -> str | None:
    """The Go release that built `binary` (go1.19.8), from its build info; None when it has none.

    Stripping keeps the build info (it is data, not a symbol), so this reads stripped binaries
    too. Go before 1.18 points to the version instead of inlining it: None, and the caller asks
    the toolchain (`go version`) instead.
    """
    start = binary.find(_BUILDINFO_MAGIC)
    if start < 0 or len(binary) < start + 33 or not binary[start + 15] & _INLINE_STRINGS:
        return None
    length, offset = _uvarint(binary, start + 32)
    version = binary[offset : offset + length].decode("ascii", errors="replace")
    return version if version.startswith("go") else None


def _uvarint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while offset < len(data):
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
    return value, offset
