"""Where the project and the tests' data are, and the Debian mirror they fetch from."""

from __future__ import annotations

import os
from pathlib import Path

from workshop.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "tests" / "data"
# A real run's size log, from the workshop's own bases: the figures and claims hold on it.
REAL_RUN = DATA / "real-run-sizes.json"
# Go programs for shrink, each a folder.
PROGRAMS = DATA / "shrink"


def debian_mirror() -> str:
    """The Debian mirror the workshop's stand-ins come from (INVOKE_WORKSHOP_DEBIAN_MIRROR, else
    deb.debian.org): the tests fetch sid's packages from it too, so a machine behind a proxy
    or with a mirror of its own needs one setting, not two."""
    return Settings.from_environment(os.environ).debian_mirror
