"""`invoke report`: build/report.html and report.md."""

from __future__ import annotations

from invoke import Context

from workshop.app.exits import reported
from workshop.app.session import Session, session
from workshop.console import show
from workshop.report.render import write_report

__all__ = ["report"]


def report(c: Context) -> None:
    with reported():
        show(_report(session(c)))


def _report(session: Session) -> str:
    settings = session.settings
    return write_report(
        session.engine,
        size_log=session.size_log,
        history=session.history,
        sweep_dir=settings.sweep_dir,
        folder=settings.report_dir,
    )
