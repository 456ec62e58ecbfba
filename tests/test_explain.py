from __future__ import annotations

import pytest

from workshop.errors import BadInput
from workshop.explain import (
    _instruction,
    _largest_directories,
    _layers,
    check_reference,
    what_it_is,
)
from workshop.tarwalk import TarMember


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


def test_instructions_read_like_a_dockerfile() -> None:
    assert (
        _instruction({"CreatedBy": "/bin/sh -c go build -o /app app.go"})
        == "RUN go build -o /app app.go"
    )
    assert _instruction({"CreatedBy": '/bin/sh -c #(nop)  CMD ["/app"]'}) == 'CMD ["/app"]'
    assert (
        _instruction({"CreatedBy": "|1 GO_VERSION=1.19 /bin/sh -c apt-get update"})
        == "RUN apt-get update"
    )
    assert _instruction({"CreatedBy": "", "Comment": "Imported from -"}).startswith("docker import")


def test_the_base_is_the_newest_known_ancestor() -> None:
    history = [
        {
            "Id": "sha256:top",
            "Tags": ["go-big:latest"],
            "Size": 0,
            "CreatedBy": "/bin/sh -c #(nop)  CMD",
        },
        {
            "Id": "sha256:build",
            "Tags": ["someone-elses:tag"],
            "Size": 2000,
            "CreatedBy": "/bin/sh -c go build",
        },
        {
            "Id": "sha256:base",
            "Tags": None,
            "Size": 0,
            "CreatedBy": "/bin/sh -c #(nop) WORKDIR /go",
        },
        {
            "Id": "<missing>",
            "Tags": None,
            "Size": 90_000,
            "CreatedBy": "/bin/sh -c apt-get install",
        },
    ]
    layers, base = _layers(history, {"sha256:base": "golang:1.10"})
    assert base == "golang:1.10"
    assert [(layer.size, layer.from_base) for layer in layers] == [(2000, False), (90_000, True)]
    assert _layers(history, {})[1] == ""  # an unknown tag on an ancestor is not taken for a base


def test_largest_directories_skip_parents_that_are_all_one_child() -> None:
    files = [
        TarMember("usr/lib/go/a", 100, "file"),
        TarMember("usr/lib/go/b", 50, "file"),
        TarMember("etc/x", 10, "file"),
    ]
    assert _largest_directories(files, top=5) == (("usr/lib/go", 150), ("etc", 10))
