"""Debian's Go releases that the stand-ins and the sweep are built from."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GO_RELEASES", "GoRelease", "release_key"]


@dataclass(frozen=True)
class GoRelease:
    """One of Debian's Go releases (golang-X.Y-go), and where it comes from."""

    version: str
    suite: str
    # A backports suite to enable: where this Go, or upx, comes from.
    backports: str = ""


GO_RELEASES = {
    release.version: release
    for release in (
        GoRelease("1.15", "bullseye"),
        GoRelease("1.19", "bookworm", "bookworm-backports"),  # upx-ucl is only in backports
        GoRelease("1.21", "bookworm", "bookworm-backports"),
        GoRelease("1.22", "bookworm", "bookworm-backports"),
        GoRelease("1.23", "bookworm", "bookworm-backports"),
        GoRelease("1.24", "trixie"),
    )
}


def release_key(release: str) -> tuple[int, ...]:
    """ "1.21" as (1, 21): releases in the order Go made them, not as strings sort."""
    return tuple(int(part) for part in release.split("."))
