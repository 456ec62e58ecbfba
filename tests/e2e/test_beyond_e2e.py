"""Beyond the workshop, on a real engine: steps 10 to 13, BuildKit against the legacy builder,
and a sweep over two Go releases."""

from __future__ import annotations

import json
import shutil
import subprocess
from itertools import pairwise
from pathlib import Path

import pytest

from tests.support.images import TAGS, binary, docker, saved_files
from tests.support.running import WorkshopRun, invoke, verify_cli
from workshop.records.sizelog import SizeLog

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def beyond_run(workshop_run: WorkshopRun, tmp_path_factory: pytest.TempPathFactory) -> WorkshopRun:
    """`invoke all beyond` under its own tags and log: a complete log for verify."""
    folder = tmp_path_factory.mktemp("beyond")
    env = workshop_run.own("beyond", folder)
    result = invoke("all", "beyond", env=env)
    assert result.returncode == 0, f"invoke beyond failed:\n{result.stdout}\n{result.stderr}"
    return WorkshopRun(
        env=env, prefix=env["INVOKE_WORKSHOP_TAG_PREFIX"], log=folder / "sizes.json", result=result
    )


def test_the_floor_is_one_file_under_the_record_that_says_hello(beyond_run: WorkshopRun) -> None:
    floor = beyond_run.tag("go-floor")
    ran = subprocess.run(["docker", "run", "--rm", floor], capture_output=True)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, b"Hello world!\n", b"")
    assert saved_files(floor) == ["app"]
    record = beyond_run.records()[12]
    assert record.size == record.binary_size <= 104


def test_the_linker_strips_like_strip(beyond_run: WorkshopRun) -> None:
    records = beyond_run.records()
    assert abs(records[10].size - records[8].size) / records[8].size < 0.05
    assert binary(beyond_run.tag("go-ldflags")).get_section_by_name(".symtab") is None


def test_the_workshops_summary_stays_the_workshops_after_beyond(beyond_run: WorkshopRun) -> None:
    # It took every step in the log once: "go-big is 6,564,842 times go-floor".
    result = invoke("all", env=beyond_run.env)
    assert result.returncode == 0, result.stderr
    headline = " ".join(result.stdout.split("The workshop, measured", 1)[1].split())
    assert "go-floor" not in headline and "go-upx" not in headline
    assert f"times {beyond_run.tag('go-smaller')}" in headline


def test_upx_saves_bytes_and_its_start_up_is_timed(beyond_run: WorkshopRun) -> None:
    record = beyond_run.records()[11]
    assert record.size < 0.6 * beyond_run.records()[10].size
    assert record.startup["runs"] == 15 and record.startup["median_ms"] > 0


def test_running_as_nobody_costs_nothing(beyond_run: WorkshopRun) -> None:
    nonroot = beyond_run.tag("go-nonroot")
    assert docker("image", "inspect", "--format", "{{.Config.User}}", nonroot).strip() == "65534"
    assert beyond_run.records()[13].size == beyond_run.records()[9].size


def test_the_smallest_go_image_is_under_280k_and_its_start_up_is_timed(
    beyond_run: WorkshopRun,
) -> None:
    records = beyond_run.records()
    tiniest = records[14]
    assert tiniest.size <= 280_000 and tiniest.output == "Hello world!\n"
    assert tiniest.size < records[11].size < records[9].size
    assert tiniest.startup["runs"] >= 5 and tiniest.startup["against_median_ms"] > 0


def test_verify_passes_every_claim_with_beyond_in_the_log(beyond_run: WorkshopRun) -> None:
    log = beyond_run.env["INVOKE_WORKSHOP_SIZE_LOG"]
    result = verify_cli("--log", log, "--json", f"{log}.verify.json")
    assert result.returncode == 0, result.stdout
    checks = json.loads(Path(f"{log}.verify.json").read_text())["checks"]
    claims = {check["id"]: check["verdict"] for check in checks if check["kind"] == "claim"}
    assert claims.pop("each-pulls-less") == "shown"  # no registry set here
    # Docker 20.10 can't build reproducibly: step 15 was built once, and verify says why.
    assert claims.pop("same-digest-twice") == "shown"
    assert len(claims) == 15 and set(claims.values()) == {"pass"}


@pytest.mark.buildx
def test_buildkit_and_the_legacy_builder_give_the_same_sizes(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    env = workshop_run.own("buildkit", tmp_path, INVOKE_WORKSHOP_BUILDER="buildkit")
    result = invoke("all", env=env)
    assert result.returncode == 0, result.stderr
    buildkit = SizeLog(tmp_path / "sizes.json").read()
    legacy = workshop_run.records()
    assert {record.builder for record in buildkit.values()} == {"buildkit"}
    assert {step: record.size for step, record in buildkit.items()} == {
        step: legacy[step].size for step in TAGS
    }


def test_a_sweep_tabulates_two_go_releases(
    workshop_run: WorkshopRun, sweep_standins: str, tmp_path: Path
) -> None:
    env = workshop_run.own("sweep", tmp_path, INVOKE_WORKSHOP_SWEEP_DIR=str(tmp_path / "sweep"))
    result = invoke("sweep", "--go", f"1.19,{sweep_standins}", env=env)
    assert result.returncode == 0, result.stderr
    table = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert table["releases"] == ["1.19", sweep_standins]
    assert table["go_versions"][sweep_standins].startswith(f"go{sweep_standins}.")
    for release in ("1.19", sweep_standins):
        sizes = [table["sizes"][release][str(step)] for step in TAGS]
        assert all(later < earlier for earlier, later in pairwise(sizes))
    assert "The workshop by Go release" in result.stdout
    report = invoke("report", env=env)
    assert report.returncode == 0, report.stderr
    assert f"go{sweep_standins}." in (tmp_path / "report" / "report.html").read_text()
    shutil.rmtree(tmp_path / "sweep")
