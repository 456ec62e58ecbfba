"""Budgets files, limits in their units, and the reports: JSON against its schema, JUnit, and
Markdown that fits a pull-request comment."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import jsonschema
import pytest

from tests.support.fakeengine import FakeEngine
from tests.support.images import saved_archive
from workshop.checks.budgets import (
    MARKDOWN_LIMIT,
    BudgetReport,
    Result,
    check_budgets,
    load_budgets,
    parse_limit,
    read_schema,
)
from workshop.errors import DataFileError


@pytest.mark.parametrize(
    ("text", "size", "units"),
    [
        ("300MB", 300_000_000, "docker's units, powers of 1000"),
        ("300MiB", 314_572_800, "binary units, powers of 1024"),
        ("1.5GB", 1_500_000_000, "docker's units, powers of 1000"),
        ("4096", 4096, "bytes"),
    ],
)
def test_limits_take_docker_units_and_binary_ones_and_say_which(
    text: str, size: int, units: str
) -> None:
    limit = parse_limit(text, where="x")
    assert (limit.bytes, limit.units) == (size, units)
    assert units in str(limit)


@pytest.mark.parametrize("text", ["300XB", "-1MB", "", "lots"])
def test_a_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(DataFileError, match="is not a size"):
        parse_limit(text, where="budgets.toml, budget 1, size")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_budgets_file_and_pyproject_read_alike(tmp_path: Path) -> None:
    table = 'images = ["go-*"]\nsize = "300MB"\nlayers = 3\nhighest_user_wasted_percent = 0.2\n'
    own = load_budgets(write(tmp_path, "budgets.toml", "[[budget]]\n" + table))
    pyproject = load_budgets(
        write(tmp_path, "pyproject.toml", "[[tool.workshop.budget]]\n" + table)
    )
    assert (
        [budget.patterns for budget in own]
        == [budget.patterns for budget in pyproject]
        == [("go-*",)]
    )
    assert own[0].size is not None and own[0].size.bytes == 300_000_000
    assert own[0].wasted_floor.bytes == 1_000_000


def test_a_dive_ci_file_is_read_as_dive_reads_it(tmp_path: Path) -> None:
    text = (
        "rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n"
        "  highestUserWastedPercent: disabled\n"
    )
    (budget,) = load_budgets(write(tmp_path, ".dive-ci", text), ["myapp:1.0"])
    assert budget.patterns == ("myapp:1.0",)
    assert budget.lowest_efficiency == 0.95 and budget.highest_user_wasted_percent is None
    assert (
        budget.highest_wasted_bytes is not None and budget.highest_wasted_bytes.bytes == 20_000_000
    )
    with pytest.raises(DataFileError, match="names no images"):
        load_budgets(tmp_path / ".dive-ci")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[[budget]]\nimages = []\n", "'images' must be a list"),
        ('[[budget]]\nimages = ["a"]\nsizes = 1\n', "unknown keys sizes"),
        ('[[budget]]\nimages = ["a"]\nlowest_efficiency = 2\n', "not a share from 0 to 1"),
        ('[[budget]]\nimages = ["a"]\nlayers = "many"\n', "not a whole number of layers"),
        ("budget = [", "is not TOML"),
        ("[other]\n", "has no [[budget]] tables"),
    ],
)
def test_a_budgets_file_that_says_nothing_usable_is_named(
    tmp_path: Path, text: str, said: str
) -> None:
    with pytest.raises(DataFileError, match=re.escape(said)):
        load_budgets(write(tmp_path, "budgets.toml", text))


def test_images_are_checked_and_reported_in_every_format(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.add("go-big", size=900)
    engine.add("go-small", size=100)
    engine.archives = {
        image.id: saved_archive({"a": 500}, {"a": 400})
        for image in engine.images.values()
        if image.tags == ("go-big:latest",)
    }
    engine.archives.update(
        {
            image.id: saved_archive({"app": 100})
            for image in engine.images.values()
            if image.tags == ("go-small:latest",)
        }
    )
    path = write(
        tmp_path,
        "budgets.toml",
        '[[budget]]\nimages = ["go-*"]\nsize = "500B"\nhighest_wasted_bytes = "100B"\nlayers = 1\n',
    )
    report = check_budgets(engine, load_budgets(path), names=engine.image_names())
    verdicts = {(r.image, r.rule): r.verdict for r in report.results}
    assert verdicts == {
        ("go-big:latest", "size"): "fail",
        ("go-big:latest", "layers"): "fail",
        ("go-big:latest", "highest_wasted_bytes"): "fail",
        ("go-small:latest", "size"): "pass",
        ("go-small:latest", "layers"): "pass",
        ("go-small:latest", "highest_wasted_bytes"): "pass",
    }
    assert report.exit_code == 1
    jsonschema.validate(report.to_json(), read_schema())
    suite = ElementTree.fromstring(report.to_junit())  # noqa: S314 - our own output
    assert (suite.get("tests"), suite.get("failures")) == ("6", "3")
    assert len(suite.findall("testcase")) == 6


def test_a_budget_for_one_platform_holds_only_its_images_and_says_which_it_read(
    tmp_path: Path,
) -> None:
    engine = FakeEngine()
    for name, platform in (("go-amd", "linux/amd64"), ("go-arm", "linux/arm64")):
        image = engine.add(name, size=100, platforms=(platform,))
        engine.archives[image.id] = saved_archive({"app": 100})
    path = write(
        tmp_path,
        "budgets.toml",
        '[[budget]]\nimages = ["go-*"]\nplatform = "linux/arm64"\nsize = 200\n',
    )
    report = check_budgets(engine, load_budgets(path), names=engine.image_names())
    found = {(r.image, r.rule): (r.verdict, r.platform) for r in report.results}
    assert found == {
        ("go-amd:latest", "platform"): ("skipped", "linux/amd64"),
        ("go-arm:latest", "size"): ("pass", "linux/arm64"),
    }
    jsonschema.validate(report.to_json(), read_schema())
    with pytest.raises(DataFileError, match="'linux/s390x' is not one of"):
        load_budgets(
            write(tmp_path, "b.toml", '[[budget]]\nimages = ["a"]\nplatform = "linux/s390x"\n')
        )


def test_a_name_no_image_has_is_exit_2(tmp_path: Path) -> None:
    engine = FakeEngine()
    path = write(tmp_path, "budgets.toml", '[[budget]]\nimages = ["myapp"]\nsize = "1MB"\n')
    with pytest.raises(DataFileError, match="No image on the engine is called 'myapp'"):
        check_budgets(engine, load_budgets(path), names=engine.image_names())


def test_the_markdown_fits_a_pull_request_comment_failures_first() -> None:
    results = tuple(
        Result(f"image-{n:05}", "size", "fail" if n % 100 == 0 else "pass", "1MB", "2MB", "")
        for n in range(5000)
    )
    text = BudgetReport(results).to_markdown()
    assert len(text) < MARKDOWN_LIMIT
    assert text.index("image-00000") < text.index("image-00001")
    assert "more rows, in the JSON and JUnit reports" in text
    assert text.count("FAIL") == 50


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("budgets.toml", "[[budget]]\nimages = ['x']\nlayers = " + "9" * 4400 + "\n"),
        ("pyproject.toml", 'tool = "x"\n'),
        ("pyproject.toml", "[tool]\nworkshop = 5\n"),
        ("pyproject.toml", "[tool.workshop]\nbudget = 5\n"),
    ],
    ids=["4400-digit-integer", "tool-is-text", "workshop-is-a-number", "budget-is-a-number"],
)
def test_a_budgets_file_of_the_wrong_shape_is_exit_2_not_a_traceback(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataFileError, match=re.escape(str(path))):
        load_budgets(path)


def test_an_image_deleted_while_its_budget_is_checked_is_exit_2(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.add("myapp")
    names = engine.image_names()
    engine.images.clear()  # deleted after the names were listed, before it was measured
    path = write(tmp_path, "budgets.toml", '[[budget]]\nimages = ["myapp"]\nsize = "1MB"\n')
    with pytest.raises(DataFileError, match="went from the engine"):
        check_budgets(engine, load_budgets(path), names=names)


BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + n)}: &{chr(98 + n)} [{','.join(['*' + chr(97 + n)] * 9)}]" for n in range(8)]
    + ["rules: {lowestEfficiency: *i}"]
)


def test_a_dive_ci_file_of_nested_aliases_is_refused_at_once(tmp_path: Path) -> None:
    assert len(BILLION_LAUGHS) < 600  # 9 ** 9 strings once expanded
    with pytest.raises(DataFileError, match=r"an alias \(\*name\) is not read in a dive CI file"):
        load_budgets(write(tmp_path, ".dive-ci", BILLION_LAUGHS), ["myapp:1.0"])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (".dive-ci", f"rules:\n  highestWastedBytes: {'9' * 5000}\n"),
        ("budgets.toml", f'[[budget]]\nimages = ["a"]\nsize = {"9" * 5000}\n'),
    ],
)
def test_a_five_thousand_digit_number_is_a_message(tmp_path: Path, name: str, text: str) -> None:
    with pytest.raises(DataFileError, match=str(tmp_path / name)):
        load_budgets(write(tmp_path, name, text), ["a"])


def test_a_huge_limit_is_kept_exactly_not_rounded_through_a_float() -> None:
    digits = "123456789012345678901234567890"
    assert parse_limit(digits, where="w").bytes == int(digits)
    assert parse_limit(f"{'9' * 400}MB", where="w").bytes == int("9" * 400) * 1000**2


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("budgets.toml", '[[budget]]\nimages = ["go-*"]\n'),
        ("budgets.toml", '[[budget]]\nimages = ["go-*"]\nplatform = "linux/amd64"\n'),
        (".dive-ci", "rules:\n  lowestEfficiency: disabled\n  highestWastedBytes: disabled\n"),
    ],
)
def test_a_gate_that_checks_nothing_is_refused_not_passed(
    tmp_path: Path, name: str, text: str
) -> None:
    with pytest.raises(DataFileError, match="sets no limit, so it would check nothing and pass"):
        load_budgets(write(tmp_path, name, text), ["go-big"])


def test_a_dive_ci_rule_given_twice_is_refused_not_the_last_one_winning(tmp_path: Path) -> None:
    text = "rules:\n  lowestEfficiency: 0.99\n  lowestEfficiency: 0.1\n"
    with pytest.raises(DataFileError, match="the key 'lowestEfficiency' is given twice"):
        load_budgets(write(tmp_path, ".dive-ci", text), ["myapp:1.0"])
