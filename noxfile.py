"""Sessions: lint, typecheck, unit, tests, engines, verify, bench. `nox` alone runs lint,
typecheck and tests (every test but the other engines'); `nox -s unit` is the quick loop, the
tests that need no engine; `nox -s engines` runs the workshop on Podman, rootless Docker and an
engine on another host (CI runs it too)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session, extra: str = "") -> None:
    _install_once(session, "-e", f".[{extra}]" if extra else ".")
    # The package's bytecode, written once: where PYTHONDONTWRITEBYTECODE is set (as on the
    # machines CI runs on) every `invoke` the tests and the bench start compiled it again.
    session.run("python", "-m", "compileall", "-q", "workshop", "tasks.py", silent=True)


def _install_once(session: nox.Session, *args: str) -> None:
    """`pip install ARGS` into the session's virtualenv, unless it was done there already with
    this pyproject.toml: pip takes 7 s here to find that a reused virtualenv has everything,
    a third of `nox -s unit`. The project is installed editable, so a change to its code needs
    no install; a change to pyproject.toml (or a new virtualenv) installs again."""
    location = getattr(session.virtualenv, "location", None)
    key = hashlib.sha256(Path("pyproject.toml").read_bytes() + repr(args).encode()).hexdigest()
    stamp = Path(location, f".installed-{key[:16]}") if location else None
    if stamp is not None and stamp.is_file():
        return
    session.install(*args)
    if stamp is not None:
        stamp.touch()


def _run_python(session: nox.Session, *target: str) -> None:
    """Run `python TARGET` with the session's arguments, exiting with its own code: nox ends
    a failed session with 1 whatever happened, and CI tells 1 from 2 from 64."""
    code = subprocess.call([Path(session.bin) / "python", *target, *session.posargs])
    if code:
        sys.exit(code)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style, formatting and security rules (ruff), and the import layers (import-linter)."""
    _install_once(session, "ruff==0.17.6", "import-linter==2.17")
    _install_once(session, "--no-deps", "-e", ".")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # The layers (pyproject's [tool.importlinter]): no import from a lower layer to a higher one.
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Check types with mypy (strict), the tests' fake engine against the real one included."""
    _install(session, "typecheck")
    session.run("mypy", *mypy_arguments(session.posargs))


def mypy_arguments(posargs: list[str]) -> list[str]:
    """The paths among the arguments after `--`, for mypy to check instead of pyproject's
    files: `nox -- --durations=30` gives pytest's options to all three sessions, and mypy
    refused them (the typecheck failed where nothing was wrong)."""
    return _paths_among(posargs)


# pytest's options (its own and its plugins') that take the next argument as their value, so
# that `-k workshop` is not read as the folder workshop/, nor `--deselect PATH` as a choice.
OPTIONS_WITH_VALUES = frozenset(
    (  # noqa: SIM905 (a list of 27 options, one a line, reads worse)
        "-k -m -p -n -c -o -r -W --dist --maxfail --durations --durations-min --deselect "
        "--ignore --ignore-glob --rootdir --basetemp --junitxml --junit-xml --tb --capture "
        "--color --confcutdir --override-ini --import-mode --log-level --timeout"
    ).split()
)


def _paths_among(posargs: list[str]) -> list[str]:
    """The files and folders pytest's positional arguments name (`tests/x.py::test_y` names
    tests/x.py); an option's value is the option's, even where it names a folder here."""
    paths = []
    value_next = False
    for argument in posargs:
        if value_next:
            value_next = False
        elif argument.startswith("-"):
            value_next = argument in OPTIONS_WITH_VALUES
        elif Path(path := argument.split("::")[0]).exists():
            paths.append(path)
    return paths


# pytest keeps each test module, its asserts rewritten, in __pycache__ as Python keeps bytecode,
# and reads it back next time; PYTHONDONTWRITEBYTECODE (set on some machines) stops the writing,
# and then every worker rewrites every module at every run: `nox -s unit` took 31 s that way
# and 25 s with the modules kept (docs/developing.md).
PYTEST_ENV = {"PYTHONDONTWRITEBYTECODE": ""}


