"""`invoke engine`: which engine the tasks use; --start one where none answers."""

from __future__ import annotations

from dataclasses import replace

from invoke import Context

from workshop.app.exits import reported
from workshop.app.session import Session, session
from workshop.console import show
from workshop.engine.dockerd import EngineStatus, start_local
from workshop.engine.emulation import emulation_status, set_up_emulation
from workshop.engine.endpoint import DEFAULT_HOST, find_endpoint
from workshop.errors import EngineUnavailable

__all__ = ["engine"]


def engine(c: Context, *, start: bool) -> None:
    with reported():
        show(_engine_status(session(c), start=start))


def _engine_status(session: Session, *, start: bool) -> EngineStatus:
    """Which engine, and whether it answers; with `start`, start a local one if it does not,
    and set up emulation of the other platform (see workshop.engine.emulation)."""
    endpoint = find_endpoint()
    try:
        status = EngineStatus(endpoint, session.engine.info)
    except EngineUnavailable:
        if not start:
            raise
        start_local(endpoint, timeout=session.settings.engine_timeout)
        session.forget_engine()
        status = EngineStatus(endpoint, session.engine.info, started=True)
    if start and endpoint.host == DEFAULT_HOST:
        status = replace(status, emulation=set_up_emulation(status.info.platform))
    else:
        status = replace(status, emulation=emulation_status(session.engine))
    return status
