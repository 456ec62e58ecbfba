"""The checks' command line: `nox -s verify -- ...` runs `python -m workshop.checks ...`.

    python -m workshop.checks [--log PATH] [--strict] [--junit PATH] [--json PATH]
    python -m workshop.checks --budgets FILE [--image NAME ...] [--registry HOST:PORT] [...]
    python -m workshop.checks --trends [--history PATH] [--baseline RUN] [--growth SHARE]

Exit 0: every check passed. 1: a check failed. 2: the log is missing, unreadable or incomplete,
or a report can't be written. 64: the arguments can't be used.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from rich.text import Text

from workshop.checks.budgets import check_budgets, load_budgets
from workshop.checks.trends import find_trends
from workshop.checks.verify import Verdict, Verdicts, verify
from workshop.console import get_console, get_err_console
from workshop.engine.client import Engine
from workshop.engine.registry import Registry
from workshop.engine.values import EngineAPI
from workshop.errors import BadInput, DataFileError, EngineUnavailable
from workshop.platforms import parse_platforms
from workshop.records.datafile import check_output, write_atomic
from workshop.records.history import History
from workshop.records.sizelog import SizeLog, platform_log
from workshop.settings import Settings
from workshop.signals import command
from workshop.steps.figures import load_figures

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as BadInput (exit 64): 2 means the log, not the arguments."""

    def error(self, message: str) -> NoReturn:
        raise BadInput(f"{message}. {self.format_usage().strip().capitalize()}")


def main(argv: Sequence[str] | None = None) -> int:

    parser = _Parser(
        prog="nox -s verify --", description="Check the size log against the workshop's figures."
    )
    parser.add_argument(
        "--log", type=Path, help="the size log (default: the setting size_log, build/sizes.json)"
    )
    parser.add_argument("--strict", action="store_true", help="let the figures gate on any bases")
    parser.add_argument("--junit", type=Path, help="also write JUnit XML, one test case per check")
    parser.add_argument("--json", type=Path, help="also write a JSON report")
    parser.add_argument(
        "--budgets", type=Path, help="check images on the engine against a budgets file instead"
    )
    parser.add_argument(
        "--image", action="append", default=[], help="an image for the budgets (again for more)"
    )
    parser.add_argument("--registry", help="push to this registry to measure pull sizes")
    parser.add_argument(
        "--platform",
        default="",
        help=(
            "verify each platform's size log (linux/amd64,linux/arm64; default: the setting "
            "platform, else the log alone); with --budgets, hold only this platform's images "
            "to them (default: each budget's own)"
        ),
    )
    parser.add_argument("--markdown", type=Path, help="also write a Markdown summary")
    parser.add_argument(
        "--trends", action="store_true", help="check the run history for images that grew"
    )
    parser.add_argument(
        "--history", type=Path, help="the run history (--trends; default: the setting history)"
    )
    parser.add_argument(
        "--growth", type=float, default=0.05, help="the share an image may grow (default 0.05)"
    )
    parser.add_argument(
        "--baseline", default="", help="the baseline run: its number, or a commit prefix"
    )
    with command(interrupted="Interrupted.") as ending:
        arguments = parser.parse_args(argv)
        # The defaults are the tasks' own: INVOKE_WORKSHOP_SIZE_LOG, INVOKE_WORKSHOP_HISTORY.
        settings = Settings.from_environment(os.environ)
        arguments.log = arguments.log or settings.size_log
        arguments.history = arguments.history or settings.history
        outputs = {
            path: what
            for path, what in (
                (arguments.junit, "JUnit report"),
                (arguments.json, "JSON report"),
            )
            if path is not None
        }
        if arguments.markdown is not None:
            outputs[arguments.markdown] = "Markdown summary"
        for path, what in outputs.items():
            check_output(path, what=what)
        if arguments.budgets is not None:
            return _check_budgets(arguments)
        if arguments.trends:
            return _check_trends(arguments)
        platforms = parse_platforms(arguments.platform or settings.platform, what="--platform")
        verdicts = {
            platform: _verified(path, strict=arguments.strict)
            for platform, path in _platform_logs(arguments.log, platforms).items()
        }
        verdict = next(iter(verdicts.values())) if len(verdicts) == 1 else Verdicts(verdicts)
        if arguments.junit is not None:
            write_atomic(arguments.junit, verdict.to_junit() + "\n", what="JUnit report")
        if arguments.json is not None:
            document = json.dumps(verdict.to_json(), indent=2, ensure_ascii=False)
            write_atomic(arguments.json, document + "\n", what="JSON report")
        get_console().print(verdict)
        return verdict.exit_code
    # Text, not markup: a message may quote a file name or a tag.
    get_err_console().print(Text(ending.message, style="bold red"))
    return ending.code


def _verified(log: Path, *, strict: bool) -> Verdict:
    """The verdict on the size log `log`."""
    records = SizeLog(log).read()
    if not records and not log.exists():
        raise DataFileError(
            f"There is no size log at {log}. Run `invoke all` to build and measure the "
            "workshop's images (with --platform for another platform's), or pass --log PATH, "
            "then verify again."
        )
    return verify(records, load_figures(), log=log, strict=strict)


def _platform_logs(log: Path, platforms: tuple[str, ...]) -> dict[str, Path]:
    """The size log of each of `platforms`: `log` where its steps were built for it (the
    engine's own platform), else the one beside it that `invoke all --platform` writes
    (sizes-linux-arm64.json). No platforms: `log` alone."""
    if not platforms:
        return {"": log}
    held = {record.platform for record in SizeLog(log).read().values()}
    return {p: log if p in held else platform_log(log, p) for p in platforms}


def _check_budgets(arguments: argparse.Namespace) -> int:
    """The budgets mode: images on the engine against FILE's limits."""

    budgets = load_budgets(arguments.budgets, arguments.image)
    if arguments.platform:
        (platform, *more) = parse_platforms(arguments.platform, what="--platform") or ("",)
        if more:
            raise BadInput(f"--platform {arguments.platform}: the budgets take one platform.")
        budgets = tuple(replace(budget, platform=platform) for budget in budgets)
    registry = Registry.parse(arguments.registry) if arguments.registry else None
    if registry is not None:
        registry.check()
    engine = Engine.from_env()
    report = check_budgets(engine, budgets, registry=registry, names=engine.image_names())
    if arguments.junit is not None:
        write_atomic(arguments.junit, report.to_junit() + "\n", what="JUnit report")
    if arguments.json is not None:
        document = json.dumps(report.to_json(), indent=2, ensure_ascii=False)
        write_atomic(arguments.json, document + "\n", what="JSON report")
    if arguments.markdown is not None:
        write_atomic(arguments.markdown, report.to_markdown(), what="Markdown summary")
    get_console().print(report)
    return report.exit_code


def _check_trends(arguments: argparse.Namespace) -> int:
    """The trends mode: the history's runs against a baseline."""

    if not 0 <= arguments.growth <= 10:
        raise BadInput(f"--growth {arguments.growth}: give a share, like 0.05 for 5%.")
    runs = History(arguments.history, keep=10**6).read()
    engine: EngineAPI | None
    try:
        engine = Engine.from_env()
        engine.info  # noqa: B018 - asks the engine something
    except EngineUnavailable:
        engine = None
    found = find_trends(runs, share=arguments.growth, baseline=arguments.baseline, engine=engine)
    if arguments.json is not None:
        document = json.dumps(found.to_json(), indent=2, ensure_ascii=False)
        write_atomic(arguments.json, document + "\n", what="JSON report")
    get_console().print(found)
    return found.exit_code
