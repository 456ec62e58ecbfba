"""Scratch folders with mounts inside (a debootstrap chroot's /proc, the host's /dev bound in):
removed without ever crossing a mount point, whatever stops the run. Real mounts: root."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.support.fakeengine import FakeEngine
from workshop.progress import Progress
from workshop.scratch import _remove, mounts_below, remove_leftovers, scratch_folder
from workshop.signals import terminate_as_interrupt
from workshop.steps.bases import ROOTFS_SCRATCH, BaseResolver

pytestmark = pytest.mark.root


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def unmount_all(folder: Path) -> None:
    for point in mounts_below(folder):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@pytest.fixture
def host_folder(tmp_path: Path) -> Path:
    """A folder of 'the host' that a chroot binds in: it must never lose a file."""
    folder = tmp_path / "host-dev"
    folder.mkdir()
    (folder / "precious").write_text("the host's own file\n")
    return folder


def test_a_removal_never_enters_another_device(tmp_path: Path, host_folder: Path) -> None:
    """Were an unmount to fail, the walk still stops at the mount point: the host's files
    bound there stay, and so does a live /proc's."""
    rootfs = tmp_path / "scratch" / "rootfs"
    (rootfs / "dev").mkdir(parents=True)
    (rootfs / "proc").mkdir()
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "motd").write_text("hi\n")
    mount("--bind", str(host_folder), str(rootfs / "dev"))
    mount("-t", "tmpfs", "none", str(rootfs / "proc"))
    (rootfs / "proc" / "live").write_text("x")
    try:
        # A bind mount of the same filesystem has the same device number: the mount table is
        # what tells it.
        assert os.lstat(rootfs / "dev").st_dev == os.lstat(rootfs).st_dev
        scratch = tmp_path / "scratch"
        _remove(scratch, os.lstat(scratch).st_dev, frozenset(mounts_below(scratch)))
        assert (host_folder / "precious").read_text() == "the host's own file\n"
        assert (rootfs / "proc" / "live").exists()
        assert not (rootfs / "etc").exists()
    finally:
        unmount_all(tmp_path / "scratch")


def test_a_scratch_folder_is_unmounted_deepest_first_then_removed(host_folder: Path) -> None:
    with scratch_folder("workshop-test") as folder:
        (folder / "rootfs" / "proc").mkdir(parents=True)
        (folder / "rootfs" / "dev").mkdir()
        mount("-t", "tmpfs", "none", str(folder / "rootfs" / "proc"))
        mount("--bind", str(host_folder), str(folder / "rootfs" / "dev"))
        (folder / "rootfs" / "proc" / "sys").mkdir()
        mount("-t", "tmpfs", "none", str(folder / "rootfs" / "proc" / "sys"))
        assert folder.name.startswith(f"workshop-test-{os.getpid()}-")
    assert not folder.exists() and mounts_below(folder) == []
    assert (host_folder / "precious").exists()


def test_what_a_killed_run_left_is_removed_by_the_next(host_folder: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    left = Path(tempfile.mkdtemp(prefix=f"workshop-test-{gone.pid}-"))
    mine = Path(tempfile.mkdtemp(prefix=f"workshop-test-{os.getpid()}-"))
    try:
        (left / "rootfs" / "proc").mkdir(parents=True)
        (left / "rootfs" / "dev").mkdir()
        mount("-t", "tmpfs", "none", str(left / "rootfs" / "proc"))
        mount("--bind", str(host_folder), str(left / "rootfs" / "dev"))
        assert remove_leftovers("workshop-test") == [left]
        assert not left.exists() and mounts_below(left) == []
        assert mine.exists()  # a live process's folder is its own
        assert (host_folder / "precious").exists()
    finally:
        unmount_all(left)
        mine.rmdir()


FAKE_DEBOOTSTRAP = """#!/bin/sh
# What debootstrap's second stage looks like from outside: the chroot's /proc mounted, the
# host's /dev bound in (as under some containers), dpkg busy in a child.
eval target=\\${$(($# - 1))}
mkdir -p "$target/proc" "$target/dev"
mount -t tmpfs none "$target/proc" && echo live > "$target/proc/live"
mount --bind "$HOST_DEV" "$target/dev"
sleep 300 &
echo $! > "$CHILD_PID"
echo "I: Installing core packages..."
wait
"""


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_stopping_debootstrap_ends_its_children_and_unmounts_before_removing(
    tmp_path: Path, host_folder: Path, monkeypatch: pytest.MonkeyPatch, how: signal.Signals
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "debootstrap").write_text(FAKE_DEBOOTSTRAP)
    (tools / "debootstrap").chmod(0o755)
    child_pid = tmp_path / "child.pid"
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setenv("HOST_DEV", str(host_folder))
    monkeypatch.setenv("CHILD_PID", str(child_pid))
    resolver = BaseResolver(
        engine=FakeEngine(), progress=Progress(Console(file=None)), mode="local"
    )
    before = set(Path(tempfile.gettempdir()).glob(f"{ROOTFS_SCRATCH}-{os.getpid()}-*"))

    def stop_once_it_is_busy() -> None:
        deadline = time.monotonic() + 30
        while not child_pid.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        os.kill(os.getpid(), how)

    threading.Thread(target=stop_once_it_is_busy, daemon=True).start()
    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
        resolver._import_debian("workshop-base/debian:bookworm", {})
    child = int(child_pid.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists(), "dpkg's stand-in outlived the run"
    after = set(Path(tempfile.gettempdir()).glob(f"{ROOTFS_SCRATCH}-{os.getpid()}-*"))
    assert after - before == set(), "the scratch folder stayed"
    assert (host_folder / "precious").read_text() == "the host's own file\n"
    # This run's mounts only: another worker may be inside its own debootstrap at this moment.
    assert not [
        line
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if f"{ROOTFS_SCRATCH}-{os.getpid()}-" in line
    ]
