"""The stand-ins as one file, as a user without root gets them."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tests.support.running import invoke
from tests.support.spareengine import HOST_FOOTPRINTS

__all__ = ["GIVEN", "StandinsFile"]

# The file saved once for all the workers by the run's caller (`nox -s engines`), who removes
# it: else each worker that needs the file saves its own (1.35 GB, 12 s on a quiet machine).
GIVEN = "WORKSHOP_TESTS_STANDINS"


class StandinsFile:
    """The stand-ins as one file (`invoke bases --save`), in a folder any user can read: how
    an engine without root (Podman's, rootless Docker) gets them, as a room would."""

    def __init__(self) -> None:
        given = os.environ.get(GIVEN, "")
        if given:
            self.folder: Path | None = None
            self.path = Path(given)
            assert self.path.is_file(), f"${GIVEN} names {given}, which is not a file"
            return
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
        """Remove the file this worker saved (a given one is its caller's to remove)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
