"""verify against crafted logs: each check fails with the right message when its log breaks it."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REAL_RUN
from workshop.checks.cli import main

WORKSHOP_BASES = {
    "golang": "golang:1.10",
    "golang-alpine": "golang:1.10-alpine",
    "alpine": "alpine",
}
DOCUMENTED = {4: 796_000_000, 5: 396_000_000, 6: 6_420_000, 7: 2_000_000, 8: 1_200_000, 9: 682_000}
Edit = Callable[[dict[int, dict[str, Any]]], None]


def crafted(tmp_path: Path, edit: Edit) -> Path:
    document = json.loads(REAL_RUN.read_text())
    records = {record["step"]: record for record in document["records"]}
    edit(records)
    path = tmp_path / "sizes.json"
    path.write_text(json.dumps(document))
    return path


def on_workshop_bases(records: dict[int, dict[str, Any]]) -> None:
    """As if the run had pulled golang:1.10 and friends and measured the documented sizes."""
    for step, record in records.items():
        record["size"] = DOCUMENTED[step]
        record["binary_size"] = min(record["binary_size"], DOCUMENTED[step])
        for base in record["bases"]:
            base["reference"], base["standin"] = WORKSHOP_BASES[base["role"]], False
    records[6]["bases"][1]["size"] = DOCUMENTED[6] - records[6]["binary_size"]
    records[7]["binary_size"] = DOCUMENTED[7]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, " ".join(captured.out.split()), " ".join(captured.err.split())


def test_a_log_from_a_real_run_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--log", str(REAL_RUN))
    assert code == 0
    assert "7 passed, 0 failed, 16 shown without gating" in out
    assert out.count("not run") == 9 and out.count("not measured") == 1
    assert "The figures don't gate" in out and "local stand-in" in out


def test_with_strict_the_stand_in_figures_gate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--log", str(REAL_RUN), "--strict")
    assert code == 1
    assert "FAIL figure-go-big: go-big measures 1.07GB" in out and "documented 796MB: +34.4%" in out


def test_the_workshops_own_figures_pass_on_its_own_bases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--log", str(crafted(tmp_path, on_workshop_bases)))
    assert (code, "13 passed, 0 failed, 10 shown" in out) == (0, True)


def test_a_figure_off_by_more_than_the_tolerance_fails_on_the_workshops_bases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def bigger_alpine(records: dict[int, dict[str, Any]]) -> None:
        on_workshop_bases(records)
        records[5]["size"] = 440_000_000

    code, out, _ = run(capsys, "--log", str(crafted(tmp_path, bigger_alpine)))
    assert code == 1
    assert (
        "FAIL figure-go-alpine: go-alpine measures" in out
        and "documented 396MB: +11.1%, beyond ±5%" in out
    )


def set_size(step: int, size: int | str, field: str = "size") -> Edit:
    def edit(records: dict[int, dict[str, Any]]) -> None:
        records[step][field] = size

    return edit


@pytest.mark.parametrize(
    ("edit", "claim", "message"),
    [
        (
            set_size(5, 1_100_000_000),
            "each-smaller",
            "go-alpine (1.1GB, 1,100,000,000 bytes) is not smaller than go-big",
        ),
        (
            set_size(5, 6_000_000),
            "compiler-dominates-alpine",
            "36.6% of go-alpine (6MB) is beyond go-multi-stage",
        ),
        (
            set_size(6, 4_000_000),
            "multi-stage-is-base-plus-binary",
            "go-multi-stage is 4,000,000 bytes",
        ),
        (
            set_size(7, 1_700_000, "binary_size"),
            "scratch-is-binary",
            "/app is 1,700,000: +119,268 bytes",
        ),
        (
            set_size(8, 1_700_000),
            "strip-saves-a-share",
            "go-stripped (1.7MB) saves 6.6% against go-scratch",
        ),
        (
            set_size(9, 1_000_000),
            "println-beats-fmt",
            "go-smaller (1MB) saves 17.9% against go-stripped",
        ),
        (
            set_size(4, 700_000_000),
            "thousandfold",
            "go-big (700MB) is 892 times go-smaller (785kB)",
        ),
    ],
)
def test_each_claim_fails_on_a_log_that_breaks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Edit, claim: str, message: str
) -> None:
    code, out, _ = run(capsys, "--log", str(crafted(tmp_path, edit)))
    assert code == 1
    assert f"FAIL {claim}: " in out
    assert message in out
    assert re.findall(r"FAIL ([a-z-]+):", out) == [claim]


def test_a_missing_log_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--log", str(tmp_path / "nothing.json"))
    assert code == 2
    assert "There is no size log at" in err and "invoke all" in err


def test_a_partial_log_exits_2_naming_the_missing_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def drop(records: dict[int, dict[str, Any]]) -> None:
        del records[5], records[6]

    path = crafted(tmp_path, drop)
    document = json.loads(path.read_text())
    document["records"] = [record for record in document["records"] if record["step"] not in (5, 6)]
    path.write_text(json.dumps(document))
    code, _, err = run(capsys, "--log", str(path))
    assert code == 2
    assert "has no record for step-5 step-6" in err and "`invoke step-5 step-6`" in err


def test_a_corrupt_log_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sizes.json").write_text('{"schema": 1, "records": [')
    code, _, err = run(capsys, "--log", str(tmp_path / "sizes.json"))
    assert code == 2 and "can't be read" in err


def test_junit_and_json_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = crafted(tmp_path, set_size(8, 1_900_000))
    code, _, _ = run(
        capsys,
        "--log",
        str(log),
        "--junit",
        str(tmp_path / "v.xml"),
        "--json",
        str(tmp_path / "v.json"),
    )
    assert code == 1
    suite = ElementTree.parse(tmp_path / "v.xml").getroot()  # noqa: S314 - our own output
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("23", "2", "16")
    failed = [
        case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None
    ]
    assert failed == ["each-smaller", "strip-saves-a-share"]
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["passed"] is False
    assert {check["id"] for check in report["checks"] if check["verdict"] == "fail"} == set(failed)


def with_beyond(records: dict[int, dict[str, Any]]) -> None:
    """Steps 10 to 14 as a run of `invoke beyond` measures them, built on the real run."""
    for step, like, tag, size in (
        (10, 8, "go-ldflags", 1_200_000),
        (11, 8, "go-upx", 560_000),
        (12, 9, "go-floor", 91),
        (13, 9, "go-nonroot", records[9]["size"]),
        (14, 9, "go-tiniest", 261_368),
        (15, 9, "go-reproducible", records[9]["size"]),
    ):
        records[step] = {
            **records[like],
            "step": step,
            "tag": tag,
            "size": size,
            "binary_size": size,
        }
    # Built twice on an engine where it can hold (Docker 28, the containerd image store).
    records[15].update(
        engine_version="28.5.2", image_store="containerd", rebuilt_image_id=records[15]["image_id"]
    )


def crafted_with_beyond(tmp_path: Path, edit: Edit) -> Path:
    def both(records: dict[int, dict[str, Any]]) -> None:
        with_beyond(records)
        edit(records)

    path = crafted(tmp_path, both)
    document = json.loads(path.read_text())
    records: dict[int, dict[str, Any]] = {}
    both(records := {record["step"]: record for record in document["records"]})
    document["records"] = [records[step] for step in sorted(records)]
    path.write_text(json.dumps(document))
    return path


def test_a_run_beyond_the_workshop_passes_its_claims(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--log", str(crafted_with_beyond(tmp_path, lambda records: None)))
    assert code == 0
    assert "16 passed, 0 failed, 7 shown" in out


def test_the_x86_64_record_is_not_held_against_the_arm64_floor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def on_arm64(records: dict[int, dict[str, Any]]) -> None:
        records[12].update(size=145, binary_size=145, platform="linux/arm64")

    log = crafted_with_beyond(tmp_path, on_arm64)
    code, _, _ = run(capsys, "--log", str(log), "--json", str(tmp_path / "v.json"))
    checks = {c["id"]: c for c in json.loads((tmp_path / "v.json").read_text())["checks"]}
    assert code == 0
    assert checks["floor-under-the-record"]["verdict"] == "shown"
    assert checks["floor-under-the-record"]["message"].startswith("not for linux/arm64")
    assert checks["floor-under-a-kilobyte"]["verdict"] == "pass"


def test_the_same_digest_twice_is_checked_where_it_can_hold_and_said_where_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "--log",
        str(crafted_with_beyond(tmp_path, set_size(15, "sha256:" + "e" * 64, "rebuilt_image_id"))),
    )
    assert code == 1 and re.findall(r"FAIL ([a-z0-9-]+):", out) == ["same-digest-twice"]
    assert "built twice from scratch on Docker 28.5.2 (containerd image store)" in " ".join(
        out.split()
    )

    def built_once_on_20_10(records: dict[int, dict[str, Any]]) -> None:
        records[15].update(engine_version="20.10.24", image_store="classic", rebuilt_image_id="")

    log = crafted_with_beyond(tmp_path, built_once_on_20_10)
    code, _, _ = run(capsys, "--log", str(log), "--json", str(tmp_path / "v.json"))
    checks = json.loads((tmp_path / "v.json").read_text())["checks"]
    (check,) = [check for check in checks if check["id"] == "same-digest-twice"]
    assert (code, check["verdict"]) == (0, "shown")
    assert check["message"].startswith("not checked: go-reproducible was built once")
    assert "Docker 20.10.24's BuildKit stamps each build with its own time" in check["message"]


@pytest.mark.parametrize(
    ("edit", "claim", "message"),
    [
        (
            set_size(10, 1_500_000),
            "linker-matches-strip",
            "go-ldflags (1.5MB) is +23.2% against go-stripped",
        ),
        (set_size(11, 800_000), "upx-saves-half", "go-upx (800kB) saves 33.3% against go-ldflags"),
        (set_size(14, 295_000), "tiniest-go-under-280k", "go-tiniest"),
        (
            set_size(12, 2_000),
            "floor-under-a-kilobyte floor-under-the-record go-far-from-the-floor",
            "go-floor is 2,000 bytes; expected at most 1,000",
        ),
        (
            set_size(12, 105),
            "floor-under-the-record",
            "go-floor is 105 bytes; expected at most 104",
        ),
        (
            set_size(12, 900),
            "floor-under-the-record go-far-from-the-floor",
            "go-smaller (785kB) is 872 times go-floor (900B); expected more than 1,000",
        ),
        (
            set_size(13, 784_601),
            "nonroot-costs-nothing",
            "go-nonroot is 784,601 bytes and go-smaller 784,600: +1 bytes",
        ),
    ],
)
def test_each_beyond_claim_fails_on_a_log_that_breaks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Edit, claim: str, message: str
) -> None:
    code, out, _ = run(capsys, "--log", str(crafted_with_beyond(tmp_path, edit)))
    assert code == 1
    assert re.findall(r"FAIL ([a-z0-9-]+):", out) == claim.split()
    assert message in out


def test_a_usage_error_has_its_own_code_not_the_missing_logs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "--bogus")
    assert code == 64 and "unrecognized arguments: --bogus" in err


def test_text_from_the_log_is_never_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def marked_up(records: dict[int, dict[str, Any]]) -> None:
        records[4]["tag"] = "[/bogus]"
        records[5]["tag"] = "[blink red]EVIL[/]"

    code, out, _ = run(capsys, "--log", str(crafted(tmp_path, marked_up)))
    assert code == 0
    assert "[/bogus]" in out and "[blink red]EVIL[/]" in out


def test_pull_sizes_that_fall_pass_and_one_that_grows_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def pulled(records: dict[int, dict[str, Any]]) -> None:
        for record in records.values():
            record["pull_size"] = record["size"] // 2
            record["registry"] = "127.0.0.1:5000"

    code, out, _ = run(capsys, "--log", str(crafted(tmp_path, pulled)))
    assert code == 0 and "pulls: go-big" in out

    def grown(records: dict[int, dict[str, Any]]) -> None:
        pulled(records)
        records[9]["pull_size"] = records[8]["pull_size"] + 1

    code, out, _ = run(capsys, "--log", str(crafted(tmp_path, grown)))
    assert code == 1 and "FAIL each-pulls-less: A pull of go-smaller" in out


def test_the_checks_read_the_same_settings_as_the_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "elsewhere" / "history.json"
    history.parent.mkdir()
    history.write_text("not json")
    monkeypatch.setenv("INVOKE_WORKSHOP_HISTORY", str(history))
    assert main(["--trends"]) == 2
    assert str(history) in "".join(capsys.readouterr().err.split())
    log = tmp_path / "sizes.json"
    monkeypatch.setenv("INVOKE_WORKSHOP_SIZE_LOG", str(log))
    assert main([]) == 2
    assert str(log) in "".join(capsys.readouterr().err.split())


def on_platform(platform: str, then: Edit | None = None) -> Edit:
    def edit(records: dict[int, dict[str, Any]]) -> None:
        if then is not None:
            then(records)
        for record in records.values():
            record["platform"] = platform

    return edit


def test_the_amd64_figures_never_gate_an_arm64_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def far_off(records: dict[int, dict[str, Any]]) -> None:
        on_workshop_bases(records)
        records[5]["size"] = 440_000_000

    log = crafted(tmp_path, on_platform("linux/arm64", far_off))
    code, out, _ = run(capsys, "--log", str(log), "--strict")
    assert code == 0
    assert "built for linux/arm64, and the workshop measured linux/amd64 images" in out
    # On amd64 the same sizes fail.
    code, _, _ = run(capsys, "--log", str(crafted(tmp_path, on_platform("linux/amd64", far_off))))
    assert code == 1


def test_each_platforms_log_is_verified_and_one_failing_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arm64_dir = tmp_path / "arm64"
    arm64_dir.mkdir()
    arm64 = crafted(arm64_dir, on_platform("linux/arm64", set_size(8, 1_900_000)))
    log = crafted(tmp_path, on_platform("linux/amd64"))
    arm64.rename(tmp_path / "sizes-linux-arm64.json")
    code, out, _ = run(
        capsys,
        *("--log", str(log), "--platform", "linux/amd64,linux/arm64"),
        *("--junit", str(tmp_path / "v.xml"), "--json", str(tmp_path / "v.json")),
    )
    assert code == 1
    assert "On linux/amd64" in out and "On linux/arm64" in out
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["passed"] is False
    assert report["platforms"]["linux/amd64"]["passed"] is True
    assert report["platforms"]["linux/arm64"]["log"].endswith("sizes-linux-arm64.json")
    suite = ElementTree.parse(tmp_path / "v.xml").getroot()  # noqa: S314 - our own output
    failed = {
        f"{case.get('classname')} {case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None
    }
    assert failed == {
        "linux/arm64.verify.claim each-smaller",
        "linux/arm64.verify.claim strip-saves-a-share",
    }


def test_a_platform_with_no_log_exits_2_naming_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = crafted(tmp_path, on_platform("linux/amd64"))
    code, _, err = run(capsys, "--log", str(log), "--platform", "linux/arm64")
    assert code == 2
    # Without the line breaks: a long folder's path is broken anywhere.
    flat = "".join(err.split())
    assert "nosizelogat" in flat and "sizes-linux-arm64." in flat and "--platform" in flat


def test_the_headline_ratio_is_amd64s_and_on_arm64_is_shown_measured_not_gated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def arm64_sizes(records: dict[int, dict[str, Any]]) -> None:
        set_size(4, 852_000_000)(records)
        set_size(9, 866_000)(records)

    log = crafted(tmp_path, on_platform("linux/arm64", arm64_sizes))
    code, _, _ = run(capsys, "--log", str(log), "--json", str(tmp_path / "v.json"))
    checks = {c["id"]: c for c in json.loads((tmp_path / "v.json").read_text())["checks"]}
    assert code == 0
    assert checks["thousandfold"]["verdict"] == "shown"
    assert checks["thousandfold"]["message"].startswith("not for linux/arm64: the claim's bound")
    assert "Measured here:" in checks["thousandfold"]["message"]
    assert "expected more than 1,000" in checks["thousandfold"]["message"]
    # On amd64 the same sizes fail it.
    log = crafted(tmp_path, on_platform("linux/amd64", arm64_sizes))
    assert run(capsys, "--log", str(log))[0] == 1
