from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import replace
from pathlib import Path

import pytest

from workshop.errors import SizeLogError
from workshop.sizelog import BaseUsed, SizeLog, SizeRecord


def make_record(step: int, size: int = 1000) -> SizeRecord:
    return SizeRecord(
        step=step,
        tag=f"go-{step}",
        image_id=f"sha256:{step:064x}",
        size=size,
        size_human=f"{size}B",
        binary_size=size,
        bases=(BaseUsed("golang", "golang:1.10", "sha256:" + "a" * 64, 4000, False),),
        go_version="go1.19.8",
        engine_version="20.10.24",
        storage_driver="overlay2",
        builder="legacy",
        timestamp="2026-11-28T08:00:00+00:00",
        output="Hello world!\n",
        build_seconds=1.5,
    )


def test_a_missing_log_reads_empty(size_log: SizeLog) -> None:
    assert size_log.read() == {}


def test_records_round_trip_and_rerunning_a_step_replaces_only_its_record(
    size_log: SizeLog,
) -> None:
    size_log.record(make_record(4))
    size_log.record(make_record(7))
    size_log.record(make_record(4, size=2000))
    records = size_log.read()
    assert sorted(records) == [4, 7]
    assert records[4].size == 2000
    assert records[7] == make_record(7)


def test_the_log_is_json_with_a_schema(size_log: SizeLog) -> None:
    size_log.record(make_record(4))
    document = json.loads(size_log.path.read_text())
    assert document["schema"] == 1
    assert document["records"][0]["bases"][0]["reference"] == "golang:1.10"


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"schema": 2, "records": []}',
        '{"schema": 1, "records": [{"step": 4}]}',
        '{"schema": 1}',
    ],
)
def test_an_unreadable_log_is_an_error_and_is_never_overwritten(
    size_log: SizeLog, content: str
) -> None:
    size_log.path.write_text(content)
    with pytest.raises(SizeLogError, match=r"can't be read .* nothing in it is lost") as raised:
        size_log.record(make_record(4))
    assert str(size_log.path) in str(raised.value)
    assert size_log.path.read_text() == content


def test_a_record_with_a_wrong_type_is_refused(size_log: SizeLog) -> None:
    size_log.record(make_record(4))
    document = json.loads(size_log.path.read_text())
    document["records"][0]["size"] = "big"
    size_log.path.write_text(json.dumps(document))
    with pytest.raises(SizeLogError, match="'size' should be int"):
        size_log.read()


def test_a_log_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sizes.json").mkdir()
    with pytest.raises(SizeLogError, match="it is a directory"):
        SizeLog(tmp_path / "sizes.json").check_writable()


def test_a_log_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(SizeLogError, match="its folder can't be made"):
        SizeLog(tmp_path / "afile" / "sizes.json").check_writable()


def test_an_interrupted_write_keeps_the_old_log_and_leaves_no_stray_file(
    size_log: SizeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    size_log.record(make_record(4))
    before = size_log.path.read_text()

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        size_log.record(make_record(5))
    assert size_log.path.read_text() == before
    assert sorted(p.name for p in size_log.path.parent.iterdir()) == [
        "sizes.json",
        "sizes.json.lock",
    ]


def _write_many(path: str, first_step: int) -> None:
    log = SizeLog(path)
    for step in range(first_step, first_step + 20):
        log.record(replace(make_record(step), output=f"pid {os.getpid()}"))


def test_two_processes_writing_at_once_keep_every_record(size_log: SizeLog) -> None:
    context = multiprocessing.get_context("fork")
    writers = [
        context.Process(target=_write_many, args=(str(size_log.path), start))
        for start in (100, 200)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0
    assert sorted(size_log.read()) == [*range(100, 120), *range(200, 220)]
