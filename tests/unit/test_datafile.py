"""The one atomic writer and the one careful reader, and what they promise the data files."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.paths import REAL_RUN
from workshop.checks.cli import main as verify_main
from workshop.errors import DataFileError
from workshop.records.datafile import write_atomic
from workshop.records.history import History
from workshop.records.sizelog import SizeLog
from workshop.steps.sweep import read_sweep
from workshop.steps.workspace import Workspace


def test_a_planted_symlink_with_the_old_predictable_name_is_never_followed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    # What the workspace wrote through once: .NAME.PID.tmp, beside the file.
    for pid in range(os.getpid() - 5, os.getpid() + 5):
        (shared / f".app.go.{pid}.tmp").symlink_to(victim)
    Workspace(shared).write("app.go")
    assert victim.read_text() == "keep me"
    assert "fmt.Println" in (shared / "app.go").read_text()


def test_a_full_disk_keeps_the_old_content_and_leaves_no_stray_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.html"
    target.write_text("the old report")

    def no_space(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(DataFileError, match=r"report\.html.*No space left on device"):
        write_atomic(target, "<html>", what="HTML report", setting="report_dir")
    assert target.read_text() == "the old report"
    assert [path.name for path in tmp_path.iterdir()] == ["report.html"]


def test_a_read_only_folder_is_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)

    def refused(*args: object, **kwargs: object) -> tuple[int, str]:
        # What a user gets in a read-only folder; root would write there, so ask as a user would.
        raise PermissionError(13, "Permission denied")

    if os.geteuid() == 0:
        monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(DataFileError, match="Permission denied"):
        write_atomic(folder / "x.json", "{}", what="size log")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "schema",
                    "records",
                    "step",
                    "size",
                    "tag",
                    "bases",
                    "runs",
                    "sizes",
                    "startup",
                    "x",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


def _documents() -> st.SearchStrategy[bytes]:
    real = json.loads(REAL_RUN.read_text())

    def mutated(value: object, where: int) -> bytes:
        document = json.loads(json.dumps(real))
        record = document["records"][where % len(document["records"])]
        key = sorted(record)[where % len(record)]
        record[key] = value
        return json.dumps(document).encode()

    return (
        st.binary(max_size=300)
        | json_values.map(lambda value: json.dumps(value).encode())
        | st.builds(mutated, json_values, st.integers(min_value=0, max_value=200))
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_documents())
def test_any_bytes_read_as_a_log_are_records_or_one_message(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "sizes.json"
    path.write_bytes(content)
    for read in (SizeLog(path).read, History(path, keep=20).read, lambda: read_sweep(tmp_path)):
        try:
            read()
        except DataFileError as error:
            assert str(path.name) in error.message
    path.unlink()


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_documents())
def test_verify_on_any_bytes_passes_fails_or_exits_2_naming_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "sizes.json"
    path.write_bytes(content)
    code = verify_main(["--log", str(path)])
    captured = capsys.readouterr()
    assert code in (0, 1, 2)
    if code == 2:
        assert str(path) in " ".join(captured.err.replace("\n", "").split())
