"""The stand-ins as one file, as a user without root gets them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.support.running import invoke
from tests.support.spareengine import HOST_FOOTPRINTS

__all__ = ["StandinsFile"]


class StandinsFile:
    """The stand-ins as one file (`invoke bases --save`), in a folder any user can read: how
    an engine without root (Podman's, rootless Docker) gets them, as a room would."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="standins-", dir="/tmp"))
        self.folder.chmod(0o755)
        self.path = self.folder / "standins.tar"
        HOST_FOOTPRINTS.append((self.folder, ""))
        try:
            saved = invoke("bases", "--save", str(self.path))
            assert saved.returncode == 0, f"invoke bases --save: {saved.stdout}{saved.stderr}"
            self.path.chmod(0o644)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
