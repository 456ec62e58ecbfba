"""The workspace: the folder where the steps write their files, like the workshop's /project.

Files come from dockerfiles/. A file someone has edited is kept, never overwritten: the
workshop invites edits ("Can you apply these principles to your own applications?").
"""

from __future__ import annotations

import enum
import stat
import time
from pathlib import Path

from workshop.engine.buildcontext import tar_context
from workshop.errors import DataFileError, StepFailed
from workshop.paths import DOCKERFILES
from workshop.records.datafile import check_folder, write_atomic
from workshop.system import group_name, user_name

__all__ = ["DOCKERFILES", "Workspace", "Written"]


class Written(enum.Enum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    KEPT = "kept (it differs from the workshop's: your edits stay; delete it to start over)"


class Workspace:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.sources = DOCKERFILES

    def path(self, name: str) -> Path:
        return self.root / name

    def write(self, name: str) -> Written:
        """Put the workshop's `name` in the workspace, unless an edited copy is there."""
        wanted = (self.sources / name).read_bytes()
        target = self.path(name)
        try:
            if target.is_file():
                return Written.UNCHANGED if target.read_bytes() == wanted else Written.KEPT
        except OSError as error:
            raise DataFileError(
                f"Can't read {target}: {error.strerror}. Choose a usable workspace "
                "(INVOKE_WORKSHOP_WORKSPACE=PATH), then run the step again."
            ) from None
        check_folder(self.root, what="the workspace", setting="workspace")
        # Atomic: a second run reading it meanwhile never takes half a file for an edit.
        write_atomic(target, wanted, what="workspace file", setting="workspace")
        return Written.CREATED

    def require(self, names: tuple[str, ...], *, step: str) -> None:
        for name in names:
            if not self.path(name).is_file():
                raise StepFailed(
                    f"{step} needs {self.path(name)}, which is missing. Run the step that "
                    f"writes it (invoke {step} runs it first), or `invoke step-1` to start over."
                )

    def context(self, names: tuple[str, ...]) -> bytes:
        return tar_context(self.root, names)

    def listing(self, name: str) -> str:
        """The line `ls -l NAME` prints."""
        info = self.path(name).stat()
        return " ".join(
            (
                stat.filemode(info.st_mode),
                str(info.st_nlink),
                user_name(info.st_uid),
                group_name(info.st_gid),
                str(info.st_size),
                time.strftime("%b %d %H:%M", time.localtime(info.st_mtime)),
                name,
            )
        )
