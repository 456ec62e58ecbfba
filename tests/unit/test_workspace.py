from __future__ import annotations

import io
import tarfile

import pytest

from workshop.errors import StepFailed
from workshop.steps.workspace import DOCKERFILES, Workspace, Written


def test_write_creates_then_leaves_alone_then_keeps_edits(workspace: Workspace) -> None:
    assert workspace.write("app.go") is Written.CREATED
    assert workspace.path("app.go").read_bytes() == (DOCKERFILES / "app.go").read_bytes()
    assert workspace.write("app.go") is Written.UNCHANGED
    workspace.path("app.go").write_text("package main\n// edited\n")
    assert workspace.write("app.go") is Written.KEPT
    assert workspace.path("app.go").read_text() == "package main\n// edited\n"


def test_listing_reads_like_ls(workspace: Workspace) -> None:
    workspace.write("app.go")
    mode, links, _owner, _group, size, *_, name = workspace.listing("app.go").split()
    assert mode.startswith("-rw") and (links, name) == ("1", "app.go")
    assert int(size) == (DOCKERFILES / "app.go").stat().st_size


def test_the_build_context_holds_only_the_named_files(workspace: Workspace) -> None:
    for name in ("app.go", "app-smaller.go", "Dockerfile.big"):
        workspace.write(name)
    (workspace.root / "secret.txt").write_text("not for the engine")
    with tarfile.open(fileobj=io.BytesIO(workspace.context(("Dockerfile.big", "app.go")))) as tar:
        assert sorted(tar.getnames()) == ["Dockerfile.big", "app.go"]


def test_a_missing_source_names_the_step_to_run(workspace: Workspace) -> None:
    with pytest.raises(StepFailed, match=r"step-4 needs .*app.go, which is missing"):
        workspace.require(("app.go",), step="step-4")
