"""Scratch folders that may get mounts inside them (a debootstrap chroot mounts /proc, and under
some containers binds the host's /dev), removed without ever crossing a mount point.

A folder is named after the process that made it (`workshop-rootfs-PID-XXXX` in the temporary
folder), so a run can tell what a killed one left. Removal first unmounts what is mounted below
the folder, deepest first; then it deletes, never descending into a directory on another
device: were an unmount to fail, what is mounted there (the host's /dev, a live /proc) is left
alone, and the folder with it, and the error says so. `shutil.rmtree` would walk into a live
/proc ("Operation not permitted") or delete the host's files through a bind mount.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from workshop.errors import WorkshopError
from workshop.system import process_alive

__all__ = ["mounts_below", "remove_leftovers", "remove_without_crossing", "scratch_folder"]

_UNMOUNT_TIMEOUT = 60.0


@contextlib.contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A new folder `PREFIX-PID-XXXX` in the temporary folder, removed when the block ends,
    however it ends (mounts below it unmounted first)."""
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-"))
    try:
        yield folder
    finally:
        remove_without_crossing(folder)


def remove_leftovers(prefix: str) -> list[Path]:
    """Remove the folders `PREFIX-PID-*` whose process is gone (a run killed with -9); the ones
    removed."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}-*-*"):
        pid = folder.name.removeprefix(f"{prefix}-").split("-", 1)[0]
        if not pid.isdigit() or process_alive(int(pid)) or not folder.is_dir():
            continue
        with contextlib.suppress(WorkshopError):
            remove_without_crossing(folder)
            removed.append(folder)
    return removed


def mounts_below(folder: Path) -> list[str]:
    """The mount points at or below `folder` (its real path), deepest first."""
    root = os.path.realpath(folder)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    points = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            # Spaces and the like are octal escapes in mountinfo (\040).
            point = fields[4].encode().decode("unicode_escape")
            if point == root or point.startswith(root + "/"):
                points.append(point)
    return sorted(set(points), key=lambda point: point.count("/"), reverse=True)


def remove_without_crossing(folder: Path) -> None:
    """Unmount what is mounted below `folder`, deepest first, then delete it without entering
    another device; WorkshopError saying what is left where that can't be done."""
    if not folder.exists() and not folder.is_symlink():
        return
    for point in mounts_below(folder):
        try:
            done = subprocess.run(
                ["umount", point], capture_output=True, text=True, timeout=_UNMOUNT_TIMEOUT
            )
            if done.returncode != 0:
                # Busy (a process still inside): detached now, gone once it lets go.
                subprocess.run(
                    ["umount", "-l", point], capture_output=True, timeout=_UNMOUNT_TIMEOUT
                )
        except (OSError, subprocess.TimeoutExpired):
            pass
    left = mounts_below(folder)
    _remove(folder, os.lstat(folder).st_dev, frozenset(left))
    if left or folder.exists():
        raise WorkshopError(
            f"{folder} could not be removed whole: "
            + (f"{', '.join(left)} is still mounted there" if left else "some of it stayed")
            + ". Nothing on another device was touched. Unmount it as root (umount -l PATH), "
            f"then remove {folder}."
        )


def _remove(path: Path, device: int, mount_points: frozenset[str]) -> None:
    """Delete `path`, never following a link and never entering a mount point: one of
    `mount_points`, or a directory on another device than `device`. (A bind mount of a folder
    of the same filesystem keeps its device number: only the mount table tells it.) What is
    left stays, with everything above it."""
    if os.path.realpath(path) in mount_points:
        return
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        with contextlib.suppress(OSError):  # what stays is said by the caller
            os.unlink(path)
        return
    if info.st_dev != device:
        return
    try:
        with os.scandir(path) as entries:
            children = [Path(entry.path) for entry in entries]
    except OSError:
        return
    for child in children:
        _remove(child, device, mount_points)
    with contextlib.suppress(OSError):
        os.rmdir(path)
