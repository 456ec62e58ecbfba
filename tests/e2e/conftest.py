"""The engines the end-to-end tests run on, and one owner for everything they make.

Every image a test builds is named under RUN_PREFIX (`t1a2b3c4d-...`), or labelled with a tag
prefix that starts with it. The main engine is shared with everything else on the machine, so at
the end of the session `docker_engine` removes what this run made and fails the run if anything
is left; extra engines (a spare to crash, Docker 28, a registry's mirror, Podman 4 and 5) are each
made once per session, shared, and removed with everything they leave on the host.
"""

from __future__ import annotations

import pwd
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.background import Background
from tests.support.docker28 import Docker28, fetch_docker28
from tests.support.leftovers import RUN_PREFIX, WORKER, Snapshot, left_behind
from tests.support.loopback_registry import Registry
from tests.support.podman import (
    Podman5Service,
    PodmanService,
    RootlessPodman5,
    SidSystem,
    service_errors,
)
from tests.support.remotehost import RemoteHost
from tests.support.rootless import RootlessUser
from tests.support.running import WorkshopRun, folder_settings, invoke
from tests.support.shards import split
from tests.support.spareengine import SpareEngine
from tests.support.standins import StandinsFile
from workshop.engine.client import Engine


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    """The real engine, and the owner of everything this run makes on it and beside it.

    At the end of the session: this run's images go, then the build stages its builds left
    untagged (new since the start, carrying the project's label, which a build stage inherits
    from its stand-in); then the run fails if anything it made is still there: an image tagged
    or dangling, a container, a network, a volume, or what an extra engine leaves on the host
    (its processes, shims and `runc init` included, its mounts, its folder, its bridge). A
    worker beside others checks its own; what is new on the engine as a whole is checked once
    all are done, by the process that started them (tests/conftest.py)."""
    engine = Engine.from_env()
    before = Snapshot.take()
    yield engine
    problems = left_behind(before, RUN_PREFIX, whole_run=not WORKER)
    assert not problems, "the tests left behind: " + "; ".join(problems)


