"""The run's session: the settings, and the objects made once per process and shared by every
task of an invoke run (the engine, the base resolver, the builds `invoke all` started).

Invoke gives each task a new Context but the same config, so the same settings: `session(c)`
returns the one Session for them, like rich's `get_console()`. Nothing here is a setting, so
nothing here can be set from invoke.yaml or the environment.
"""

from __future__ import annotations

from invoke import Context

from workshop.console import get_console
from workshop.engine.client import Engine
from workshop.engine.registry import Registry
from workshop.engine.values import Timeouts
from workshop.progress import Progress
from workshop.records.datafile import check_folder
from workshop.records.history import History
from workshop.records.sizelog import SizeLog
from workshop.settings import Settings
from workshop.steps.bases import BaseResolver
from workshop.steps.runner import BuildPlan
from workshop.steps.sidebyside import SideBySide
from workshop.steps.workspace import Workspace

__all__ = ["Session", "session"]


class Session:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._bases: BaseResolver | None = None
        self._progress: Progress | None = None
        self._checked: set[str] = set()
        # Builds `invoke all` started side by side, for the step tasks to collect.
        self.side_by_side: SideBySide | None = None

    @property
    def engine(self) -> Engine:
        """The run's one Engine, connected on first use."""
        if self._engine is None:
            settings = self.settings
            timeouts = Timeouts(
                engine=settings.engine_timeout,
                build=settings.build_timeout,
                run=settings.run_timeout,
            )
            self._engine = Engine.from_env(timeouts=timeouts, builder=settings.builder)
        return self._engine

    def forget_engine(self) -> None:
        """Connect again on next use (an engine was just started)."""
        self._engine = None
        self._bases = None

    @property
    def progress(self) -> Progress:
        if self._progress is None:
            self._progress = Progress(get_console(), verbose=self.settings.verbose)
        return self._progress

    @property
    def bases(self) -> BaseResolver:
        """The run's one base resolver: each role is resolved, and noted, once."""
        if self._bases is None:
            self._bases = BaseResolver(
                engine=self.engine,
                progress=self.progress,
                mode=self.settings.bases,
                go=self.settings.go,
                mirror=self.settings.debian_mirror,
            )
        return self._bases

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.settings.workspace)

    @property
    def size_log(self) -> SizeLog:
        return SizeLog(self.settings.size_log)

    @property
    def history(self) -> History:
        return History(self.settings.history, keep=self.settings.history_keep)

    def plan(self, progress: Progress | None = None) -> BuildPlan:
        """What every build of this run shares; `progress` for builds in the background."""
        return BuildPlan(
            engine=self.engine,
            bases=self.bases,
            workspace=self.workspace,
            size_log=self.size_log,
            progress=progress or self.progress,
            nocache=self.settings.no_cache,
            tag_prefix=self.settings.tag_prefix,
            registry=self.registry,
        )

    @property
    def registry(self) -> Registry | None:
        """The registry that measures pull sizes, if one is set."""
        if not self.settings.registry:
            return None
        return Registry.parse(self.settings.registry, timeout=self.settings.engine_timeout)

    def check_outputs(self, *, history: bool = False) -> None:
        """Refuse, before the first build and before the engine is asked anything, an output
        location that could not be written: the workspace, the size log, the history, and the
        registry that measures pull sizes.
        (Each build checks its own log again, as the sweep's logs are others.)"""
        if "build" not in self._checked:
            check_folder(self.settings.workspace, what="the workspace", setting="workspace")
            self.size_log.check_writable()
            self._checked.add("build")
        if history and "history" not in self._checked:
            self.history.check_writable()
            self._checked.add("history")
        registry = self.registry
        if registry is not None and "registry" not in self._checked:
            registry.check()
            self._checked.add("registry")


_sessions: dict[Settings, Session] = {}


def session(c: Context) -> Session:
    """The Session for `c`'s settings, made on first use; the settings are checked each time."""
    config = c.config.get("workshop") or {}
    settings = Settings.from_config({key: config[key] for key in config})
    if settings not in _sessions:
        _sessions[settings] = Session(settings)
    return _sessions[settings]
