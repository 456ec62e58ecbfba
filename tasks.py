"""The 'Multi-stage Image Build' workshop, one invoke task per step.

Each task runs one function of the `workshop` package and shows its result; the order of the
steps is declared with pre-tasks only. Settings are in invoke config under `workshop` (see
workshop/settings.py), for example INVOKE_WORKSHOP_VERBOSE=1 for the full build output.
"""

from __future__ import annotations

from invoke import Collection, Context, task

from workshop.app.session import session
from workshop.console import show
from workshop.errors import reported
from workshop.settings import CONFIG_KEYS
from workshop.steps.runner import build_step, file_step


@task
def step_1(c: Context) -> None:
    """Create app.go, a hello world in Go, in the workspace."""
    with reported():
        show(file_step(session(c), 1))


@task(pre=[step_1])
def step_2(c: Context) -> None:
    """Inspect app.go's content and size."""
    with reported():
        show(file_step(session(c), 2))


@task(pre=[step_1])
def step_3(c: Context) -> None:
    """Create Dockerfile.big with build and packaging instructions."""
    with reported():
        show(file_step(session(c), 3))


@task(pre=[step_3])
def step_4(c: Context) -> None:
    """Build go-big on golang:1.10, check its size and run it."""
    with reported():
        show(build_step(session(c), 4))


@task(pre=[step_1])
def step_5(c: Context) -> None:
    """Build go-alpine on golang:1.10-alpine instead of Debian."""
    with reported():
        show(build_step(session(c), 5))


@task(pre=[step_1])
def step_6(c: Context) -> None:
    """Build go-multi-stage: compile in one stage, ship on alpine."""
    with reported():
        show(build_step(session(c), 6))


@task(pre=[step_1])
def step_7(c: Context) -> None:
    """Build go-scratch: the binary alone, FROM scratch."""
    with reported():
        show(build_step(session(c), 7))


@task(pre=[step_7])
def step_8(c: Context) -> None:
    """Build go-stripped: strip the binary, and see what it saves against go-scratch."""
    with reported():
        show(build_step(session(c), 8))


@task
def step_9(c: Context) -> None:
    """Build go-smaller: println instead of fmt, and compare it with go-big."""
    with reported():
        show(build_step(session(c), 9))


@task(pre=[step_3])
def build_ahead(c: Context) -> None:
    """Start steps 4 to 9 side by side; each step then shows its own result, in order."""
    from workshop.steps.sidebyside import start_builds

    with reported():
        start_builds(session(c))


# build_ahead is a pre-task of `all` only, and not listed: alone it would show nothing.
@task(pre=[step_1, step_2, step_3, build_ahead, step_4, step_5, step_6, step_7, step_8, step_9])
def all(c: Context) -> None:
    """Run the whole workshop, steps 1 to 9, then sum it up."""
    from workshop.steps.summary import workshop_summary

    with reported():
        show(workshop_summary(session(c)))


@task(pre=[step_8])
def step_10(c: Context) -> None:
    """Let the linker strip (-ldflags='-s -w'), and compare it with strip."""
    with reported():
        show(build_step(session(c), 10))


@task(pre=[step_10])
def step_11(c: Context) -> None:
    """Compress the binary with UPX, and time what it costs at start-up."""
    with reported():
        show(build_step(session(c), 11))


@task(pre=[step_9])
def step_12(c: Context) -> None:
    """Build the floor: a 163-byte static ELF that prints Hello world!."""
    with reported():
        show(build_step(session(c), 12))


@task(pre=[step_9])
def step_13(c: Context) -> None:
    """Run go-smaller as an unprivileged user (USER 65534), and see what it costs."""
    with reported():
        show(build_step(session(c), 13))


@task(pre=[step_10, step_11, step_12, step_13])
def beyond(c: Context) -> None:
    """Go beyond the workshop: steps 10 to 13, then sum them up."""
    from workshop.steps.summary import beyond_summary

    with reported():
        show(beyond_summary(session(c)))


@task(help={"go": "Debian's Go releases to run, separated by commas (1.15, 1.19, 1.21-1.24)."})
def sweep(c: Context, go: str = "1.19,1.21,1.24") -> None:
    """Run steps 4 to 9 for several Go releases, and tabulate their sizes."""
    from workshop.steps.sweep import run_sweep

    with reported():
        show(run_sweep(session(c), go))


