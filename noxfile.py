"""Sessions: lint, tests, verify. `nox` alone runs lint and tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session) -> None:
    session.install("-e", ".[test]")


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the tests; engine tests run where an engine answers (and must, with CI=true)."""
    _install(session)
    session.run("pytest", *(session.posargs or ["tests/"]))


@nox.session
def verify(session: nox.Session) -> None:
    """Check the size log against the workshop's figures (exit 1: a check failed, 2: no log)."""
    session.install("-e", ".")
    # nox ends a failed session with 1 whatever happened; CI needs to tell a failed check (1)
    # from a missing or incomplete log (2), so the session exits with verify's own code.
    code = subprocess.call(
        [Path(session.bin) / "python", "-m", "workshop.verify", *session.posargs]
    )
    if code:
        sys.exit(code)


@nox.session
def bench(session: nox.Session) -> None:
    """Time `invoke all` against the workshop's docker commands (warm and cold, as a ratio)."""
    session.install("-e", ".")
    session.run("python", "-m", "workshop.bench", *session.posargs)
