"""Sessions: lint, tests, verify. `nox` alone runs lint and tests."""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.3.2"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session) -> None:
    session.install("-e", ".[test]")


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the tests; the engine tests run where a Docker Engine answers (and must, with CI=true)."""
    _install(session)
    session.run("pytest", *(session.posargs or ["tests/"]))
