"""`invoke all --platform linux/amd64,linux/arm64` on a real engine: the workshop as an Apple
Silicon attendee runs it, steps 4 to 9 compiled inside arm64 Go images (stand-ins debootstrapped
for arm64, their second stage and every RUN emulated by QEMU), each image run under emulation,
measured and logged apart from amd64's, and shown side by side; verify checks both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import TAGS, binary, docker
from tests.support.paths import ROOT
from tests.support.platforms import emulation_off, index_pull_sizes
from tests.support.running import WorkshopRun, invoke, verify_cli
from workshop.records.sizelog import SizeLog, SizeRecord

pytestmark = pytest.mark.engine


@dataclass(frozen=True)
class PlatformsRun:
    run: WorkshopRun
    folder: Path
    stdout: str  # as printed, its lines kept

    def tag(self, name: str) -> str:
        return f"{self.run.prefix}arm-{name}"

    def records(self, log: str) -> dict[int, SizeRecord]:
        return SizeLog(self.folder / log).read()


@pytest.fixture(scope="module")
def both(
    workshop_run: WorkshopRun, arm64_standins: str, tmp_path_factory: pytest.TempPathFactory
) -> PlatformsRun:
    folder = tmp_path_factory.mktemp("arm64-workshop")
    env = workshop_run.own("arm", folder)
    result = invoke("all", "--platform", "linux/amd64,linux/arm64", env=env, timeout=3600)
    assert result.returncode == 0, result.stdout + result.stderr
    return PlatformsRun(workshop_run, folder, result.stdout)


def test_each_platform_is_logged_apart_under_its_own_names(both: PlatformsRun) -> None:
    amd64, arm64 = both.records("sizes.json"), both.records("sizes-linux-arm64.json")
    assert sorted(amd64) == sorted(arm64) == sorted(TAGS)
    for step, name in TAGS.items():
        assert (amd64[step].tag, amd64[step].platform) == (both.tag(name), "linux/amd64")
        assert (arm64[step].tag, arm64[step].platform) == (
            both.tag(f"{name}-linux-arm64"),
            "linux/arm64",
        )
        inspected = docker(
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{.Size}} {{.Os}}/{{.Architecture}}",
            arm64[step].tag,
        ).split()
        assert inspected == [arm64[step].image_id, str(arm64[step].size), "linux/arm64"]


def test_every_arm64_image_was_built_on_arm64_stand_ins(both: PlatformsRun) -> None:
    for record in both.records("sizes-linux-arm64.json").values():
        for base in record.bases:
            assert base.standin and base.reference.endswith("-linux-arm64"), base
            shown = docker("image", "inspect", "--format", "{{.Architecture}}", base.reference)
            assert shown.strip() == "arm64"


@pytest.mark.parametrize("step", sorted(TAGS))
def test_every_arm64_image_says_hello_under_emulation(both: PlatformsRun, step: int) -> None:
    tag = both.records("sizes-linux-arm64.json")[step].tag
    ran = subprocess.run(
        ["docker", "run", "--rm", "--platform", "linux/arm64", tag], capture_output=True, text=True
    )
    # println writes to stderr, as `docker run -ti` shows.
    assert (ran.returncode, ran.stdout + ran.stderr) == (0, "Hello world!\n")
    assert both.records("sizes-linux-arm64.json")[step].output == "Hello world!\n"


def test_the_arm64_programs_are_aarch64_and_shrink_as_on_amd64(both: PlatformsRun) -> None:
    arm64 = both.records("sizes-linux-arm64.json")
    assert binary(arm64[7].tag)["e_machine"] == "EM_AARCH64"
    assert binary(arm64[7].tag).get_section_by_name(".symtab") is not None
    assert binary(arm64[8].tag).get_section_by_name(".symtab") is None
    sizes = [arm64[step].size for step in sorted(TAGS)]
    assert all(later < earlier for earlier, later in pairwise(sizes)), sizes


def test_the_summary_sets_the_platforms_side_by_side(both: PlatformsRun) -> None:
    said = " ".join(both.stdout.split())
    assert "The workshop, measured, platform by platform" in said
    assert "Step 4 on linux/arm64:" in said
    amd64, arm64 = both.records("sizes.json"), both.records("sizes-linux-arm64.json")
    for step in TAGS:
        ratio = f"{arm64[step].size / amd64[step].size:.2f}"
        row = f" {amd64[step].size_human} │ {arm64[step].size_human} │ {ratio} │"
        assert any(row in " ".join(line.split()) for line in both.stdout.splitlines()), row


def test_verify_checks_every_claim_on_each_platform(both: PlatformsRun, tmp_path: Path) -> None:
    report = tmp_path / "verify.json"
    log = both.folder / "sizes.json"
    result = verify_cli(
        "--log", str(log), "--platform", "linux/amd64,linux/arm64", "--json", str(report)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = json.loads(report.read_text())["platforms"]
    assert verdicts["linux/arm64"]["log"] == str(both.folder / "sizes-linux-arm64.json")
    claims = [c for c in verdicts["linux/arm64"]["checks"] if c["kind"] == "claim"]
    assert {c["id"] for c in claims if c["verdict"] == "pass"} >= {"each-smaller"}
    assert "built for linux/arm64" in verdicts["linux/arm64"]["why_not_gating"]


def test_the_report_sets_the_platforms_side_by_side(both: PlatformsRun) -> None:
    result = invoke("report", env=both.run.own("arm", both.folder))
    assert result.returncode == 0, result.stdout + result.stderr
    text = (both.folder / "report" / "report.md").read_text()
    assert "| step | image | linux/amd64 | linux/arm64 | arm64 ÷ amd64 |" in text
    arm64 = both.records("sizes-linux-arm64.json")
    assert f"| 4 | {both.tag('go-big')} |" in text and arm64[4].size_human in text


def test_bases_for_arm64_lists_the_stand_ins_the_run_built_on(both: PlatformsRun) -> None:
    result = invoke("bases", "--platform", "linux/arm64", env=both.run.env)
    assert result.returncode == 0, result.stdout + result.stderr
    said = " ".join(result.stdout.split())
    assert "Local stand-ins for Debian's Go 1.19, for linux/arm64" in said
    used = {
        base.reference for r in both.records("sizes-linux-arm64.json").values() for base in r.bases
    }
    for reference in used:
        assert f"{reference} │" in said
    # Their recipes are what the run built them from: none was built again.
    assert "yes" not in said


def test_a_sweep_sets_each_platform_beside_each_release(both: PlatformsRun, tmp_path: Path) -> None:
    env = both.run.own("armsweep", tmp_path, INVOKE_WORKSHOP_SWEEP_DIR=str(tmp_path / "sweep"))
    result = invoke("sweep", "--go", "1.19", "--platform", "linux/amd64,linux/arm64", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    table = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert table["releases"] == ["1.19", "1.19 linux/arm64"]
    assert table["go_versions"]["1.19 linux/arm64"] == "go1.19.8 linux/arm64"
    arm64 = SizeLog(tmp_path / "sweep" / "go1.19-linux-arm64.json").read()
    assert {record.platform for record in arm64.values()} == {"linux/arm64"}
    assert arm64[9].tag == f"{both.run.prefix}armsweep-go1.19-go-smaller-linux-arm64"
    assert table["sizes"]["1.19 linux/arm64"]["9"] == arm64[9].size
    assert table["sizes"]["1.19"]["9"] != arm64[9].size


@pytest.mark.root
def test_without_emulation_all_stops_before_the_first_build_saying_how(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    with emulation_off():
        result = invoke("all", "--platform", "linux/arm64", env=workshop_run.own("noemu", tmp_path))
    errors = " ".join(result.stderr.split())
    assert result.returncode == 64, result.stdout + errors
    assert "linux/arm64 programs can't run here" in errors and "qemu-user-static" in errors
    assert "Step 4" not in result.stdout and "debootstrap" not in result.stdout
    assert not (tmp_path / "sizes-linux-arm64.json").exists()


def test_with_a_registry_each_step_is_pushed_as_one_index_of_both_platforms(
    both: PlatformsRun, registry: Any, tmp_path: Path
) -> None:
    env = both.run.own("armreg", tmp_path, INVOKE_WORKSHOP_REGISTRY=registry.address)
    result = invoke("all", "--platform", "linux/amd64,linux/arm64", env=env, timeout=3600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Pulled as a multi-platform index" in result.stdout
    amd64 = SizeLog(tmp_path / "sizes.json").read()
    arm64 = SizeLog(tmp_path / "sizes-linux-arm64.json").read()
    for step in TAGS:
        sizes = index_pull_sizes(registry.url, amd64[step].tag)
        assert sizes == {"amd64": amd64[step].pull_size, "arm64": arm64[step].pull_size}
        assert min(sizes.values()) > 0


@pytest.mark.root
def test_with_the_clients_binfmt_hidden_the_engine_is_asked_and_arm64_runs(
    both: PlatformsRun, tmp_path: Path
) -> None:
    """The client's /proc/sys/fs/binfmt_misc is empty (a mount namespace of its own, as in a
    CI container with the host's socket, or on a Mac): the engine runs arm64, so step 9 does."""
    env = {
        **os.environ,
        **both.run.own("hidden", tmp_path),
        "INVOKE_WORKSHOP_PLATFORM": "linux/arm64",
    }
    hidden = subprocess.run(
        [
            "unshare",
            "--mount",
            "sh",
            "-c",
            "mount -t tmpfs none /proc/sys/fs/binfmt_misc && ls /proc/sys/fs/binfmt_misc | wc -l"
            f' && exec "{sys.executable}" -m invoke step-9',
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert hidden.returncode == 0, hidden.stdout + hidden.stderr
    assert hidden.stdout.splitlines()[0] == "0"  # nothing of the kernel's registrations seen
    records = SizeLog(tmp_path / "sizes-linux-arm64.json").read()
    assert records[9].platform == "linux/arm64" and "Hello world!" in hidden.stdout