@nox.session
def unit(session: nox.Session) -> None:
    """Run the tests that need no engine (tests/unit), on four workers (pytest-xdist): most of
    their time is spent waiting on child processes and bounded waits, not on the 2 cores.
    Options alone (`-- --durations=25`) are added; a path, `-m` or `-k` chooses what runs."""
    _install(session, "test")
    if _chooses_tests(session.posargs):
        session.run("pytest", *session.posargs, env=PYTEST_ENV)
        return
    session.run("pytest", "-n", "4", "tests/unit", *session.posargs, env=PYTEST_ENV)


def _chooses_tests(posargs: list[str]) -> bool:
    """Whether pytest's arguments choose the tests (a path, `-m`, `-k`) or only add options:
    `nox -s unit -- --durations=25` alone once ran every test, the engines' too, on one worker."""
    return any(each in ("-m", "-k") for each in posargs) or bool(_paths_among(posargs))


# The tests of the engines besides the host's Docker Engine (marked other_engines): each starts
# its engine (Podman 4 and 5, a user without root, a host of its own) and runs the workshop
# there from cold.
OTHER_ENGINES = "other_engines"
# Two workers for the engine tests: their builds keep both cores busy about two thirds of the
# time on one (docs/developing.md); each worker keeps a share of whole modules.
SIDE_BY_SIDE = ("-n", "2", "--dist", "each")
# Three for the other engines: Podman's module (rootful 4.3, then 5) on one, and the rest shared
# out by their measured seconds (the remote host's, and rootless Docker's, Podman 4.3's and 5's,
# each worker making the user those need), none waiting on another's set-up.
THREE_SIDE_BY_SIDE = ("-n", "3", "--dist", "each")


@nox.session
def tests(session: nox.Session) -> None:
    """Run every test but the other engines' (`nox -s engines`); one needing what the machine
    lacks says how to get it (fails in CI). The tests that need no engine run first, on four
    workers as `nox -s unit` runs them; then the engine's, on two side by side, each keeping
    whole modules and the extra engines they share (tests/e2e/conftest.py). Options alone
    (`-- --durations=25`) go to both; a path or `-m` chooses what runs instead, on one worker."""
    _install(session, "test")
    if _chooses_tests(session.posargs):
        session.run("pytest", "-m", f"not ({OTHER_ENGINES})", *session.posargs, env=PYTEST_ENV)
        return
    session.run("pytest", "-n", "4", "tests/unit", *session.posargs, env=PYTEST_ENV)
    session.run(
        "pytest",
        *SIDE_BY_SIDE,
        "-m",
        f"not ({OTHER_ENGINES})",
        "tests/e2e",
        *session.posargs,
        env=PYTEST_ENV,
    )


@nox.session
def engines(session: nox.Session) -> None:
    """Run the workshop's tests on the other engines: Podman, rootful and rootless, rootless
    Docker, and an engine on another host over tcp:// with TLS and ssh://; on three workers
    side by side, each keeping whole modules as the engine tests in `nox -s tests` do."""
    _install(session, "test")
    # The stand-ins as one file, saved once here for the three workers rather than by each
    # (Podman's, and each rootless user's, engine loads it): tests/support/standins.py.
    with tempfile.TemporaryDirectory(prefix="standins-", dir="/tmp") as folder:
        Path(folder).chmod(0o755)
        archive = Path(folder) / "standins.tar"
        session.run("invoke", "bases", "--save", str(archive))
        archive.chmod(0o644)
        session.run(
            "pytest",
            *THREE_SIDE_BY_SIDE,
            "-m",
            OTHER_ENGINES,
            # The engine tests' folder unless a path is given: `-- --durations=15` alone made
            # each worker collect every test of tests/ to keep the 48 marked.
            *([] if _paths_among(session.posargs) else ["tests/e2e"]),
            *session.posargs,
            env={**PYTEST_ENV, "WORKSHOP_TESTS_STANDINS": str(archive)},
        )


@nox.session
def verify(session: nox.Session) -> None:
    """Check the size log against the workshop's figures (1: a check failed, 2: no log)."""
    _install(session)
    _run_python(session, "-m", "workshop.checks")


@nox.session
def bench(session: nox.Session) -> None:
    """Time `invoke all` against the docker CLI: its commands in turn, and its floor, as ratios."""
    # The test extras: --transports starts the tests' remote host (trustme signs its TLS).
    _install(session, "test")
    _run_python(session, "tools/bench.py")