@task(
    help={
        "program": "Your Go program: the folder of its main package, or one .go file.",
        "args": "Arguments to run it with (split like a shell would).",
        "stdin": "Text to give it on standard input.",
        "output": "The output it must print (stdout and stderr, trailing newlines ignored).",
        "exit": "The exit status it must end with (default 0).",
        "timeout": "Seconds it may take to finish, or to answer (default 30).",
        "network": "The container's network: host, bridge or none.",
        "trust": "CA certificate files in its folder that it must trust, separated by commas.",
        "port": "A server: the port to probe (published on 127.0.0.1).",
        "path": "A server: the path to GET (default /).",
        "status": "A server: the HTTP status it must answer (default 200).",
    },
    # Generated short flags would give --path -h, which reads as help.
    auto_shortflags=False,
)
def shrink(
    c: Context,
    program: str,
    args: str | None = None,
    stdin: str | None = None,
    output: str | None = None,
    exit: str | None = None,
    timeout: str | None = None,
    network: str | None = None,
    trust: str | None = None,
    port: str | None = None,
    path: str | None = None,
    status: str | None = None,
) -> None:
    """Shrink your own Go program with the workshop's techniques, rung by rung.

    Each rung is measured and checked; you get the smallest image that still works and its
    Dockerfile. shrink.toml in the program's folder says how to check it.
    """
    from workshop.shrink.appcheck import parse_flags
    from workshop.shrink.climb import shrink_task

    with reported():
        flags = parse_flags(
            args=args,
            stdin=stdin,
            output=output,
            exit=exit,
            timeout=timeout,
            network=network,
            trust=trust,
            port=port,
            path=path,
            status=status,
        )
        shrink_task(session(c), program, flags)


@task(
    help={
        "image": "The image to explain, for example go-big.",
        "top": "How many of the largest directories and files to show (default 8).",
    }
)
def explain(c: Context, image: str, top: str = "8") -> None:
    """Show what is taking so much space in an image: layers, contents, wasted bytes."""
    from workshop.inspection.explain import explain_image, parse_top

    with reported():
        show(explain_image(session(c), image, top=parse_top(top)))


@task(
    help={
        "before": "The image before (or, with --steps, its step).",
        "after": "The image after (or, with --steps, its step).",
        "steps": "Take A and B as workshop steps: invoke diff --steps 7 8.",
        "top": "How many of the largest changes to show (default 15).",
    },
)
def diff(c: Context, before: str, after: str, steps: bool = False, top: str = "15") -> None:
    """Show what changed between two images, file by file: invoke diff go-scratch go-stripped."""
    from workshop.inspection.diff import diff_task
    from workshop.inspection.explain import parse_top

    with reported():
        show(diff_task(session(c), before, after, steps=steps, top=parse_top(top)))


@task
def report(c: Context) -> None:
    """Write build/report.html (charts, breakdown, verify, history) and build/report.md."""
    from workshop.report.render import write_report

    with reported():
        show(write_report(session(c)))


@task(help={"start": "Where no engine answers, start one here (root, Debian or Ubuntu)."})
def engine(c: Context, start: bool = False) -> None:
    """Show which Docker Engine the tasks use and how it was chosen; --start one if none answers."""
    from workshop.engine.dockerd import engine_status

    with reported():
        show(engine_status(session(c), start=start))


@task(help={"rebuild": "Build the stand-ins again even where they exist."})
def bases(c: Context, rebuild: bool = False) -> None:
    """Build the local stand-ins for the workshop's base images (no registry needed)."""
    from workshop.steps.bases import build_standins

    with reported():
        show(build_standins(session(c), rebuild=rebuild))


@task(help={"bases": "Remove the stand-in base images too (they take minutes to rebuild)."})
def clean(c: Context, bases: bool = False) -> None:
    """Remove the images this configuration built, and this project's leftovers; nothing else."""
    from workshop.steps.cleanup import clean as remove_built

    with reported():
        show(remove_built(session(c), bases=bases))


ns = Collection(
    step_1,
    step_2,
    step_3,
    step_4,
    step_5,
    step_6,
    step_7,
    step_8,
    step_9,
    step_10,
    step_11,
    step_12,
    step_13,
    all,
    beyond,
    sweep,
    shrink,
    explain,
    diff,
    report,
    engine,
    bases,
    clean,
)
# Every setting starts unset: invoke passes what a person gives as it is, and the settings
# module parses it and holds the defaults.
ns.configure({"workshop": dict.fromkeys(CONFIG_KEYS)})
