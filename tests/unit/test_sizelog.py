from __future__ import annotations

import errno
import fcntl
import json
import multiprocessing
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from workshop import system
from workshop.errors import DataFileError, SizeLogError
from workshop.records import datafile
from workshop.records.sizelog import BaseUsed, SizeLog, SizeRecord, platform_log


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
    assert document["schema"] == 4
    assert document["records"][0]["bases"][0]["reference"] == "golang:1.10"
    assert document["records"][0]["image_store"] == "classic"


def test_a_schema_1_log_reads_as_the_classic_stores_and_is_written_back_as_4(
    size_log: SizeLog,
) -> None:
    from tests.support.paths import REAL_RUN

    size_log.path.write_text(REAL_RUN.read_text())
    records = size_log.read()
    assert records[7].listed == records[7].size and records[7].image_store == "classic"
    assert records[7].platform == ""
    size_log.record(replace(make_record(13), platform="linux/arm64"))
    assert json.loads(size_log.path.read_text())["schema"] == 4
    assert size_log.read()[7] == records[7]
    assert size_log.read()[13].platform == "linux/arm64"


def test_a_schema_2_log_reads_and_a_platform_it_does_not_know_is_refused(
    size_log: SizeLog,
) -> None:
    size_log.record(make_record(4))
    document = json.loads(size_log.path.read_text())
    document["schema"] = 2
    size_log.path.write_text(json.dumps(document))
    assert size_log.read()[4].platform == ""
    document["records"][0]["platform"] = "linux/s390x"
    size_log.path.write_text(json.dumps(document))
    with pytest.raises(SizeLogError, match="'platform' is 'linux/s390x'"):
        size_log.read()


def test_the_floors_smallest_pull_round_trips_and_a_schema_3_log_has_none(
    size_log: SizeLog,
) -> None:
    parts = {"manifest": 344, "config": 177, "layer": 110}
    size_log.record(replace(make_record(12), smallest_pull=parts))
    assert size_log.read()[12].smallest_pull == parts
    document = json.loads(size_log.path.read_text())
    document["schema"] = 3
    del document["records"][0]["smallest_pull"]
    size_log.path.write_text(json.dumps(document))
    assert size_log.read()[12].smallest_pull == {}
    document["records"][0]["smallest_pull"] = {"manifest": 344, "index": 9}
    size_log.path.write_text(json.dumps(document))
    with pytest.raises(SizeLogError, match="index"):
        size_log.read()


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"schema": 5, "records": []}',
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
    with pytest.raises(SizeLogError, match="'size' is \"big\", not a whole number"):
        size_log.read()


def test_a_log_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sizes.json").mkdir()
    with pytest.raises(SizeLogError, match="is a directory"):
        SizeLog(tmp_path / "sizes.json").check_writable()


