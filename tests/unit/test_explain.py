from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.fakeengine import FakeEngine
from tests.support.rendering import render
from workshop.engine.values import HistoryEntry, ImageFile
from workshop.errors import BadInput
from workshop.inspection.explain import (
    _instruction,
    _largest_directories,
    _layers,
    check_reference,
    explain,
    parse_top,
    what_it_is,
)


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("app", "the app"),
        ("go/app.go", "the app"),
        ("usr/lib/go-1.19/pkg/tool/linux_amd64/compile", "Go toolchain"),
        ("usr/local/go/bin/go", "Go toolchain"),
        ("usr/lib/gcc/x86_64-linux-gnu/12/cc1", "C toolchain"),
        ("root/.cache/go-build/ab/cd", "Go build cache"),
        ("usr/bin/apt", "the OS and the rest"),
        ("usr/local/gopher", "the OS and the rest"),
    ],
)
def test_what_a_path_is(path: str, what: str) -> None:
    assert what_it_is(path) == what


@pytest.mark.parametrize("reference", ["go-big;ls", "$(reboot)", "go big", "a`b`", ""])
def test_references_with_shell_metacharacters_are_refused(reference: str) -> None:
    with pytest.raises(BadInput, match="is not an image reference"):
        check_reference(reference)


def entry(created_by: str, image_id: str = "<missing>", size: int = 0, *tags: str) -> HistoryEntry:
    return HistoryEntry(image_id, created_by, size, tags, "")


def test_instructions_read_like_a_dockerfile() -> None:
    assert (
        _instruction(entry("/bin/sh -c go build -o /app app.go")) == "RUN go build -o /app app.go"
    )
    assert _instruction(entry('/bin/sh -c #(nop)  CMD ["/app"]')) == 'CMD ["/app"]'
    assert (
        _instruction(entry("|1 GO_VERSION=1.19 /bin/sh -c apt-get update")) == "RUN apt-get update"
    )
    imported = HistoryEntry("<missing>", "", 0, (), "Imported from -")
    assert _instruction(imported).startswith("docker import")


def test_the_base_is_the_newest_known_ancestor() -> None:
    history = [
        entry("/bin/sh -c #(nop)  CMD", "sha256:top", 0, "go-big:latest"),
        entry("/bin/sh -c go build", "sha256:build", 2000, "someone-elses:tag"),
        entry("/bin/sh -c #(nop) WORKDIR /go", "sha256:base", 0),
        entry("/bin/sh -c apt-get install", "<missing>", 90_000),
    ]
    layers, base = _layers(history, {"sha256:base": "golang:1.10"})
    assert base == "golang:1.10"
    assert [(layer.size, layer.from_base) for layer in layers] == [(2000, False), (90_000, True)]
    assert _layers(history, {})[1] == ""  # an unknown tag on an ancestor is not taken for a base


def test_explain_reads_the_files_and_layers_the_engine_gives(fake_engine: FakeEngine) -> None:
    image = fake_engine.add("go-scratch", size=1_819_268)
    explained = explain(fake_engine, "go-scratch")
    assert (explained.image_id, explained.file_count, explained.share("the app")) == (
        image.id,
        1,
        1.0,
    )
    assert "[/bogus]" in render(replace(explained, reference="[/bogus]"))


@pytest.mark.parametrize("top", ["abc", "0", "-3", "1001", ""])
def test_top_takes_a_whole_number_of_rows(top: str) -> None:
    with pytest.raises(BadInput, match="--top"):
        parse_top(top)


def test_largest_directories_skip_parents_that_are_all_one_child() -> None:
    files = [
        ImageFile("usr/lib/go/a", 100, "file"),
        ImageFile("usr/lib/go/b", 50, "file"),
        ImageFile("etc/x", 10, "file"),
    ]
    assert _largest_directories(files, top=5) == (("usr/lib/go", 150), ("etc", 10))


@pytest.mark.parametrize("reference", ["UPPER", "Go-Big:latest", "localhost:5000/Mixed"])
def test_a_repository_name_with_capitals_is_refused_before_the_engine_is_asked(
    reference: str,
) -> None:
    with pytest.raises(BadInput, match="lowercase"):
        check_reference(reference)


def test_a_registry_host_may_have_capitals() -> None:
    assert check_reference("Registry.Example:5000/go-big") == "Registry.Example:5000/go-big"
