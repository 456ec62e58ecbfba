"""Trends over crafted runs: the baseline, the first run that grew, and its commit."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.paths import REAL_RUN
from tests.support.rendering import render
from workshop.checks.trends import find_trends
from workshop.errors import DataFileError
from workshop.paths import PROJECT_ROOT
from workshop.records import history
from workshop.records.history import History, ImageSize, Run
from workshop.records.sizelog import SizeLog


def run(number: int, go_smaller: int) -> Run:
    return Run(
        timestamp=f"2026-11-{number:02}T08:00:00+00:00",
        engine="20.10.24 (overlay2, legacy builder)",
        go_version="go1.19.8",
        bases="workshop-base/golang:1.19-busybox",
        sizes={9: go_smaller},
        images={
            "go-smaller": ImageSize(go_smaller, f"sha256:{number:064x}"),
            "go-big": ImageSize(846_792_750),
        },
        commit=f"{number:02}c0ffee" * 5,
        branch="main",
    )


RUNS = [run(1, 784_600), run(2, 790_000), run(3, 900_000), run(4, 910_000)]


def test_the_first_run_that_grew_past_the_share_is_named_with_its_commit() -> None:
    found = find_trends(RUNS, share=0.05, baseline="", engine=None)
    assert found.exit_code == 1
    (growth,) = found.growths
    assert (growth.image, growth.grown.commit[:4], growth.before.commit[:4]) == (
        "go-smaller",
        "03c0",
        "02c0",
    )
    shown = render(found, width=140)
    assert "go-smaller grew +14.7% against the baseline" in shown
    assert "first in the run of 2026-11-03T08:00:00+00:00 (commit 03c0ffee03 on main)" in shown
    assert "no Docker Engine answered" in shown


def test_a_later_baseline_by_number_or_commit_forgives_what_came_before() -> None:
    assert find_trends(RUNS, share=0.05, baseline="3", engine=None).exit_code == 0
    assert find_trends(RUNS, share=0.05, baseline="03c0ff", engine=None).exit_code == 0
    with pytest.raises(DataFileError, match="No run kept in the history is 'beef'"):
        find_trends(RUNS, share=0.05, baseline="beef", engine=None)


def test_runs_for_another_platform_are_never_set_against_the_baseline() -> None:
    arm = replace(run(5, 2_000_000), platform="linux/arm64")
    amd = [replace(each, platform="linux/amd64") for each in RUNS[:2]]
    # An arm64 run twice the size between two amd64 runs: no growth, and the amd64 run after it
    # is compared with the amd64 run before it.
    assert (
        find_trends([*amd[:1], arm, *amd[1:]], share=0.05, baseline="", engine=None).exit_code == 0
    )
    grown = replace(RUNS[2], platform="linux/amd64")
    (growth,) = find_trends([amd[0], arm, grown], share=0.05, baseline="", engine=None).growths
    assert growth.before is amd[0] and growth.grown is grown


def test_the_platform_is_kept_in_the_history_and_an_older_one_reads_without(
    tmp_path: Path,
) -> None:
    history = History(tmp_path / "history.json", keep=5)
    history.add(replace(run(1, 784_600), platform="linux/arm64"))
    assert history.read()[0].platform == "linux/arm64"
    document = json.loads((tmp_path / "history.json").read_text())
    document["schema"] = 2
    del document["runs"][0]["platform"]
    (tmp_path / "history.json").write_text(json.dumps(document))
    assert history.read()[0].platform == ""


def test_an_older_history_reads_with_its_images_by_name(tmp_path: Path) -> None:
    records = SizeLog(REAL_RUN).read()
    legacy = Run.of(records).to_json()
    for key in ("images", "commit", "branch"):
        del legacy[key]
    (tmp_path / "history.json").write_text(json.dumps({"schema": 1, "runs": [legacy]}))
    (old,) = History(tmp_path / "history.json", keep=20).read()
    assert old.images["go-smaller"].size == records[9].size and old.commit == ""


def test_a_run_knows_its_commit(tmp_path: Path) -> None:
    made = Run.of(SizeLog(REAL_RUN).read())
    assert len(made.commit) == 40 and made.branch
    asked = ["git", "-C", str(PROJECT_ROOT), "rev-parse"]
    for query, answer in ((["HEAD"], made.commit), (["--abbrev-ref", "HEAD"], made.branch)):
        said = subprocess.run([*asked, *query], capture_output=True, text=True, check=True)
        assert said.stdout.strip() == answer


def test_outside_a_repository_a_run_has_no_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert history.git_revision() == ("", "")