def test_a_log_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(SizeLogError, match="can't be used: Not a directory"):
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


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["records"].append(d["records"][0]), "step 4 has two records"),
        (lambda d: d.update(schema=True), "not a schema 4 size log"),
        (lambda d: d["records"][0].update(startup={"runs": "x"}), "'runs' is \"x\""),
        (lambda d: d["records"][0].update(size=-5), "'size' is -5"),
        (lambda d: d["records"][0].update(size=0), "'size' is 0"),
        (lambda d: d["records"][0].update(size=10**400), "'size' is 1000000"),
        (lambda d: d["records"][0].update(step=True), "'step' is true"),
        # Found by the property test: an integer past a float's range in a float field.
        (lambda d: d["records"][0].update(build_seconds=10**400), "'build_seconds' is 1000"),
        (lambda d: d["records"][0]["bases"][0].update(standin="yes"), "'standin' is \"yes\""),
        (lambda d: d["records"][0].update(extra=1), "unknown fields: extra"),
    ],
)
def test_a_log_that_says_what_no_run_writes_is_refused_naming_the_field(
    size_log: SizeLog, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    size_log.record(make_record(4))
    document = json.loads(size_log.path.read_text())
    change(document)
    size_log.path.write_text(json.dumps(document))
    with pytest.raises(SizeLogError, match=re.escape(message)) as raised:
        size_log.read()
    assert str(size_log.path) in str(raised.value)


def test_deep_nesting_is_refused_not_a_crash(size_log: SizeLog) -> None:
    size_log.path.write_text("[" * 100_000)
    with pytest.raises(SizeLogError, match="nested too deeply"):
        size_log.read()


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero", "/dev/full"])
def test_a_device_is_refused_not_read(device: str) -> None:
    log = SizeLog(device)
    with pytest.raises(SizeLogError, match="not a regular file"):
        log.read()
    with pytest.raises(SizeLogError, match="not a regular file"):
        log.record(make_record(4))


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "sizes.json"
    os.mkfifo(fifo)
    with pytest.raises(SizeLogError, match="not a regular file"):
        SizeLog(fifo).read()


def test_a_symlinked_log_stays_a_symlink_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text('{"schema": 1, "records": []}')
    target.chmod(0o644)
    link = tmp_path / "sizes.json"
    link.symlink_to(target)
    SizeLog(link).record(make_record(4))
    assert link.is_symlink()
    assert (target.stat().st_mode & 0o777) == 0o644
    assert 4 in SizeLog(target).read()


def test_a_new_log_takes_the_umask_not_0600(size_log: SizeLog) -> None:
    previous = os.umask(0o022)
    try:
        size_log.record(make_record(4))
    finally:
        os.umask(previous)
    assert (size_log.path.stat().st_mode & 0o777) == 0o644


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


@pytest.mark.parametrize(
    "change",
    [{"pull_size": -5_000_000_000}, {"pull_size": 10**26}, {"size": 0}, {"build_seconds": -1.0}],
    ids=["negative-pull-size", "26-digit-pull-size", "zero-size", "negative-seconds"],
)
def test_nothing_is_written_that_could_not_be_read_back(
    size_log: SizeLog, change: dict[str, Any]
) -> None:
    size_log.record(make_record(4))
    before = size_log.path.read_bytes()
    with pytest.raises(SizeLogError, match="was not written"):
        size_log.record(replace(make_record(5), **change))
    assert size_log.path.read_bytes() == before
    assert sorted(size_log.read()) == [4]


def test_what_a_program_printed_is_kept_as_evidence_not_whole(size_log: SizeLog) -> None:
    printed = "x" * 40 * 1024 * 1024 + "the last words\n"
    size_log.record(replace(make_record(4), output=printed))
    kept = size_log.read()[4].output
    assert len(kept) <= 4096
    assert kept.startswith("xxxx") and kept.endswith("the last words\n")
    first, marker, last = kept.split("\n", 2)[0], kept.split("\n")[1], kept.split("\n", 2)[2]
    assert marker == f"[... {len(printed) - len(first) - len(last):,} characters left out ...]"
    assert size_log.path.stat().st_size < 64 * 1024


def _lock_is_free(path: Path) -> bool:
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(lock, fcntl.LOCK_UN)
        return True


def test_what_a_record_publishes_happens_under_the_logs_lock(size_log: SizeLog) -> None:
    # Two runs at once: a tag moved outside the lock could name one run's image while the
    # log names the other's.
    seen: list[bool] = []

    def publish() -> Callable[[], None]:
        seen.append(_lock_is_free(size_log.path))
        return lambda: None

    size_log.record(make_record(4), publish=publish)
    assert seen == [False]
    assert _lock_is_free(size_log.path)


def test_threads_of_one_process_take_the_logs_lock_in_turn(size_log: SizeLog) -> None:
    # `invoke all` logs six steps from six threads: each waits for the one writing, and every
    # record lands.
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def publish() -> Callable[[], None]:
        order.append("first publishes")
        inside.set()
        assert release.wait(10)
        return lambda: None

    first = threading.Thread(
        target=size_log.record, args=(make_record(4),), kwargs={"publish": publish}
    )
    first.start()
    assert inside.wait(10)

    def record_second() -> None:
        size_log.record(make_record(5))
        order.append("second")

    second = threading.Thread(target=record_second)
    second.start()
    second.join(0.3)
    assert second.is_alive() and order == ["first publishes"]
    release.set()
    first.join(10)
    second.join(10)
    assert order == ["first publishes", "second"]
    assert sorted(size_log.read()) == [4, 5]
    assert _lock_is_free(size_log.path)


def test_a_lock_another_process_keeps_is_one_message_within_the_bound(
    size_log: SizeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datafile, "LOCK_TIMEOUT", 0.2)
    size_log.record(make_record(4))
    before = size_log.path.read_bytes()
    with open(size_log.path.with_name(size_log.path.name + ".lock"), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(DataFileError, match=r"stayed locked for 0\.2 s: another task"):
            size_log.record(make_record(5))
    assert size_log.path.read_bytes() == before
    size_log.record(make_record(5))
    assert sorted(size_log.read()) == [4, 5]


class _Msvcrt:
    """Windows's `msvcrt.locking` as the lock calls it: taking the file's first byte fails with
    EACCES while another process holds it, or with `refuse` when set."""

    LK_UNLCK, LK_NBLCK = 0, 2

    def __init__(self) -> None:
        self.held_elsewhere = False
        self.refuse = 0
        self.calls: list[tuple[int, int, int]] = []

    def locking(self, descriptor: int, mode: int, length: int) -> None:
        self.calls.append((mode, length, os.lseek(descriptor, 0, os.SEEK_CUR)))
        if mode == self.LK_NBLCK and self.refuse:
            raise OSError(self.refuse, os.strerror(self.refuse))
        if mode == self.LK_NBLCK and self.held_elsewhere:
            raise OSError(errno.EACCES, "Permission denied")


@pytest.fixture
def on_windows(monkeypatch: pytest.MonkeyPatch) -> _Msvcrt:
    msvcrt = _Msvcrt()
    monkeypatch.setattr(system, "_WINDOWS", True)
    monkeypatch.setitem(sys.modules, "msvcrt", msvcrt)
    monkeypatch.setattr(datafile, "LOCK_TIMEOUT", 0.2)
    return msvcrt


def test_on_windows_a_record_takes_the_lock_files_first_byte_and_gives_it_back(
    size_log: SizeLog, on_windows: _Msvcrt
) -> None:
    size_log.record(make_record(4))
    taken = [call for call in on_windows.calls if call[0] == on_windows.LK_NBLCK]
    given = [call for call in on_windows.calls if call[0] == on_windows.LK_UNLCK]
    assert taken and taken == [(on_windows.LK_NBLCK, 1, 0)] * len(given)
    assert given == [(on_windows.LK_UNLCK, 1, 0)] * len(taken)
    assert sorted(size_log.read()) == [4]


def test_on_windows_a_lock_another_process_keeps_is_one_message_within_the_bound(
    size_log: SizeLog, on_windows: _Msvcrt
) -> None:
    size_log.record(make_record(4))
    before = size_log.path.read_bytes()
    on_windows.held_elsewhere = True
    on_windows.calls.clear()
    with pytest.raises(DataFileError, match=r"stayed locked for 0\.2 s: another task"):
        size_log.record(make_record(5))
    assert size_log.path.read_bytes() == before
    # Tried again while the bound lasted, and nothing given back that was never taken.
    assert len(on_windows.calls) > 2
    assert {mode for mode, _, _ in on_windows.calls} == {on_windows.LK_NBLCK}
    on_windows.held_elsewhere = False
    size_log.record(make_record(5))
    assert sorted(size_log.read()) == [4, 5]


def test_on_windows_a_lock_refused_for_another_reason_is_said_at_once(
    size_log: SizeLog, on_windows: _Msvcrt
) -> None:
    on_windows.refuse = errno.EBADF
    with pytest.raises(DataFileError, match=r"Can't lock the size log .*: Bad file descriptor\."):
        size_log.record(make_record(4))
    assert len(on_windows.calls) == 1
    assert not size_log.path.exists()


def test_a_write_that_fails_undoes_what_was_published(
    size_log: SizeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    def publish() -> Callable[[], None]:
        events.append("published")
        return lambda: events.append("undone")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        size_log.record(make_record(5), publish=publish)
    assert events == ["published", "undone"]
    assert not size_log.path.exists()


def test_a_foreign_platforms_log_lies_beside_the_setting() -> None:
    log = Path("/srv/build/sizes.json")
    assert platform_log(log, "linux/arm64") == Path("/srv/build/sizes-linux-arm64.json")
    assert platform_log(log, "") == log


def test_a_key_given_twice_is_refused_not_the_last_one_winning(tmp_path: Path) -> None:
    """Which copy wins would decide a verdict: the log is refused, naming the key."""
    log = SizeLog(tmp_path / "sizes.json")
    log.record(make_record(4))
    text = (tmp_path / "sizes.json").read_text()
    doubled = text.replace('"schema":', '"schema": 1, "schema":', 1)
    assert doubled != text
    (tmp_path / "sizes.json").write_text(doubled)
    with pytest.raises(SizeLogError, match=r"the key 'schema' is given twice in one object"):
        log.read()
