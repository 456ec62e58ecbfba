from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

from tests.support.fakeengine import FakeEngine
from tests.support.rendering import render
from workshop.catalogue import STEPS
from workshop.engine.values import BuildResult, RunResult
from workshop.errors import DataFileError, StepFailed
from workshop.progress import Progress
from workshop.records.datafile import DataFile
from workshop.records.measured import KnownPrograms
from workshop.records.sizelog import SizeLog
from workshop.steps.bases import BaseResolver
from workshop.steps.runner import (
    BuildPlan,
    BuildStepResult,
    compared,
    run_build_step,
    run_file_step,
)
from workshop.steps.workspace import Workspace


def build(
    number: int,
    engine: FakeEngine,
    bases: BaseResolver,
    workspace: Workspace,
    size_log: SizeLog,
    console: Console,
) -> BuildStepResult:
    plan = BuildPlan(
        engine=engine,
        bases=bases,
        workspace=workspace,
        size_log=size_log,
        progress=Progress(console),
    )
    return run_build_step(plan, STEPS[number])


def test_step_1_writes_and_shows_app_go(workspace: Workspace) -> None:
    shown = render(run_file_step(workspace=workspace, step=STEPS[1]))
    assert 'fmt.Println("Hello world!")' in shown
    assert "app.go: created" in shown


def test_step_2_shows_the_listing(workspace: Workspace) -> None:
    run_file_step(workspace=workspace, step=STEPS[1])
    shown = render(run_file_step(workspace=workspace, step=STEPS[2]))
    assert "$ ls -altr app.go" in shown and "$ cat app.go" in shown


