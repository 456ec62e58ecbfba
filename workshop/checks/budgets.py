"""Size budgets for any image: limits on its size, pull size, layers, and dive's three rules.

    nox -s verify -- --budgets FILE [--image NAME ...] [--registry HOST:PORT]
                     [--junit PATH] [--json PATH] [--markdown PATH]

FILE is a TOML file of `[[budget]]` tables (or `[[tool.workshop.budget]]` in pyproject.toml):

    [[budget]]
    images = ["go-*", "myapp:latest"]   # names on the engine, exactly or as patterns
    size = "300MB"                       # docker's units (powers of 1000) or binary ("300MiB")
    pull_size = "120MB"                  # needs --registry: measured by pushing, never guessed
    layers = 12
    platform = "linux/arm64"             # only images of this platform (default: every one)
    lowest_efficiency = 0.95             # dive's rules (see workshop/efficiency.py)
    highest_wasted_bytes = "20MB"
    highest_user_wasted_percent = 0.2
    wasted_floor = "1MB"                 # at or under it, the percent rule passes (default 1MB)

or a `.dive-ci` file, read as dive reads it (`rules:` with `lowestEfficiency`,
`highestWastedBytes`, `highestUserWastedPercent`, each a value or `disabled`), for the images
given with --image. Exit 0: every limit held. 1: a limit was broken. 2: an image is missing or
the file can't be used. Sizes are the ones the workshop measures: `.Size` on the classic store
(as docker-image-size-limit reads it), the bytes of the image's files on the containerd store.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml
import yaml.composer
import yaml.constructor
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workshop.checks.junit import Case, junit_suite
from workshop.engine.values import EngineAPI
from workshop.errors import DataFileError
from workshop.files import parse_toml
from workshop.inspection.efficiency import measure
from workshop.inspection.layers import read_layers
from workshop.markdown import markdown_text
from workshop.platforms import PLATFORMS, platform_read
from workshop.records.datafile import read_text
from workshop.units import docker_size

__all__ = ["Budget", "BudgetReport", "Limit", "check_budgets", "load_budgets", "parse_limit"]

SCHEMA_FILE = Path(__file__).with_name("budgets.schema.json")
PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
# A pull-request comment holds 65,536 characters; the summary stays under that.
MARKDOWN_LIMIT = 64_000
_UNITS = {
    "": (1, "bytes"),
    "b": (1, "bytes"),
    "k": (1000, "docker's units, powers of 1000"),
    "kb": (1000, "docker's units, powers of 1000"),
    "m": (1000**2, "docker's units, powers of 1000"),
    "mb": (1000**2, "docker's units, powers of 1000"),
    "g": (1000**3, "docker's units, powers of 1000"),
    "gb": (1000**3, "docker's units, powers of 1000"),
    "kib": (1024, "binary units, powers of 1024"),
    "mib": (1024**2, "binary units, powers of 1024"),
    "gib": (1024**3, "binary units, powers of 1024"),
}
RULES = (
    "size",
    "pull_size",
    "layers",
    "lowest_efficiency",
    "highest_wasted_bytes",
    "highest_user_wasted_percent",
)
_DIVE_RULES = {
    "lowestEfficiency": "lowest_efficiency",
    "highestWastedBytes": "highest_wasted_bytes",
    "highestUserWastedPercent": "highest_user_wasted_percent",
}


@dataclass(frozen=True)
class Limit:
    bytes: int
    text: str
    units: str

    def __str__(self) -> str:
        return f"{self.text} ({self.bytes:,} bytes, {self.units})"


def parse_limit(value: object, *, where: str) -> Limit:
    """'300MB' (docker's units), '300MiB' (binary), or a number of bytes."""
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise DataFileError(
            f"{where}: {value!r} is not a size: give bytes, docker's units (300MB, powers of "
            "1000) or binary ones (300MiB, powers of 1024)."
        )
    factor, units = _UNITS[unit]
    # Exact, however large: a float would round a long number of bytes.
    return Limit(round(Fraction(match.group(1)) * factor), text, units)


@dataclass(frozen=True)
class Budget:
    patterns: tuple[str, ...]
    where: str
    size: Limit | None = None
    pull_size: Limit | None = None
    layers: int | None = None
    lowest_efficiency: float | None = None
    highest_wasted_bytes: Limit | None = None
    highest_user_wasted_percent: float | None = None
    wasted_floor: Limit = field(
        default_factory=lambda: Limit(1_000_000, "1MB", "docker's units, powers of 1000")
    )
    # The platform whose images it holds to its limits; "" for every platform present.
    platform: str = ""


def load_budgets(path: Path, images: Sequence[str] = ()) -> tuple[Budget, ...]:
    """The budgets in `path`; DataFileError naming the file and the entry otherwise."""
    text = read_text(path, what="budgets file")
    if text is None:
        raise DataFileError(f"There is no budgets file at {path}.")
    if path.name == ".dive-ci" or path.suffix in (".yaml", ".yml"):
        return (_dive_ci(text, path, images),)
    try:
        document = parse_toml(text)
    except ValueError as error:
        raise DataFileError(f"The budgets file {path} is not TOML: {error}.") from None
    keys = ("tool", "workshop", "budget") if path.name == "pyproject.toml" else ("budget",)
    entries: object = document
    for depth, key in enumerate(keys):
        if not isinstance(entries, dict):
            where = ".".join(keys[:depth])
            raise DataFileError(f"The budgets file {path} has {where} = {entries!r}, not a table.")
        entries = entries.get(key)
    if not isinstance(entries, list) or not entries:
        where = "[[tool.workshop.budget]]" if path.name == "pyproject.toml" else "[[budget]]"
        raise DataFileError(f"The budgets file {path} has no {where} tables.")
    budgets = [
        _budget(entry, f"{path}, budget {number}") for number, entry in enumerate(entries, 1)
    ]
    if images:
        budgets = [
            Budget(tuple(images), f"{path} (--image)", **_limits_of(budget)) for budget in budgets
        ]
    return tuple(budgets)


def _limits_of(budget: Budget) -> dict[str, Any]:
    return {name: getattr(budget, name) for name in (*RULES, "wasted_floor", "platform")}


def _budget(entry: object, where: str) -> Budget:
    if not isinstance(entry, dict):
        raise DataFileError(f"{where} is not a table.")
    unknown = sorted(set(entry) - {"images", "wasted_floor", "platform", *RULES})
    if unknown:
        raise DataFileError(
            f"{where}: unknown keys {', '.join(unknown)}; the keys are images, "
            f"{', '.join(RULES)}, wasted_floor, platform."
        )
    patterns = entry.get("images")
    if (
        not isinstance(patterns, list)
        or not patterns
        or not all(isinstance(p, str) and p for p in patterns)
    ):
        raise DataFileError(f"{where}: 'images' must be a list of image names or patterns.")
    values = _limits(entry, where)
    if "platform" in entry:
        platform = entry["platform"]
        if platform not in PLATFORMS:
            raise DataFileError(
                f"{where}, platform: {platform!r} is not one of {', '.join(PLATFORMS)}."
            )
        values["platform"] = platform
    if not any(name in values for name in RULES):
        raise DataFileError(
            f"{where} sets no limit, so it would check nothing and pass: give at least one of "
            f"{', '.join(RULES)} (a dive rule that is not 'disabled')."
        )
    return Budget(tuple(patterns), where, **values)


def _limits(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A budget's limits, each checked: sizes, layers and shares."""
    values: dict[str, Any] = {}
    for name in ("size", "pull_size", "highest_wasted_bytes", "wasted_floor"):
        if name in entry:
            values[name] = parse_limit(entry[name], where=f"{where}, {name}")
    if "layers" in entry:
        layers = entry["layers"]
        if not isinstance(layers, int) or isinstance(layers, bool) or layers < 1:
            raise DataFileError(f"{where}, layers: {layers!r} is not a whole number of layers.")
        values["layers"] = layers
    for name in ("lowest_efficiency", "highest_user_wasted_percent"):
        if name in entry:
            values[name] = _share(entry[name], f"{where}, {name}")
    return values


def _share(value: object, where: str) -> float:
    try:
        share = (
            float(value)
            if isinstance(value, str | int | float) and not isinstance(value, bool)
            else math.nan
        )
    except ValueError:
        share = math.nan
    if not 0 <= share <= 1:
        raise DataFileError(f"{where}: {value!r} is not a share from 0 to 1.")
    return share


class _NoAliases(yaml.SafeLoader):
    """YAML's safe loader without aliases (`*name`): a dive CI file has no use for them, and
    nested ones expand without bound (a 531-byte file took 4.7 GB). A key given twice in one
    mapping is refused too: the last one would win silently, and with it the verdict."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # PyYAML has no types
            raise yaml.composer.ComposerError(
                None, None, "an alias (*name) is not read in a dive CI file", mark
            )
        return super().compose_node(parent, index)


def _dive_ci(text: str, path: Path, images: Sequence[str]) -> Budget:

    try:
        document = yaml.load(text, Loader=_NoAliases)  # noqa: S506 - SafeLoader, no aliases
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        raise DataFileError(f"The dive CI file {path} is not YAML: {error}.") from None
    rules = document.get("rules") if isinstance(document, dict) else None
    if not isinstance(rules, dict):
        raise DataFileError(f"The dive CI file {path} has no 'rules:' mapping.")
    if not images:
        raise DataFileError(
            f"A dive CI file names no images: give them with --image NAME ({path})."
        )
    entry: dict[str, object] = {"images": list(images)}
    for key, value in rules.items():
        if key not in _DIVE_RULES:
            raise DataFileError(
                f"{path}: unknown rule {key!r}; dive's are {', '.join(_DIVE_RULES)}."
            )
        if str(value).strip().lower() != "disabled":
            entry[_DIVE_RULES[key]] = value
    return _budget(entry, f"{path} (dive's rules)")


@dataclass(frozen=True)
class Result:
    image: str
    rule: str
    verdict: str
    found: str
    limit: str
    message: str
    # The platform of the image that was read ("linux/arm64").
    platform: str = ""


@dataclass(frozen=True)
class BudgetReport:
    results: tuple[Result, ...]

    @property
    def exit_code(self) -> int:
        return 1 if any(result.verdict == FAIL for result in self.results) else 0

    def __rich__(self) -> RenderableType:
        table = Table(title="Size budgets", title_style="bold")
        for column in ("image", "rule", "found", "limit", "verdict"):
            table.add_column(column)
        styles = {PASS: "green", FAIL: "bold red", SKIPPED: "yellow"}
        for result in self.results:
            table.add_row(
                f"{result.image} ({result.platform})" if result.platform else result.image,
                result.rule,
                result.found,
                result.limit,
                Text(result.verdict, style=styles[result.verdict]),
            )
        failed = [result for result in self.results if result.verdict == FAIL]
        lines: list[RenderableType] = [table]
        lines += [
            Text(f"FAIL {result.image} {result.rule}: {result.message}", style="red")
            for result in failed
        ]
        counts = {
            verdict: sum(r.verdict == verdict for r in self.results)
            for verdict in (PASS, FAIL, SKIPPED)
        }
        lines.append(
            Text(
                f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIPPED]} skipped",
                style="bold",
            )
        )
        return Group(*lines)

    def to_json(self) -> dict[str, object]:
        return {
            "passed": self.exit_code == 0,
            "results": [result.__dict__ for result in self.results],
        }

    def to_junit(self) -> str:
        outcomes = {FAIL: "failed", SKIPPED: "skipped", PASS: "passed"}
        return junit_suite(
            "workshop-budgets",
            (
                Case(f"budget.{r.image}", r.rule, outcomes[r.verdict], r.message)
                for r in self.results
            ),
        )

    def to_markdown(self) -> str:

        counts = {
            verdict: sum(r.verdict == verdict for r in self.results)
            for verdict in (PASS, FAIL, SKIPPED)
        }
        head = [
            "## Size budgets",
            "",
            f"**{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIPPED]} skipped.**",
            "",
            "| image | rule | found | limit | verdict |",
            "| --- | --- | ---: | ---: | --- |",
        ]
        # Failures first: if the table must be cut to fit a comment, they are what stays.
        ordered = sorted(self.results, key=lambda result: result.verdict != FAIL)
        rows, size = [], sum(len(line) + 1 for line in head)
        for number, result in enumerate(ordered):
            cells = (
                f"{result.image} ({result.platform})" if result.platform else result.image,
                result.rule,
                result.found,
                result.limit,
                result.verdict.upper() if result.verdict == FAIL else result.verdict,
            )
            row = "| " + " | ".join(markdown_text(cell) for cell in cells) + " |"
            if size + len(row) + 200 > MARKDOWN_LIMIT:
                rows.append(
                    f"\n… and {len(ordered) - number} more rows, in the JSON and JUnit reports."
                )
                break
            rows.append(row)
            size += len(row) + 1
        return "\n".join([*head, *rows]) + "\n"


def image_matches(budget: Budget, names: Sequence[str]) -> dict[str, list[str]]:
    """Each pattern's matching names (`go-big` matches `go-big:latest`)."""
    found: dict[str, list[str]] = {}
    for pattern in budget.patterns:
        wanted = pattern if ":" in pattern.rsplit("/", 1)[-1] else pattern + ":latest"
        found[pattern] = sorted(name for name in names if fnmatch.fnmatchcase(name, wanted))
    return found


def check_budgets(
    engine: EngineAPI, budgets: Sequence[Budget], *, registry: Any = None, names: Sequence[str]
) -> BudgetReport:
    """Every budget's images measured on the engine and held to its limits."""

    planned: list[tuple[Budget, str]] = []
    for budget in budgets:
        for pattern, matched in image_matches(budget, names).items():
            if not matched:
                raise DataFileError(
                    f"No image on the engine is called {pattern!r} ({budget.where}). Build it, "
                    "or correct the name, then check again."
                )
            planned += [(budget, name) for name in matched]
    results: list[Result] = []
    for budget, name in planned:
        image = engine.measured(name)
        if image is None:
            raise DataFileError(
                f"The image {name!r} went from the engine while its budget was checked. Build "
                "it again, then check again."
            )
        held = image.platforms
        if budget.platform and held and budget.platform not in held:
            results.append(
                Result(
                    name,
                    "platform",
                    SKIPPED,
                    ", ".join(held),
                    budget.platform,
                    f"{name} holds {', '.join(held)} here, and {budget.where} is for "
                    f"{budget.platform} images: it does not apply.",
                    ", ".join(held),
                )
            )
            continue
        read = platform_read(name, held, wanted=budget.platform, own=engine.info.platform)
        layers = read_layers(engine, image.id)
        measures = measure(layers)
        judged = _judge(
            budget,
            name,
            image.size,
            measures,
            _pull_size(engine, registry, image.id, name) if budget.pull_size else None,
        )
        results += [replace(result, platform=read) for result in judged]
    return BudgetReport(tuple(results))


def _pull_size(engine: EngineAPI, registry: Any, image_id: str, name: str) -> int | None:
    if registry is None:
        return None
    repository = re.sub(r"[^a-z0-9._/-]", "-", name.rsplit(":", 1)[0].lower())
    remote = f"{registry.address}/budgets/{repository}"
    try:
        engine.push(image_id, remote)
        return int(registry.pull_size(f"budgets/{repository}"))
    finally:
        engine.untag(remote)


def _judge(budget: Budget, name: str, size: int, measures: Any, pull: int | None) -> list[Result]:
    results = []

    def add(rule: str, holds: bool, found: str, limit: str, message: str) -> None:
        results.append(Result(name, rule, PASS if holds else FAIL, found, limit, message))

    if budget.size is not None:
        add(
            "size",
            size <= budget.size.bytes,
            f"{docker_size(size)} ({size:,} bytes)",
            str(budget.size),
            f"{name} is {size:,} bytes; its limit is {budget.size}.",
        )
    if budget.pull_size is not None:
        if pull is None:
            results.append(
                Result(
                    name,
                    "pull_size",
                    SKIPPED,
                    "not measured",
                    str(budget.pull_size),
                    "not measured: give --registry HOST:PORT to push to and read back",
                )
            )
        else:
            add(
                "pull_size",
                pull <= budget.pull_size.bytes,
                f"{docker_size(pull)} ({pull:,} bytes)",
                str(budget.pull_size),
                f"a pull of {name} downloads {pull:,} bytes; its limit is {budget.pull_size}.",
            )
    if budget.layers is not None:
        add(
            "layers",
            measures.layers <= budget.layers,
            str(measures.layers),
            str(budget.layers),
            f"{name} has {measures.layers} layers; its limit is {budget.layers}.",
        )
    if budget.lowest_efficiency is not None:
        add(
            "lowest_efficiency",
            measures.efficiency >= budget.lowest_efficiency,
            f"{measures.efficiency:.4f}",
            f"{budget.lowest_efficiency}",
            f"{name}'s efficiency is {measures.efficiency:.4f}, under {budget.lowest_efficiency}.",
        )
    if budget.highest_wasted_bytes is not None:
        wasted = measures.wasted_bytes
        add(
            "highest_wasted_bytes",
            wasted <= budget.highest_wasted_bytes.bytes,
            f"{docker_size(wasted)} ({wasted:,} bytes)",
            str(budget.highest_wasted_bytes),
            f"{name} wastes {wasted:,} bytes; the limit is {budget.highest_wasted_bytes}."
            + _largest(measures),
        )
    if budget.highest_user_wasted_percent is not None:
        percent, wasted = measures.user_wasted_percent, measures.wasted_bytes
        floor = budget.wasted_floor
        holds = wasted <= floor.bytes or percent <= budget.highest_user_wasted_percent
        found = f"{percent:.2%}" if math.isfinite(percent) else "no bytes of its own"
        add(
            "highest_user_wasted_percent",
            holds,
            found,
            f"{budget.highest_user_wasted_percent:.0%} (not under {floor.text} wasted)",
            f"{name} wastes {wasted:,} bytes, {found} of the {measures.user_bytes:,} its own "
            f"layers add; the limit is {budget.highest_user_wasted_percent:.0%} above {floor}."
            + _largest(measures),
        )
    return results


def _largest(measures: Any) -> str:
    if not measures.wasted_paths:
        return ""
    path, count, size = measures.wasted_paths[0]
    return f" The largest: /{path}, {size:,} bytes in {count} layers."


def read_schema() -> Mapping[str, Any]:
    return dict(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
