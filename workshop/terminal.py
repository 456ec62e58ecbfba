"""Text from outside (a program's output, a file or image name, a log line), made safe for a
terminal: its control characters shown as escapes, never acted on. Tabs and line ends stay."""

from __future__ import annotations

__all__ = ["visible"]

_SHOWN = {
    code: f"\\x{code:02x}"
    for code in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))
}


def visible(text: str) -> str:
    """`text` with every control character but tab and newline shown as \\xNN."""
    return text.translate(_SHOWN)
