"""Where the project and the tests' data are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "tests" / "data"
# A real run's size log, from the workshop's own bases: the figures and claims hold on it.
REAL_RUN = DATA / "real-run-sizes.json"
# Go programs for shrink, each a folder.
PROGRAMS = DATA / "shrink"
