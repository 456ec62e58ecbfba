"""The run's session: the settings, and the objects made once per process and shared by every
task of an invoke run (the engine, the base resolver, the builds `invoke all` started).

Invoke gives each task a new Context but the same config, so the same settings: `session(c)`
returns the one Session for them, like rich's `get_console()`. Nothing here is a setting, so
nothing here can be set from invoke.yaml or the environment.
"""

from __future__ import annotations

import atexit
import gc
from dataclasses import replace

from invoke import Context

from workshop.console import get_console
from workshop.engine.client import Engine
from workshop.engine.emulation import require_platforms
from workshop.engine.registry import Registry
from workshop.engine.values import Timeouts
from workshop.platforms import parse_platforms
from workshop.progress import Progress
from workshop.records.datafile import check_folder
from workshop.records.history import History
from workshop.records.measured import KnownPrograms, MeasuredFiles
from workshop.records.sizelog import SizeLog, platform_log
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
        # One base resolver per platform ("" for the engine's own).
        self._bases: dict[str, BaseResolver] = {}
        self._progress: Progress | None = None
        self._checked: set[str] = set()
        # What each step's program was found to be, by image id: one cache for every plan.
        self._programs: KnownPrograms | None = None
        # Builds `invoke all` started side by side, per platform, for the step tasks to collect.
        self.side_by_side: dict[str, SideBySide] = {}
        # The steps this process has run, for `invoke all beyond` to run each once.
        self.done: set[int] = set()

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
            self._engine = Engine.from_env(
                timeouts=timeouts,
                builder=settings.builder,
                known_file_bytes=MeasuredFiles(settings.workspace / "measured-images.json"),
            )
        return self._engine

    def with_platform(self, flag: str | None) -> Session:
        """The session of a task's `--platform` flag, where given, over the setting; BadInput
        (exit 64) naming the platforms that work, where it names another."""
        if flag is None:
            return self
        parse_platforms(flag, what="--platform")
        return Session(replace(self.settings, platform=flag))

    def forget_engine(self) -> None:
        """Connect again on next use (an engine was just started)."""
        self._engine = None
        self._bases = {}

    @property
    def progress(self) -> Progress:
        if self._progress is None:
            self._progress = Progress(get_console(), verbose=self.settings.verbose)
        return self._progress

    @property
    def bases(self) -> BaseResolver:
        """The run's base resolver for the engine's own platform."""
        return self.bases_for("")

    def bases_for(self, platform: str) -> BaseResolver:
        """The run's one base resolver for `platform` ("" for the engine's own): each role is
        resolved, and noted, once."""
        if platform not in self._bases:
            self._bases[platform] = BaseResolver(
                engine=self.engine,
                progress=self.progress,
                mode=self.settings.bases,
                go=self.settings.go,
                mirror=self.settings.debian_mirror,
                platform=platform,
            )
        return self._bases[platform]

    @property
    def platforms(self) -> tuple[str, ...]:
        """The platforms the steps are built for, in order, each once: "" for the engine's own
        (the setting's default), a foreign platform by its name. Asks the engine only where a
        platform is set."""
        wanted = parse_platforms(self.settings.platform)
        own = self.engine.info.platform if wanted else ""
        return tuple(dict.fromkeys("" if p == own else p for p in wanted)) or ("",)

    def require_platforms(self) -> None:
        """Before the first build: each platform's programs run here (natively or emulated)."""
        require_platforms(self.engine, tuple(p for p in self.platforms if p))

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.settings.workspace)

    @property
    def size_log(self) -> SizeLog:
        return SizeLog(self.settings.size_log)

    def size_log_for(self, platform: str) -> SizeLog:
        """The size log of `platform`'s steps: the setting's for the engine's own (""), beside
        it, the platform in its name, for a foreign one (sizes-linux-arm64.json)."""
        return SizeLog(platform_log(self.settings.size_log, platform))

    @property
    def history(self) -> History:
        return History(self.settings.history, keep=self.settings.history_keep)

    def plan(self, progress: Progress | None = None, *, platform: str = "") -> BuildPlan:
        """What every build of this run for `platform` ("" for the engine's own) shares;
        `progress` for builds in the background."""
        return BuildPlan(
            engine=self.engine,
            bases=self.bases_for(platform),
            workspace=self.workspace,
            size_log=self.size_log_for(platform),
            progress=progress or self.progress,
            nocache=self.settings.no_cache,
            tag_prefix=self.settings.tag_prefix,
            registry=self.registry,
            platform=platform,
            programs=self.programs,
        )

    @property
    def programs(self) -> KnownPrograms:
        if self._programs is None:
            self._programs = KnownPrograms(self.settings.workspace / "programs.json")
        return self._programs

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
            for platform in self.platforms:
                self.size_log_for(platform).check_writable()
            self._checked.add("build")
        if history and "history" not in self._checked:
            self.history.check_writable()
            self._checked.add("history")
        registry = self.registry
        if registry is not None and "registry" not in self._checked:
            registry.check()
            self._checked.add("registry")
        if "platforms" not in self._checked:
            self.require_platforms()
            self._checked.add("platforms")


_sessions: dict[Settings, Session] = {}


def session(c: Context) -> Session:
    """The Session for `c`'s settings, made on first use; the settings are checked each time."""
    config = c.config.get("workshop") or {}
    settings = Settings.from_config({key: config[key] for key in config})
    if settings not in _sessions:
        if not _sessions:
            # At exit the interpreter's last collections walk every object the run imported
            # and made: 50 ms here, a fifth to a third of what `invoke all` spends beyond the
            # docker CLI's floor (docs/developing.md). Frozen, they are left to the process's end.
            # Nothing waits on a collection to be flushed: every file is closed, and every data
            # file written atomically, before a task returns.
            atexit.register(gc.freeze)
        _sessions[settings] = Session(settings)
    return _sessions[settings]