@pytest.mark.parametrize(
    ("console", "highlighted"),
    [
        (Console(file=io.StringIO(), force_terminal=True, color_system="standard"), True),
        (Console(file=io.StringIO(), color_system=None), False),  # a pipe or a file
        (Console(file=io.StringIO(), force_terminal=True, no_color=True), False),
    ],
)
def test_a_file_is_highlighted_only_where_its_colors_are_shown(
    workspace: Workspace, console: Console, highlighted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into a pipe or a file, app.go goes as it is: pygments, its import and its lexing, cost
    `invoke all` 20 to 30 ms of the 2 cores its builds were using."""
    lexed: list[str] = []
    highlight = Syntax.highlight

    def counted(self: Syntax, code: str, *args: Any, **kwargs: Any) -> Text:
        lexed.append(code)
        return highlight(self, code, *args, **kwargs)

    monkeypatch.setattr(Syntax, "highlight", counted)
    console.print(run_file_step(workspace=workspace, step=STEPS[1]))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert bool(lexed) is highlighted
    assert ("\x1b[94" in shown) is highlighted  # the keywords' bright blue (ansi_dark)
    assert 'fmt.Println("Hello world!")' in Text.from_ansi(shown).plain


def test_a_build_step_logs_what_it_measured(
    fake_engine: FakeEngine,
    fake_bases: BaseResolver,
    workspace: Workspace,
    size_log: SizeLog,
    console: Console,
) -> None:
    workspace.write("app.go")
    result = build(7, fake_engine, fake_bases, workspace, size_log, console)
    record = size_log.read()[7]
    assert record == result.record
    assert (record.tag, record.size, record.size_human, record.go_version) == (
        "go-scratch",
        1_819_268,
        "1.82MB",
        "go1.19.8",
    )
    assert [base.reference for base in record.bases] == ["golang:1.10-alpine"]
    request = fake_engine.builds[0]
    assert request.buildargs == {"GOLANG_ALPINE_IMAGE": "golang:1.10-alpine"}
    assert record.builder == "legacy"
    assert isinstance(request.context, bytes)  # a step's few files: in memory
    with tarfile.open(fileobj=io.BytesIO(request.context)) as tar:
        assert sorted(tar.getnames()) == ["Dockerfile.scratch", "app.go"]
    assert "go-scratch  latest" in render(result)
    # Built untagged, run by the id the build returned, tagged once it passed.
    assert request.tag == ""
    assert fake_engine.runs[0] == record.image_id
    tagged = fake_engine.image("go-scratch")
    assert tagged is not None and tagged.id == record.image_id


def test_step_8_reports_what_stripping_saved_against_step_7(
    fake_engine: FakeEngine,
    fake_bases: BaseResolver,
    workspace: Workspace,
    size_log: SizeLog,
    console: Console,
) -> None:
    workspace.write("app.go")
    build(7, fake_engine, fake_bases, workspace, size_log, console)
    fake_engine.size = 1_217_000
    result = build(8, fake_engine, fake_bases, workspace, size_log, console)
    assert result.comparison is None  # compared when shown: step 7 may be built alongside
    shown = render(compared(result, size_log))
    assert "go-stripped is 1.22MB: 602kB (33%) less than go-scratch (1.82MB)" in shown


def test_a_failed_build_shows_the_instruction_and_writes_no_record(
    fake_engine: FakeEngine,
    fake_bases: BaseResolver,
    workspace: Workspace,
    size_log: SizeLog,
    console: Console,
) -> None:
    workspace.write("app.go")
    workspace.write("Dockerfile.big")
    fake_engine.fail_build = (
        "The command '/bin/sh -c go build -o /app app.go' returned a non-zero code: 2"
    )
    with pytest.raises(StepFailed) as raised:
        build(4, fake_engine, fake_bases, workspace, size_log, console)
    assert "Failing instruction: RUN go build -o /app app.go" in str(raised.value)
    assert "undefined: fmt.Printn" in str(raised.value)
    assert size_log.read() == {}


def test_an_image_that_prints_something_else_fails_and_writes_no_record(
    fake_engine: FakeEngine,
    fake_bases: BaseResolver,
    workspace: Workspace,
    size_log: SizeLog,
    console: Console,
) -> None:
    workspace.write("app.go")
    workspace.write("Dockerfile.big")
    fake_engine.output = "Hello, world!\n"
    with pytest.raises(StepFailed, match=r"printed 'Hello, world!\\n' and exited 0"):
        build(4, fake_engine, fake_bases, workspace, size_log, console)
    assert not size_log.path.exists()
    assert fake_engine.image("go-big") is None, "an image that failed its check was tagged"


def test_a_failing_rebuild_leaves_the_tag_on_the_image_the_log_names(
    fake_engine: FakeEngine,
    fake_bases: BaseResolver,
    workspace: Workspace,
    size_log: SizeLog,
    console: Console,
) -> None:
    workspace.write("app.go")
    first = build(7, fake_engine, fake_bases, workspace, size_log, console).record
    fake_engine.output = "Goodbye\n"
    with pytest.raises(StepFailed):
        build(7, fake_engine, fake_bases, workspace, size_log, console)
    tagged = fake_engine.image("go-scratch")
    assert tagged is not None
    assert tagged.id == size_log.read()[7].image_id == first.image_id


def test_a_log_that_cannot_be_written_puts_the_tag_back(
    fake_engine: FakeEngine,
    fake_bases: BaseResolver,
    workspace: Workspace,
    size_log: SizeLog,
    console: Console,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workspace.write("app.go")
    first = build(7, fake_engine, fake_bases, workspace, size_log, console).record

    def full_disk(self: DataFile, document: object) -> None:
        raise DataFileError("No space left on device")

    monkeypatch.setattr(DataFile, "write", full_disk)
    with pytest.raises(DataFileError):
        build(7, fake_engine, fake_bases, workspace, size_log, console)
    tagged = fake_engine.image("go-scratch")
    assert tagged is not None and tagged.id == first.image_id
    assert len(fake_engine.images) == 5  # the new image is there, untagged


def test_an_unusable_log_stops_the_step_before_it_builds(
    fake_engine: FakeEngine,
    fake_bases: BaseResolver,
    workspace: Workspace,
    tmp_path: Path,
    console: Console,
) -> None:
    (tmp_path / "log-dir").mkdir()
    workspace.write("app.go")
    workspace.write("Dockerfile.big")
    with pytest.raises(DataFileError, match="is a directory"):
        build(4, fake_engine, fake_bases, workspace, SizeLog(tmp_path / "log-dir"), console)
    assert fake_engine.builds == []


def test_a_program_read_from_an_image_before_is_not_read_again(
    fake_engine: FakeEngine,
    fake_bases: BaseResolver,
    workspace: Workspace,
    size_log: SizeLog,
    console: Console,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A warm `invoke all` rebuilds every step to the same image id: what its /app is (its size
    # and its Go) was read from that id's container before, and an id names its content.
    workspace.write("app.go")
    fetched: list[str | None] = []
    run = fake_engine.run

    def recorded(image: str, **options: Any) -> RunResult:
        if options.get("command") is None:  # not `go version` in the toolchain's image
            fetched.append(options.get("fetch"))
        return run(image, **options)

    monkeypatch.setattr(fake_engine, "run", recorded)

    def plan(programs: KnownPrograms) -> BuildPlan:
        return BuildPlan(
            engine=fake_engine,
            bases=fake_bases,
            workspace=workspace,
            size_log=size_log,
            progress=Progress(console),
            programs=programs,
        )

    cache = tmp_path / "programs.json"
    first = run_build_step(plan(KnownPrograms(cache)), STEPS[7]).record
    assert fetched == ["/app"] and first.binary_size == fake_engine.size

    build = fake_engine.build
    monkeypatch.setattr(
        fake_engine, "build", lambda request, **kw: BuildResult(first.image_id, 0.1)
    )
    again = run_build_step(plan(KnownPrograms(cache)), STEPS[7]).record
    assert fetched == ["/app", None]
    assert (again.image_id, again.binary_size, again.go_version) == (
        first.image_id,
        first.binary_size,
        first.go_version,
    )

    # A cache that can't be read costs a read, not the run; another image is read too.
    cache.write_text("{not json")
    run_build_step(plan(KnownPrograms(cache)), STEPS[7])
    assert fetched[-1:] == ["/app"]
    monkeypatch.setattr(fake_engine, "build", build)
    other = run_build_step(plan(KnownPrograms(cache)), STEPS[7]).record
    assert other.image_id != first.image_id and fetched[-1:] == ["/app"]
    assert KnownPrograms(cache).get(f"{first.image_id} linux/amd64 /app") is not None