@pytest.fixture(scope="session")
def workshop_run(
    docker_engine: Engine,
    background: Background,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> WorkshopRun:
    """`invoke all` once, under the run's prefix, for every e2e test."""
    folder = tmp_path_factory.mktemp("workshop-run")
    env = folder_settings(folder, RUN_PREFIX)
    result = invoke("all", env=env)
    assert result.returncode == 0, f"invoke all failed:\n{result.stdout}\n{result.stderr}"
    # The stand-ins are there now: the extra engines that copy them can start while tests run.
    needed: tuple[str, ...] = request.config.stash.get(NEEDED, ())
    background.start(needed)
    return WorkshopRun(env=env, prefix=RUN_PREFIX, log=folder / "sizes.json", result=result)


# The stand-ins `invoke all` needs, copied into each extra engine (no registry is needed).
STANDINS_FOR_ALL = (
    "workshop-base/golang:1.19-bookworm",
    "workshop-base/golang:1.19-busybox",
    "workshop-base/busybox:bookworm",
)
# The workshop's images, as a class registry would serve them: here, the stand-ins.
PUBLISHED = {
    "library/golang:1.10": "workshop-base/golang:1.19-bookworm",
    "library/golang:1.10-alpine": "workshop-base/golang:1.19-busybox",
    "library/alpine:latest": "workshop-base/busybox:bookworm",
}
# The slow set-ups, in the order they are begun in the background (what each needs comes first),
# and what each needs.
IN_BACKGROUND = (
    "sweep_standins",
    "arm64_standins",
    "docker28_binaries",
    "docker28_classic",
    "docker28_containerd",
    "spare_engine",
    "registry",
    "mirror_engine",
    "remote_host",
    "standins_file",
    "rootless_user",
    "podman5_system",
    "podman5_rootless_system",
)
DEPENDS = {
    "rootless_user": ("standins_file",),
    "docker28_classic": ("docker28_binaries",),
    "docker28_containerd": ("docker28_binaries",),
    "registry": ("docker28_binaries",),
    "mirror_engine": ("docker28_binaries", "registry"),
}
# Fixtures made when their tests come, and the slow set-ups begun early for them.
BEGUN_FOR = {
    "podman_engine": ("podman5_system",),
    "rootless_podman5": ("podman5_rootless_system",),
}
NEEDED = pytest.StashKey[tuple[str, ...]]()
# Set-ups each worker that needs them makes for itself rather than join the modules that use
# them on one worker: no engine, and cheap beside the engines they serve (a user without root
# and its virtualenv; the stand-ins' file). The rootless modules, one per engine the user
# starts, then spread over the workers.
MADE_BY_EACH_WORKER = frozenset({"rootless_user", "standins_file"})


# Seconds each module's tests took (setups included), to balance the workers that run side by
# side (`-n 2 --dist each`), as measured on two workers (docs/developing.md); the other engines'
# modules as measured on three (`nox -s engines`, the rootless ones then still one module).
SECONDS = {
    "test_shrink_e2e.py": 360,
    "test_modules_e2e.py": 157,
    "test_beyond_e2e.py": 148,
    "test_docker28_e2e.py": 127,
    "test_platforms_e2e.py": 73,
    "test_faults.py": 72,
    "test_workshop_arm64_e2e.py": 66,
    "test_workshop_e2e.py": 64,
    "test_registry_e2e.py": 52,
    "test_budgets_e2e.py": 28,
    "test_podman_e2e.py": 818,
    "test_remote_e2e.py": 497,
    "test_rootless_e2e.py": 458,
    "test_rootless_podman_e2e.py": 303,
    "test_rootless_podman5_e2e.py": 209,
}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a worker beside others, keep this worker's share: whole modules, those that share an
    extra engine or a slow set-up together (tests/support/shards.py). After `-m` and `-k`."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is None:
        return
    if not workerinput.get("side_by_side"):
        raise pytest.UsageError(
            "The engine tests share their extra engines within one process: run them on one "
            "process (no -n), or side by side with `-n 2 --dist each`, where each worker keeps "
            "a share of whole modules."
        )
    shared: dict[str, set[str]] = {}
    for item in items:
        shared.setdefault(item.path.name, set()).update(_shared_set_ups(item))
    assigned = split(shared, SECONDS, int(workerinput["workercount"]))
    mine = int(str(workerinput["workerid"]).removeprefix("gw"))
    others = [item for item in items if assigned[item.path.name] != mine]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = [item for item in items if assigned[item.path.name] == mine]


def _shared_set_ups(item: pytest.Item) -> set[str]:
    """The extra engines and slow set-ups a test uses, with what they need."""
    used = set(getattr(item, "fixturenames", ()))
    used |= {setup for name in used for setup in BEGUN_FOR.get(name, ())}
    named = used & {*IN_BACKGROUND, *RETIRED, *BEGUN_FOR}
    return {
        each
        for name in named
        for each in (name, *DEPENDS.get(name, ()))
        if each not in MADE_BY_EACH_WORKER
    }


def pytest_collection_finish(session: pytest.Session) -> None:
    """The slow set-ups this session's tests will use, to begin them early."""
    used = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    used |= {setup for name in used for setup in BEGUN_FOR.get(name, ())}
    wanted = {dep for name in used & set(IN_BACKGROUND) for dep in (name, *DEPENDS.get(name, ()))}
    session.config.stash[NEEDED] = tuple(name for name in IN_BACKGROUND if name in wanted)
    session.config.stash[LAST_USERS] = {
        name: item.nodeid
        for item in session.items
        for name in RETIRED
        if name in getattr(item, "fixturenames", ())
    }


def _started(engine: SpareEngine, *images: str) -> SpareEngine:
    """`engine` started, holding `images` from the main engine; removed if that fails."""
    try:
        engine.start()
        if images:
            engine.load_from_main(*images)
    except BaseException:
        engine.remove()
        raise
    return engine


def _docker28(background: Background, name: str, *, containerd_store: bool) -> SpareEngine:
    # A short folder: containerd's socket lives under it, and a socket path has 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/tmp"))
    binaries = background.made("docker28_binaries")
    engine = Docker28(binaries, folder, bridge=f"ws{name}0", containerd_store=containerd_store)
    return _started(engine, *STANDINS_FOR_ALL)


# The Go release the sweep test sets beside the workshop's 1.19.
SWEPT = "1.21"


def _standins_of(release: str) -> str:
    """The stand-ins of Debian's Go `release` built (where missing or stale) as a user would
    before a sweep: `INVOKE_WORKSHOP_GO=1.21 invoke bases`. Kept, as the sweep keeps them."""
    _bases(env={"INVOKE_WORKSHOP_GO": release})
    return release


def _bases(*flags: str, env: dict[str, str] | None = None) -> None:
    done = invoke("bases", *flags, env=env)
    assert done.returncode == 0, f"invoke bases {' '.join(flags)}: {done.stdout}{done.stderr}"


# The foreign platform the arm64 tests build for.
ARM64 = "linux/arm64"


def _standins_for(platform: str) -> str:
    """The stand-ins of a foreign `platform` built (where missing or stale), as a user would
    before `invoke all --platform`: `invoke bases --platform linux/arm64`. On a machine that
    never had them they are debootstrapped and built under emulation, five minutes or more."""
    _bases("--platform", platform)
    return platform


def _registry(background: Background) -> Registry:
    served = Registry(
        background.made("docker28_binaries") / "usr/bin/docker-registry",
        Path(tempfile.mkdtemp(prefix="registry-", dir="/tmp")),
    )
    try:
        served.start()
        for name, local in PUBLISHED.items():
            served.push_from_main(local, name)
    except BaseException:
        served.remove()
        raise
    return served


def _mirror(background: Background) -> SpareEngine:
    engine = SpareEngine(
        Path(tempfile.mkdtemp(prefix="mirror-engine-", dir="/tmp")),
        bridge="wsmirror0",
        extra=("--registry-mirror", background.made("registry").url),
    )
    return _started(engine)


def _podman(background: Background, version: str) -> PodmanService:
    """Podman's service, holding the stand-ins as a user without root gets them: loaded from
    the file (`invoke bases --load`) `invoke bases --save` wrote from the main engine."""
    if version == "4":
        service = PodmanService(Path(tempfile.mkdtemp(prefix="podman-", dir="/tmp")))
    else:
        service = Podman5Service(background.made("podman5_system"))
    try:
        service.start()
        archive: StandinsFile = background.made("standins_file")
        done = invoke("bases", "--load", str(archive.path), env={"DOCKER_HOST": service.host})
        assert done.returncode == 0, f"invoke bases --load: {done.stdout}{done.stderr}"
    except BaseException:
        service.remove()
        raise
    return service


def _rootless(background: Background) -> RootlessUser:
    """A user without root, its project and virtualenv made, the stand-ins' file at hand."""
    user = RootlessUser(Path(tempfile.mkdtemp(prefix="rootless-", dir="/tmp")))
    try:
        user.create()
        background.made("standins_file")
    except BaseException:
        user.remove()
        raise
    return user


@pytest.fixture(scope="session")
def background(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Background]:
    """The slow set-ups, begun once `invoke all` has made the stand-ins they copy."""
    packages = tmp_path_factory.mktemp("docker28-packages")
    starters: dict[str, Callable[[Background], Any]] = {
        "sweep_standins": lambda _: _standins_of(SWEPT),
        "arm64_standins": lambda _: _standins_for(ARM64),
        "docker28_binaries": lambda _: fetch_docker28(packages),
        "docker28_classic": lambda bg: _docker28(bg, "d28c", containerd_store=False),
        "docker28_containerd": lambda bg: _docker28(bg, "d28s", containerd_store=True),
        "spare_engine": lambda _: _started(
            SpareEngine(Path(tempfile.mkdtemp(prefix="spare-engine-", dir="/tmp"))),
            "workshop-base/golang:1.19-busybox",
            "workshop-base/busybox:bookworm",
        ),
        "registry": _registry,
        "mirror_engine": _mirror,
        "remote_host": lambda _: _started(
            RemoteHost(Path(tempfile.mkdtemp(prefix="remote-host-", dir="/tmp"))),
            *STANDINS_FOR_ALL,
            "workshop-base/debian:bookworm",  # the floor's build stage (beyond)
        ),
        "podman4_engine": lambda bg: _podman(bg, "4"),
        "podman5_system": lambda _: SidSystem(
            Path(tempfile.mkdtemp(prefix="podman5-", dir="/tmp"))
        ),
        "podman5_engine": lambda bg: _podman(bg, "5"),
        "podman5_rootless_system": lambda _: SidSystem(
            Path(tempfile.mkdtemp(prefix="podman5rl-", dir="/tmp"))
        ),
        "standins_file": lambda _: StandinsFile(),
        "rootless_user": _rootless,
    }
    made = Background(starters)
    request.config.stash[BACKGROUND] = made
    yield made
    made.close(lambda each: each.remove() if hasattr(each, "remove") else None)


def _handed_out(background: Background, name: str) -> Iterator[Any]:
    """What set-up `name` made, for the session, removed at its end, or as soon as the last
    test that uses it is done (`pytest_runtest_teardown`)."""
    made = background.take(name)
    try:
        yield made
    finally:
        if not background.retired(name):
            made.remove()


# The fixtures handed out whole from a set-up of the same name, retired after their last test.
# (Not the stand-ins' file: Podman's set-ups load it without asking for its fixture.) A test
# names each of these in its signature: one got by `request.getfixturevalue` is not seen here.
RETIRED = (
    "spare_engine",
    "docker28_classic",
    "docker28_containerd",
    "registry",
    "mirror_engine",
    "remote_host",
    "rootless_user",
)
LAST_USERS = pytest.StashKey[dict[str, str]]()
BACKGROUND = pytest.StashKey[Background]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test's report shows the errors the Podman services logged so far: what went
    wrong inside an engine that answered 200 shows nowhere else once their folders are gone."""
    report = yield
    if report.failed and (errors := service_errors()):
        report.sections.append(("Podman services' logged errors", errors))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Once a test and its fixtures are torn down, begin removing the extra engines no later
    test uses: their removal (stopping, unmounting, deleting a data root) then runs beside the
    tests still to come instead of adding to the session's end."""
    yield
    background = item.config.stash.get(BACKGROUND, None)
    if background is None:
        return
    for name, last in item.config.stash.get(LAST_USERS, {}).items():
        if last == item.nodeid:
            background.retire(name, lambda each: each.remove())


@pytest.fixture(scope="session")
def spare_engine(workshop_run: WorkshopRun, background: Background) -> Iterator[SpareEngine]:
    """A second engine holding the stand-ins step 7 needs, to stop and start at will."""
    yield from _handed_out(background, "spare_engine")


@pytest.fixture(scope="session")
def docker28_classic(workshop_run: WorkshopRun, background: Background) -> Iterator[SpareEngine]:
    """Docker 28 with the classic image store (overlay2), holding the stand-ins."""
    yield from _handed_out(background, "docker28_classic")


@pytest.fixture(scope="session")
def docker28_containerd(workshop_run: WorkshopRun, background: Background) -> Iterator[SpareEngine]:
    """Docker 28 with the containerd image store, holding the stand-ins."""
    yield from _handed_out(background, "docker28_containerd")


@pytest.fixture(scope="session")
def sweep_standins(workshop_run: WorkshopRun, background: Background) -> str:
    """The Go release a sweep sets beside 1.19, its stand-ins built: begun in the background at
    the start, as they take a minute or more on a machine that never had them."""
    release: str = background.made("sweep_standins")
    return release


@pytest.fixture(scope="session")
def arm64_standins(workshop_run: WorkshopRun, background: Background) -> str:
    """linux/arm64's stand-ins built: begun in the background at the start, as a machine that
    never had them builds them under emulation (five minutes or more) while other tests run."""
    platform: str = background.made("arm64_standins")
    return platform


@pytest.fixture(scope="session")
def docker28_binaries(background: Background) -> Path:
    """sid's dockerd, containerd and registry, unpacked."""
    binaries: Path = background.made("docker28_binaries")
    return binaries


@pytest.fixture(scope="session")
def registry(workshop_run: WorkshopRun, background: Background) -> Iterator[Registry]:
    """Debian's distribution registry on loopback, serving the stand-ins under the workshop's
    names (library/golang:1.10, ...), pushed from the main engine."""
    yield from _handed_out(background, "registry")


@pytest.fixture(scope="session")
def mirror_engine(registry: Registry, background: Background) -> Iterator[SpareEngine]:
    """A fresh engine whose Docker Hub mirror is the registry: `docker pull golang:1.10` is
    answered from it, and a name it lacks falls through to Docker Hub and fails at once."""
    yield from _handed_out(background, "mirror_engine")


@pytest.fixture(
    scope="session",
    params=[
        pytest.param("4", id="podman4"),
        pytest.param("5", id="podman5", marks=[pytest.mark.network, pytest.mark.mmdebstrap]),
    ],
)
def podman_engine(
    workshop_run: WorkshopRun, background: Background, request: pytest.FixtureRequest
) -> Iterator[PodmanService]:
    """Podman rootful, serving the Docker API on a socket of its own, holding the stand-ins:
    Debian 12's 4.3, then sid's 5 (each removed before the next is made). Made when its tests
    come, not in the background: its builds run beside no set-up's."""
    yield from _handed_out(background, f"podman{request.param}_engine")


@pytest.fixture(scope="session")
def standins_file(workshop_run: WorkshopRun, background: Background) -> Iterator[StandinsFile]:
    """The stand-ins saved to one file any user can read (`invoke bases --save`)."""
    yield from _handed_out(background, "standins_file")


@pytest.fixture(scope="session")
def rootless_user(
    workshop_run: WorkshopRun, standins_file: StandinsFile, background: Background
) -> Iterator[RootlessUser]:
    """A user without root, with the project and a virtualenv in reach; its rootless Docker is
    started by the tests, as that user, with `invoke engine --start`."""
    yield from _handed_out(background, "rootless_user")


@pytest.fixture(scope="module")
def rootless_podman5(
    rootless_user: RootlessUser, background: Background
) -> Iterator[RootlessPodman5]:
    """sid's Podman 5 rootless, as the user: its service started as the user in a sid system
    of its own (made in the background), its socket in reach of the user's tasks on the host.
    Removed with its module, before the user is."""
    system: SidSystem = background.take("podman5_rootless_system")
    user = pwd.getpwnam(rootless_user.name)
    service = RootlessPodman5(system, user.pw_name, user.pw_uid, user.pw_gid)
    try:
        service.start()
        yield service
    finally:
        service.remove()


@pytest.fixture(scope="session")
def remote_host(workshop_run: WorkshopRun, background: Background) -> Iterator[RemoteHost]:
    """An engine on another host (a network namespace of the project's own), reached over
    tcp:// with TLS and over ssh://, holding the stand-ins `invoke all` needs."""
    yield from _handed_out(background, "remote_host")
