"""The 'Multi-stage Image Build' workshop, one invoke task per step.

Each task calls one function of its use case's module in `workshop.app`, imported inside the
task so that `invoke --list` stays quick and imports no docker-py, and a task imports only what
it uses. The order of the steps is declared with pre-tasks only. Settings are in invoke config
under `workshop` (see workshop/settings.py), for example INVOKE_WORKSHOP_VERBOSE=1 for the full
build output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from invoke import Collection, Context, Task, task

from workshop.catalogue import STEPS
from workshop.settings import CONFIG_KEYS


def _step(number: int, *, pre: Sequence[Task[Callable[[Context], None]]] = ()) -> Task[Any]:
    """Step `number`'s task; its help is the step's title in the step table."""

    def body(c: Context) -> None:
        from workshop.app import steps

        steps.step(c, number)

    body.__name__ = body.__qualname__ = f"step_{number}"
    title = STEPS[number].title
    body.__doc__ = title if title.endswith(("!", ".")) else f"{title}."
    # invoke annotates `pre` as task names; it takes the tasks themselves too.
    return Task(body, pre=list(pre))  # type: ignore[arg-type]


# Step tasks take no parameters: invoke runs a parameterised task twice when it is both named on
# the command line and a pre-task of another named task.
step_1 = _step(1)
step_2 = _step(2, pre=[step_1])
step_3 = _step(3, pre=[step_1])
step_4 = _step(4, pre=[step_3])
step_5 = _step(5, pre=[step_1])
step_6 = _step(6, pre=[step_1])
step_7 = _step(7, pre=[step_1])
step_8 = _step(8, pre=[step_7])
step_9 = _step(9)
step_10 = _step(10, pre=[step_8])
step_11 = _step(11, pre=[step_10])
step_12 = _step(12, pre=[step_9])
step_13 = _step(13, pre=[step_9])
step_14 = _step(14, pre=[step_9])
step_15 = _step(15, pre=[step_9])


PLATFORM_HELP = (
    "Platforms to build, run and measure the steps for: linux/amd64,linux/arm64 (default: the "
    "engine's own)."
)


@task(name="all", help={"platform": PLATFORM_HELP})
def all_(c: Context, platform: str | None = None) -> None:
    """Run the whole workshop, steps 1 to 9, then sum it up."""
    from workshop.app import steps

    steps.run_all(c, platform=platform)


@task(help={"platform": PLATFORM_HELP})
def beyond(c: Context, platform: str | None = None) -> None:
    """Go beyond the workshop: steps 10 to 15, then sum them up."""
    from workshop.app import steps

    steps.beyond(c, platform=platform)


@task(
    help={
        "go": "Debian's Go releases to run, separated by commas (1.15, 1.19, 1.21-1.24).",
        "platform": PLATFORM_HELP,
    }
)
def sweep(c: Context, go: str = "1.19,1.21,1.24", platform: str | None = None) -> None:
    """Run steps 4 to 9 for several Go releases, and tabulate their sizes."""
    from workshop.app import sweep

    sweep.sweep(c, go, platform=platform)


@task(
    help={
        "program": "Your Go program: the folder of its main package, or one .go file.",
        "args": "Arguments to run it with (split like a shell would).",
        "stdin": "Text to give it on standard input.",
        "output": "The output it must print (stdout and stderr, trailing newlines ignored).",
        "exit_": "The exit status it must end with (default 0).",
        "timeout": "Seconds it may take to finish, or to answer (default 30).",
        "network": "The container's network: host, bridge or none.",
        "trust": "CA certificate files in its folder that it must trust, separated by commas.",
        "port": "A server: the port to probe (published on 127.0.0.1).",
        "path": "A server: the path to GET (default /).",
        "status": "A server: the HTTP status it must answer (default 200).",
        "platform": "Platforms to build, run and measure it for: linux/amd64,linux/arm64.",
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
    exit_: str | None = None,
    timeout: str | None = None,
    network: str | None = None,
    trust: str | None = None,
    port: str | None = None,
    path: str | None = None,
    status: str | None = None,
    platform: str | None = None,
) -> None:
    """Shrink your own Go program with the workshop's techniques, rung by rung.

    Each rung is measured and checked; you get the smallest image that still works and its
    Dockerfile. shrink.toml in the program's folder says how to check it.
    """
    from workshop.app import shrink

    shrink.shrink(
        c,
        program,
        args=args,
        stdin=stdin,
        output=output,
        exit_status=exit_,
        timeout=timeout,
        network=network,
        trust=trust,
        port=port,
        path=path,
        status=status,
        platform=platform,
    )


@task(
    help={
        "image": "The image to explain, for example go-big.",
        "top": "How many of the largest directories and files to show (default 8).",
        "platform": "The platform to read (linux/amd64, linux/arm64); default: what it holds.",
    }
)
def explain(c: Context, image: str, top: str = "8", platform: str = "") -> None:
    """Show what is taking so much space in an image: layers, contents, wasted bytes."""
    from workshop.app import inspection

    inspection.explain(c, image, top, platform=platform)


@task(
    help={
        "before": "The image before (or, with --steps, its step).",
        "after": "The image after (or, with --steps, its step).",
        "steps": "Take A and B as workshop steps: invoke diff --steps 7 8.",
        "top": "How many of the largest changes to show (default 15).",
        "platform": "The platform to read of both (linux/amd64, linux/arm64).",
    },
)
def diff(
    c: Context, before: str, after: str, steps: bool = False, top: str = "15", platform: str = ""
) -> None:
    """Show what changed between two images, file by file: invoke diff go-scratch go-stripped."""
    from workshop.app import inspection

    inspection.diff(c, before, after, steps=steps, top=top, platform=platform)


@task
def report(c: Context) -> None:
    """Write build/report.html (charts, breakdown, verify, history) and build/report.md."""
    from workshop.app import report

    report.report(c)


@task(help={"start": "Where no engine answers, start one here (root, Debian or Ubuntu)."})
def engine(c: Context, start: bool = False) -> None:
    """Show which Docker Engine the tasks use and how it was chosen; --start one if none answers."""
    from workshop.app import engine

    engine.engine(c, start=start)


@task(
    help={
        "rebuild": "Build the stand-ins again even where they exist.",
        "platform": "Platforms to build them for: linux/amd64,linux/arm64 (default: the engine's).",
        "save": "Then save them to this file (one archive), for another engine or machine.",
        "load": "Load them from a file --save wrote, instead of building (no root needed).",
    }
)
def bases(
    c: Context,
    rebuild: bool = False,
    platform: str | None = None,
    save: str | None = None,
    load: str | None = None,
) -> None:
    """Build the local stand-ins for the workshop's base images (no registry needed)."""
    from workshop.app import images

    images.bases(c, rebuild=rebuild, platform=platform, save=save, load=load)


@task(
    help={
        "bases": "Remove the stand-in base images too (they take minutes to rebuild).",
        "stages": "Remove the build stages the builds left untagged too (the build cache).",
    }
)
def clean(c: Context, bases: bool = False, stages: bool = False) -> None:
    """Remove the images this configuration built, and this project's leftovers; nothing else."""
    from workshop.app import images

    images.clean(c, bases=bases, stages=stages)


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
    step_14,
    step_15,
    all_,
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
