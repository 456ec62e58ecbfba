"""Text from outside (a tag, a message, a file name) as literal Markdown."""

from __future__ import annotations

import re

__all__ = ["markdown_text"]

# What makes structure inside a line: emphasis, code, links and images, HTML, entities, cells.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def markdown_text(text: str) -> str:
    """`text` as literal Markdown: its markup characters escaped, its lines joined, so that a
    tag or a message from a file can't make a link, an image, a table cell or HTML."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))
