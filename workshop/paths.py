"""Where the project's own files are: relative settings and the Dockerfiles are taken from here."""

from __future__ import annotations

from pathlib import Path

__all__ = ["BASES_DIR", "DOCKERFILES", "PROJECT_ROOT"]

# Where tasks.py is: relative paths in settings are taken from here, not the working directory.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = PROJECT_ROOT / "dockerfiles"
BASES_DIR = DOCKERFILES / "bases"
