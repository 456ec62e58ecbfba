"""`invoke sweep`: steps 4 to 9 for several Go releases."""

from __future__ import annotations

from invoke import Context

from workshop.app.exits import reported
from workshop.app.session import Session, session
from workshop.console import show
from workshop.steps.sweep import Sweep, run_sweep

__all__ = ["sweep"]


def sweep(c: Context, go: str, *, platform: str | None = None) -> None:
    with reported():
        show(_sweep(session(c).with_platform(platform), go))


def _sweep(session: Session, releases: str) -> Sweep:
    session.check_outputs()
    return run_sweep(session.plan(), session.settings, releases, session.platforms)
